//! Terminal ioctls that only need the line discipline (`tty_ioctl.c`,
//! `n_tty_ioctl`). The kernel reads the argument from guest memory as
//! [`IoctlArgKind`] says, calls [`LineDiscipline::ioctl`], and carries out
//! the [`IoctlReply`]. Process-group and session ioctls (`TIOCSPGRP`,
//! `TIOCSCTTY`, ...) and permission checks (`TIOCSTI`, `SIGTTOU` for
//! background writers of settings) stay in the kernel.

use guest_abi::errno::EINVAL;
use guest_abi::signal::SIGWINCH;
use guest_abi::termios::*;

use super::ldisc::{InputEffect, LineDiscipline};

/// `TCXONC` arguments (`include/uapi/asm-generic/termbits.h`).
pub const TCOOFF: u64 = 0;
pub const TCOON: u64 = 1;
pub const TCIOFF: u64 = 2;
pub const TCION: u64 = 3;

/// What the kernel must fetch from the guest before calling `ioctl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlArgKind {
    /// Nothing; the argument is ignored or is an output pointer.
    None,
    /// The argument register itself (`TCFLSH`, `TCXONC`, `TCSBRK`).
    Value,
    /// A `struct termios` at the argument pointer.
    Termios,
    /// A `struct winsize` at the argument pointer.
    WinSize,
    /// A `char` at the argument pointer (`TIOCSTI`).
    Byte,
}

/// A decoded ioctl argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlArg {
    None,
    Value(u64),
    Termios(Termios),
    WinSize(WinSize),
    Byte(u8),
}

/// What the kernel does with the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoctlReply {
    /// Return 0.
    Done,
    /// Write this `struct termios` to the argument pointer, return 0.
    Termios(Termios),
    /// Write this `struct winsize` to the argument pointer, return 0.
    WinSize(WinSize),
    /// Write this `int` to the argument pointer, return 0.
    Int(i32),
    /// Return 0 and deliver these to the foreground process group
    /// (SIGWINCH after a resize; signals typed via `TIOCSTI`).
    Effects(Vec<InputEffect>),
    /// Return `-errno`.
    Error(i32),
}

impl LineDiscipline {
    /// The argument `request` needs, or `None` if this module does not
    /// handle `request`.
    pub fn ioctl_arg_kind(request: u64) -> Option<IoctlArgKind> {
        Some(match request {
            TCGETS | TIOCGWINSZ | FIONREAD | TIOCOUTQ => IoctlArgKind::None,
            TCSETS | TCSETSW | TCSETSF => IoctlArgKind::Termios,
            TIOCSWINSZ => IoctlArgKind::WinSize,
            TCFLSH | TCXONC | TCSBRK => IoctlArgKind::Value,
            TIOCSTI => IoctlArgKind::Byte,
            _ => return None,
        })
    }

    /// Requests that first wait until the console has taken all queued
    /// output (`output_pending() == 0`): `TCSETSW`, `TCSETSF` and
    /// `TCSBRK` (what `tcdrain()` uses).
    pub fn ioctl_waits_for_output(request: u64) -> bool {
        matches!(request, TCSETSW | TCSETSF | TCSBRK)
    }

    /// Performs a line-discipline ioctl. A mismatched `arg` is `EINVAL`.
    pub fn ioctl(&mut self, request: u64, arg: IoctlArg) -> IoctlReply {
        match (request, arg) {
            (TCGETS, _) => IoctlReply::Termios(self.termios),
            (TCSETS | TCSETSW, IoctlArg::Termios(t)) => {
                self.set_termios(t);
                IoctlReply::Done
            }
            (TCSETSF, IoctlArg::Termios(t)) => {
                // "Flush" means discard unread input, then set.
                self.flush_input();
                self.set_termios(t);
                IoctlReply::Done
            }
            (TIOCGWINSZ, _) => IoctlReply::WinSize(self.winsize()),
            (TIOCSWINSZ, IoctlArg::WinSize(ws)) => {
                if self.set_winsize(ws) {
                    IoctlReply::Effects(vec![InputEffect::Signal(SIGWINCH)])
                } else {
                    IoctlReply::Done
                }
            }
            (FIONREAD, _) => IoctlReply::Int(self.readable() as i32),
            (TIOCOUTQ, _) => IoctlReply::Int(self.output_pending() as i32),
            (TCFLSH, IoctlArg::Value(which)) => {
                match which {
                    TCIFLUSH => self.flush_input(),
                    TCOFLUSH => self.flush_output(),
                    TCIOFLUSH => {
                        self.flush_input();
                        self.flush_output();
                    }
                    _ => return IoctlReply::Error(EINVAL),
                }
                IoctlReply::Done
            }
            (TCXONC, IoctlArg::Value(action)) => {
                match action {
                    TCOOFF => self.tcooff(),
                    TCOON => self.tcoon(),
                    TCIOFF => self.send_xchar(self.termios.c_cc[VSTOP]),
                    TCION => self.send_xchar(self.termios.c_cc[VSTART]),
                    _ => return IoctlReply::Error(EINVAL),
                }
                IoctlReply::Done
            }
            // The console has no break to send; draining (the caller's
            // job, see `ioctl_waits_for_output`) is all there is to it.
            (TCSBRK, IoctlArg::Value(_)) => IoctlReply::Done,
            // Fake typed input: goes through the same processing.
            (TIOCSTI, IoctlArg::Byte(c)) => IoctlReply::Effects(self.receive_input(&[c])),
            _ => IoctlReply::Error(EINVAL),
        }
    }
}
