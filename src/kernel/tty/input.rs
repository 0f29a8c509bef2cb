//! Input processing: what happens to each byte typed at the console
//! (`n_tty_receive_buf_common` and friends in `drivers/tty/n_tty.c`).

use guest_abi::signal::{SIGINT, SIGQUIT, SIGTSTP};
use guest_abi::termios::*;

use super::ctype::{isalnum, iscntrl, tolower};
use super::ldisc::{InputEffect, LineDiscipline, DISABLED_CHAR, MASK, N_TTY_BUF_SIZE};

/// Which kind of erase a key asks for (`eraser()`).
#[derive(PartialEq, Eq)]
enum KillType {
    Erase,
    Werase,
    Kill,
}

impl LineDiscipline {
    /// Bytes typed at the console. Echo goes to the output queue; the
    /// returned signals are for the foreground process group, in order.
    pub fn receive_input(&mut self, bytes: &[u8]) -> Vec<InputEffect> {
        let mut effects = std::mem::take(&mut self.deferred);
        self.backlog.extend(bytes);
        self.drain_backlog(&mut effects);
        effects
    }

    /// Moves bytes from the backlog into the read buffer while there is
    /// room, like `n_tty_receive_buf_common`.
    ///
    /// When the buffer is full the bytes wait (Linux leaves them in the
    /// tty's flip buffer) and are processed when `read` makes room — with
    /// one exception: in canonical mode, if no complete line exists,
    /// waiting could never end, so each new byte overwrites the last
    /// buffered one. That keeps erase and newline working on an over-long
    /// line (which is truncated to 4095 bytes).
    pub(super) fn drain_backlog(&mut self, effects: &mut Vec<InputEffect>) {
        while !self.backlog.is_empty() {
            let used = self.read_cnt() as isize;
            let mut room = N_TTY_BUF_SIZE as isize - used;
            if self.termios.c_iflag & PARMRK != 0 {
                // A byte may take 3 slots (0xff is doubled).
                room = (room + 2) / 3;
            }
            room -= 1;
            if room <= 0 {
                let overflow = self.icanon && self.canon_head == self.read_tail;
                if !overflow {
                    break;
                }
                if room < 0 {
                    self.read_head -= 1;
                }
                room = 1;
            }
            let n = (room as usize).min(self.backlog.len());
            for _ in 0..n {
                let Some(c) = self.backlog.pop_front() else { break };
                let lookahead_done = self.lookahead_count > 0;
                self.lookahead_count = self.lookahead_count.saturating_sub(1);
                self.receive_byte(c, lookahead_done, effects);
            }
        }
        self.lookahead_flow_ctrl();
    }

    /// Even when input cannot be processed for lack of room, ^S/^Q must
    /// still work, or a user could not restart output to let the reader
    /// catch up (`n_tty_lookahead_flow_ctrl`).
    fn lookahead_flow_ctrl(&mut self) {
        let fresh: Vec<u8> = self.backlog.iter().skip(self.lookahead_count).copied().collect();
        self.lookahead_count = self.backlog.len();
        if self.termios.c_iflag & IXON != 0 {
            for c in fresh {
                self.receive_char_flow_ctrl(c, false);
            }
        }
    }

    /// One byte (`n_tty_receive_buf_standard`'s loop body).
    fn receive_byte(&mut self, c: u8, lookahead_done: bool, effects: &mut Vec<InputEffect>) {
        let c = self.strip_and_fold(c);
        if self.lnext {
            // The byte after VLNEXT is stored as typed, whatever it is.
            self.lnext = false;
            self.receive_char(c);
        } else if self.is_special(c) {
            self.receive_char_special(c, lookahead_done, effects);
        } else {
            self.receive_char(c);
        }
    }

    /// `ISTRIP` and `IUCLC` apply before anything else looks at the byte.
    fn strip_and_fold(&self, mut c: u8) -> u8 {
        if self.i(ISTRIP) {
            c &= 0x7f;
        }
        if self.i(IUCLC) && self.l(IEXTEN) {
            c = tolower(c);
        }
        c
    }

