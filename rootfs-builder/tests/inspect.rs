//! `ls`, `cat`, `check` through umk's ext4 driver, compared with what
//! e2fsprogs (mke2fs -d, debugfs) says is in the image.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const EPOCH: &str = "1700000000";

/// A tree any user can create: files (one spanning many blocks), a big
/// directory (htree), symlinks in and out of the image, hard links, a fifo.
fn make_tree(root: &Path) {
    let d = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    d("data/many");
    d("etc");
    let big: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(root.join("data/big"), &big).unwrap();
    std::fs::write(root.join("data/small"), b"small\n").unwrap();
    std::fs::write(root.join("data/with space"), b"spaced\n").unwrap();
    for i in 0..600 {
        std::fs::write(root.join(format!("data/many/file-{i:04}")), format!("{i}\n")).unwrap();
    }
    std::fs::hard_link(root.join("data/small"), root.join("etc/small-link")).unwrap();
    std::os::unix::fs::symlink("/data/big", root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../data", root.join("etc/rel-dir-link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(100), root.join("etc/long-dangling")).unwrap();
    assert!(Command::new("mkfifo").arg(root.join("etc/fifo")).status().unwrap().success());
    let touch = |p: &Path| {
        assert!(Command::new("touch")
            .arg("-h")
            .arg("-d")
            .arg(format!("@{EPOCH}"))
            .arg(p)
            .status()
            .unwrap()
            .success())
    };
    for e in walk(root) {
        touch(&e);
    }
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            out.extend(entries_of(&out[i]));
        }
        i += 1;
    }
    out
}

fn umk_ls(image: &Path, path: &str, recursive: bool) -> String {
    let out =
        if recursive { run(&[&"ls", &image, &path, &"-R"]) } else { run(&[&"ls", &image, &path]) };
    assert_ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn images(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let tree = dir.join("tree");
    make_tree(&tree);
    let ours = dir.join("ours.img");
    let out = Command::new(BIN)
        .args(["build", "-q", "--from"])
        .arg(&tree)
        .arg("-o")
        .arg(&ours)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert_ok(&out);
    let theirs = dir.join("theirs.img");
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-E", "root_owner=0:0", "-d"])
        .arg(&tree)
        .arg(&theirs)
        .arg("64M")
        .env("E2FSPROGS_FAKE_TIME", EPOCH)
        .output()
        .unwrap();
    assert_ok(&out);
    (ours, theirs)
}

#[test]
fn reader_sees_the_same_tree_as_plain_mke2fs() {
    let dir = tempdir();
    let (ours, theirs) = images(dir.path());
    let mut a = umk_ls(&ours, "/", true);
    let mut b = umk_ls(&theirs, "/", true);
    // A tree built by an ordinary user belongs to them in a plain mke2fs
    // image, and to them in ours too (directory sources keep lstat owners).
    if !is_root() {
        a = a.replace(' ', "");
        b = b.replace(' ', "");
    }
    assert_eq!(a, b);
    assert!(a.contains("abs-link -> /data/big"));
    assert!(a.lines().filter(|l| l.contains("file-0")).count() == 600);
}

/// Parse `debugfs ls -l` into (name, mode, size) for comparison.
fn debugfs_listing(image: &Path, dir: &str) -> Vec<(String, u32, String)> {
    let text = debugfs(image, &format!("ls -l \"{dir}\""));
    let mut rows: Vec<(String, u32, String)> = Vec::new();
    for line in text.lines() {
        // "  12  100644 (1)      0      0       6 27-Nov-2026 04:28 name"
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 8 {
            continue;
        }
        let mode = u32::from_str_radix(words[1], 8).unwrap();
        let is_dev = mode & 0o170000 == 0o020000 || mode & 0o170000 == 0o060000;
        // debugfs shows no device numbers here (checked against stat in
        // the build tests), so sizes of devices are not compared.
        let size = if is_dev { "dev".to_string() } else { words[5].to_string() };
        let name_at = line.find(words[7]).unwrap() + words[7].len() + 1;
        rows.push((line[name_at..].to_string(), mode, size));
    }
    rows.sort();
    rows
}

fn umk_listing(image: &Path, dir: &str) -> Vec<(String, u32, String)> {
    let mut rows = Vec::new();
    for line in umk_ls(image, dir, false).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mode_str = words[0];
        let ty = match mode_str.as_bytes()[0] {
            b'd' => 0o040000,
            b'l' => 0o120000,
            b'c' => 0o020000,
            b'b' => 0o060000,
            b'p' => 0o010000,
            _ => 0o100000,
        };
        let mut perm = 0;
        for (i, c) in mode_str[1..].chars().enumerate() {
            if c != '-' && c != 'S' && c != 'T' {
                perm |= 1 << (8 - i);
            }
            if matches!(c, 's' | 'S' | 't' | 'T') {
                perm |= [0o4000, 0o2000, 0o1000][i / 3];
            }
        }
        let is_dev = ty == 0o020000 || ty == 0o060000;
        let (size, name_word) =
            if is_dev { ("dev".to_string(), 8) } else { (words[4].to_string(), 7) };
        let mut name = words[name_word..].join(" ");
        if let Some(at) = name.find(" -> ") {
            name.truncate(at);
        }
        rows.push((name, ty | perm, size));
    }
    rows.sort();
    rows
}

