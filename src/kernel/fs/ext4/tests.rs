//! Tests against images built with e2fsprogs.
