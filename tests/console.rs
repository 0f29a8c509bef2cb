//! The console as a person uses it: a shell on a terminal (a pty here),
//! line editing, Ctrl-C, Ctrl-Z and job control, window size, and the
//! terminal restored on every exit path.

mod common;
#[path = "common/pty.rs"]
mod pty;
use common::*;
use pty::Pty;
use std::process::Command;

fn shell() -> Pty {
    let mut cmd = Command::new(umk_bin());
    cmd.arg("run").arg("--ephemeral").arg("--image").arg(busybox_image()).env("TERM", "xterm");
    let mut p = Pty::spawn(cmd, 30, 100);
    p.expect("/ # ", 20);
    p
}

#[test]
fn interactive_shell_runs_commands_and_exits_with_status() {
    let mut p = shell();
    p.send(b"echo hi $((1+2))\r");
    p.expect("hi 3", 10);
    p.send(b"tty; [ -t 0 ] && echo isatty\r");
    p.expect("/dev/console", 10);
    p.expect("isatty", 10);
    p.send(b"exit 3\r");
    assert_eq!(p.wait(10), 3);
}

#[test]
fn ctrl_c_interrupts_the_foreground_command_not_umk() {
    let mut p = shell();
    p.send(b"sleep 30\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"\x03");
    p.expect("^C", 10);
    p.send(b"echo alive\r");
    p.expect("alive", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn line_editing_erase_and_kill() {
    let mut p = shell();
    p.send(b"cat\r");
    std::thread::sleep(std::time::Duration::from_millis(200));
    // "abc", erase one, "d" -> "abd"; then "zzz", kill line, "ok".
    p.send(b"abc\x7fd\r");
    p.expect("abd\r\n", 10);
    p.send(b"zzz\x15ok\r");
    p.expect("ok\r\nok", 10);
    p.send(b"\x04");
    p.expect("/ # ", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn ctrl_z_bg_fg_and_jobs() {
    let mut p = shell();
    p.send(b"sleep 50\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"\x1a");
    p.expect("Stopped", 10);
    p.send(b"jobs\r");
    p.expect("Stopped", 10);
    p.send(b"bg\r");
    p.send(b"jobs\r");
    p.expect("Running", 10);
    p.send(b"kill %1; wait; echo reaped\r");
    p.expect("reaped", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn background_read_gets_sigttin() {
    let mut p = shell();
    p.send(b"cat &\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The shell reports the stop when it next waits: give it a command.
    p.send(b"true\r");
    p.expect("Stopped (tty input)", 10);
    p.send(b"fg\r");
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.send(b"typed\r");
    p.expect("typed\r\ntyped", 10);
    p.send(b"\x04");
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn window_size_at_boot_and_after_resize() {
    let mut p = shell();
    p.send(b"stty size\r");
    p.expect("30 100", 10);
    p.resize(40, 120);
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"stty size\r");
    p.expect("40 120", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn terminal_is_restored_after_exit() {
    let mut p = shell();
    // The harness's pty starts cooked; umk made it raw while running.
    p.send(b"exit 0\r");
    assert_eq!(p.wait(10), 0);
    let after = p.termios();
    let mut fresh = Pty::spawn(Command::new("true"), 30, 100);
    fresh.wait(10);
    assert_eq!(after, fresh.termios(), "termios differs from a fresh pty after umk exited");
}

#[test]
fn terminal_is_restored_after_sigterm_and_sighup() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mut p = shell();
        p.send(b"sleep 30\r");
        std::thread::sleep(std::time::Duration::from_millis(300));
        p.signal(sig);
        assert_eq!(p.wait(10), 128 + sig);
        let after = p.termios();
        let mut fresh = Pty::spawn(Command::new("true"), 30, 100);
        fresh.wait(10);
        assert_eq!(after, fresh.termios(), "termios not restored after signal {sig}");
    }
}

#[test]
fn escape_sequence_kills_a_hung_guest() {
    let mut p = shell();
    // A guest that ignores ^C and never reads: only the escape ends it.
    p.send(b"trap '' INT; while true; do :; done\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"\x03");
    p.send(b"\r~.");
    assert_eq!(p.wait(10), 128 + 9);
    p.expect("escape sequence", 5);
}

#[test]
fn vi_edits_and_saves_a_file() {
    let mut p = shell();
    p.send(b"printf 'one\\ntwo\\n' > /root/f\r");
    p.expect("/ # ", 10);
    p.send(b"vi /root/f\r");
    p.expect("/root/f", 10);
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"jA three\x1b");
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.send(b":wq\r");
    p.expect("/ # ", 10);
    p.send(b"cat /root/f\r");
    p.expect("one\r\ntwo three\r\n", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn stty_changes_made_inside_are_seen() {
    let mut p = shell();
    p.send(b"stty -a | grep -o 'rows [0-9]*; columns [0-9]*'\r");
    p.expect("rows 30; columns 100", 10);
    p.send(b"stty -echo; stty -a | grep -o -- ' -echo '; stty echo\r");
    p.expect(" -echo ", 10);
    p.send(b"stty intr ^X; stty -a | grep -o 'intr = ^X'; stty intr ^C\r");
    p.expect("intr = ^X", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

/// A shell on the Debian image (Debian's less with terminfo, and script).
fn debian_shell(rows: u16, cols: u16) -> Pty {
    let mut cmd = Command::new(umk_bin());
    cmd.arg("run").arg("--ephemeral").arg("--image").arg(debian_image()).env("TERM", "xterm");
    let mut p = Pty::spawn(cmd, rows, cols);
    p.expect("/ # ", 20);
    p
}

#[test]
fn script_runs_a_command_on_a_new_pty() {
    let mut p = debian_shell(30, 100);
    p.send(b"script -qc 'tty; stty size; echo in-script' /dev/null; echo rc=$?\r");
    p.expect("/dev/pts/0", 10);
    p.expect("30 100", 10);
    p.expect("in-script", 10);
    p.expect("rc=0", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

#[test]
fn less_pages_by_the_new_window_size_after_a_resize() {
    let mut p = debian_shell(30, 100);
    p.send(b"seq 1 200 > /root/n; less /root/n\r");
    // 29 lines, then the file name as the first prompt.
    p.expect("29", 10);
    p.expect("\x1b[7m/root/n", 10);
    p.resize(12, 100);
    std::thread::sleep(std::time::Duration::from_millis(500));
    // less redraws lines 1..11 for the 12-row window; a page is now 11
    // lines, so space shows 12..22 and never draws 23 (on the old size it
    // would show 30..58).
    p.send(b" ");
    let page = p.expect("22", 10);
    let rest = p.expect(":", 10);
    assert!(page.contains("\x1b[K12\r\n"), "{page}");
    assert!(!page.contains("23") && !rest.contains("23"), "{page}{rest}");
    p.send(b"q");
    p.expect("/ # ", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

/// tmux: a server on a unix socket in /tmp, panes on ptys, detach and
/// attach again.
#[test]
fn tmux_splits_detaches_and_attaches() {
    let mut p = debian_shell(24, 80);
    p.send(b"export LANG=C.UTF-8; tmux new -s work\r");
    p.expect("[work]", 20);
    p.send(b"echo pane-one-$((6*7))\r");
    p.expect("pane-one-42", 10);
    // ^B " splits the window; the new pane has its own shell and pty.
    p.send(b"\x02\"");
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send(b"tty; echo pane-two-$((6*7))\r");
    p.expect("/dev/pts/1", 10);
    p.expect("pane-two-42", 10);
    p.send(b"\x02d");
    p.expect("[detached (from session work)]", 10);
    p.send(b"tmux ls\r");
    p.expect("work: 1 windows", 10);
    p.send(b"tmux attach -t work\r");
    p.expect("pane-two-42", 10);
    p.send(b"exit\r");
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send(b"exit\r");
    p.expect("[exited]", 10);
    p.send(b"tmux ls; echo rc=$?\r");
    p.expect("rc=1", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

/// GNU screen: a window on a pty master in packet mode, detach, list and
/// reattach.
#[test]
fn screen_detaches_and_reattaches() {
    let mut p = debian_shell(24, 80);
    p.send(b"screen -S s1\r");
    p.expect("/ # ", 20);
    p.send(b"echo in-screen-$((6*7))\r");
    p.expect("in-screen-42", 10);
    p.send(b"\x01d");
    p.expect("[detached from", 10);
    p.send(b"screen -ls\r");
    p.expect("(Detached)", 10);
    p.send(b"screen -r s1\r");
    p.expect("in-screen-42", 10);
    p.send(b"exit\r");
    p.expect("[screen is terminating]", 10);
    p.send(b"screen -ls; echo rc=$?\r");
    p.expect("rc=1", 10);
    p.send(b"exit\r");
    assert_eq!(p.wait(10), 0);
}

/// expect drives a program through a pty it opens itself: no terminal
/// needed on umk's side.
#[test]
fn expect_spawns_and_drives_a_shell_on_a_pty() {
    let script = r##"spawn /bin/sh; expect "# "; send "tty; echo hel\"\"lo-\$((6*7))\r"; expect "hello-42"; send "exit\r"; expect eof; puts "\nexpect-done""##;
    let out = umk_run(&debian_image(), &[], &["/usr/bin/expect", "-c", script], b"");
    let s = stdout(&out);
    assert!(
        s.contains("/dev/pts/0") && s.contains("hello-42") && s.contains("expect-done"),
        "{s}{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

/// OpenSSH inside the guest: sshd on the VM's own loopback, a client
/// logging in with a key and getting a pty for its session.
#[test]
fn sshd_in_the_guest_serves_a_pty_session_over_loopback() {
    let script = "set -e; mkdir -p /run/sshd /root/.ssh; chmod 700 /root/.ssh; \
        ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key; \
        ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519; \
        cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys; \
        printf 'Port 2222\\nListenAddress 127.0.0.1\\nHostKey /etc/ssh/ssh_host_ed25519_key\\nUsePAM no\\nPermitRootLogin yes\\n' > /etc/ssh/sshd_config; \
        /usr/sbin/sshd -E /tmp/sshd.log; \
        set +e; ssh -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p 2222 -tt root@127.0.0.1 \
            'tty; echo hello-$((6*7)); exit 3'; echo ssh-rc=$?";
    let out = umk_run(&debian_image(), &[], &["/bin/sh", "-c", script], b"");
    let s = stdout(&out);
    assert!(
        s.contains("/dev/pts/0") && s.contains("hello-42") && s.contains("ssh-rc=3"),
        "{s}{}",
        stderr(&out)
    );
}
