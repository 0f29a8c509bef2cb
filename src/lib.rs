//! umk: a user-mode kernel.
//!
//! Layers, top to bottom (see README.md): `cli` parses the command line;
//! `vm` ties a `kernel` (the emulated Linux, which owns all guest state)
//! to a `platform` (how guest threads run and trap: ptrace + seccomp
//! today) and the host `console`. The `loader` turns an ELF file from the
//! guest's filesystem into a load plan. Only `platform` and `console` may
//! use `unsafe`.
#![deny(unsafe_code)]

pub mod cli;
pub mod console;
pub mod kernel;
pub mod loader;
pub mod platform;
pub mod vm;
