//! Escape tests: nothing in the guest reaches a host file, pid or fd that
//! was not shared explicitly. Each test really tries.

mod common;
use common::*;

/// A host file with a unique name, in the host's /tmp and in /.
fn host_secret() -> (String, Vec<std::path::PathBuf>) {
    let name = format!(
        "umk-escape-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let mut made = Vec::new();
    for dir in ["/tmp", "/var/tmp"] {
        let p = std::path::Path::new(dir).join(&name);
        if std::fs::write(&p, b"HOST SECRET\n").is_ok() {
            made.push(p);
        }
    }
    (name, made)
}

#[test]
fn host_files_are_unreachable_by_any_path() {
    let (name, made) = host_secret();
    assert!(!made.is_empty());
    let script = format!(
        "for p in /tmp/{n} /var/tmp/{n} /../../tmp/{n} /tmp/../../../../tmp/{n} /proc/self/root/tmp/{n} /proc/1/cwd/../tmp/{n} /proc/1/root/../../tmp/{n}; do cat $p 2>/dev/null && echo LEAK $p; done
         ln -s /../../../../tmp/{n} /tmp/l1 && cat /tmp/l1 2>/dev/null && echo LEAK symlink
         ln -s ../../../../../../tmp/{n} /tmp/l2 && cat /tmp/l2 2>/dev/null && echo LEAK relsymlink
         cd /proc/self/cwd/../../../.. && cat tmp/{n} 2>/dev/null && echo LEAK cwd
         ls /proc/self/fd | tr '\\n' ' '; echo
         echo done",
        n = name
    );
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", &script], b"");
    for p in made {
        let _ = std::fs::remove_file(p);
    }
    let s = stdout(&out);
    assert!(!s.contains("LEAK") && !s.contains("HOST SECRET"), "{s}");
    assert!(s.contains("done"), "{s}\n{}", stderr(&out));
    // Only the guest's own descriptors: 0, 1, 2 and ls's directory.
    assert!(s.lines().any(|l| l.trim() == "0 1 2 3"), "{s}");
}

#[test]
fn kill_minus_one_touches_only_guest_processes() {
    let mut host = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", "sleep 20 & kill -9 -1; wait; echo survived"],
        b"",
    );
    assert_eq!(stdout(&out), "survived\n", "{}", stderr(&out));
    // The host's process is still there.
    assert!(host.try_wait().unwrap().is_none(), "kill(-1) inside the guest reached a host process");
    let _ = host.kill();
    let _ = host.wait();
}

#[test]
fn guest_sees_no_host_pid() {
    let me = std::process::id();
    let out = umk_run(&busybox_image(), &[], &["/bin/sh", "-c", "echo $$ $PPID; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; sh -c 'echo $$ $PPID'; true"], b"");
    let s = stdout(&out);
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some("1 0"));
    let pids: Vec<u32> =
        lines.next().unwrap_or("").split_whitespace().filter_map(|p| p.parse().ok()).collect();
    assert!(!pids.is_empty() && pids.iter().all(|p| *p < 100), "guest /proc shows {pids:?}");
    assert!(!pids.contains(&me));
    let child: Vec<u32> =
        lines.next().unwrap_or("").split_whitespace().filter_map(|p| p.parse().ok()).collect();
    assert!(child.len() == 2 && child[0] < 100 && child[1] == 1, "{s}");
}

#[test]
fn guest_cannot_signal_a_host_pid() {
    let mut host = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let hp = host.id();
    let out = umk_run(
        &busybox_image(),
        &[],
        &["/bin/sh", "-c", &format!("kill -9 {hp} 2>/dev/null || echo refused")],
        b"",
    );
    assert_eq!(stdout(&out), "refused\n");
    assert!(host.try_wait().unwrap().is_none());
    let _ = host.kill();
    let _ = host.wait();
}

#[test]
fn foreign_syscall_abi_is_refused() {
    // int 0x80 (the i386 ABI) would be a second way into the host kernel:
    // the seccomp filter kills the process instead.
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/escape", "int80"], b"");
    assert!(!stdout(&out).contains("survived"), "{}", stdout(&out));
    assert_eq!(out.status.code(), Some(128 + 31), "expected death by SIGSYS; {}", stderr(&out));
}

#[test]
fn jumping_to_the_injection_site_gains_nothing() {
    let (name, made) = host_secret();
    let path = format!("/tmp/{name}");
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/escape", "stubjump", &path], b"");
    for p in made {
        let _ = std::fs::remove_file(p);
    }
    let s = stdout(&out);
    // The call was trapped and answered by umk's VFS: ENOENT (-2).
    assert_eq!(s.trim(), "stub syscall returned -2", "{s}\n{}", stderr(&out));
}

#[test]
fn debugging_syscalls_are_not_available() {
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/escape", "ptrace"], b"");
    assert_eq!(stdout(&out), "ptrace: -1\nprocess_vm_readv: -1\nkcmp: -1\n");
}

