//! Core dumps: a guest process killed by a core signal leaves `core` in its
//! working directory, in the guest's file system, and gdb on the host reads
//! it. (The differential part, PR_SET_DUMPABLE and processes that may not
//! dump, is tests/guest/coredump.c in differential.rs.)

mod common;
use common::*;

/// Runs `coredump /tmp crash LIMIT` in a guest; returns its report and the
/// core file's bytes (empty if none).
fn crash(args: &str) -> (String, Vec<u8>) {
    let script = format!("/opt/tests/coredump /tmp crash {args} >&2; cat /tmp/core 2>/dev/null");
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", &script], b"");
    (stderr(&out), out.stdout)
}

/// What `gdb -batch` says running `commands` on the core.
fn gdb(core: &[u8], name: &str, commands: &[&str]) -> String {
    let path = work().join(format!("coredump-{name}.core"));
    std::fs::write(&path, core).expect("write core");
    let prog = work().join("guest/bin/coredump");
    let mut cmd = std::process::Command::new("gdb");
    cmd.args(["-batch", "-nx"]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    let out =
        cmd.arg(&prog).arg(&path).output().expect("gdb (scripts/install-deps.sh installs it)");
    let _ = std::fs::remove_file(&path);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn a_crash_leaves_a_core_that_gdb_reads() {
    let (report, core) = crash("-1");
    assert!(report.contains("crash: killed by SIGSEGV core=1"), "{report}");
    assert!(report.contains("crash: core file present"), "{report}");
    assert_eq!(&core[..4], b"\x7fELF", "{report}");
    let text = gdb(
        &core,
        "one",
        &["bt", "p $_siginfo.si_signo", "p $_siginfo._sifields._sigfault.si_addr"],
    );
    assert!(text.contains("Program terminated with signal SIGSEGV"), "{text}");
    assert!(text.contains("crash_here"), "no crash_here frame:\n{text}");
    assert!(text.contains("main"), "no main frame:\n{text}");
    assert!(text.contains("$1 = 11"), "si_signo:\n{text}");
    assert!(text.contains("$2 = (void *) 0x0"), "si_addr:\n{text}");
}

#[test]
fn every_thread_is_in_the_core() {
    let (report, core) = crash("-1 threads");
    assert!(report.contains("crash: killed by SIGSEGV core=1"), "{report}");
    let text = gdb(&core, "threads", &["info threads", "thread apply all bt"]);
    assert!(text.contains("crash_here"), "{text}");
    // musl's read has no unwind info past itself.
    assert!(text.contains("in read ()"), "{text}");
    assert!(text.contains("in spinner ()"), "{text}");
    assert_eq!(text.matches("\nThread ").count(), 3, "{text}");
}

#[test]
fn a_limit_below_a_page_makes_no_core() {
    let (report, core) = crash("4095");
    assert!(report.contains("crash: killed by SIGSEGV core=0"), "{report}");
    assert!(report.contains("crash: core file ENOENT"), "{report}");
    assert!(core.is_empty());
}

#[test]
fn a_core_cut_short_by_the_limit_is_not_reported_as_dumped() {
    let (report, core) = crash("8192");
    assert!(report.contains("crash: killed by SIGSEGV core=0"), "{report}");
    assert!(report.contains("crash: core file present"), "{report}");
    assert_eq!(core.len(), 8192);
}
