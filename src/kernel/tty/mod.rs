//! Terminals (work in progress).