#[test]
fn a_crashing_guest_leaves_no_core_dump_on_the_host() {
    // The host would write "core" into the crashing process's host cwd
    // (core_pattern permitting) if its RLIMIT_CORE allowed: umk runs here
    // with an unlimited one, in an empty directory.
    let dir = std::env::temp_dir().join(format!("umk-core-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "ulimit -c unlimited 2>/dev/null; exec {} run --ephemeral --image {} -- /opt/tests/escape core",
        umk_bin().display(),
        busybox_image().display()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(&script).current_dir(&dir);
    let out = run_with_input(cmd, b"");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(128 + 11), "{}", stderr(&out));
    assert!(left.is_empty(), "files appeared on the host: {left:?}");
}

#[test]
fn host_pids_cpu_clocks_are_out_of_reach() {
    // A CPU clock id carries a pid: the test runner's own (a host pid the
    // guest has no process for) must not name anything.
    let me = std::process::id().to_string();
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/escape", "cpuclock", &me], b"");
    assert_eq!(
        stdout(&out),
        "clock_gettime: -1, clock_getres: -1, thread clock: -1\n",
        "{}",
        stderr(&out)
    );
}

/// umk inside umk: the guest has no ptrace, so the inner umk must fail
/// with the one-line "ptrace is not permitted" error and status 125 — the
/// same path a user in a container without SYS_PTRACE takes.
#[test]
fn umk_without_ptrace_says_so() {
    debian_image();
    let tree = work().join("rootfs-debian");
    let nested = work().join("nested-tree");
    let _ = std::fs::remove_dir_all(&nested);
    let st = std::process::Command::new("cp").arg("-a").arg(&tree).arg(&nested).status().unwrap();
    assert!(st.success());
    std::fs::copy(umk_bin(), nested.join("usr/bin/umk")).unwrap();
    // A small valid image for the inner umk to open.
    let empty = work().join("nested-empty");
    let _ = std::fs::create_dir_all(&empty);
    let st = std::process::Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&empty)
        .arg(nested.join("small.img"))
        .arg("2M")
        .status()
        .unwrap();
    assert!(st.success());
    let img = work().join("nested.img");
    let rootfs = repo().join("target/release/umk-rootfs");
    let rootfs = if rootfs.exists() { rootfs } else { repo().join("target/debug/umk-rootfs") };
    let st = std::process::Command::new(rootfs)
        .args(["build", "-q", "--force", "--from"])
        .arg(&nested)
        .arg("-o")
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success());
    let out = umk_run(
        &img,
        &[],
        &["/bin/bash", "-c", "umk run --image /small.img -- true 2>&1; echo status=$?"],
        b"",
    );
    let _ = std::fs::remove_dir_all(&nested);
    let _ = std::fs::remove_file(&img);
    let s = stdout(&out);
    assert!(s.contains("status=125"), "{s}\n{}", stderr(&out));
    assert!(s.contains("ptrace is not permitted") && s.lines().count() == 2, "{s}");
}

/// A unix socket the host listens on, at a path and at an abstract name,
/// is not reachable from the guest: guest socket names live in umk.
#[test]
fn host_unix_sockets_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
    let (name, made) = host_secret();
    for p in made {
        let _ = std::fs::remove_file(p);
    }
    let path = std::path::Path::new("/tmp").join(format!("{name}.sock"));
    let dpath = std::path::Path::new("/tmp").join(format!("{name}.dsock"));
    let stream = UnixListener::bind(&path).unwrap();
    stream.set_nonblocking(true).unwrap();
    let abs =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    abs.set_nonblocking(true).unwrap();
    let dgram = UnixDatagram::bind(&dpath).unwrap();
    dgram.set_nonblocking(true).unwrap();
    let p = path.to_str().unwrap();
    let out = umk_run(&busybox_image(), &[], &["/opt/tests/escape", "unix", p, &name], b"");
    let out2 = umk_run(
        &busybox_image(),
        &[],
        &["/opt/tests/escape", "unix", dpath.to_str().unwrap(), &name],
        b"",
    );
    let host_saw_stream = stream.accept().is_ok() || abs.accept().is_ok();
    let mut buf = [0u8; 16];
    let host_saw_dgram = dgram.recv(&mut buf).is_ok();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&dpath);
    let s = format!("{}{}", stdout(&out), stdout(&out2));
    assert!(!s.contains("reached"), "{s}");
    assert!(s.contains("guest bind: ok"), "{s}\n{}", stderr(&out));
    assert!(!host_saw_stream && !host_saw_dgram, "a host socket got a connection: {s}");
}

