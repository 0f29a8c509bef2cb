//! Unit tests, one behaviour each. (`pty_diff` checks the same ground
//! against a real Linux pty.)

use std::time::Duration;

use guest_abi::signal::{SIGINT, SIGQUIT, SIGTSTP, SIGWINCH};
use guest_abi::termios::*;

use super::ioctl::{TCIOFF, TCOOFF, TCOON};
use super::*;

fn ld() -> LineDiscipline {
    LineDiscipline::new()
}

fn ld_with(f: impl FnOnce(&mut Termios)) -> LineDiscipline {
    let mut l = ld();
    let mut t = *l.termios();
    f(&mut t);
    l.set_termios(t);
    l
}

fn raw_ld(vmin: u8, vtime: u8) -> LineDiscipline {
    ld_with(|t| {
        t.c_lflag &= !(ICANON | ECHO);
        t.c_cc[VMIN] = vmin;
        t.c_cc[VTIME] = vtime;
    })
}

fn read_all(l: &mut LineDiscipline) -> Vec<u8> {
    let mut buf = [0u8; 8192];
    let n = l.read(&mut buf);
    buf[..n].to_vec()
}

#[test]
fn canonical_line_is_readable_only_when_complete() {
    let mut l = ld();
    l.receive_input(b"hello");
    assert_eq!(l.read_ready(100), ReadReady::Block);
    assert_eq!(l.readable(), 0);
    l.receive_input(b"\r");
    assert_eq!(l.read_ready(100), ReadReady::Ready);
    assert_eq!(l.readable(), 6);
    assert_eq!(read_all(&mut l), b"hello\n");
    assert_eq!(l.take_output(), b"hello\r\n");
}

#[test]
fn read_returns_one_line_at_a_time() {
    let mut l = ld();
    l.receive_input(b"a\nb\n");
    assert_eq!(read_all(&mut l), b"a\n");
    assert_eq!(read_all(&mut l), b"b\n");
}

#[test]
fn erase_removes_last_char_with_echoe() {
    let mut l = ld();
    l.receive_input(b"ab\x7f\n");
    assert_eq!(read_all(&mut l), b"a\n");
    assert_eq!(l.take_output(), b"ab\x08 \x08\r\n");
}

#[test]
fn erase_removes_whole_utf8_char() {
    let mut l = ld();
    l.receive_input("a世\x7f\n".as_bytes());
    assert_eq!(read_all(&mut l), b"a\n");
}

#[test]
fn erase_without_iutf8_removes_one_byte() {
    let mut l = ld_with(|t| t.c_iflag &= !IUTF8);
    l.receive_input("é\x7f\n".as_bytes());
    assert_eq!(read_all(&mut l), b"\xc3\n");
}

#[test]
fn erase_at_line_start_does_nothing() {
    let mut l = ld();
    l.receive_input(b"a\n\x7f");
    assert_eq!(l.take_output(), b"a\r\n");
    assert_eq!(read_all(&mut l), b"a\n");
}

#[test]
fn werase_erases_previous_word() {
    let mut l = ld();
    l.receive_input(b"foo bar  \x17\n");
    assert_eq!(read_all(&mut l), b"foo \n");
}

#[test]
fn werase_needs_iexten() {
    let mut l = ld_with(|t| t.c_lflag &= !IEXTEN);
    l.receive_input(b"foo\x17\n");
    assert_eq!(read_all(&mut l), b"foo\x17\n");
}

#[test]
fn kill_with_echoke_erases_visually() {
    let mut l = ld();
    l.receive_input(b"ab\x15");
    assert_eq!(l.take_output(), b"ab\x08 \x08\x08 \x08");
    l.receive_input(b"c\n");
    assert_eq!(read_all(&mut l), b"c\n");
}

#[test]
fn kill_with_echok_only_echoes_kill_and_newline() {
    let mut l = ld_with(|t| t.c_lflag &= !ECHOKE);
    l.receive_input(b"ab\x15");
    assert_eq!(l.take_output(), b"ab^U\r\n");
}