    pub(super) fn i(&self, flag: u32) -> bool {
        self.termios.c_iflag & flag != 0
    }
    pub(super) fn l(&self, flag: u32) -> bool {
        self.termios.c_lflag & flag != 0
    }
    pub(super) fn o(&self, flag: u32) -> bool {
        self.termios.c_oflag & flag != 0
    }
    /// `c == X_CHAR(tty)` for an enabled control character.
    fn is_cc(&self, c: u8, index: usize) -> bool {
        c != DISABLED_CHAR && self.termios.c_cc[index] == c
    }

    /// Whether `c` needs more than "store and echo" (`ldata->char_map`,
    /// built in `n_tty_set_termios`).
    fn is_special(&self, c: u8) -> bool {
        if c == DISABLED_CHAR {
            return false;
        }
        let cc = |i| self.is_cc(c, i);
        (c == b'\r' && (self.i(IGNCR) || self.i(ICRNL)))
            || (c == b'\n' && self.i(INLCR))
            || (self.l(ICANON) && (cc(VERASE) || cc(VKILL) || cc(VEOF) || c == b'\n' || cc(VEOL)))
            || (self.l(ICANON)
                && self.l(IEXTEN)
                && (cc(VWERASE) || cc(VLNEXT) || cc(VEOL2) || (self.l(ECHO) && cc(VREPRINT))))
            || (self.i(IXON) && (cc(VSTART) || cc(VSTOP)))
            || (self.l(ISIG) && (cc(VINTR) || cc(VQUIT) || cc(VSUSP)))
    }

    /// A byte with no special meaning: echo it and store it
    /// (`n_tty_receive_char`).
    fn receive_char(&mut self, c: u8) {
        self.ixany_restart();
        if self.l(ECHO) {
            self.finish_erasing();
            if self.canon_head == self.read_head {
                // First character of a line: remember where it started.
                self.canon_column = self.column;
            }
            self.echo_char(c);
        }
        self.put_tty_queue_parmrk(c);
    }

    /// Under `IXANY`, any key (not just `VSTART`) restarts stopped output.
    fn ixany_restart(&mut self) {
        if self.stopped && !self.tco_stopped && self.i(IXON) && self.i(IXANY) {
            self.start_tty();
        }
    }

    fn put_tty_queue(&mut self, c: u8) {
        self.read_buf[self.read_head & MASK] = c;
        self.read_head += 1;
    }

    /// With `PARMRK`, a real 0xff byte is doubled so it cannot be mistaken
    /// for the start of a parity-error mark.
    fn put_tty_queue_parmrk(&mut self, c: u8) {
        if c == 0xff && self.i(PARMRK) {
            self.put_tty_queue(c);
        }
        self.put_tty_queue(c);
    }

    /// `VSTART`/`VSTOP` under `IXON`. Returns true if `c` was one of them.
    fn receive_char_flow_ctrl(&mut self, c: u8, lookahead_done: bool) -> bool {
        if !(self.is_cc(c, VSTART) || self.is_cc(c, VSTOP)) {
            return false;
        }
        if lookahead_done {
            // Already acted on while the byte sat in the backlog.
            return true;
        }
        if self.is_cc(c, VSTART) {
            self.start_tty();
        } else {
            self.stop_tty();
        }
        true
    }

    /// `n_tty_receive_char_special`: the byte is in the special-character
    /// map. The order of the tests matters and follows Linux.
    fn receive_char_special(
        &mut self,
        c: u8,
        lookahead_done: bool,
        effects: &mut Vec<InputEffect>,
    ) {
        if self.i(IXON) && self.receive_char_flow_ctrl(c, lookahead_done) {
            return;
        }
        if self.l(ISIG) {
            let sig = if self.is_cc(c, VINTR) {
                Some(SIGINT)
            } else if self.is_cc(c, VQUIT) {
                Some(SIGQUIT)
            } else if self.is_cc(c, VSUSP) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                self.receive_signal_char(sig, c, effects);
                return;
            }
        }
        self.ixany_restart();

