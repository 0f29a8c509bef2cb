//! /proc as everyday tools read it, in the busybox image: free, top,
//! uptime, ps and friends. The values depend on the VM, so these check
//! format and consistency; the facts a program can check natively too are
//! in tests/guest/misc.c.

mod common;
use common::*;

fn sh(script: &str) -> (String, String) {
    let out = umk_run(&busybox_image(), &["--hostname", "lab7"], &["/bin/sh", "-c", script], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

#[test]
fn free_shows_the_memory_sysinfo_reports() {
    let (out, err) = sh("free");
    let mem: Vec<u64> = out
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .unwrap_or_else(|| panic!("no Mem: line in {out:?} {err}"))
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().expect("a number"))
        .collect();
    // total used free shared buff/cache available
    assert_eq!(mem.len(), 6, "{out}");
    assert!(mem[0] > 0 && mem[1] + mem[2] <= mem[0] && mem[5] <= mem[0], "{out}");
}

#[test]
fn loadavg_has_linux_format() {
    let (out, _) = sh("cat /proc/loadavg; echo $$");
    let mut lines = out.lines();
    let line = lines.next().unwrap_or_default();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 5, "{line:?}");
    for load in &f[..3] {
        let (i, d) = load.split_once('.').expect("d.dd");
        assert!(i.parse::<u32>().is_ok() && d.len() == 2 && d.parse::<u32>().is_ok(), "{line}");
    }
    let (run, total) = f[3].split_once('/').expect("R/T");
    let (run, total): (u32, u32) = (run.parse().unwrap(), total.parse().unwrap());
    assert!(run >= 1 && run <= total, "{line}");
    let last: u32 = f[4].parse().expect("last pid");
    assert!(last > 1, "{line}");
}

#[test]
fn uptime_and_version() {
    let (out, _) = sh("uptime; cat /proc/version; uname -r");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains(" up ") && lines[0].contains("load average: 0.00, 0.00, 0.00"),
        "{out}"
    );
    assert!(lines[1].starts_with(&format!("Linux version {} (umk) #", lines[2])), "{out}");
}

#[test]
fn top_and_ps_show_pid_1() {
    let (out, err) = sh("top -b -n 1; echo ---; ps -o pid,ppid,stat,comm");
    let (top, ps) = out.split_once("---\n").expect("both ran");
    assert!(top.contains("Load average: 0.00 0.00 0.00"), "{top} {err}");
    assert!(top.contains("Mem: ") && top.contains("% idle"), "{top}");
    assert!(top.lines().any(|l| l.trim_start().starts_with("1 ")), "{top}");
    assert!(ps.lines().any(|l| l.split_whitespace().next() == Some("1")), "{ps}");
    // ps itself is running (state R), a child of pid 1.
    assert!(
        ps.lines().any(|l| l.split_whitespace().nth(2).is_some_and(|s| s.starts_with('R'))),
        "{ps}"
    );
}

#[test]
fn environ_is_the_vms_environment() {
    let out = umk_run(
        &busybox_image(),
        &["--env", "FOO=bar baz"],
        &["/bin/sh", "-c", "tr '\\0' '\\n' < /proc/self/environ"],
        b"",
    );
    let env: Vec<&str> = stdout(&out).leak().lines().collect();
    assert!(env.contains(&"FOO=bar baz"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    // Nothing of umk's own (the host's) environment.
    let host_home = format!("HOME={}", std::env::var("HOME").unwrap_or_default());
    assert!(!env
        .iter()
        .any(|e| e.starts_with("CARGO") || *e == host_home && host_home != "HOME=/root"));
}

#[test]
fn limits_and_task_of_self() {
    let (out, _) = sh("cat /proc/self/limits; ls /proc/$$/task; echo $$");
    assert!(out.starts_with("Limit                     Soft Limit"), "{out}");
    assert!(out.contains("\nMax open files            1024                 "), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let n = lines.len();
    assert_eq!(lines[n - 2], lines[n - 1], "task/ lists the shell's one thread: {out}");
}

#[test]
fn sysctl_hostname_is_the_vms_name_and_root_may_change_it() {
    let (out, err) = sh("cat /proc/sys/kernel/hostname; hostname; \
         echo renamed > /proc/sys/kernel/hostname; hostname; \
         su -s /bin/sh nobody -c 'echo x > /proc/sys/kernel/hostname' || echo refused; \
         echo 1 > /proc/sys/kernel/pid_max || echo read-only; hostname; \
         cat /proc/sys/kernel/ostype /proc/sys/kernel/core_pattern");
    assert_eq!(out, "lab7\nlab7\nrenamed\nrefused\nread-only\nrenamed\nLinux\ncore\n", "{err}");
    assert_eq!(err.matches("Permission denied").count(), 2, "{err}");
}

/// What ls shows of /proc: the modes and owners Linux gives, and inode
/// numbers that do not repeat.
#[test]
fn modes_owners_and_unique_inodes() {
    let (out, _) = sh(
        "su -s /bin/sh nobody -c 'ls -ln /proc/self/ | sed 1d' | awk '{print $1, $3, $NF}' | sed 's/ -> .*//'; \
         echo ---; ls -ia /proc /proc/$$ /proc/$$/task/$$ /proc/$$/fd /proc/sys/kernel | \
         awk 'NF == 2 && $2 != \".\" && $2 != \"..\" {print $1}' | sort | uniq -d",
    );
    let (ls, dups) = out.split_once("---\n").expect("both ran");
    let modes: Vec<&str> = ls.lines().collect();
    for want in [
        "-r-------- 65534 auxv",
        "-r--r--r-- 65534 cmdline",
        "-r-------- 65534 environ",
        "dr-x------ 65534 fd",
        "-r--r--r-- 65534 limits",
        "-r--r--r-- 65534 stat",
        "dr-xr-xr-x 65534 task",
    ] {
        assert!(modes.contains(&want), "{want:?} not in {modes:?}");
    }
    assert_eq!(dups, "", "repeated inode numbers");
}
