//! `umk-rootfs build`: metadata preservation, sources, reproducibility,
//! errors. Checked with debugfs and e2fsck, independent of umk's reader.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn tarball_keeps_owners_modes_devices_links_and_times() {
    let dir = tempdir();
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &test_tar());
    let image = dir.path().join("root.img");
    assert_ok(&build(&tar, &image, &[]));
    verify_image(&image);
    // The xattr an unprivileged user could not have staged.
    let caps = debugfs(&image, "ea_get -x /usr/bin/ping security.capability");
    assert!(caps.contains("01 00 00 02 00 20"), "capability xattr: {caps}");
    // Only the image is left behind: no temporary files or staging.
    assert_eq!(entries_of(dir.path()), vec![image.clone(), tar.clone()]);
}

#[test]
fn compression_is_detected_by_content_not_name() {
    let dir = tempdir();
    let plain = test_tar();
    let reference = dir.path().join("plain.img");
    let tar = dir.path().join("plain.tar");
    write(&tar, &plain);
    assert_ok(&build(&tar, &reference, &[]));
    // Deliberately misleading names.
    for (name, bytes) in [
        ("a.tar.xz", gzip(&plain)),
        ("b.tar.gz", xz(&plain)),
        ("c.txt", zstd(&plain)),
        ("d.tar.zst", plain.clone()),
    ] {
        let src = dir.path().join(name);
        write(&src, &bytes);
        let image = dir.path().join(format!("{name}.img"));
        assert_ok(&build(&src, &image, &[]));
        // Same tree, so the very same image.
        assert!(
            std::fs::read(&image).unwrap() == std::fs::read(&reference).unwrap(),
            "{name} gave a different image"
        );
    }
}

#[test]
fn builds_are_reproducible() {
    let dir = tempdir();
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &gzip(&test_tar()));
    let (a, b) = (dir.path().join("a.img"), dir.path().join("b.img"));
    assert_ok(&build(&tar, &a, &[]));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_ok(&build(&tar, &b, &[]));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "two builds differ");
    // ... unless asked otherwise.
    let c = dir.path().join("c.img");
    assert_ok(&build(&tar, &c, &["--uuid", "random"]));
    assert!(std::fs::read(&a).unwrap() != std::fs::read(&c).unwrap());
    fsck_clean(&c);
}