        let mut c = c;
        if c == b'\r' {
            if self.i(IGNCR) {
                return;
            }
            if self.i(ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && self.i(INLCR) {
            c = b'\r';
        }

        if self.icanon {
            if self.is_cc(c, VERASE)
                || self.is_cc(c, VKILL)
                || (self.is_cc(c, VWERASE) && self.l(IEXTEN))
            {
                self.eraser(c);
                return;
            }
            if self.is_cc(c, VLNEXT) && self.l(IEXTEN) {
                self.lnext = true;
                if self.l(ECHO) {
                    self.finish_erasing();
                    if self.l(ECHOCTL) {
                        // Show a '^' under the cursor until the quoted
                        // key arrives and overwrites it.
                        self.echo_char_raw(b'^');
                        self.echo_char_raw(b'\x08');
                    }
                }
                return;
            }
            if self.is_cc(c, VREPRINT) && self.l(ECHO) && self.l(IEXTEN) {
                // "^R\r\n" and the line so far, for when output has
                // scribbled over it.
                self.finish_erasing();
                self.echo_char(c);
                self.echo_char_raw(b'\n');
                for i in self.canon_head..self.read_head {
                    self.echo_char(self.rb(i));
                }
                return;
            }
            if c == b'\n' {
                if self.l(ECHO) || self.l(ECHONL) {
                    self.echo_char_raw(b'\n');
                }
                self.end_line(c);
                return;
            }
            if self.is_cc(c, VEOF) {
                // VEOF completes the line but is not part of the data:
                // store the marker NUL, which read() will drop. It is not
                // echoed.
                self.end_line(DISABLED_CHAR);
                return;
            }
            if self.is_cc(c, VEOL) || (self.is_cc(c, VEOL2) && self.l(IEXTEN)) {
                if self.l(ECHO) {
                    if self.canon_head == self.read_head {
                        self.canon_column = self.column;
                    }
                    self.echo_char(c);
                }
                if c == 0xff && self.i(PARMRK) {
                    self.put_tty_queue(c);
                }
                self.end_line(c);
                return;
            }
        }

        if self.l(ECHO) {
            self.finish_erasing();
            if c == b'\n' {
                self.echo_char_raw(b'\n');
            } else {
                if self.canon_head == self.read_head {
                    self.canon_column = self.column;
                }
                self.echo_char(c);
            }
        }
        self.put_tty_queue_parmrk(c);
    }

    /// Store a line terminator and make the line readable.
    fn end_line(&mut self, c: u8) {
        self.read_flags[self.read_head & MASK] = true;
        self.put_tty_queue(c);
        self.canon_head = self.read_head;
    }

    /// `n_tty_receive_signal_char` + `isig`.
    fn receive_signal_char(&mut self, sig: i32, c: u8, effects: &mut Vec<InputEffect>) {
        effects.push(InputEffect::Signal(sig));
        if !self.l(NOFLSH) {
            // An interrupt means "forget what I typed and what you were
            // printing": drop unsent output (including echo) and unread
            // input. The backlog (Linux's flip buffer) survives.
            self.flush_output();
            self.reset_buffer_flags();
            self.pktstatus |= TIOCPKT_FLUSHREAD;
        }
        // A user hitting ^C at a stopped terminal wants to see something.
        if self.i(IXON) {
            self.start_tty();
        }
        if self.l(ECHO) {
            self.echo_char(c);
        }
    }

    /// `finish_erasing`: close an `ECHOPRT` "\erased/" group.
    fn finish_erasing(&mut self) {
        if self.erasing {
            self.echo_char_raw(b'/');
            self.erasing = false;
        }
    }

    /// Under `IUTF8`, bytes 10xxxxxx continue a multi-byte character.
    pub(super) fn is_continuation(&self, c: u8) -> bool {
        self.i(IUTF8) && (c & 0xc0) == 0x80
    }

    /// `eraser()`: `VERASE`, `VWERASE` and `VKILL` in canonical mode.
    fn eraser(&mut self, c: u8) {
        if self.read_head == self.canon_head {
            // Nothing to erase on this line (Linux does not even beep).
            return;
        }
        let kill_type = if self.is_cc(c, VERASE) {
            KillType::Erase
        } else if self.is_cc(c, VWERASE) {
            KillType::Werase
        } else {
            if !self.l(ECHO) {
                self.read_head = self.canon_head;
                return;
            }
            if !self.l(ECHOK) || !self.l(ECHOKE) || !self.l(ECHOE) {
                // Can't (or shouldn't) erase visually: show the kill
                // character, and with ECHOK start a fresh line.
                self.read_head = self.canon_head;
                self.finish_erasing();
                self.echo_char(self.termios.c_cc[VKILL]);
                if self.l(ECHOK) {
                    self.echo_char_raw(b'\n');
                }
                return;
            }
            KillType::Kill
        };

        let mut seen_alnums = 0;
        while self.read_head != self.canon_head {
            // Step back over one character: under IUTF8 that is a lead
            // byte and its continuation bytes.
            let mut head = self.read_head;
            let mut c;
            loop {
                head -= 1;
                c = self.rb(head);
                if !(self.is_continuation(c) && head != self.canon_head) {
                    break;
                }
            }
            // Never erase half a character.
            if self.is_continuation(c) {
                break;
            }
            if kill_type == KillType::Werase {
                // A word is alphanumerics and '_' (BSD's ALTWERASE):
                // skip trailing separators, then erase up to the next.
                if isalnum(c) || c == b'_' {
                    seen_alnums += 1;
                } else if seen_alnums > 0 {
                    break;
                }
            }
            let cnt = self.read_head - head;
            self.read_head = head;
            if self.l(ECHO) {
                self.echo_erase(kill_type == KillType::Erase, c, head, cnt);
            }
            if kill_type == KillType::Erase {
                break;
            }
        }
        if self.read_head == self.canon_head && self.l(ECHO) {
            self.finish_erasing();
        }
    }

    /// Show the erasure of the character `c` (`cnt` bytes at `head`).
    fn echo_erase(&mut self, single: bool, c: u8, head: usize, cnt: usize) {
        if self.l(ECHOPRT) {
            // Hard-copy terminals cannot move back: print the erased
            // characters between '\' and '/'.
            if !self.erasing {
                self.echo_char_raw(b'\\');
                self.erasing = true;
            }
            self.echo_char(c);
            for k in 1..cnt {
                self.echo_char_raw(self.rb(head + k));
                self.echo_move_back_col();
            }
        } else if single && !self.l(ECHOE) {
            // Without ECHOE the erase character is just echoed.
            self.echo_char(self.termios.c_cc[VERASE]);
        } else if c == b'\t' {
            // How far back the tab went depends on what precedes it on
            // the line: count the columns back to the previous tab or to
            // the start of the line (whose column we recorded).
            let mut num_chars = 0usize;
            let mut after_tab = false;
            for i in (self.canon_head..self.read_head).rev() {
                let b = self.rb(i);
                if b == b'\t' {
                    after_tab = true;
                    break;
                } else if iscntrl(b) {
                    if self.l(ECHOCTL) {
                        num_chars += 2;
                    }
                } else if !self.is_continuation(b) {
                    num_chars += 1;
                }
            }
            self.echo_erase_tab(num_chars, after_tab);
        } else {
            // "\b \b" per screen column: control characters echoed as
            // "^X" under ECHOCTL take two.
            let width = if iscntrl(c) && self.l(ECHOCTL) { 2 } else { 1 };
            for _ in 0..width {
                self.echo_char_raw(b'\x08');
                self.echo_char_raw(b' ');
                self.echo_char_raw(b'\x08');
            }
        }
    }
}
