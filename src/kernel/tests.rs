//! Kernel unit tests on the fake platform: syscalls go straight into the
//! kernel with arguments in fake guest memory; no ptrace, no processes.

use super::fs::tmpfs::TmpFs;
use super::syscall::Ctx;
use super::tty::{Console, ConsoleInput};
use super::{BootConfig, Kernel};
use crate::platform::fake::{Action, FakePlatform};
use crate::platform::Regs;
use guest_abi::errno::*;
use guest_abi::fcntl::*;
use guest_abi::sysno::*;
use std::rc::Rc;

const INIT: i32 = 100;

fn kernel() -> Kernel {
    let (_tx, rx) = crossbeam_channel::unbounded::<ConsoleInput>();
    let root_fn = |w: &super::wait::Waker| -> Result<super::fs::InodeRef, super::boot::BootError> {
        let root = TmpFs::new_root(guest_abi::stat::makedev(0, 99), w, 0o755, 1 << 30);
        for d in [&b"tmp"[..], b"dev", b"proc", b"run", b"etc"] {
            super::fs::Inode::create(
                &*root,
                d,
                guest_abi::stat::S_IFDIR | 0o755,
                0,
                None,
                &Default::default(),
            )
            .unwrap();
        }
        Ok(root)
    };
    let mut k = Kernel::with_root(
        Box::new(FakePlatform::new()),
        root_fn,
        "tmpfs",
        |w| Console::new(false, Default::default(), w, rx, Box::new(|_| {}), Box::new(|_| {})),
        Rc::new(|b: &mut [u8]| b.fill(7)),
        BootConfig { hostname: b"test".to_vec(), log_enosys: false },
    )
    .expect("kernel");
    k.create_init(INIT, b"/").expect("pid 1");
    k
}

fn fake(k: &mut Kernel) -> &mut FakePlatform {
    k.platform.as_any_mut().downcast_mut::<FakePlatform>().expect("fake platform")
}

/// Runs one syscall as pid 1 and returns what the kernel answered.
fn call(k: &mut Kernel, nr: usize, args: [u64; 6]) -> Option<Action> {
    let mut regs = Regs { orig_rax: nr as u64, ..Default::default() };
    regs.set_syscall_args(args);
    let n = fake(k).actions.len();
    k.run_syscall(Ctx { tid: 1, pid: 1, host: INIT, regs, args, deadline: None });
    k.run_woken();
    let f = fake(k);
    if f.actions.len() == n {
        None
    } else {
        f.last(INIT).cloned()
    }
}

fn ok(a: Option<Action>) -> i64 {
    match a {
        Some(Action::Finished(v)) => v,
        other => panic!("expected a finished syscall, got {other:?}"),
    }
}

fn put(k: &mut Kernel, data: &[u8]) -> u64 {
    fake(k).put(data)
}

#[test]
fn openat_write_seek_read_round_trip() {
    let mut k = kernel();
    let path = put(&mut k, b"/tmp/file\0");
    let fd = ok(call(
        &mut k,
        SYS_OPENAT,
        [AT_FDCWD as u64, path, (O_CREAT | O_RDWR) as u64, 0o644, 0, 0],
    ));
    assert_eq!(fd, 3, "lowest free fd after 0, 1, 2");
    let data = put(&mut k, b"hello world");
    assert_eq!(ok(call(&mut k, SYS_WRITE, [fd as u64, data, 11, 0, 0, 0])), 11);
    assert_eq!(ok(call(&mut k, SYS_LSEEK, [fd as u64, 6, SEEK_SET as u64, 0, 0, 0])), 6);
    let buf = fake(&mut k).map(16);
    assert_eq!(ok(call(&mut k, SYS_READ, [fd as u64, buf, 16, 0, 0, 0])), 5);
    let mut got = [0u8; 5];
    crate::platform::Platform::read_memory(fake(&mut k), INIT, buf, &mut got).unwrap();
    assert_eq!(&got, b"world");
}

#[test]
fn read_into_a_bad_pointer_is_efault() {
    let mut k = kernel();
    let path = put(&mut k, b"/tmp/f\0");
    let fd = ok(call(
        &mut k,
        SYS_OPENAT,
        [AT_FDCWD as u64, path, (O_CREAT | O_RDWR) as u64, 0o644, 0, 0],
    ));
    let data = put(&mut k, b"abc");
    ok(call(&mut k, SYS_PWRITE64, [fd as u64, data, 3, 0, 0, 0]));
    assert_eq!(ok(call(&mut k, SYS_READ, [fd as u64, 0xdead_0000, 3, 0, 0, 0])), -(EFAULT as i64));
    // The position did not move.
    assert_eq!(ok(call(&mut k, SYS_LSEEK, [fd as u64, 0, SEEK_CUR as u64, 0, 0, 0])), 0);
}

