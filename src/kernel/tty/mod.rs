//! Terminals: the N_TTY line discipline.
//!
//! The host terminal that started umk is put in raw mode, so every key the
//! user presses reaches umk unprocessed. Turning those keys into what a
//! Linux program expects from `/dev/console` — `read()` returning a whole
//! edited line, `^C` killing the foreground job, typed characters appearing
//! on screen — is the job of the *line discipline*. In Linux that is
//! `drivers/tty/n_tty.c`; [`ldisc::LineDiscipline`] is a re-implementation
//! of it as a pure state machine: the kernel's event loop feeds it bytes
//! and takes bytes and signals out. It does no I/O and knows nothing about
//! processes.
//!
//! # The model
//!
//! ```text
//!   console keys ──► receive_input ──► [backlog] ──► per-char processing ──► read buffer ──► read()
//!                                                       │   (ISIG, IXON,             (4096 bytes,
//!                                                       │    ICRNL, editing)          lines marked)
//!                                                       ▼
//!                                                     echo ──┐
//!   write() ──► OPOST processing (ONLCR, tabs, column) ──────┴──► output queue ──► take_output ──► console
//! ```
//!
//! * **Input processing** (`c_iflag`): `ISTRIP` clears bit 7, `IUCLC`
//!   lower-cases, `ICRNL`/`INLCR`/`IGNCR` translate or drop `\r` and `\n`,
//!   `IXON` makes `VSTOP` (^S) / `VSTART` (^Q) stop and restart *output*.
//! * **Signals** (`ISIG` in `c_lflag`): `VINTR` (^C), `VQUIT` (^\) and
//!   `VSUSP` (^Z) are not stored; they become SIGINT / SIGQUIT / SIGTSTP
//!   for the foreground process group, and (unless `NOFLSH`) throw away
//!   all unread input and unsent output.
//! * **Canonical mode** (`ICANON`): input is collected into a line that
//!   can still be edited — `VERASE` deletes a character (a whole UTF-8
//!   character under `IUTF8`), `VWERASE` a word, `VKILL` the line,
//!   `VLNEXT` quotes the next key, `VREPRINT` redraws the line. Only
//!   `\n`, `VEOL`, `VEOL2` or `VEOF` *complete* a line and make it
//!   readable; `read()` then returns at most one line. `VEOF` (^D) is not
//!   stored: on an empty line it makes `read()` return 0, which programs
//!   take as end of file.
//! * **Non-canonical ("raw") mode**: every byte is readable at once;
//!   `VMIN` and `VTIME` say how many bytes a `read()` waits for and how
//!   long (see [`ldisc::ReadReady`]).
//! * **Echo** (`ECHO` and friends): typed characters are copied to the
//!   output so the user sees them; `ECHOCTL` shows control characters as
//!   `^X`, `ECHOE` erases with `"\b \b"`, `ECHOK`/`ECHOKE` say how a killed
//!   line is shown, `ECHONL` echoes `\n` even without `ECHO`.
//! * **Output processing** (`OPOST` in `c_oflag`): `ONLCR` turns `\n` into
//!   `\r\n`, `OCRNL`, `ONOCR`, `ONLRET`, `OLCUC`, tab expansion (`XTABS`).
//!   The discipline tracks the cursor column, which erasing a tab needs.
//!
//! References: termios(3), `drivers/tty/n_tty.c`, `drivers/tty/tty_ioctl.c`.
//! Linux is the specification: `pty_diff` tests compare this state machine
//! with a real Linux pty byte for byte.

mod ctype;
mod input;
pub mod ioctl;
pub mod ldisc;
mod output;

#[cfg(test)]
mod pty_diff;
#[cfg(test)]
mod tests;

pub use ioctl::{IoctlArg, IoctlArgKind, IoctlReply};
pub use ldisc::{InputEffect, LineDiscipline, ReadReady};

pub mod console;
pub mod core;
pub mod pty;
pub use console::{Console, ConsoleInput};
