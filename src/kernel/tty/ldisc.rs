//! The line discipline's state and its reading side.
//!
//! Input processing lives in `input.rs`, output and echo in `output.rs`;
//! they add `impl LineDiscipline` blocks to the struct defined here.
//!
//! # The read buffer
//!
//! Like `struct n_tty_data`, processed input sits in a 4096-byte ring
//! (`N_TTY_BUF_SIZE`) addressed by three ever-increasing indices:
//!
//! ```text
//!   read_tail ........ canon_head ........ read_head
//!   |  complete lines  |  line being edited  |
//! ```
//!
//! In canonical mode only `[read_tail, canon_head)` is readable; each line
//! ends at a byte whose bit in `read_flags` is set (`\n`, `VEOL`, `VEOL2`,
//! or a NUL standing for `VEOF`, which `read()` consumes but does not
//! copy). In non-canonical mode everything up to `read_head` is readable.

use std::collections::VecDeque;
use std::time::Duration;

use guest_abi::termios::{
    default_termios, Termios, WinSize, ICANON, IXON, TIOCPKT_DOSTOP, TIOCPKT_FLUSHREAD,
    TIOCPKT_NOSTOP, VMIN, VSTART, VSTOP, VTIME,
};

/// Size of the read buffer, as in `n_tty.c`.
pub const N_TTY_BUF_SIZE: usize = 4096;
pub(super) const MASK: usize = N_TTY_BUF_SIZE - 1;

/// `_POSIX_VDISABLE` on Linux: a `c_cc` slot holding 0 is switched off.
/// It is also the byte stored in the read buffer for `VEOF`
/// (`__DISABLED_CHAR` in `n_tty.c`).
pub(super) const DISABLED_CHAR: u8 = 0;

/// Something the kernel must do because of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEffect {
    /// Send this signal to the terminal's foreground process group:
    /// SIGINT on `VINTR`, SIGQUIT on `VQUIT`, SIGTSTP on `VSUSP` (under `ISIG`).
    Signal(i32),
}

/// What a blocking `read()` should do now (see termios(3), "Canonical
/// and noncanonical mode", and `n_tty_read`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadReady {
    /// Call [`LineDiscipline::read`] now.
    Ready,
    /// Sleep until more input arrives.
    Block,
    /// `VMIN > 0, VTIME > 0` and some (but not enough) bytes have arrived:
    /// sleep until more input arrives or this much time passes *since the
    /// last byte*; on timeout call `read` anyway, which returns what is
    /// there.
    BlockWithInterbyteTimeout(Duration),
    /// `VMIN == 0, VTIME > 0` and nothing is queued: sleep until input
    /// arrives or this much time passes; on timeout `read` returns 0.
    BlockWithTimeout(Duration),
}

/// The N_TTY line discipline of one terminal (see the module docs).
pub struct LineDiscipline {
    pub(super) termios: Termios,
    winsize: WinSize,
    /// `ldata->icanon`: cached `ICANON`, changed only by `set_termios`.
    pub(super) icanon: bool,

    // --- read buffer (n_tty_data) ---
    pub(super) read_buf: Box<[u8; N_TTY_BUF_SIZE]>,
    /// Marks line terminators in canonical mode.
    pub(super) read_flags: Box<[bool; N_TTY_BUF_SIZE]>,
    pub(super) read_head: usize,
    pub(super) canon_head: usize,
    pub(super) read_tail: usize,
    /// The previous key was `VLNEXT`: take the next one literally.
    pub(super) lnext: bool,
    /// In the middle of an `ECHOPRT` erase ("\abc/" style).
    pub(super) erasing: bool,

    // --- bytes received but not yet processed (the tty "flip buffer") ---
    /// Input that did not fit in the read buffer; processed as the reader
    /// makes room, as Linux's `flush_to_ldisc` does.
    pub(super) backlog: VecDeque<u8>,
    /// How many backlog bytes already had `VSTART`/`VSTOP` acted on
    /// (`n_tty_lookahead_flow_ctrl`).
    pub(super) lookahead_count: usize,
    /// Signals produced while processing the backlog from `read()`.
    pub(super) deferred: Vec<InputEffect>,