#[test]
fn echoctl_shows_caret() {
    let mut l = ld();
    l.receive_input(b"\x01\t\x7f");
    // ^A shown as two columns, tab raw; then the tab is erased.
    assert_eq!(&l.take_output()[..3], b"^A\t");
}

#[test]
fn erasing_control_char_takes_two_columns() {
    let mut l = ld();
    l.receive_input(b"\x01\x7f");
    assert_eq!(l.take_output(), b"^A\x08 \x08\x08 \x08");
}

#[test]
fn echo_off_echoes_nothing_but_echonl_echoes_newline() {
    let mut l = ld_with(|t| t.c_lflag = (t.c_lflag & !ECHO) | ECHONL);
    l.receive_input(b"secret\r");
    assert_eq!(l.take_output(), b"\r\n");
    assert_eq!(read_all(&mut l), b"secret\n");
}

#[test]
fn vintr_sends_sigint_and_flushes() {
    let mut l = ld();
    l.receive_input(b"done\npartial");
    l.write(b"unsent");
    let fx = l.receive_input(b"\x03");
    assert_eq!(fx, vec![InputEffect::Signal(SIGINT)]);
    assert_eq!(l.readable(), 0);
    assert_eq!(l.read_ready(10), ReadReady::Block);
    assert_eq!(l.take_output(), b"^C");
}

#[test]
fn vquit_and_vsusp_send_their_signals_in_order() {
    let mut l = ld();
    let fx = l.receive_input(b"\x1c\x1a\x03");
    let want = [SIGQUIT, SIGTSTP, SIGINT].map(InputEffect::Signal).to_vec();
    assert_eq!(fx, want);
}

#[test]
fn noflsh_keeps_input() {
    let mut l = ld_with(|t| t.c_lflag |= NOFLSH);
    l.receive_input(b"ab");
    assert_eq!(l.receive_input(b"\x03"), vec![InputEffect::Signal(SIGINT)]);
    l.receive_input(b"\n");
    assert_eq!(read_all(&mut l), b"ab\n");
    assert_eq!(l.take_output(), b"ab^C\r\n");
}

#[test]
fn isig_off_makes_ctrl_c_data() {
    let mut l = ld_with(|t| t.c_lflag &= !ISIG);
    assert!(l.receive_input(b"\x03\n").is_empty());
    assert_eq!(read_all(&mut l), b"\x03\n");
}

#[test]
fn veof_at_line_start_reads_zero() {
    let mut l = ld();
    l.receive_input(b"\x04");
    assert_eq!(l.read_ready(10), ReadReady::Ready);
    assert_eq!(l.readable(), 0);
    assert_eq!(read_all(&mut l), b"");
    // Consumed: the next read blocks.
    assert_eq!(l.read_ready(10), ReadReady::Block);
    assert_eq!(l.take_output(), b"");
}

#[test]
fn veof_mid_line_pushes_line_without_newline() {
    let mut l = ld();
    l.receive_input(b"ab\x04");
    assert_eq!(read_all(&mut l), b"ab");
    assert_eq!(l.read_ready(10), ReadReady::Block);
}

#[test]
fn short_read_continues_line_next_time() {
    let mut l = ld();
    l.receive_input(b"abcdef\n");
    let mut b = [0u8; 4];
    assert_eq!(l.read(&mut b), 4);
    assert_eq!(&b, b"abcd");
    assert_eq!(read_all(&mut l), b"ef\n");
}

#[test]
fn exact_fill_read_swallows_trailing_veof() {
    let mut l = ld();
    l.receive_input(b"ab\x04");
    let mut b = [0u8; 2];
    assert_eq!(l.read(&mut b), 2);
    assert_eq!(l.read_ready(10), ReadReady::Block);
}

#[test]
fn veol_and_veol2_end_lines() {
    let mut l = ld_with(|t| {
        t.c_cc[VEOL] = b';';
        t.c_cc[VEOL2] = b'#';
    });
    l.receive_input(b"a;b#");
    assert_eq!(read_all(&mut l), b"a;");
    assert_eq!(read_all(&mut l), b"b#");
}

