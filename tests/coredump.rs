//! Core dumps: a guest process killed by a core signal leaves `core` in its
//! working directory, in the guest's file system, and gdb on the host reads
//! it. (The differential part, PR_SET_DUMPABLE and processes that may not
//! dump, is tests/guest/coredump.c in differential.rs.)

mod common;
use common::*;

/// Runs `coredump /tmp crash LIMIT` in a guest; returns its report and the
/// core file's bytes (empty if none).
fn crash(limit: &str) -> (String, Vec<u8>) {
    let script = format!("/opt/tests/coredump /tmp crash {limit} >&2; cat /tmp/core 2>/dev/null");
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", &script], b"");
    (stderr(&out), out.stdout)
}

#[test]
fn a_crash_leaves_a_core_that_gdb_reads() {
    let (report, core) = crash("-1");
    assert!(report.contains("crash: killed by SIGSEGV core=1"), "{report}");
    assert!(report.contains("crash: core file present"), "{report}");
    assert_eq!(&core[..4], b"\x7fELF", "{report}");
    let path = work().join("coredump-test.core");
    std::fs::write(&path, &core).expect("write core");
    let prog = work().join("guest/bin/coredump");
    let gdb = std::process::Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "bt", "-ex", "p $_siginfo.si_signo", "-ex", "p $_siginfo._sifields._sigfault.si_addr"])
        .arg(&prog)
        .arg(&path)
        .output()
        .expect("gdb (scripts/install-deps.sh installs it)");
    let text = String::from_utf8_lossy(&gdb.stdout).into_owned() + &String::from_utf8_lossy(&gdb.stderr);
    assert!(text.contains("Program terminated with signal SIGSEGV"), "{text}");
    assert!(text.contains("crash_here"), "no crash_here frame:\n{text}");
    assert!(text.contains("main"), "no main frame:\n{text}");
    assert!(text.contains("$1 = 11"), "si_signo:\n{text}");
    assert!(text.contains("$2 = (void *) 0x0"), "si_addr:\n{text}");
    let _ = std::fs::remove_file(&path);
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
