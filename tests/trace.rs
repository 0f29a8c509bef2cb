//! `--trace`, `--trace-format=json`, `--trace-filter` and `--stats`.

mod common;
use common::*;

fn traced(extra: &[&str], args: &[&str]) -> std::process::Output {
    umk_run(&busybox_image(), extra, args, b"")
}

#[test]
fn text_trace_shows_calls_signals_and_exits_like_strace() {
    let out = traced(&["--trace"], &["/bin/sh", "-c", "cat /etc/hostname; kill -USR1 $$"]);
    let t = stderr(&out);
    assert_eq!(stdout(&out), "umk\n");
    assert!(t.contains("openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY) = 3"), "{t}");
    assert!(
        t.lines()
            .any(|l| l
                .starts_with("[pid 2] execve(\"/proc/self/exe\", [\"cat\", \"/etc/hostname\"]")),
        "{t}"
    );
    assert!(t.contains("--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=2"), "{t}");
    assert!(t.contains("+++ exited with 0 +++"), "{t}");
    assert!(
        t.contains("--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=1, si_uid=0} ---"),
        "{t}"
    );
    assert!(t.contains("+++ killed by SIGUSR1 +++"), "{t}");
    // Guest pids only: the first process is pid 1.
    assert!(
        t.lines().all(|l| !l.starts_with("[pid ")
            || l[5..].split(']').next().unwrap().parse::<u32>().unwrap() < 100),
        "{t}"
    );
}

#[test]
fn blocking_calls_show_unfinished_and_resumed() {
    let out = traced(&["--trace"], &["/bin/sh", "-c", "(sleep 0.2; echo x) | cat"]);
    let t = stderr(&out);
    assert_eq!(stdout(&out), "x\n");
    assert!(t.lines().any(|l| l.contains("read(0,") && l.ends_with("<unfinished ...>")), "{t}");
    assert!(t.contains("<... read resumed>\"x\\n\""), "{t}");
}

#[test]
fn json_trace_is_one_object_per_line() {
    let dir = work();
    let file = dir.join(format!("trace-{}.json", std::process::id()));
    let arg = format!("--trace={}", file.display());
    let out =
        traced(&[&arg, "--trace-format=json"], &["/bin/sh", "-c", "echo hi > /tmp/x; cat /tmp/x"]);
    assert_eq!(stdout(&out), "hi\n");
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    let check = std::process::Command::new("python3")
        .args(["-c", "import json,sys\nn=0\nfor l in sys.stdin:\n    o=json.loads(l); n+=1\n    assert 'type' in o\nprint(n)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child_write(check, &text, |n| assert!(n.trim().parse::<u32>().unwrap() > 10, "{text}"));
    assert!(
        text.contains("\"name\":\"openat\"") || text.contains("\"name\": \"openat\""),
        "{text}"
    );

    fn child_write(mut c: std::process::Child, input: &str, f: impl Fn(&str)) {
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "invalid JSON in the trace");
        f(&String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn filter_limits_the_trace() {
    let out = traced(
        &["--trace", "--trace-filter=openat,execve"],
        &["/bin/sh", "-c", "cat /etc/hostname"],
    );
    let t = stderr(&out);
    let calls: Vec<&str> = t.lines().filter(|l| l.starts_with("[pid") && l.contains('(')).collect();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|l| l.contains("openat(") || l.contains("execve(")), "{t}");
    let bad = traced(&["--trace", "--trace-filter=nosuchcall"], &["true"]);
    assert_eq!(bad.status.code(), Some(125));
}

#[test]
fn stats_count_calls_and_list_enosys() {
    let out = traced(&["--stats"], &["/opt/tests/calls", "250", "3"]);
    let s = stderr(&out);
    let row =
        s.lines().find(|l| l.trim_end().ends_with(" getppid")).unwrap_or_else(|| panic!("{s}"));
    let calls: Vec<&str> = row.split_whitespace().collect();
    // % time, seconds, usecs/call, calls, [errors], syscall
    assert!(calls.contains(&"250"), "{row}");
    let enosys = s.split("ENOSYS").nth(1).unwrap_or_else(|| panic!("{s}"));
    assert!(enosys.contains("io_uring_setup") && enosys.contains('3'), "{s}");
}

/// Replaces what changes from run to run (addresses, times) so a trace
/// can be compared with a golden copy.
fn normalise(trace: &str) -> String {
    let mut out = String::new();
    for line in trace.lines() {
        let mut l = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '0' && chars.peek() == Some(&'x') {
                chars.next();
                while chars.peek().is_some_and(|d| d.is_ascii_hexdigit()) {
                    chars.next();
                }
                l.push_str("0xADDR");
            } else if c == '<' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                while chars.next().is_some_and(|d| d != '>') {}
                l.push_str("<TIME>");
            } else {
                l.push(c);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

/// Golden test: the whole trace of a small static program. Regenerate
/// with UMK_BLESS=1 after an intended change of the trace format.
#[test]
fn golden_trace_of_hello() {
    let out = traced(&["--trace"], &["/opt/tests/hello", "/tmp", "alpha"]);
    let got = normalise(&stderr(&out));
    let path = repo().join("tests/golden/hello.trace");
    if std::env::var_os("UMK_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(got, want, "trace differs from tests/golden/hello.trace (UMK_BLESS=1 to accept)");
}