#[test]
fn path_pointer_into_nowhere_is_efault() {
    let mut k = kernel();
    assert_eq!(
        ok(call(&mut k, SYS_OPENAT, [AT_FDCWD as u64, 0x10, O_RDONLY as u64, 0, 0, 0])),
        -(EFAULT as i64)
    );
}

#[test]
fn close_twice_is_ebadf() {
    let mut k = kernel();
    assert_eq!(ok(call(&mut k, SYS_CLOSE, [2, 0, 0, 0, 0, 0])), 0);
    assert_eq!(ok(call(&mut k, SYS_CLOSE, [2, 0, 0, 0, 0, 0])), -(EBADF as i64));
    assert_eq!(ok(call(&mut k, SYS_CLOSE, [u64::MAX, 0, 0, 0, 0, 0])), -(EBADF as i64));
}

#[test]
fn unknown_syscall_is_enosys() {
    let mut k = kernel();
    assert_eq!(ok(call(&mut k, 1000, [0; 6])), -(ENOSYS as i64));
    assert_eq!(ok(call(&mut k, SYS_IO_URING_SETUP, [0; 6])), -(ENOSYS as i64));
}

#[test]
fn empty_pipe_read_parks_until_a_write() {
    let mut k = kernel();
    let fds = fake(&mut k).map(8);
    assert_eq!(ok(call(&mut k, SYS_PIPE2, [fds, 0, 0, 0, 0, 0])), 0);
    let mut raw = [0u8; 8];
    crate::platform::Platform::read_memory(fake(&mut k), INIT, fds, &mut raw).unwrap();
    let (r, w) = (
        u32::from_le_bytes(raw[0..4].try_into().unwrap()),
        u32::from_le_bytes(raw[4..8].try_into().unwrap()),
    );
    let buf = fake(&mut k).map(8);
    // Nothing to read: the thread is parked, not answered.
    assert_eq!(call(&mut k, SYS_READ, [r as u64, buf, 8, 0, 0, 0]), None);
    assert!(k.table.borrow().tasks.get(&1).unwrap().parked.is_some());
    // A write from "another thread" of the same process wakes the reader,
    // whose read runs again and completes.
    let data = put(&mut k, b"xy");
    let before = fake(&mut k).actions.len();
    let mut regs = Regs { orig_rax: SYS_WRITE as u64, ..Default::default() };
    let args = [w as u64, data, 2, 0, 0, 0];
    regs.set_syscall_args(args);
    k.run_syscall(Ctx { tid: 1, pid: 1, host: INIT, regs, args, deadline: None });
    k.run_woken();
    let acts: Vec<Action> = fake(&mut k).actions[before..].iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(acts, vec![Action::Finished(2), Action::Finished(2)]);
}

#[test]
fn too_many_symlinks_is_eloop() {
    let mut k = kernel();
    let a = put(&mut k, b"/tmp/a\0");
    let b = put(&mut k, b"/tmp/b\0");
    ok(call(&mut k, SYS_SYMLINKAT, [b, AT_FDCWD as u64, a, 0, 0, 0]));
    ok(call(&mut k, SYS_SYMLINKAT, [a, AT_FDCWD as u64, b, 0, 0, 0]));
    assert_eq!(
        ok(call(&mut k, SYS_OPENAT, [AT_FDCWD as u64, a, O_RDONLY as u64, 0, 0, 0])),
        -(ELOOP as i64)
    );
}

#[test]
fn getdents_with_a_tiny_buffer_is_einval() {
    let mut k = kernel();
    let p = put(&mut k, b"/\0");
    let fd = ok(call(
        &mut k,
        SYS_OPENAT,
        [AT_FDCWD as u64, p, (O_RDONLY | O_DIRECTORY) as u64, 0, 0, 0],
    ));
    let buf = fake(&mut k).map(64);
    assert_eq!(ok(call(&mut k, SYS_GETDENTS64, [fd as u64, buf, 8, 0, 0, 0])), -(EINVAL as i64));
    assert!(ok(call(&mut k, SYS_GETDENTS64, [fd as u64, buf, 64, 0, 0, 0])) > 0);
}

