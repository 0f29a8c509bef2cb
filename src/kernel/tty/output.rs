//! Output: `OPOST` processing of `write()` data and of echo, flow
//! control, and the queue the console drains.
//!
//! Linux queues echo in a separate buffer of "echo operations" and turns
//! them into bytes later (`__process_echoes`), because its output driver may
//! be busy. Our output queue always accepts bytes, so echo is processed
//! immediately; the column bookkeeping that the echo operations exist for
//! (`ECHO_OP_SET_CANON_COL`, `ECHO_OP_ERASE_TAB`, ...) happens inline.

use guest_abi::termios::*;

use super::ctype::{iscntrl, toupper};
use super::ldisc::LineDiscipline;

/// `TABDLY`/`XTABS` (`TAB3`): expand tabs to spaces on output. Not in
/// `guest_abi` because nothing else needs it.
const TABDLY: u32 = 0o14000;
const XTABS: u32 = 0o14000;

/// `ECHO_OP_START` in `n_tty.c`: a literal 0xff in the echo stream is
/// escaped and then written without output processing.
const ECHO_OP_START: u8 = 0xff;

impl LineDiscipline {
    /// `write()` from the guest: applies output processing and queues the
    /// result. Always accepts everything; a kernel that wants writers to
    /// block while output is stopped (^S) can check
    /// [`is_output_stopped`](Self::is_output_stopped) first, as Linux does.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.o(OPOST) {
            for &c in data {
                self.do_output_char(c);
            }
        } else {
            // Raw output: not even the column is tracked (n_tty_write).
            self.out.extend_from_slice(data);
        }
        data.len()
    }

    /// `do_output_char`: one byte through `OPOST`, tracking the column.
    fn do_output_char(&mut self, mut c: u8) {
        match c {
            b'\n' => {
                if self.o(ONLRET) {
                    self.column = 0;
                }
                if self.o(ONLCR) {
                    self.column = 0;
                    self.canon_column = 0;
                    self.out.extend_from_slice(b"\r\n");
                    return;
                }
                self.canon_column = self.column;
            }
            b'\r' => {
                if self.o(ONOCR) && self.column == 0 {
                    // Already at column 0: a carriage return would do nothing.
                    return;
                }
                if self.o(OCRNL) {
                    c = b'\n';
                    if self.o(ONLRET) {
                        self.column = 0;
                        self.canon_column = 0;
                    }
                } else {
                    self.column = 0;
                    self.canon_column = 0;
                }
            }
            b'\t' => {
                let spaces = 8 - (self.column & 7);
                self.column += spaces;
                if self.termios.c_oflag & TABDLY == XTABS {
                    self.out.extend(std::iter::repeat_n(b' ', spaces));
                    return;
                }
            }
            b'\x08' => self.column = self.column.saturating_sub(1),
            _ => {
                if !iscntrl(c) {
                    if self.o(OLCUC) {
                        c = toupper(c);
                    }
                    // A UTF-8 character moves the cursor once, on its lead byte.
                    if !self.is_continuation(c) {
                        self.column += 1;
                    }
                }
            }
        }
        self.out.push(c);
    }

    /// An echo byte that is not a control-character marker: output
    /// processing applies, so an echoed `\n` becomes `\r\n` under `ONLCR`.
    fn echo_output(&mut self, c: u8) {
        if c == ECHO_OP_START {
            self.out.push(c);
            self.column += 1;
        } else if self.o(OPOST) {
            self.do_output_char(c);
        } else {
            self.out.push(c);
        }
    }

    /// `echo_char_raw`: echo `c` as is.
    pub(super) fn echo_char_raw(&mut self, c: u8) {
        self.echo_output(c);
    }

    /// `echo_char`: echo a typed character, as `^X` if it is a control
    /// character (other than tab) under `ECHOCTL`. DEL shows as `^?`.
    pub(super) fn echo_char(&mut self, c: u8) {
        if c != ECHO_OP_START && self.l(ECHOCTL) && iscntrl(c) && c != b'\t' {
            self.out.push(b'^');
            self.out.push(c ^ 0o100);
            self.column += 2;
        } else {
            self.echo_output(c);
        }
    }

    /// `ECHO_OP_MOVE_BACK_COL`: a byte just echoed did not really advance
    /// the cursor (a UTF-8 continuation byte under `ECHOPRT`).
    pub(super) fn echo_move_back_col(&mut self) {
        self.column = self.column.saturating_sub(1);
    }

    /// `ECHO_OP_ERASE_TAB`: back up over a tab. `num_chars` is the width of
    /// what was typed between the previous tab (or the line start, whose
    /// column is `canon_column`) and this one; the tab filled the rest of
    /// its 8-column stop.
    pub(super) fn echo_erase_tab(&mut self, num_chars: usize, after_tab: bool) {
        let mut num_chars = num_chars & 7;
        if !after_tab {
            num_chars += self.canon_column;
        }
        let num_bs = 8 - (num_chars & 7);
        for _ in 0..num_bs {
            self.out.push(b'\x08');
            self.column = self.column.saturating_sub(1);
        }
    }

    /// Drains the bytes for the console, echo and written data in order.
    /// Returns nothing while output is stopped (except `TCXONC` flow
    /// characters).
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        self.take_output_into(&mut v);
        v
    }

    /// Like [`take_output`](Self::take_output), appending to `out`.
    pub fn take_output_into(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.xchar);
        if !self.stopped {
            out.append(&mut self.out);
            self.delivered = 0;
        }
    }

    /// A pty master has been told of the output queued so far: it is the
    /// master's now (unless output is stopped, when Linux keeps it back).
    pub fn mark_delivered(&mut self) {
        if !self.stopped {
            self.delivered = self.out.len();
        }
    }

    /// Puts back output a reader (a pty master with a short buffer) could
    /// not take, at the front of the queue.
    pub fn requeue_output(&mut self, rest: &[u8]) {
        let mut v = rest.to_vec();
        v.append(&mut self.out);
        self.out = v;
        self.delivered += rest.len();
    }

    /// `TCFLSH TCOFLUSH`: drop output not yet taken by the console.
    pub fn flush_output(&mut self) {
        self.out.truncate(self.delivered);
        self.pktstatus |= TIOCPKT_FLUSHWRITE;
    }

    /// `TCFLSH TCIFLUSH` on a pty master: its input is everything the
    /// slave side wrote and it has not read. Master-side flushes are not
    /// packet-mode events (only the slave's are).
    pub fn flush_master_input(&mut self) {
        self.out.clear();
        self.delivered = 0;
    }

    /// `TIOCOUTQ`: bytes queued for the console.
    pub fn output_pending(&self) -> usize {
        self.out.len() + self.xchar.len()
    }

    /// Output is stopped by ^S (`IXON`) or `TCXONC TCOOFF`.
    pub fn is_output_stopped(&self) -> bool {
        self.stopped
    }

    /// `start_tty`: ^Q. Does not override a `TCOOFF`.
    pub(super) fn start_tty(&mut self) {
        if !self.stopped || self.tco_stopped {
            return;
        }
        self.stopped = false;
        self.pktstatus = (self.pktstatus & !TIOCPKT_STOP) | TIOCPKT_START;
    }

    /// `stop_tty`: ^S.
    pub(super) fn stop_tty(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.pktstatus = (self.pktstatus & !TIOCPKT_START) | TIOCPKT_STOP;
    }

    /// `TCXONC TCOOFF`: the program suspends output.
    pub fn tcooff(&mut self) {
        if !self.tco_stopped {
            self.tco_stopped = true;
            self.stop_tty();
        }
    }

    /// `TCXONC TCOON`: the program resumes output.
    pub fn tcoon(&mut self) {
        if self.tco_stopped {
            self.tco_stopped = false;
            self.start_tty();
        }
    }

    /// `TCXONC TCIOFF`/`TCION`: send `VSTOP`/`VSTART` to the terminal
    /// (`tty_send_xchar`), ahead of stopped output.
    pub fn send_xchar(&mut self, c: u8) {
        if c != super::ldisc::DISABLED_CHAR {
            self.xchar.push(c);
        }
    }
}
