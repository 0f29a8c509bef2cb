//! Benchmark, not a test: `cargo run --release -p umk-rootfs --example bench`.
//! Builds a generated ~300 MiB tree with umk-rootfs and with plain
//! `mke2fs -d`, and times `umk-rootfs cat` of a 100 MiB file against the
//! host's `cat`. Prints the figures and ratios.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().expect("spawn");
    assert!(out.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

fn best_of(n: usize, make: impl Fn() -> Command) -> Duration {
    (0..n).map(|_| time(make())).min().unwrap()
}

fn generate(root: &Path) {
    // 100 MiB file + 200 MiB spread over 4000 files of varied size + many tiny ones.
    std::fs::create_dir_all(root.join("big")).unwrap();
    let block: Vec<u8> =
        (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let mut big = Vec::with_capacity(100 << 20);
    for _ in 0..100 {
        big.extend_from_slice(&block);
    }
    std::fs::write(root.join("big/file"), &big).unwrap();
    for d in 0..40 {
        let dir = root.join(format!("usr/lib/d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let len = ((d * 100 + f) * 7919) % (100 << 10) + 1024;
            std::fs::write(dir.join(format!("lib{f:03}.so")), &block[..len]).unwrap();
        }
        for f in 0..200 {
            std::fs::write(dir.join(format!("tiny{f:03}")), format!("{d} {f}\n")).unwrap();
        }
    }
}

fn main() {
    // Examples get no CARGO_BIN_EXE_*: the release binary sits next to
    // the examples directory, so build it first if it is not there.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("umk-rootfs");
    if !bin.exists() {
        let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-q", "-p", "umk-rootfs", "--bin", "umk-rootfs"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let bin = bin.as_path();
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let tree = dir.path().join("tree");
    generate(&tree);
    let du = Command::new("du").args(["-sb"]).arg(&tree).output().unwrap();
    println!(
        "tree: {}",
        String::from_utf8_lossy(&du.stdout).split_whitespace().next().unwrap_or("?")
    );
    let ours = dir.path().join("ours.img");
    let theirs = dir.path().join("theirs.img");
    let t_ours = best_of(3, || {
        let mut c = Command::new(bin);
        c.args(["build", "-q", "--force", "--from"]).arg(&tree).arg("-o").arg(&ours);
        c
    });
    let size = std::fs::metadata(&ours).unwrap().len();
    let t_theirs = best_of(3, || {
        let mut c = Command::new("mke2fs");
        c.args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&tree)
            .arg(&theirs)
            .arg(format!("{}k", size / 1024));
        c
    });
    println!(
        "build (directory source): umk-rootfs {:.2}s (incl. debugfs fix-up and e2fsck), mke2fs -d {:.2}s, ratio {:.2}x",
        t_ours.as_secs_f64(),
        t_theirs.as_secs_f64(),
        t_ours.as_secs_f64() / t_theirs.as_secs_f64()
    );
    // Tarball source: includes unpacking into staging.
    let tar = dir.path().join("tree.tar");
    assert!(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let t_tar = best_of(3, || {
        let mut c = Command::new(bin);
        c.args(["build", "-q", "--force", "--from"]).arg(&tar).arg("-o").arg(&ours);
        c
    });
    println!(
        "build (tar source): umk-rootfs {:.2}s, ratio to mke2fs -d {:.2}x",
        t_tar.as_secs_f64(),
        t_tar.as_secs_f64() / t_theirs.as_secs_f64()
    );

    let host_file = tree.join("big/file");
    // Warm the page cache for both sides.
    let _ = std::fs::read(&ours);
    let t_cat_host = best_of(5, || {
        let mut c = Command::new("cat");
        c.arg(&host_file);
        c
    });
    let t_cat_ours = best_of(5, || {
        let mut c = Command::new(bin);
        c.arg("cat").arg(&ours).arg("/big/file");
        c
    });
    println!(
        "cat 100 MiB: umk-rootfs cat {:.3}s ({:.0} MiB/s), host cat {:.3}s ({:.0} MiB/s), speed ratio {:.2} of host",
        t_cat_ours.as_secs_f64(),
        100.0 / t_cat_ours.as_secs_f64(),
        t_cat_host.as_secs_f64(),
        100.0 / t_cat_host.as_secs_f64(),
        t_cat_host.as_secs_f64() / t_cat_ours.as_secs_f64()
    );
}