#[test]
fn directory_source_matches_tarball_source() {
    if !is_root() {
        eprintln!("skipping directory_source_matches_tarball_source: extracting devices and foreign owners needs root");
        return;
    }
    let dir = tempdir();
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &test_tar());
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    // Host tar as root restores owners, modes, devices and mtimes.
    let out = Command::new("tar")
        .args(["--numeric-owner", "-xpf"])
        .arg(&tar)
        .arg("-C")
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Host tar sets a directory's mtime when it moves on, and later entries
    // bump it again; it also made the implicit directories "now". Put the
    // tarball's directory times back.
    let mut dirs: Vec<(String, i64)> = expectations()
        .iter()
        .filter(|e| e.mode & 0o170000 == 0o040000)
        .map(|e| (e.path.to_string(), e.mtime))
        .collect();
    dirs.extend(
        ["/dev", "/usr", "/usr/bin", "/home"].iter().map(|d| (d.to_string(), 1_600_000_000)),
    );
    dirs.extend(["/var", "/var/lib", "/var/lib/implicit"].iter().map(|d| (d.to_string(), 0)));
    for (d, mtime) in dirs {
        let p = tree.join(d.trim_start_matches('/'));
        if mtime == 0 {
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        let status = Command::new("touch")
            .arg("-h")
            .arg("-d")
            .arg(format!("@{mtime}"))
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let from_dir = dir.path().join("dir.img");
    assert_ok(&build(&tree, &from_dir, &[]));
    verify_image(&from_dir);
    let from_tar = dir.path().join("tar.img");
    assert_ok(&build(&tar, &from_tar, &[]));
    let ls = |img: &Path| String::from_utf8(run(&[&"ls", &img, &"/", &"-R"]).stdout).unwrap();
    assert_eq!(ls(&from_dir), ls(&from_tar));
}

#[test]
fn size_too_small_fails_cleanly() {
    let dir = tempdir();
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &test_tar());
    let image = dir.path().join("root.img");
    let out = build(&tar, &image, &["--size", "1M"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(msg.contains("--size 1M is too small for") && msg.contains("need at least"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert_eq!(entries_of(dir.path()), vec![tar.clone()], "something was left behind");
    // An explicit size that fits is honoured exactly.
    assert_ok(&build(&tar, &image, &["--size", "64M"]));
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 64 << 20);
    fsck_clean(&image);
}

#[test]
fn existing_output_needs_force() {
    let dir = tempdir();
    let tar = dir.path().join("rootfs.tar");
    write(&tar, &test_tar());
    let image = dir.path().join("root.img");
    write(&image, b"precious");
    let out = build(&tar, &image, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists; pass --force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&image).unwrap(), b"precious");
    assert_ok(&build(&tar, &image, &["--force"]));
    verify_image(&image);
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = tempdir();
    let image = dir.path().join("x.img");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage.tar", b"this is not a tarball at all".to_vec(), "is not a tar archive"),
        ("b.tar.bz2", b"BZh91AY&SY".to_vec(), "bzip2, which is not supported"),
        ("empty.tar", Vec::new(), "is empty"),
        (
            "gz-of-junk.tar.gz",
            gzip(&[b'x'; 2000]),
            "not a tar archive (no 'ustar' magic) after gzip decompression",
        ),
        ("truncated.tar", test_tar()[..1500].to_vec(), "cannot read tarball"),
    ];
    for (name, bytes, want) in cases {
        let src = dir.path().join(name);
        write(&src, &bytes);
        let out = build(&src, &image, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let msg = stderr(&out);
        assert!(msg.contains(want), "{name}: {msg}");
        assert_eq!(msg.lines().count(), 1, "{name}: {msg}");
        assert!(!image.exists());
    }
    let out = build(&dir.path().join("nope"), &image, &[]);
    assert!(
        stderr(&out).contains("source '") && stderr(&out).contains("does not exist"),
        "{}",
        stderr(&out)
    );
    // A name debugfs cannot express fails the build instead of differing.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o600);
    h.set_size(0);
    b.append_data(&mut h, "bad\nname", std::io::empty()).unwrap();
    let src = dir.path().join("newline.tar");
    write(&src, &b.into_inner().unwrap());
    let out = build(&src, &image, &[]);
    assert!(stderr(&out).contains("newline"), "{}", stderr(&out));
    assert!(!image.exists());
}

#[test]
fn unprivileged_build_is_identical() {
    if !is_root() {
        // Already unprivileged: the other tests cover this case directly.
        eprintln!("skipping unprivileged_build_is_identical: not root, so cannot switch to nobody");
        return;
    }
    if Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipping unprivileged_build_is_identical: setpriv not available");
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .unwrap();
    let tar = dir.path().join("rootfs.tar.gz");
    write(&tar, &gzip(&test_tar()));
    std::fs::set_permissions(&tar, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let as_root = dir.path().join("root.img");
    assert_ok(&build(&tar, &as_root, &[]));
    let as_nobody = dir.path().join("nobody.img");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .arg("build")
        .arg("--from")
        .arg(&tar)
        .arg("-o")
        .arg(&as_nobody)
        .arg("-q")
        // An ordinary user's PATH usually lacks /usr/sbin.
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&as_nobody).unwrap()), 65534);
    verify_image(&as_nobody);
    assert!(
        std::fs::read(&as_root).unwrap() == std::fs::read(&as_nobody).unwrap(),
        "root and nobody builds differ"
    );
}
