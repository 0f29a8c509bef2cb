//! Credentials and permission checks for non-root guest users.

mod common;
use common::*;

/// A write or truncate by a non-root user clears setuid, and setgid on a
/// group-executable file; root's writes keep them. On tmpfs and on the
/// overlay.
#[test]
fn writes_by_other_users_clear_setuid_and_setgid() {
    let script = "for d in /tmp /home; do mkdir -p $d/w && chmod 777 $d/w && cd $d/w; \
        touch p q r && chown 65534 p q r && chmod 6775 p q && chmod 2764 r; \
        su nobody -s /bin/sh -c 'echo x >> p; truncate -s 0 q 2>/dev/null || : > q; echo x >> r'; \
        touch s && chmod 6775 s && echo x >> s; stat -c '%a' p q r s; done";
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", script], b"");
    assert_eq!(stdout(&out), "775\n775\n2764\n6775\n".repeat(2), "{}", stderr(&out));
}

/// chroot: root only; inside, `..` stops at the new root.
#[test]
fn chroot_confines_paths_and_needs_root() {
    let script = "mkdir -p /tmp/r/bin /tmp/r/etc && cp /bin/busybox /tmp/r/bin/ && echo inner > /tmp/r/etc/hostname; \
                  chroot /tmp/r /bin/busybox sh -c 'cd /; cd ../../..; /bin/busybox ls; /bin/busybox cat /etc/hostname'; \
                  su nobody -s /bin/sh -c 'chroot /tmp/r /bin/busybox true' 2>&1 | grep -c 'not permitted'";
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", script], b"");
    assert_eq!(stdout(&out), "bin\netc\ninner\n1\n", "{}", stderr(&out));
    // Bad input: not a directory, no such path.
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "chroot /etc/passwd /bin/true; chroot /nonexistent /bin/true"],
        b"",
    );
    let e = stderr(&out);
    assert!(e.contains("'/etc/passwd': Not a directory"), "{e}");
    assert!(e.contains("'/nonexistent': No such file or directory"), "{e}");
}

/// RLIMIT_NPROC counts a user's tasks; root is exempt, as in Linux.
#[test]
fn rlimit_nproc_stops_a_users_forks_not_roots() {
    let script = "su nobody -s /bin/sh -c 'ulimit -u 3; sleep 1 & sleep 1 & sleep 1 & echo unreached' 2>&1; \
                  ulimit -u 3; for i in 1 2 3 4 5; do sleep 0.1 & done; wait; echo root-ok";
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", script], b"");
    let s = stdout(&out);
    assert!(s.contains("can't fork: Resource temporarily unavailable"), "{s}");
    assert!(!s.contains("unreached") && s.contains("root-ok"), "{s}");
}

#[test]
fn nobody_cannot_read_shadow() {
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "su nobody -s /bin/sh -c 'id -u; cat /etc/shadow; echo rc=$?' 2>&1"],
        b"",
    );
    let s = stdout(&out);
    assert!(s.contains("65534\n") && s.contains("Permission denied") && s.contains("rc=1"), "{s}");
}

#[test]
fn sticky_tmp_protects_other_users_files() {
    let script = "echo mine > /tmp/rootfile; chmod 666 /tmp/rootfile; su nobody -s /bin/sh -c 'echo more >> /tmp/rootfile && echo appended; rm -f /tmp/rootfile 2>/dev/null || echo cannot-remove; touch /tmp/own && rm /tmp/own && echo own-removed' 2>&1";
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", script], b"");
    assert_eq!(stdout(&out), "appended\ncannot-remove\nown-removed\n");
}

#[test]
fn only_root_changes_owners() {
    let script = "touch /tmp/f; su nobody -s /bin/sh -c 'chown nobody /tmp/f 2>/dev/null || echo chown-denied; chmod 777 /tmp/f 2>/dev/null || echo chmod-denied'; chown 65534 /tmp/f && ls -ln /tmp/f | awk '{print $3}'";
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", script], b"");
    assert_eq!(stdout(&out), "chown-denied\nchmod-denied\n65534\n");
}

/// Nice values: root may lower them, another user only raise its own;
/// coreutils' nice reports the refusal and runs the command anyway.
#[test]
fn only_root_lowers_nice_values() {
    let script = "nice -n 5 nice; nice -n -5 nice; \
                  su nobody -s /bin/sh -c 'nice -n 3 nice; nice -n -1 nice'";
    let out = umk_run(&debian_image(), &[], &["/bin/bash", "-c", script], b"");
    assert_eq!(stdout(&out), "5\n-5\n3\n0\n", "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot set niceness: Permission denied"), "{}", stderr(&out));
}
