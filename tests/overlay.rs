//! The writable root: changes persist in the VM's overlay file, never in
//! the base image; --ephemeral forgets them; an overlay is locked while in
//! use and bound to its base.

mod common;
use common::*;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let p = work().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn run_with(overlay: &std::path::Path, script: &str) -> std::process::Output {
    let arg = format!("--overlay={}", overlay.display());
    umk_run(&busybox_image(), &[&arg], &["/bin/sh", "-c", script], b"")
}

#[test]
fn changes_persist_in_the_overlay_and_not_in_the_image() {
    let img = busybox_image();
    let before = std::fs::read(&img).unwrap();
    let ovl = scratch("persist.overlay");
    let out = run_with(&ovl, "echo data > /root/file && mkdir -p /etc/app && echo conf > /etc/app/c && rm /etc/hostname && ln -s /root/file /l && sync");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out =
        run_with(&ovl, "cat /root/file /etc/app/c /l; ls /etc/hostname 2>&1 | grep -c 'No such'");
    assert_eq!(stdout(&out), "data\nconf\ndata\n1\n", "{}", stderr(&out));
    assert!(std::fs::read(&img).unwrap() == before, "the base image changed");
    // A VM on another (fresh) overlay sees the base only.
    let other = scratch("other.overlay");
    let out = run_with(&other, "cat /root/file 2>/dev/null || echo absent; cat /etc/hostname");
    assert_eq!(stdout(&out), "absent\numk\n");
    let _ = std::fs::remove_file(ovl);
    let _ = std::fs::remove_file(other);
}

#[test]
fn ephemeral_changes_vanish() {
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "echo x > /root/eph && cat /root/eph"],
        b"",
    );
    assert_eq!(stdout(&out), "x\n");
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "cat /root/eph 2>/dev/null || echo gone"],
        b"",
    );
    assert_eq!(stdout(&out), "gone\n");
}

#[test]
fn a_second_vm_on_the_same_overlay_is_refused() {
    let ovl = scratch("locked.overlay");
    let arg = format!("--overlay={}", ovl.display());
    let mut first = std::process::Command::new(umk_bin())
        .args(["run", "--image"])
        .arg(busybox_image())
        .arg(&arg)
        .args(["--", "/bin/sleep", "3"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = umk_run(&busybox_image(), &[&arg], &["true"], b"");
    let _ = first.kill();
    let _ = first.wait();
    let _ = std::fs::remove_file(&ovl);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("overlay") && stderr(&out).to_lowercase().contains("lock"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_overlay_refuses_another_base() {
    let ovl = scratch("bound.overlay");
    let out = run_with(&ovl, "echo a > /root/a");
    assert_eq!(out.status.code(), Some(0));
    let arg = format!("--overlay={}", ovl.display());
    let out = umk_run(&debian_image(), &[&arg], &["true"], b"");
    let _ = std::fs::remove_file(&ovl);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("overlay"), "{}", stderr(&out));
}

/// Crash safety: a guest appends numbered lines and fsyncs after each,
/// printing the number once fsync returned. umk is killed with SIGKILL at
/// a random moment; on the next boot every printed number must be there.
#[test]
fn fsynced_data_survives_kill_9() {
    let rounds: u32 =
        std::env::var("UMK_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let ovl = scratch("crash.overlay");
    let arg = format!("--overlay={}", ovl.display());
    // busybox sh: `sync FILE` is fsync of that file (busybox sync -f? no: plain sync).
    let writer = "i=0; while true; do i=$((i+1)); echo line$i >> /root/log; sync; echo $i; done";
    let mut seed = std::process::id() as u64;
    let mut progressed = 0;
    for round in 0..rounds {
        use std::io::Read;
        let mut child = std::process::Command::new(umk_bin())
            .args(["run", "--image"])
            .arg(busybox_image())
            .arg(&arg)
            .args(["--", "/bin/sh", "-c", writer])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let wait_ms = 100 + (seed >> 33) % 400;
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut printed = String::new();
        child.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
        let last: u32 = printed.lines().filter_map(|l| l.trim().parse().ok()).last().unwrap_or(0);
        let out = umk_run(
            &busybox_image(),
            &[&arg],
            &["/bin/sh", "-c", "cat /root/log 2>/dev/null | tail -n 1; rm -f /root/log; sync"],
            b"",
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: the overlay did not reopen: {}",
            stderr(&out)
        );
        let kept: u32 =
            stdout(&out).trim().strip_prefix("line").and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(kept >= last, "round {round}: fsync'd line{last} was lost (kept up to line{kept})");
        progressed += (last > 0) as u32;
    }
    assert!(progressed > 0, "the writer never got to fsync before the kill");
    let _ = std::fs::remove_file(&ovl);
}
