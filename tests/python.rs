//! Debian's python3 as a guest: scripts, subprocess, threads, and the
//! interactive prompt on a terminal.

mod common;
#[path = "common/pty.rs"]
mod pty;
use common::*;

#[test]
fn python_runs_subprocess_and_threads() {
    let script = "import subprocess, threading, os, sys\n\
                  print(subprocess.run(['echo', 'sub'], capture_output=True, text=True).stdout.strip())\n\
                  r = []\n\
                  ts = [threading.Thread(target=lambda i=i: r.append(i * i)) for i in range(8)]\n\
                  [t.start() for t in ts]; [t.join() for t in ts]\n\
                  print(sorted(r))\n\
                  print(os.getpid(), sys.version_info[:2])\n";
    let out = umk_run(&python_image(), &[], &["/usr/bin/python3", "-c", script], b"");
    assert_eq!(
        stdout(&out),
        "sub\n[0, 1, 4, 9, 16, 25, 36, 49]\n1 (3, 11)\n",
        "stderr: {}",
        stderr(&out)
    );
}

/// multiprocessing's locks and queues are POSIX semaphores, which live in
/// /dev/shm files mapped MAP_SHARED.
#[test]
fn python_multiprocessing_pool_and_queue() {
    let script = "import multiprocessing as m\n\
                  print(m.Pool(2).map(abs, [-1, -2, 3]))\n\
                  q = m.Queue(); l = m.Lock(); v = m.Value('i', 0)\n\
                  def f(q, l, v):\n\
                  \x20   with l: v.value += 5\n\
                  \x20   q.put('from child')\n\
                  p = m.Process(target=f, args=(q, l, v)); p.start()\n\
                  print(q.get()); p.join(); print(p.exitcode, v.value)\n";
    let out = umk_run(&python_image(), &[], &["/usr/bin/python3", "-c", script], b"");
    assert_eq!(stdout(&out), "[1, 2, 3]\nfrom child\n0 5\n", "stderr: {}", stderr(&out));
}

#[test]
fn python_interactive_prompt_on_a_terminal() {
    let mut cmd = std::process::Command::new(umk_bin());
    cmd.args(["run", "--ephemeral", "--image"])
        .arg(python_image())
        .args(["--", "/usr/bin/python3"])
        .env("TERM", "xterm");
    let mut p = pty::Pty::spawn(cmd, 24, 80);
    p.expect(">>> ", 30);
    p.send(b"6 * 7\r");
    p.expect("42", 10);
    p.send(b"import os; os.isatty(0)\r");
    p.expect("True", 10);
    // Type ^D only at the prompt: readline flushes typed-ahead input when
    // it switches the terminal mode (TCSETSF), as on any Linux.
    p.expect(">>> ", 10);
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.send(b"\x04");
    assert_eq!(p.wait(10), 0);
}

/// Part of CPython's own test suite, as the issue asks: these pass inside
/// umk as they do natively. (All of test_subprocess passes too, in 25 s:
/// too slow and timing-bound for every CI run; its fd cases run below.)
#[test]
fn cpython_test_wait4_and_fork1_pass() {
    let out = umk_run(
        &python_image(),
        &[],
        &["/usr/bin/python3", "-m", "test", "test_wait4", "test_fork1"],
        b"",
    );
    let s = stdout(&out);
    assert!(s.contains("Tests result: SUCCESS"), "{s}\n{}", stderr(&out));
}

/// All of CPython's test_signal (about 50 s): signals, handlers, wakeup
/// fds (its WakeupSocketSignalTests need socket.socket(), i.e. AF_INET on
/// the guest's loopback), itimers, sigwait, interrupted syscalls.
#[test]
fn cpython_test_signal_passes() {
    let out =
        umk_run(&python_image(), &[], &["/usr/bin/python3", "-m", "test", "test_signal"], b"");
    let s = stdout(&out);
    assert!(s.contains("Tests result: SUCCESS"), "{s}\n{}", stderr(&out));
}

/// subprocess's close_fds/pass_fds walk /proc/self/fd while closing what
/// they find: no fd may be skipped because earlier ones went away.
#[test]
fn cpython_subprocess_fd_passing() {
    let out = umk_run(
        &python_image(),
        &[],
        &[
            "/usr/bin/python3",
            "-m",
            "test",
            "test_subprocess",
            "-m",
            "test_pass_fds*",
            "-m",
            "test_close_fds*",
        ],
        b"",
    );
    let s = stdout(&out);
    assert!(s.contains("Tests result: SUCCESS"), "{s}\n{}", stderr(&out));
}