#[test]
fn vlnext_quotes_next_char() {
    let mut l = ld();
    assert!(l.receive_input(b"\x16\x03\x16\x7f\n").is_empty());
    assert_eq!(read_all(&mut l), b"\x03\x7f\n");
    assert_eq!(l.take_output(), b"^\x08^C^\x08^?\r\n");
}

#[test]
fn vreprint_echoes_line_again() {
    let mut l = ld();
    l.receive_input(b"ab\x12");
    assert_eq!(l.take_output(), b"ab^R\r\nab");
}

#[test]
fn icrnl_inlcr_igncr_translate_input() {
    let mut l = raw_ld(1, 0);
    let mut t = *l.termios();
    t.c_iflag = INLCR;
    l.set_termios(t);
    l.receive_input(b"\r\n");
    assert_eq!(read_all(&mut l), b"\r\r");
    t.c_iflag = IGNCR;
    l.set_termios(t);
    l.receive_input(b"a\rb");
    assert_eq!(read_all(&mut l), b"ab");
    t.c_iflag = ICRNL;
    l.set_termios(t);
    l.receive_input(b"\r");
    assert_eq!(read_all(&mut l), b"\n");
}

#[test]
fn istrip_clears_high_bit() {
    let mut l = raw_ld(1, 0);
    let mut t = *l.termios();
    t.c_iflag |= ISTRIP;
    l.set_termios(t);
    l.receive_input(b"\xe9");
    assert_eq!(read_all(&mut l), b"\x69");
}

#[test]
fn icanon_off_releases_partial_line() {
    let mut l = ld();
    l.receive_input(b"abc");
    assert_eq!(l.read_ready(10), ReadReady::Block);
    let mut t = *l.termios();
    t.c_lflag &= !ICANON;
    l.set_termios(t);
    assert_eq!(l.readable(), 3);
    assert_eq!(l.read_ready(10), ReadReady::Ready);
    assert_eq!(read_all(&mut l), b"abc");
}

#[test]
fn icanon_on_turns_buffered_bytes_into_a_line() {
    let mut l = raw_ld(1, 0);
    l.receive_input(b"xyz");
    let mut t = *l.termios();
    t.c_lflag |= ICANON;
    l.set_termios(t);
    assert_eq!(l.read_ready(10), ReadReady::Ready);
    assert_eq!(read_all(&mut l), b"xyz");
}

#[test]
fn vmin_vtime_zero_zero_polls() {
    let mut l = raw_ld(0, 0);
    assert_eq!(l.read_ready(10), ReadReady::Ready);
    assert_eq!(read_all(&mut l), b"");
    l.receive_input(b"q");
    assert_eq!(read_all(&mut l), b"q");
}

#[test]
fn vmin_zero_vtime_positive_times_out_on_first_byte() {
    let mut l = raw_ld(0, 5);
    assert_eq!(l.read_ready(10), ReadReady::BlockWithTimeout(Duration::from_millis(500)));
    l.receive_input(b"x");
    assert_eq!(l.read_ready(10), ReadReady::Ready);
}

#[test]
fn vmin_positive_vtime_zero_waits_for_vmin_bytes() {
    let mut l = raw_ld(3, 0);
    l.receive_input(b"ab");
    assert_eq!(l.read_ready(10), ReadReady::Block);
    // A read asking for fewer than VMIN is satisfied sooner.
    assert_eq!(l.read_ready(2), ReadReady::Ready);
    l.receive_input(b"c");
    assert_eq!(l.read_ready(10), ReadReady::Ready);
    assert!(l.poll_readable());
}

#[test]
fn vmin_vtime_interbyte_timer_starts_after_first_byte() {
    let mut l = raw_ld(4, 2);
    assert_eq!(l.read_ready(10), ReadReady::Block);
    l.receive_input(b"a");
    let d = Duration::from_millis(200);
    assert_eq!(l.read_ready(10), ReadReady::BlockWithInterbyteTimeout(d));
    // On timeout the kernel reads what is there.
    assert_eq!(read_all(&mut l), b"a");
}

