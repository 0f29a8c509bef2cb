//! Shared helpers: a test tarball made in-process (no root needed), running
//! the binary, and reading inodes back with debugfs.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_umk-rootfs");

/// What an inode in the test tree must look like in the image.
#[derive(Clone, Debug)]
pub struct Expect {
    pub path: &'static str,
    /// Full st_mode, type included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub rdev: Option<(u32, u32)>,
    pub nlink: u32,
}

const T0: i64 = 1_600_000_000;
/// An mtime well in the past, to show it is not "now".
pub const OLD: i64 = 86_400 * 365;
pub const CAPS: &[u8] =
    b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

pub fn expectations() -> Vec<Expect> {
    let e = |path, mode, uid, gid, mtime, rdev, nlink| Expect {
        path,
        mode,
        uid,
        gid,
        mtime,
        rdev,
        nlink,
    };
    vec![
        e("/", 0o040755, 0, 0, T0, None, 0),
        e("/etc", 0o040755, 0, 0, 1_000_000_000, None, 0),
        e("/etc/shadow", 0o100640, 0, 42, T0, None, 2),
        e("/etc/shadow-", 0o100640, 0, 42, T0, None, 2),
        e("/dev/null", 0o020666, 0, 0, T0, Some((1, 3)), 1),
        e("/dev/sda", 0o060660, 0, 6, T0, Some((8, 0)), 1),
        e("/dev/initctl", 0o010600, 0, 0, T0, None, 1),
        e("/tmp", 0o041777, 0, 0, T0, None, 0),
        e("/usr/bin/su", 0o104755, 0, 0, T0, None, 1),
        e("/usr/bin/wall", 0o102755, 0, 5, T0, None, 1),
        e("/usr/bin/ping", 0o100755, 0, 0, T0, None, 1),
        e("/usr/bin/sh", 0o120777, 0, 0, T0, None, 1),
        e("/home/user", 0o040700, 1000, 1000, T0, None, 0),
        e("/home/user/old file with spaces", 0o100600, 1000, 1000, OLD, None, 1),
        e("/home/user/say \"hi\"", 0o100644, 1000, 1000, T0, None, 1),
        e("/var/lib/implicit/file", 0o100644, 0, 0, T0, None, 1),
    ]
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime as u64);
    h.set_size(0);
    h
}

/// A root-owned Debian-like tree as an uncompressed tar, built in memory.
pub fn test_tar() -> Vec<u8> {
    use tar::EntryType as T;
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode, uid, gid, mtime| {
        let mut h = header(T::Directory, mode, uid, gid, mtime);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    dir(&mut b, "./", 0o755, 0, 0, T0);
    dir(&mut b, "./etc/", 0o755, 0, 0, 1_000_000_000);
    dir(&mut b, "./dev/", 0o755, 0, 0, T0);
    dir(&mut b, "./tmp/", 0o1777, 0, 0, T0);
    dir(&mut b, "./usr/", 0o755, 0, 0, T0);
    dir(&mut b, "./usr/bin/", 0o755, 0, 0, T0);
    dir(&mut b, "./home/", 0o755, 0, 0, T0);
    dir(&mut b, "./home/user/", 0o700, 1000, 1000, T0);
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode, uid, gid, mtime, data: &[u8]| {
        let mut h = header(T::Regular, mode, uid, gid, mtime);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    file(&mut b, "./etc/shadow", 0o640, 0, 42, T0, b"root:*:19000:0:99999:7:::\n");
    let mut h = header(T::Link, 0o640, 0, 42, T0);
    b.append_link(&mut h, "./etc/shadow-", "./etc/shadow").unwrap();
    for (path, kind, mode, gid, major, minor) in [
        ("./dev/null", T::Char, 0o666, 0, 1, 3),
        ("./dev/sda", T::Block, 0o660, 6, 8, 0),
        ("./dev/initctl", T::Fifo, 0o600, 0, 0, 0),
    ] {
        let mut h = header(kind, mode, 0, gid, T0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    }
    file(&mut b, "./usr/bin/su", 0o4755, 0, 0, T0, b"\x7fELF su");
    file(&mut b, "./usr/bin/wall", 0o2755, 0, 5, T0, b"\x7fELF wall");
    b.append_pax_extensions([("SCHILY.xattr.security.capability", CAPS)]).unwrap();
    file(&mut b, "./usr/bin/ping", 0o755, 0, 0, T0, b"\x7fELF ping");
    let mut h = header(T::Symlink, 0o777, 0, 0, T0);
    b.append_link(&mut h, "./usr/bin/sh", "dash").unwrap();
    file(&mut b, "./home/user/old file with spaces", 0o600, 1000, 1000, OLD, b"old\n");
    file(&mut b, "./home/user/say \"hi\"", 0o644, 1000, 1000, T0, b"hi\n");
    // No entries for var/, var/lib/, var/lib/implicit/: they must be made up.
    file(&mut b, "./var/lib/implicit/file", 0o644, 0, 0, T0, &vec![7u8; 100_000]);
    b.into_inner().unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path).unwrap().write_all(bytes).unwrap();
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

pub fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(BIN);
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

pub fn build(src: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("build").arg("--from").arg(src).arg("-o").arg(out).arg("-q").args(extra);
    cmd.output().unwrap()
}

pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn debugfs(image: &Path, request: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(image)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    text[at..].split_whitespace().next()
}

/// Check every expectation against `debugfs stat`, and e2fsck -fn.
pub fn verify_image(image: &Path) {
    for e in expectations() {
        let stat = debugfs(image, &format!("stat {}", quote(e.path)));
        assert!(stat.contains("Inode:"), "{} missing from image: {stat}", e.path);
        let mode = u32::from_str_radix(field(&stat, "Mode:").unwrap(), 8).unwrap();
        let kind = field(&stat, "Type:").unwrap();
        let want_kind = match e.mode & 0o170000 {
            0o040000 => "directory",
            0o100000 => "regular",
            0o120000 => "symlink",
            0o020000 => "character",
            0o060000 => "block",
            0o010000 => "FIFO",
            _ => unreachable!(),
        };
        assert_eq!(kind, want_kind, "type of {}", e.path);
        assert_eq!(mode, e.mode & 0o7777, "mode of {}", e.path);
        assert_eq!(field(&stat, "User:").unwrap(), e.uid.to_string(), "uid of {}", e.path);
        assert_eq!(field(&stat, "Group:").unwrap(), e.gid.to_string(), "gid of {}", e.path);
        let mtime = field(&stat, "mtime:").unwrap();
        let secs =
            i64::from_str_radix(mtime.trim_start_matches("0x").split(':').next().unwrap(), 16)
                .unwrap();
        assert_eq!(secs, e.mtime, "mtime of {}", e.path);
        if e.nlink > 0 {
            assert_eq!(field(&stat, "Links:").unwrap(), e.nlink.to_string(), "links of {}", e.path);
        }
        if let Some((major, minor)) = e.rdev {
            let dev = field(&stat, "Device major/minor number:").unwrap();
            assert_eq!(dev, format!("{major:02}:{minor:02}"), "rdev of {}", e.path);
        }
    }
    // The hard link is one inode.
    let a = debugfs(image, "stat /etc/shadow");
    let b = debugfs(image, "stat /etc/shadow-");
    assert_eq!(field(&a, "Inode:"), field(&b, "Inode:"));
    assert_eq!(debugfs(image, "cat /usr/bin/sh").trim(), "");
    assert!(debugfs(image, "stat /usr/bin/sh").contains("Fast link dest: \"dash\""));
    fsck_clean(image);
}

pub fn fsck_clean(image: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(image).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn entries_of(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}