#[test]
fn writing_the_read_only_side_of_a_pipe_is_ebadf() {
    let mut k = kernel();
    let fds = fake(&mut k).map(8);
    ok(call(&mut k, SYS_PIPE, [fds, 0, 0, 0, 0, 0]));
    let data = put(&mut k, b"x");
    assert_eq!(ok(call(&mut k, SYS_WRITE, [3, data, 1, 0, 0, 0])), -(EBADF as i64));
}

#[test]
fn brk_grows_and_refuses_below_start() {
    let mut k = kernel();
    {
        let t = k.table.borrow();
        let mut mm = t.procs.get(&1).unwrap().mm.borrow_mut();
        mm.brk_start = 0x50_0000;
        mm.brk = 0x50_0000;
        mm.brk_mapped = 0x50_0000;
    }
    assert_eq!(ok(call(&mut k, SYS_BRK, [0, 0, 0, 0, 0, 0])), 0x50_0000);
    assert_eq!(ok(call(&mut k, SYS_BRK, [0x50_2345, 0, 0, 0, 0, 0])), 0x50_2345);
    assert_eq!(ok(call(&mut k, SYS_BRK, [0x10, 0, 0, 0, 0, 0])), 0x50_2345);
}

// ------------------------------------------------- timers on CPU-time clocks

/// Runs one syscall as pid 1 with its stack pointer at `rsp`.
fn call_on_stack(k: &mut Kernel, rsp: u64, nr: usize, args: [u64; 6]) -> i64 {
    let mut regs = Regs { orig_rax: nr as u64, rsp, ..Default::default() };
    regs.set_syscall_args(args);
    k.run_syscall(Ctx { tid: 1, pid: 1, host: INIT, regs, args, deadline: None });
    ok(fake(k).last(INIT).cloned())
}

fn read_i32(k: &mut Kernel, addr: u64) -> i32 {
    let mut b = [0u8; 4];
    crate::platform::Platform::read_memory(fake(k), INIT, addr, &mut b).unwrap();
    i32::from_le_bytes(b)
}

#[test]
fn cpu_timer_is_the_hosts_under_a_guest_id() {
    use guest_abi::misc::{CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID};
    use guest_abi::signal::{SIGALRM, SIGEV_SIGNAL, SI_TIMER};
    let mut k = kernel();
    let idp = put(&mut k, &[0; 4]);
    let top = fake(&mut k).map(4096) + 4096;
    let wall = [CLOCK_MONOTONIC as u64, 0, idp, 0, 0, 0];
    assert_eq!(call_on_stack(&mut k, top, SYS_TIMER_CREATE, wall), 0);
    let wall_id = read_i32(&mut k, idp);
    let cpu = [CLOCK_PROCESS_CPUTIME_ID as u64, 0, idp, 0, 0, 0];
    assert_eq!(call_on_stack(&mut k, top, SYS_TIMER_CREATE, cpu), 0);
    let id = read_i32(&mut k, idp);
    assert_ne!(id, wall_id, "one id space for both kinds");
    let (nr, args) = *fake(&mut k).injected.last().unwrap();
    assert_eq!((nr, args[0]), (SYS_TIMER_CREATE, CLOCK_PROCESS_CPUTIME_ID as u64));
    // The host's sigevent, below the red zone: no sigevent means SIGALRM
    // with the guest's id as value.
    assert!(args[1] + 72 <= top - 128);
    let mut ev = [0u8; 16];
    crate::platform::Platform::read_memory(fake(&mut k), INIT, args[1], &mut ev).unwrap();
    assert_eq!(u64::from_le_bytes(ev[..8].try_into().unwrap()), id as u64);
    assert_eq!(i32::from_le_bytes(ev[8..12].try_into().unwrap()), SIGALRM);
    assert_eq!(i32::from_le_bytes(ev[12..16].try_into().unwrap()), SIGEV_SIGNAL);
    let host_id = read_i32(&mut k, args[2]);

    // The other calls go to the host with its id.
    let cur = fake(&mut k).map(32);
    assert_eq!(call_on_stack(&mut k, top, SYS_TIMER_GETTIME, [id as u64, cur, 0, 0, 0, 0]), 0);
    let (nr, args) = *fake(&mut k).injected.last().unwrap();
    assert_eq!((nr, args[0], args[1]), (SYS_TIMER_GETTIME, host_id as u64, cur));

    // Its signal shows the guest's id; another SI_TIMER id is left alone.
    let mut info = [0u8; 128];
    info[8..12].copy_from_slice(&SI_TIMER.to_le_bytes());
    info[16..20].copy_from_slice(&host_id.to_le_bytes());
    assert!(crate::kernel::time::posix_timers::cpu::patch_siginfo(&k, INIT, &mut info));
    assert_eq!(i32::from_le_bytes(info[16..20].try_into().unwrap()), id);
    info[16..20].copy_from_slice(&(host_id + 1).to_le_bytes());
    assert!(!crate::kernel::time::posix_timers::cpu::patch_siginfo(&k, INIT, &mut info));

    assert_eq!(call_on_stack(&mut k, top, SYS_TIMER_DELETE, [id as u64, 0, 0, 0, 0, 0]), 0);
    let (nr, args) = *fake(&mut k).injected.last().unwrap();
    assert_eq!((nr, args[0]), (SYS_TIMER_DELETE, host_id as u64));
    let r = call_on_stack(&mut k, top, SYS_TIMER_GETTIME, [id as u64, cur, 0, 0, 0, 0]);
    assert_eq!(r, -(EINVAL as i64));
}

