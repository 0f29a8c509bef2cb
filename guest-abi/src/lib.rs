//! The Linux x86_64 ABI as a guest program sees it.
//!
//! Numbers, names, flags and struct layouts only: no behaviour lives here.
//! Each item mirrors a UAPI header; the header is named where it is defined.
//! The kernel (`umk::kernel`) speaks these types to the guest; the host side
//! (`umk::platform`) uses the host's `libc` instead, so the two never mix.
#![no_std]

pub mod auxv;
pub mod elf;
pub mod errno;
pub mod fcntl;
pub mod futex;
pub mod misc;
pub mod mman;
pub mod sched;
pub mod signal;
pub mod stat;
pub mod sysno;
pub mod termios;

/// Kernel-internal restart codes (include/linux/errno.h). A syscall that was
/// interrupted by a signal returns one of these; the signal-delivery code
/// turns it into EINTR or re-executes the call (see `arch/x86/kernel/signal.c`).
pub mod restart {
    pub const ERESTARTSYS: i32 = 512;
    pub const ERESTARTNOINTR: i32 = 513;
    pub const ERESTARTNOHAND: i32 = 514;
    pub const ERESTART_RESTARTBLOCK: i32 = 516;
}
