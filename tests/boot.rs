//! `umk run` as a user meets it: commands, exit status, environment,
//! stdin/stdout as pipes, and the errors before boot.

mod common;
use common::*;

#[test]
fn runs_a_command_and_returns_its_status() {
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", "echo hello; exit 7"], b"");
    assert_eq!(stdout(&out), "hello\n");
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn killed_by_signal_is_128_plus_n() {
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", "kill -TERM $$"], b"");
    assert_eq!(out.status.code(), Some(128 + 15), "stderr: {}", stderr(&out));
}

#[test]
fn first_process_is_pid_1_root_in_slash() {
    let out =
        umk_run(&busybox_image(), &[], &["/bin/sh", "-c", "echo $$ $(id -u) $(pwd) $PPID"], b"");
    assert_eq!(stdout(&out), "1 0 / 0\n");
}

/// clone3's set_tid chooses a virtual pid: tests/guest/set_tid.c runs as
/// pid 1 of the VM, one pid namespace in which the guest's root may choose
/// any free pid below pid_max and nobody else may choose one. Not a
/// differential case: natively this needs CAP_SYS_ADMIN over the pid
/// namespace, and the free pids are the host's.
#[test]
fn clone3_set_tid_chooses_a_free_virtual_pid() {
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/set_tid"], b"");
    let want = "clone3 set_tid 12345: the pid asked
  again while that child lives: EEXIST
  the caller's own pid: EEXIST
  pid 1: EEXIST
set_tid the next pid: the pid asked; the next fork skips it: yes
set_tid_size 2 (one pid namespace): EINVAL
pid 0: EINVAL
pid -1: EINVAL
pid 4194304 (pid_max): EINVAL
pid INT_MIN: EINVAL
pid 4194303: the pid asked (exited 3)
12345 once its child is reaped: the pid asked (exited 3)
the id of a group whose leader is reaped: EEXIST
thread with set_tid 7777: returned 7777, its gettid 7777
unreadable set_tid: EFAULT
as nobody, a free pid: EPERM
as nobody, pid 1 (taken): EPERM
as nobody, pid 0: EINVAL
";
    assert_eq!(stdout(&out), want, "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn default_environment_and_env_flag() {
    let out = umk_run(
        &busybox_image(),
        &["--env", "FOO=bar baz", "--env", "HOME=/tmp"],
        &["/bin/sh", "-c", "echo \"$PATH|$HOME|$FOO\""],
        b"",
    );
    assert_eq!(
        stdout(&out),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/tmp|bar baz\n"
    );
}

#[test]
fn workdir_and_hostname() {
    let out = umk_run(
        &busybox_image(),
        &["--workdir", "/etc", "--hostname", "lab7"],
        &["/bin/sh", "-c", "pwd; hostname; uname -n"],
        b"",
    );
    assert_eq!(stdout(&out), "/etc\nlab7\nlab7\n");
}

/// The VM's name is its own: root changes it (the host's stays as it is),
/// another user may not. (setdomainname shares the code.)
#[test]
fn sethostname_changes_the_vms_name() {
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let out = umk_run(
        &busybox_image(),
        &["--hostname", "lab7"],
        &[
            "/bin/sh",
            "-c",
            "hostname renamed; hostname; uname -n; \
             su -s /bin/sh nobody -c 'hostname x' 2>&1 | grep -c 'not permitted'; hostname",
        ],
        b"",
    );
    assert_eq!(stdout(&out), "renamed\nrenamed\n1\nrenamed\n", "{}", stderr(&out));
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(host_before, host_after);
    // A name longer than 64 bytes is EINVAL and changes nothing.
    let long = "a".repeat(65);
    let out = umk_run(
        &busybox_image(),
        &["--hostname", "lab7"],
        &["/bin/sh", "-c", &format!("hostname {long}; hostname")],
        b"",
    );
    assert_eq!(stdout(&out), "lab7\n");
    assert!(stderr(&out).contains("Invalid argument"), "{}", stderr(&out));
}

#[test]
fn command_is_found_in_guest_path() {
    let out = umk_run(&busybox_image(), &[], &["echo", "from", "path"], b"");
    assert_eq!(stdout(&out), "from path\n");
}

#[test]
fn shell_reads_commands_from_a_pipe() {
    let out = umk_run(&busybox_image(), &[], &[], b"echo $((6*7))\nls / | grep -c etc\n");
    assert_eq!(stdout(&out), "42\n1\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn output_to_a_file_is_the_guest_file() {
    let out = umk_run(&busybox_image(), &[], &["cat", "/etc/os-release"], b"");
    assert!(stdout(&out).contains("umk test image"), "{}", stdout(&out));
}

#[test]
fn missing_command_is_127_with_one_line() {
    let out = umk_run(&busybox_image(), &[], &["/no/such/program"], b"");
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/no/such/program") && err.contains("not found"), "{err}");
}

#[test]
fn non_executable_command_is_126() {
    let out = umk_run(&busybox_image(), &[], &["/etc/passwd"], b"");
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn missing_image_is_125_with_one_line() {
    let out = umk_run(std::path::Path::new("/nonexistent/image.img"), &[], &["true"], b"");
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("cannot open image"), "{}", stderr(&out));
}

#[test]
fn not_an_ext4_image_is_125() {
    let junk = work().join("junk.img");
    std::fs::create_dir_all(work()).unwrap();
    std::fs::write(&junk, vec![0x5au8; 1 << 20]).unwrap();
    let out = umk_run(&junk, &[], &["true"], b"");
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("not a usable ext2/3/4 image"), "{}", stderr(&out));
}

#[test]
fn bad_flag_values_are_125() {
    let out = umk_run(&busybox_image(), &["--env", "NOEQUALS"], &["true"], b"");
    assert_eq!(out.status.code(), Some(125));
    let out = umk_run(&busybox_image(), &["--workdir", "relative"], &["true"], b"");
    assert_eq!(out.status.code(), Some(125));
    let out = umk_run(&busybox_image(), &["--workdir", "/no/such/dir"], &["true"], b"");
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

#[test]
fn root_tmp_run_and_shm_are_writable() {
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", "echo x > /etc/new && cat /etc/new; echo y > /tmp/f && cat /tmp/f; echo z > /run/r && cat /run/r; echo w > /dev/shm/s && cat /dev/shm/s"], b"");
    assert_eq!(stdout(&out), "x\ny\nz\nw\n", "{}", stderr(&out));
}

#[test]
fn pipelines_and_subshells_work() {
    let out = umk_run(
        &busybox_image(),
        &[],
        &[
            "/bin/sh",
            "-c",
            "seq 1 1000 | sort -rn | head -3 | tr '\\n' ' '; (echo a; echo b) | wc -l",
        ],
        b"",
    );
    assert_eq!(stdout(&out), "1000 999 998 7\n".replace(" 7", " 2"));
}

/// Host session ids of the host children of `pid`.
fn sessions_of_children(pid: u32) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // Fields after the ")" that ends comm: state ppid pgrp session ...
        let Some(rest) = stat.rsplit(") ").next() else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 3 && f[1] == pid.to_string() {
            v.push(f[3].to_string());
        }
    }
    v
}

fn processes_in_session(sid: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some(rest) = stat.rsplit(") ").next() else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 3 && f[3] == sid && f[0] != "Z" {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v
}

#[test]
fn no_guest_process_outlives_umk() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(umk_bin())
        .args(["run", "--ephemeral", "--image"])
        .arg(busybox_image())
        .args(["--", "/bin/sh", "-c", "sleep 30 & sleep 31 & echo ready; sleep 1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // Guest processes live in their own host session (umk's stub calls
    // setsid); find it while the VM runs.
    // (The doorbell, umk's other child, stays in umk's session: skip it.)
    let own = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    let own_sid = own.rsplit(") ").next().unwrap().split_whitespace().nth(3).unwrap().to_string();
    let mut sids = sessions_of_children(child.id());
    sids.retain(|s| *s != own_sid);
    sids.dedup();
    assert!(!sids.is_empty(), "no guest process found under umk");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    std::thread::sleep(std::time::Duration::from_millis(300));
    for sid in sids {
        let left = processes_in_session(&sid);
        assert!(left.is_empty(), "guest processes left behind in session {sid}: {left:?}");
    }
}

#[test]
fn syscalls_command_prints_the_table() {
    let out = std::process::Command::new(umk_bin()).arg("syscalls").output().unwrap();
    let s = stdout(&out);
    assert!(s.contains("openat") && s.contains("full"), "{s}");
    assert!(s.lines().any(|l| l.contains("io_uring_setup") && l.contains("missing")), "{s}");
}

/// Images made elsewhere boot too: a plain `mke2fs -t ext4 -d` of the same
/// tree, and an ext2 one.
#[test]
fn boots_images_made_by_mke2fs() {
    busybox_image();
    let tree = work().join("rootfs-busybox");
    for (fstype, name) in [("ext4", "mke2fs-ext4.img"), ("ext2", "mke2fs-ext2.img")] {
        let img = work().join(name);
        let st = std::process::Command::new("mke2fs")
            .args(["-q", "-F", "-t", fstype, "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("64M")
            .status()
            .expect("mke2fs (e2fsprogs)");
        assert!(st.success());
        let out = umk_run(
            &img,
            &[],
            &["/bin/sh", "-c", "cat /etc/os-release | head -1; ls /bin | wc -l"],
            b"",
        );
        assert!(
            stdout(&out).starts_with("PRETTY_NAME=\"umk test image (busybox)\""),
            "{fstype}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let _ = std::fs::remove_file(&img);
    }
}

#[test]
fn scripts_run_through_their_interpreter() {
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "printf '#!/bin/sh -e\\necho script \"$0\" \"$1\"\\n' > /tmp/s; chmod +x /tmp/s; /tmp/s arg; printf 'echo no' > /tmp/n; chmod -x /tmp/n; /tmp/n 2>/dev/null || echo noexec $?"],
        b"",
    );
    assert_eq!(stdout(&out), "script /tmp/s arg\nnoexec 126\n", "{}", stderr(&out));
}

/// A guest starts with every signal at its default action, however umk was
/// started: ignored signals survive exec, and a parent (a CI runner, a
/// test harness, a shell's `trap '' SIG`) may ignore some.
#[test]
fn guest_signals_start_at_their_defaults() {
    let umk = umk_bin();
    let script = format!(
        "trap '' USR1 PIPE; exec '{}' run --ephemeral --image '{}' -- sh -c 'kill -USR1 $$; echo survived'",
        umk.display(),
        busybox_image().display()
    );
    let out = run_with_input(
        {
            let mut c = std::process::Command::new("bash");
            c.arg("-c").arg(script);
            c
        },
        b"",
    );
    assert_eq!(out.status.code(), Some(128 + 10), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}