    // --- output ---
    /// Cursor column as far as we can tell (`ldata->column`).
    pub(super) column: usize,
    /// Column where the line being edited started (`ldata->canon_column`).
    pub(super) canon_column: usize,
    /// Processed bytes waiting for the console: echo and `write()` data.
    pub(super) out: Vec<u8>,
    /// Flow-control characters sent by `TCXONC` (`tty_send_xchar`); they
    /// go out even while output is stopped.
    pub(super) xchar: Vec<u8>,
    /// Output stopped by `VSTOP` (`tty->flow.stopped`).
    pub(super) stopped: bool,
    /// Output stopped by `TCXONC TCOOFF`; `VSTART` does not restart it.
    pub(super) tco_stopped: bool,
    /// How much of `out` a pty master already owns: Linux's pty_write
    /// moves output into the master's buffer at once, so ^C and
    /// `TCOFLUSH` drop only what is still pending (echo of the input being
    /// processed, output written while stopped).
    pub(super) delivered: usize,
    /// Flow and flush events for a pty master in packet mode (TIOCPKT):
    /// TIOCPKT_* bits, kept on the slave's side as in Linux.
    pub(super) pktstatus: u8,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDiscipline {
    /// A terminal with Linux's default settings (cooked mode, echo, ISIG,
    /// ICRNL, OPOST|ONLCR, IUTF8) and a 0x0 window until `set_winsize`.
    pub fn new() -> Self {
        let termios = default_termios();
        LineDiscipline {
            termios,
            winsize: WinSize::default(),
            icanon: termios.c_lflag & ICANON != 0,
            read_buf: Box::new([0; N_TTY_BUF_SIZE]),
            read_flags: Box::new([false; N_TTY_BUF_SIZE]),
            read_head: 0,
            canon_head: 0,
            read_tail: 0,
            lnext: false,
            erasing: false,
            backlog: VecDeque::new(),
            lookahead_count: 0,
            deferred: Vec::new(),
            column: 0,
            canon_column: 0,
            out: Vec::new(),
            delivered: 0,
            xchar: Vec::new(),
            stopped: false,
            tco_stopped: false,
            pktstatus: 0,
        }
    }

    pub fn termios(&self) -> &Termios {
        &self.termios
    }

    /// `TCSETS`: install new settings (`n_tty_set_termios`).
    ///
    /// Toggling `ICANON` re-interprets what is already buffered:
    /// * switching it **off** makes everything readable, including a
    ///   half-typed line (and any `VEOF` markers, which then read as NUL
    ///   bytes, exactly as on Linux);
    /// * switching it **on** with data buffered turns all of it into one
    ///   complete line, so a waiting `read()` is not stuck.
    pub fn set_termios(&mut self, t: Termios) {
        let old = self.termios;
        self.termios = t;
        // The line discipline number is not ours to change; always N_TTY.
        self.termios.c_line = 0;
        if (old.c_lflag ^ t.c_lflag) & ICANON != 0 {
            self.read_flags.fill(false);
            if t.c_lflag & ICANON == 0 || self.read_cnt() == 0 {
                self.canon_head = self.read_tail;
            } else {
                self.read_flags[(self.read_head - 1) & MASK] = true;
                self.canon_head = self.read_head;
            }
            self.erasing = false;
            self.lnext = false;
        }
        self.icanon = t.c_lflag & ICANON != 0;
        // A packet-mode master learns whether ^S/^Q flow control is on
        // (pty_set_termios).
        let flow =
            |t: &Termios| t.c_iflag & IXON != 0 && t.c_cc[VSTOP] == 0o23 && t.c_cc[VSTART] == 0o21;
        if flow(&old) != flow(&t) {
            self.pktstatus &= !(TIOCPKT_DOSTOP | TIOCPKT_NOSTOP);
            self.pktstatus |= if flow(&t) { TIOCPKT_DOSTOP } else { TIOCPKT_NOSTOP };
        }
        // Clearing IXON must not leave output stopped forever by an
        // earlier ^S.
        if t.c_iflag & IXON == 0 && old.c_iflag & IXON != 0 && !self.tco_stopped {
            self.start_tty();
        }
    }

    pub fn winsize(&self) -> WinSize {
        self.winsize
    }

    /// `TIOCSWINSZ`. Returns true if the size changed; the caller then sends
    /// SIGWINCH to the foreground process group (`tty_do_resize`).
    pub fn set_winsize(&mut self, ws: WinSize) -> bool {
        let changed = ws != self.winsize;
        self.winsize = ws;
        changed
    }

    /// Bytes in the read buffer (`read_cnt`).
    pub(super) fn read_cnt(&self) -> usize {
        self.read_head - self.read_tail
    }

    pub(super) fn rb(&self, i: usize) -> u8 {
        self.read_buf[i & MASK]
    }

    /// `FIONREAD`/`TIOCINQ`: bytes a reader could get now. In canonical mode
    /// that is all complete lines, not counting `VEOF` markers (`inq_canon`).
    pub fn readable(&self) -> usize {
        if !self.icanon {
            return self.read_cnt();
        }
        (self.read_tail..self.canon_head)
            .filter(|&i| !(self.read_flags[i & MASK] && self.rb(i) == DISABLED_CHAR))
            .count()
    }

    /// `poll()`/`select()` readability (`input_available_p(tty, 1)`): a
    /// complete line in canonical mode; otherwise one byte, or `VMIN` bytes
    /// when `VTIME` is 0.
    pub fn poll_readable(&self) -> bool {
        if self.icanon {
            return self.canon_head != self.read_tail;
        }
        let (vmin, vtime) = (self.termios.c_cc[VMIN] as usize, self.termios.c_cc[VTIME]);
        let amt = if vtime == 0 && vmin > 0 { vmin } else { 1 };
        self.read_cnt() >= amt
    }

    /// Whether a blocking `read(fd, buf, count)` should return now.
    ///
    /// Takes `count` (a deviation from the first API sketch): with
    /// `VMIN > count`, Linux returns once `count` bytes are there, so
    /// readiness depends on the size of the read.
    ///
    /// Linux copies bytes into the user buffer as they arrive and keeps
    /// waiting; here they stay queued until the kernel calls `read`. That
    /// is the same except that a flush (`^C`, `TCFLSH`) during the wait
    /// also discards the bytes a Linux reader would already have had.
    pub fn read_ready(&self, count: usize) -> ReadReady {
        if count == 0 {
            return ReadReady::Ready;
        }
        if self.icanon {
            return if self.canon_head != self.read_tail {
                ReadReady::Ready
            } else {
                ReadReady::Block
            };
        }
        let avail = self.read_cnt();
        let vmin = self.termios.c_cc[VMIN] as usize;
        let vtime = Duration::from_millis(100 * self.termios.c_cc[VTIME] as u64);
        match (vmin, vtime.is_zero()) {
            // Pure polling read.
            (0, true) => ReadReady::Ready,
            // Read with a timeout for the first byte.
            (0, false) if avail > 0 => ReadReady::Ready,
            (0, false) => ReadReady::BlockWithTimeout(vtime),
            (_, _) if avail >= vmin.min(count) => ReadReady::Ready,
            (_, _) if avail == 0 || vtime.is_zero() => ReadReady::Block,
            // The inter-byte timer only starts with the first byte.
            (_, _) => ReadReady::BlockWithInterbyteTimeout(vtime),
        }
    }

    /// `read()`: copies what Linux would copy into `buf` and returns the
    /// count. Canonical mode returns at most one line (or part of one if
    /// `buf` is short; the rest comes next time); a `VEOF` on an empty line
    /// returns 0. Non-canonical mode returns whatever is there.
    ///
    /// Call it when [`read_ready`](Self::read_ready) says so (or when its
    /// timeout expires). Making room may process backlogged input; any
    /// signals that produces are collected by
    /// [`take_deferred_effects`](Self::take_deferred_effects).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = if self.icanon {
            self.canon_copy_from_read_buf(buf)
        } else {
            self.copy_from_read_buf(buf)
        };
        let mut effects = std::mem::take(&mut self.deferred);
        self.drain_backlog(&mut effects);
        self.deferred = effects;
        n
    }

    /// A `read()` on an `O_NONBLOCK` descriptor: `None` means `EAGAIN`.
    /// Non-canonical reads return whatever is there even below `VMIN`
    /// (`n_tty_read` copies first, then finds it must not wait).
    pub fn read_nonblocking(&mut self, buf: &mut [u8]) -> Option<usize> {
        let ok = buf.is_empty()
            || if self.icanon {
                self.canon_head != self.read_tail
            } else {
                self.read_cnt() > 0
                    || (self.termios.c_cc[VMIN] == 0 && self.termios.c_cc[VTIME] == 0)
            };
        ok.then(|| self.read(buf))
    }

    /// Signals raised by input that was processed late (when `read` made
    /// room for backlogged bytes). Deliver them like `receive_input`'s.
    pub fn take_deferred_effects(&mut self) -> Vec<InputEffect> {
        std::mem::take(&mut self.deferred)
    }

    /// `canon_copy_from_read_buf` + `canon_skip_eof`.
    fn canon_copy_from_read_buf(&mut self, buf: &mut [u8]) -> usize {
        if buf.is_empty() {
            return 0;
        }
        let tail = self.read_tail;
        let n = buf.len().min(self.canon_head - tail);
        let eol = (tail..tail + n).find(|&i| self.read_flags[i & MASK]);
        // Copy up to and including the terminator, unless it is the VEOF
        // marker, which is consumed but not copied.
        let (copied, consumed) = match eol {
            Some(e) if self.rb(e) == DISABLED_CHAR => (e - tail, e - tail + 1),
            Some(e) => (e - tail + 1, e - tail + 1),
            None => (n, n),
        };
        for (k, b) in buf[..copied].iter_mut().enumerate() {
            *b = self.rb(tail + k);
        }
        if let Some(e) = eol {
            self.read_flags[e & MASK] = false;
        }
        self.read_tail += consumed;
        // The buffer was exactly filled by "abc" of "abc^D": Linux also
        // swallows the VEOF so the next read does not see a spurious EOF.
        if eol.is_none() && copied == buf.len() {
            self.canon_skip_eof();
        }
        copied
    }

    fn canon_skip_eof(&mut self) {
        let t = self.read_tail;
        if t != self.canon_head && self.read_flags[t & MASK] && self.rb(t) == DISABLED_CHAR {
            self.read_flags[t & MASK] = false;
            self.read_tail += 1;
        }
    }

    /// Non-canonical `copy_from_read_buf`.
    fn copy_from_read_buf(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.read_cnt());
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = self.rb(self.read_tail + k);
        }
        self.read_tail += n;
        n
    }

    /// Throws away unread input (`TCFLSH TCIFLUSH`): the read buffer and
    /// the backlog.
    pub fn flush_input(&mut self) {
        self.backlog.clear();
        self.reset_buffer_flags();
        self.pktstatus |= TIOCPKT_FLUSHREAD;
    }

    /// Takes the packet-mode status a pty master has not read yet.
    pub fn take_pktstatus(&mut self) -> u8 {
        std::mem::take(&mut self.pktstatus)
    }

    pub fn pktstatus(&self) -> u8 {
        self.pktstatus
    }

    /// `reset_buffer_flags`: empty the read buffer (not the backlog).
    pub(super) fn reset_buffer_flags(&mut self) {
        self.read_head = 0;
        self.canon_head = 0;
        self.read_tail = 0;
        self.erasing = false;
        self.read_flags.fill(false);
        self.lookahead_count = 0;
    }
}