/// The guest's network is its own loopback: a TCP listener and a UDP
/// socket of the host, on 127.0.0.1 and on every address, hear nothing
/// from a guest that connects and sends to their ports at loopback, the
/// wildcard, broadcast, multicast, a private address and the host's own
/// address.
#[test]
fn host_inet_sockets_are_unreachable() {
    use std::net::{TcpListener, UdpSocket};
    let tcp_lo = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp_lo.local_addr().unwrap().port();
    // The same port on every host address, where the host allows it.
    let tcp_any = TcpListener::bind(("0.0.0.0", port)).ok();
    let tcp6 = TcpListener::bind(("::1", port)).ok();
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let uport = udp.local_addr().unwrap().port();
    let udp6 = UdpSocket::bind(("::1", uport)).ok();
    for l in [Some(&tcp_lo), tcp_any.as_ref(), tcp6.as_ref()].into_iter().flatten() {
        l.set_nonblocking(true).unwrap();
    }
    for u in [Some(&udp), udp6.as_ref()].into_iter().flatten() {
        u.set_nonblocking(true).unwrap();
    }
    // The host's own address, as its routing table would pick it (no
    // packet is sent by a UDP connect).
    let host_ip = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.1:9").and_then(|_| s.local_addr()))
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "192.0.2.1".into());
    let (t, u) = (port.to_string(), uport.to_string());
    let args = ["/opt/tests/escape", "inet", &t, &u, &host_ip, "10.0.0.1", "2001:db8::1"];
    let out = umk_run(&busybox_image(), &[], &args, b"");
    let s = stdout(&out);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut buf = [0u8; 16];
    let heard_tcp = [Some(&tcp_lo), tcp_any.as_ref(), tcp6.as_ref()]
        .into_iter()
        .flatten()
        .any(|l| l.accept().is_ok());
    let heard_udp =
        [Some(&udp), udp6.as_ref()].into_iter().flatten().any(|u| u.recv(&mut buf).is_ok());
    assert!(!s.contains("reached"), "{s}");
    assert!(!heard_tcp && !heard_udp, "the host heard the guest: {s}");
    // The guest's own loopback has nobody on those ports; elsewhere there
    // is no route, and the host's address is not the guest's.
    assert!(s.contains("tcp 127.0.0.1: Connection refused"), "{s}\n{}", stderr(&out));
    assert!(s.contains("tcp ::1: Connection refused"), "{s}");
    assert!(s.contains("tcp 10.0.0.1: Network unreachable"), "{s}");
    assert!(s.contains(&format!("tcp {host_ip}: Network unreachable")), "{s}");
    assert!(s.contains("udp 255.255.255.255: Network unreachable"), "{s}");
    assert!(s.contains("bind host address: Address not available"), "{s}");
}

/// A guest running `args` on the busybox image, its stdio piped to the test.
fn spawn_piped(args: &[&str]) -> std::process::Child {
    std::process::Command::new(umk_bin())
        .args(["run", "--ephemeral", "--image"])
        .arg(busybox_image())
        .arg("--")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// What the host fds of process `pid` link to.
fn host_fds_of(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|f| std::fs::read_link(f.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .collect()
}

/// The host fds of umk's child processes (the guest's processes and the
/// doorbell): what each links to.
fn host_fds_of_children(parent: u32) -> Vec<String> {
    let mut links = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if !status.lines().any(|l| l.split_whitespace().eq(["PPid:", &parent.to_string()])) {
            continue;
        }
        links.extend(host_fds_of(pid));
    }
    links
}

#[test]
fn shared_mapping_memfds_stay_out_of_reach() {
    use std::io::{BufRead, Write};
    let mut child = spawn_piped(&["/opt/tests/escape", "shm"]);
    let umk = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut read_until = |want: &str, seen: &mut String| {
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.starts_with(want) {
                return;
            }
            line.clear();
        }
        panic!("no {want:?} in {seen}");
    };
    read_until("mapped", &mut seen);
    // umk holds the file's data in a memfd: the escape attempts below aim
    // at something that exists.
    let umk_fds = host_fds_of(umk);
    assert!(umk_fds.iter().any(|l| l.contains("umk-shm")), "{umk_fds:?}");
    writeln!(stdin, "{umk}").unwrap();
    read_until("fds:", &mut seen);
    // The transient host fd was closed right after the mmap.
    let leaked: Vec<String> =
        host_fds_of_children(umk).into_iter().filter(|l| l.contains("umk-shm")).collect();
    writeln!(stdin).unwrap();
    read_until("data:", &mut seen);
    let _ = child.wait();
    assert!(leaked.is_empty(), "a guest process holds {leaked:?}");
    assert!(!seen.contains("LEAK"), "{seen}");
    assert!(seen.contains("umk fds opened: 0"), "{seen}");
    // Only the guest's own fd of the file.
    assert!(seen.lines().any(|l| l.trim() == "fds: 3"), "{seen}");
    assert!(seen.contains("data: guest data"), "{seen}");
}

/// umk answers getpid and gettid through a seccomp listener; the first
/// guest process creates it, but no guest process keeps it (it could
/// answer other processes' calls).
#[test]
fn the_seccomp_listener_stays_with_umk() {
    use std::io::{BufRead, Write};
    let mut child = spawn_piped(&["/bin/sh", "-c", "echo up $$; read x; echo bye"]);
    let umk = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // The shell's $$ came through the listener.
    assert_eq!(line, "up 1\n");
    let umk_fds = host_fds_of(umk);
    assert!(umk_fds.iter().any(|l| l.contains("seccomp")), "{umk_fds:?}");
    let leaked: Vec<String> =
        host_fds_of_children(umk).into_iter().filter(|l| l.contains("seccomp")).collect();
    writeln!(stdin).unwrap();
    let _ = child.wait();
    assert!(leaked.is_empty(), "guest processes hold the listener: {leaked:?}");
}
