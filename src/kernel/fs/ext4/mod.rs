//! Read-only ext4 driver (work in progress).