#[test]
fn cpu_timer_on_a_missing_pid_is_einval_after_the_id_is_written() {
    let mut k = kernel();
    let top = fake(&mut k).map(4096) + 4096;
    let clock = ((!4242) << 3) | 2;
    let idp = put(&mut k, &[0xff; 4]);
    let r = call_on_stack(&mut k, top, SYS_TIMER_CREATE, [clock as u32 as u64, 0, idp, 0, 0, 0]);
    assert_eq!(r, -(EINVAL as i64));
    assert_ne!(read_i32(&mut k, idp), -1, "do_timer_create wrote the id first");
    let r = call_on_stack(&mut k, top, SYS_TIMER_CREATE, [clock as u32 as u64, 0, 8, 0, 0, 0]);
    assert_eq!(r, -(EFAULT as i64));
    assert!(fake(&mut k).injected.is_empty(), "nothing reached the host");
}

#[test]
fn cpu_timer_with_no_stack_room_is_efault() {
    use guest_abi::misc::CLOCK_THREAD_CPUTIME_ID;
    let mut k = kernel();
    let idp = put(&mut k, &[0; 4]);
    let args = [CLOCK_THREAD_CPUTIME_ID as u64, 0, idp, 0, 0, 0];
    assert_eq!(call_on_stack(&mut k, 64, SYS_TIMER_CREATE, args), -(EFAULT as i64));
}

#[test]
fn pidfd_does_not_follow_its_pid_to_a_later_process() {
    use super::fs::pidfd::{pidfd_of, PidState};
    let mut k = kernel();
    let fd = ok(call(&mut k, SYS_PIDFD_OPEN, [1, 0, 0, 0, 0, 0]));
    assert!(fd >= 0);
    assert_eq!(ok(call(&mut k, SYS_PIDFD_SEND_SIGNAL, [fd as u64, 0, 0, 0, 0, 0])), 0);
    // Another process now has pid 1: it started later.
    if let Some(p) = k.table.borrow_mut().procs.get_mut(&1) {
        p.start_time += std::time::Duration::from_secs(1);
    }
    let f = k.file(1, fd as i32).expect("pidfd");
    assert_eq!(pidfd_of(&f).map(|p| p.state()), Ok(PidState::Gone));
    assert_eq!(
        ok(call(&mut k, SYS_PIDFD_SEND_SIGNAL, [fd as u64, 0, 0, 0, 0, 0])),
        -(ESRCH as i64)
    );
    assert_eq!(ok(call(&mut k, SYS_PIDFD_GETFD, [fd as u64, 0, 0, 0, 0, 0])), -(ESRCH as i64));
}

#[test]
fn pidfd_open_of_a_missing_pid_is_esrch_and_of_a_non_leader_thread_enoent() {
    let mut k = kernel();
    assert_eq!(ok(call(&mut k, SYS_PIDFD_OPEN, [999, 0, 0, 0, 0, 0])), -(ESRCH as i64));
    k.table.borrow_mut().insert_task(super::task::Task::new(7, 4242, 1, 0));
    assert_eq!(ok(call(&mut k, SYS_PIDFD_OPEN, [7, 0, 0, 0, 0, 0])), -(ENOENT as i64));
}
