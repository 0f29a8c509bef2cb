//! Shared by the integration tests: the test images and a way to run umk.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/umk-test: images and guest programs built by tests/setup-images.sh.
pub fn work() -> PathBuf {
    repo().join("target").join("umk-test")
}

pub fn umk_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_umk"))
}

fn setup(flag: Option<&str>) {
    // Several test binaries may run this at once: serialize on a lock file.
    std::fs::create_dir_all(work()).expect("create target/umk-test");
    let lock = std::fs::File::create(work().join(".lock")).expect("lock file");
    lock.lock().expect("lock");
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("tests/setup-images.sh")).arg(work());
    if let Some(f) = flag {
        cmd.arg(f);
    }
    let out = cmd.output().expect("run tests/setup-images.sh");
    assert!(
        out.status.success(),
        "tests/setup-images.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The busybox test image (builds it on first use).
pub fn busybox_image() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| setup(None));
    work().join("busybox.img")
}

/// The Debian test image: busybox plus dynamically linked bash and coreutils.
pub fn debian_image() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| setup(Some("--debian")));
    work().join("debian.img")
}

/// The Python image: the Debian image plus Debian's python3.
pub fn python_image() -> PathBuf {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| setup(Some("--python")));
    work().join("python.img")
}

/// The environment the differential programs run with, natively and inside.
pub const TEST_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/bin:/bin"),
    ("HOME", "/"),
    ("UMK_TEST_GREETING", "hi"),
    ("UMK_TEST_EMPTY", ""),
];

/// `umk run --image IMAGE [extra] -- ARGS`, stdin from `input`. Tests
/// share images and run in parallel, so unless `extra` names an overlay
/// each VM is --ephemeral.
pub fn umk_run(image: &Path, extra: &[&str], args: &[&str], input: &[u8]) -> Output {
    let mut cmd = Command::new(umk_bin());
    cmd.arg("run").arg("--image").arg(image);
    if !extra.iter().any(|e| e.starts_with("--overlay")) {
        cmd.arg("--ephemeral");
    }
    for e in extra {
        cmd.arg(e);
    }
    cmd.arg("--");
    cmd.args(args);
    run_with_input(cmd, input)
}

pub fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = wait_with_timeout(child, std::time::Duration::from_secs(120));
    let _ = writer.join();
    out
}

/// Waits for a child, killing it after `limit` (a hung guest fails the
/// test instead of hanging CI).
pub fn wait_with_timeout(child: std::process::Child, limit: std::time::Duration) -> Output {
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if d.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
