//! The differential oracle: each guest test program (tests/guest/*.c,
//! static musl) runs natively and inside umk; stdout and exit status must
//! be identical. The native outputs are recorded by tests/setup-images.sh.

mod common;
use common::*;

fn case(name: &str) {
    case_in(name, "/tmp");
}

/// Runs a program with its scratch directory at `scratch` in the guest:
/// /tmp is tmpfs, /root is on the image with the VM's overlay over it.
fn case_in(name: &str, scratch: &str) {
    case_built(name, scratch, "");
}

/// The same program linked statically against Debian's glibc.
fn case_glibc(name: &str) {
    case_built(name, "/tmp", "glibc/");
}

/// Runs /opt/tests/VARIANT/NAME against VARIANT/expected/NAME.out.
fn case_built(name: &str, scratch: &str, variant: &str) {
    let image = busybox_image();
    let cases = std::fs::read_to_string(repo().join("tests/guest/cases")).expect("cases");
    let line = cases
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in tests/guest/cases"));
    let mut f = line.split_whitespace();
    f.next();
    let want_exit: i32 = f.next().and_then(|c| c.parse().ok()).expect("exit code");
    let mut args: Vec<String> = vec![format!("/opt/tests/{variant}{name}"), scratch.into()];
    args.extend(f.map(|a| a.replace("@FIXTURE@", "/fixture")));
    let env: Vec<String> = TEST_ENV.iter().map(|(k, v)| format!("--env={k}={v}")).collect();
    let env_refs: Vec<&str> = env.iter().map(|s| s.as_str()).collect();
    let arg_refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = umk_run(&image, &env_refs, &arg_refs, b"");
    let expected = std::fs::read(
        work().join("guest").join(variant).join("expected").join(format!("{name}.out")),
    )
    .expect("native output");
    let got = out.stdout.clone();
    if got != expected {
        let e = String::from_utf8_lossy(&expected);
        let g = String::from_utf8_lossy(&got);
        let first = e
            .lines()
            .zip(g.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(e.lines().count().min(g.lines().count()));
        panic!(
            "{variant}{name}: output differs from native at line {}:\n  native: {:?}\n  umk:    {:?}\nstderr:\n{}",
            first + 1,
            e.lines().nth(first),
            g.lines().nth(first),
            stderr(&out)
        );
    }
    assert_eq!(
        out.status.code(),
        Some(want_exit),
        "{name}: exit status (stderr: {})",
        stderr(&out)
    );
}

#[test]
fn hello() {
    case("hello");
}
#[test]
fn files_read() {
    case("files_read");
}
#[test]
fn fd_ops() {
    case("fd_ops");
}
#[test]
fn pipes() {
    case("pipes");
}
#[test]
fn fork_wait() {
    case("fork_wait");
}
#[test]
fn signals() {
    case("signals");
}

#[test]
fn pidfd() {
    case("pidfd");
}
#[test]
fn tmpfs_write() {
    case("tmpfs_write");
}
#[test]
fn shm() {
    case("shm");
}
#[test]
fn shm_in_dev_shm() {
    case_in("shm", "/dev/shm");
}
#[test]
fn misc() {
    case("misc");
}
#[test]
fn threads() {
    case("threads");
}

#[test]
fn sched() {
    case("sched");
}

#[test]
fn coredump() {
    case("coredump");
}

#[test]
fn futex_pi() {
    case("futex_pi");
}
#[test]
fn locks() {
    case("locks");
}
#[test]
fn events() {
    case("events");
}
#[test]
fn pty() {
    case("pty");
}

/// The write family on the overlay (the image's /root with the VM's
/// changes over it) instead of tmpfs.
#[test]
fn overlay_write() {
    case_in("tmpfs_write", "/root");
}
#[test]
fn overlay_locks() {
    case_in("locks", "/root");
}
#[test]
fn overlay_events() {
    case_in("events", "/root");
}
#[test]
fn reaper() {
    case("reaper");
}
#[test]
fn tmpfile() {
    case("tmpfile");
}
#[test]
fn sockets() {
    case("sockets");
}

#[test]
fn timers() {
    case("timers");
}

#[test]
fn unix_sockets() {
    case("unix_sockets");
}
/// Socket files on the overlay (the image's /root) rather than tmpfs.
#[test]
fn overlay_unix_sockets() {
    case_in("unix_sockets", "/root");
}

#[test]
fn inet_sockets() {
    case("inet_sockets");
}

/// O_TMPFILE on the overlay (the image's /root) rather than tmpfs.
#[test]
fn overlay_tmpfile() {
    case_in("tmpfile", "/root");
}

// The same programs built against glibc (tests/setup-images.sh GLIBC_CASES).
#[test]
fn glibc_threads() {
    case_glibc("threads");
}
#[test]
fn glibc_signals() {
    case_glibc("signals");
}
#[test]
fn glibc_fork_wait() {
    case_glibc("fork_wait");
}
#[test]
fn glibc_futex_pi() {
    case_glibc("futex_pi");
}
#[test]
fn glibc_timers() {
    case_glibc("timers");
}
#[test]
fn glibc_sched() {
    case_glibc("sched");
}
#[test]
fn glibc_coredump() {
    case_glibc("coredump");
}
#[test]
fn glibc_pipes() {
    case_glibc("pipes");
}
#[test]
fn glibc_events() {
    case_glibc("events");
}
#[test]
fn glibc_reaper() {
    case_glibc("reaper");
}
#[test]
fn glibc_pidfd() {
    case_glibc("pidfd");
}
