//! The emulated Linux kernel: owns all guest state. No `unsafe`, no ptrace.
pub mod fs;
pub mod tty;