#[test]
fn poll_with_vmin_and_no_vtime_needs_vmin_bytes() {
    let mut l = raw_ld(2, 0);
    l.receive_input(b"a");
    assert!(!l.poll_readable());
    l.receive_input(b"b");
    assert!(l.poll_readable());
}

#[test]
fn nonblocking_read_returns_eagain_or_partial() {
    let mut l = raw_ld(5, 0);
    let mut b = [0u8; 8];
    assert_eq!(l.read_nonblocking(&mut b), None);
    l.receive_input(b"ab");
    assert_eq!(l.read_nonblocking(&mut b), Some(2));
    let mut c = ld();
    c.receive_input(b"partial");
    assert_eq!(c.read_nonblocking(&mut b), None);
}

#[test]
fn onlcr_translates_newline() {
    let mut l = ld();
    l.write(b"a\nb");
    assert_eq!(l.take_output(), b"a\r\nb");
}

#[test]
fn opost_off_passes_output_through() {
    let mut l = ld_with(|t| t.c_oflag &= !OPOST);
    l.write(b"a\nb");
    assert_eq!(l.take_output(), b"a\nb");
}

#[test]
fn ocrnl_onocr_onlret_olcuc() {
    let mut l = ld_with(|t| t.c_oflag = OPOST | OCRNL);
    l.write(b"a\r");
    assert_eq!(l.take_output(), b"a\n");
    let mut l = ld_with(|t| t.c_oflag = OPOST | ONOCR);
    l.write(b"\rx\r");
    assert_eq!(l.take_output(), b"x\r");
    let mut l = ld_with(|t| t.c_oflag = OPOST | ONLRET | ONOCR);
    l.write(b"x\n\r");
    assert_eq!(l.take_output(), b"x\n");
    let mut l = ld_with(|t| t.c_oflag = OPOST | OLCUC);
    l.write(b"abC1");
    assert_eq!(l.take_output(), b"ABC1");
}

#[test]
fn xtabs_expands_tabs_to_next_stop() {
    let mut l = ld_with(|t| t.c_oflag |= 0o14000);
    l.write(b"ab\tc");
    assert_eq!(l.take_output(), b"ab      c");
}

#[test]
fn tab_erase_backs_up_to_previous_column() {
    let mut l = ld();
    l.write(b"$ ");
    l.take_output();
    l.receive_input(b"ab\t\x7f");
    // Prompt (2) + "ab" (2) = column 4: the tab moved 4 columns.
    assert_eq!(l.take_output(), b"ab\t\x08\x08\x08\x08");
}

#[test]
fn ixon_stops_output() {
    let mut l = ld();
    l.receive_input(b"\x13");
    assert!(l.is_output_stopped());
    l.write(b"hi");
    assert_eq!(l.take_output(), b"");
    assert_eq!(l.output_pending(), 2);
    l.receive_input(b"\x11");
    assert_eq!(l.take_output(), b"hi");
}

#[test]
fn ixon_chars_are_not_data() {
    let mut l = ld();
    l.receive_input(b"a\x13\x11b\n");
    assert_eq!(read_all(&mut l), b"ab\n");
}

#[test]
fn ixany_restarts_on_any_key() {
    let mut l = ld_with(|t| t.c_iflag |= IXANY);
    l.receive_input(b"\x13");
    l.receive_input(b"z");
    assert!(!l.is_output_stopped());
}

#[test]
fn clearing_ixon_restarts_output() {
    let mut l = ld();
    l.receive_input(b"\x13");
    let mut t = *l.termios();
    t.c_iflag &= !IXON;
    l.set_termios(t);
    assert!(!l.is_output_stopped());
}

#[test]
fn tcooff_is_not_undone_by_vstart() {
    let mut l = ld();
    assert_eq!(l.ioctl(TCXONC, IoctlArg::Value(TCOOFF)), IoctlReply::Done);
    l.receive_input(b"\x11");
    assert!(l.is_output_stopped());
    l.ioctl(TCXONC, IoctlArg::Value(TCOON));
    assert!(!l.is_output_stopped());
}