#[test]
fn listing_matches_debugfs() {
    let dir = tempdir();
    let (ours, _) = images(dir.path());
    for d in ["/", "/etc", "/data", "/data/many"] {
        assert_eq!(umk_listing(&ours, d), debugfs_listing(&ours, d), "listing of {d}");
    }
    // Devices too, from the metadata-rich tarball.
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &test_tar());
    let image = dir.path().join("tar.img");
    assert_ok(&build(&tar, &image, &[]));
    for d in ["/dev", "/usr/bin", "/home/user"] {
        assert_eq!(umk_listing(&image, d), debugfs_listing(&image, d), "listing of {d}");
    }
    let dev = umk_ls(&image, "/dev", false);
    assert!(
        dev.lines().any(|l| l.starts_with("crw-rw-rw- 1 0 0 1, 3 ") && l.ends_with(" null")),
        "{dev}"
    );
    let bin = umk_ls(&image, "/usr/bin", false);
    assert!(bin.lines().any(|l| l.starts_with("-rwsr-xr-x") && l.ends_with(" su")), "{bin}");
    assert!(
        bin.lines().any(|l| l.starts_with("-rwxr-sr-x 1 0 5") && l.ends_with(" wall")),
        "{bin}"
    );
    let tmp = umk_ls(&image, "/", false);
    assert!(tmp.lines().any(|l| l.starts_with("drwxrwxrwt") && l.ends_with(" tmp")), "{tmp}");
}

#[test]
fn cat_reads_files_through_image_symlinks() {
    let dir = tempdir();
    let (ours, _) = images(dir.path());
    let tree = dir.path().join("tree");
    let cat = |path: &str| {
        let out = run(&[&"cat", &ours, &path]);
        assert_ok(&out);
        out.stdout
    };
    assert!(cat("/data/big") == std::fs::read(tree.join("data/big")).unwrap());
    assert_eq!(cat("/data/with space"), b"spaced\n");
    // Absolute link: resolved inside the image, not on the host.
    assert!(cat("/abs-link") == std::fs::read(tree.join("data/big")).unwrap());
    // Relative link to a directory, then "..".
    assert_eq!(cat("/etc/rel-dir-link/many/../small"), b"small\n");
    assert_eq!(cat("etc/small-link"), b"small\n");
    for (path, want) in [
        ("/nope", "no such file"),
        ("/data", "is a directory"),
        ("/data/small/x", "not a directory"),
        ("/etc/long-dangling", "no such file"),
    ] {
        let out = run(&[&"cat", &ours, &path]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert!(stderr(&out).contains(want), "{path}: {}", stderr(&out));
    }
    let out = run(&[&"cat", &dir.path().join("tree/data/small"), &"/x"]);
    assert!(stderr(&out).contains("not an image umk can read"), "{}", stderr(&out));
}

#[test]
fn check_passes_good_images_and_names_broken_files() {
    let dir = tempdir();
    let (ours, theirs) = images(dir.path());
    for image in [&ours, &theirs] {
        let out = run(&[&"check", image]);
        assert_ok(&out);
        assert!(stderr(&out).contains("no problems"), "{}", stderr(&out));
    }
    // Wipe an inode that a directory entry still points to.
    let out =
        Command::new("debugfs").args(["-w", "-R", "clri /data/small"]).arg(&ours).output().unwrap();
    assert_ok(&out);
    let out = run(&[&"check", &ours]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("/data/small") || report.contains("/etc/small-link"), "{report}");
}