#[test]
fn tcioff_sends_stop_char_even_while_stopped() {
    let mut l = ld();
    l.receive_input(b"\x13");
    l.ioctl(TCXONC, IoctlArg::Value(TCIOFF));
    assert_eq!(l.take_output(), b"\x13");
}

#[test]
fn flushes_discard_queues() {
    let mut l = ld();
    l.receive_input(b"abc\n");
    l.ioctl(TCFLSH, IoctlArg::Value(TCIOFLUSH));
    assert_eq!(l.readable(), 0);
    assert_eq!(l.output_pending(), 0);
    assert_eq!(l.ioctl(TCFLSH, IoctlArg::Value(7)), IoctlReply::Error(guest_abi::errno::EINVAL));
}

#[test]
fn tcsetsf_flushes_input_first() {
    let mut l = ld();
    l.receive_input(b"abc\n");
    let t = *l.termios();
    assert!(LineDiscipline::ioctl_waits_for_output(TCSETSF));
    l.ioctl(TCSETSF, IoctlArg::Termios(t));
    assert_eq!(l.readable(), 0);
}

#[test]
fn tcgets_returns_settings_and_fionread_counts() {
    let mut l = ld();
    assert_eq!(l.ioctl(TCGETS, IoctlArg::None), IoctlReply::Termios(default_termios()));
    l.receive_input(b"ab\n\x04");
    assert_eq!(l.ioctl(FIONREAD, IoctlArg::None), IoctlReply::Int(3));
    assert_eq!(LineDiscipline::ioctl_arg_kind(TIOCSWINSZ), Some(IoctlArgKind::WinSize));
    assert_eq!(LineDiscipline::ioctl_arg_kind(TIOCSPGRP), None);
}

#[test]
fn winsize_change_requests_sigwinch() {
    let mut l = ld();
    let ws = WinSize { ws_row: 24, ws_col: 80, ..Default::default() };
    assert_eq!(
        l.ioctl(TIOCSWINSZ, IoctlArg::WinSize(ws)),
        IoctlReply::Effects(vec![InputEffect::Signal(SIGWINCH)])
    );
    assert!(!l.set_winsize(ws));
    assert_eq!(l.ioctl(TIOCGWINSZ, IoctlArg::None), IoctlReply::WinSize(ws));
}

#[test]
fn tiocsti_is_typed_input() {
    let mut l = ld();
    assert_eq!(
        l.ioctl(TIOCSTI, IoctlArg::Byte(3)),
        IoctlReply::Effects(vec![InputEffect::Signal(SIGINT)])
    );
}

#[test]
fn full_buffer_keeps_input_in_backlog_until_read() {
    let mut l = raw_ld(1, 0);
    l.receive_input(&[b'x'; 5000]);
    assert_eq!(l.readable(), 4095);
    let mut t = *l.termios();
    t.c_lflag |= ISIG;
    l.set_termios(t);
    // The ^C waits behind the backlog, and fires when read makes room.
    assert!(l.receive_input(b"\x03").is_empty());
    assert_eq!(read_all(&mut l).len(), 4095);
    assert_eq!(l.take_deferred_effects(), vec![InputEffect::Signal(SIGINT)]);
}

#[test]
fn overlong_canonical_line_is_truncated() {
    let mut l = ld_with(|t| t.c_lflag &= !ECHO);
    l.receive_input(&[b'a'; 5000]);
    l.receive_input(b"\n");
    let line = read_all(&mut l);
    assert_eq!(line.len(), 4096);
    assert_eq!(line.last(), Some(&b'\n'));
}

#[test]
fn iuclc_lowercases_with_iexten() {
    let mut l = ld_with(|t| t.c_iflag |= IUCLC);
    l.receive_input(b"AB\n");
    assert_eq!(read_all(&mut l), b"ab\n");
}
