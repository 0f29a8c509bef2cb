//! Process and thread syscalls: ids, fork/clone/exec, wait, groups, credentials.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::pidfd::{self, pidfd_of, PidState};
use crate::kernel::mm::GuestMem;
use crate::kernel::task::clone::{do_clone, Fixup, KernelCloneArgs};
use crate::kernel::task::exec::do_execve;
use crate::kernel::task::exit::{find_waitable, WaitEvent, WaitWho, Waited};
use crate::kernel::task::{ExitStatus, Process};
use crate::kernel::Kernel;
use guest_abi::fcntl::AT_FDCWD;
use guest_abi::misc::Rusage;
use guest_abi::sched::*;
use guest_abi::signal::*;

pub fn sys_getpid(_k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(ctx.pid as i64)
}

pub fn sys_gettid(_k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(ctx.tid as i64)
}

pub fn sys_getppid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(k.table.borrow().procs.get(&ctx.pid).map(|p| p.ppid).unwrap_or(0) as i64)
}

pub fn sys_fork(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_clone(k, ctx, &KernelCloneArgs { flags: SIGCHLD as u64, ..Default::default() })
}

pub fn sys_vfork(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let flags = CLONE_VM | CLONE_VFORK | SIGCHLD as u64;
    do_clone(k, ctx, &KernelCloneArgs { flags, ..Default::default() })
}

pub fn sys_clone(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    // x86_64 argument order: flags, stack, parent_tid, child_tid, tls.
    // clone's flags are an int: the bits clone3 adds above 31 are not
    // there (kernel/fork.c lower_32_bits).
    // CLONE_PIDFD returns the pidfd through parent_tid.
    let flags = ctx.args[0] & 0xffff_ffff;
    let args = KernelCloneArgs {
        flags,
        stack: ctx.args[1],
        parent_tid: ctx.args[2],
        child_tid: ctx.args[3],
        tls: ctx.args[4],
        pidfd: if flags & CLONE_PIDFD != 0 { ctx.args[2] } else { 0 },
        ..Default::default()
    };
    do_clone(k, ctx, &args)
}

/// clone3(2): its arguments are a struct in memory. umk reads and checks
/// them as kernel/fork.c does and has the host run the equivalent clone.
pub fn sys_clone3(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match clone3_args(k, ctx) {
        Ok(args) => do_clone(k, ctx, &args),
        Err(e) => SysResult::err(e),
    }
}

/// copy_clone_args_from_user and clone3_args_valid, in their order.
fn clone3_args(k: &mut Kernel, ctx: &Ctx) -> KResult<KernelCloneArgs> {
    let (uargs, size) = (ctx.args[0], ctx.args[1] as usize);
    let known = std::mem::size_of::<CloneArgs>();
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
    let mut raw = [0u8; std::mem::size_of::<CloneArgs>()];
    m.read(uargs, &mut raw[..size.min(known)])?;
    // A newer struct than umk knows is fine if the extra fields are zero.
    if size > known && m.read_vec(uargs + known as u64, size - known)?.iter().any(|b| *b != 0) {
        return Err(Errno::E2BIG);
    }
    let a: CloneArgs = bytemuck::pod_read_unaligned(&raw);
    if a.set_tid_size > MAX_PID_NS_LEVEL
        || (a.set_tid == 0) != (a.set_tid_size == 0)
        || a.exit_signal & !CSIGNAL != 0
        || a.exit_signal > NSIG as u64
        || a.flags & CLONE_INTO_CGROUP != 0
            && (a.cgroup > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(Errno::EINVAL);
    }
    // The pids asked for are copied in before the flags are judged.
    let set_tid = if a.set_tid_size != 0 {
        let bytes = m.read_vec(a.set_tid, a.set_tid_size as usize * 4)?;
        bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        Vec::new()
    };
    // clone3_stack_valid: the stack is a base and a size, inside user space.
    let stack_valid = match (a.stack, a.stack_size) {
        (0, 0) => true,
        (0, _) | (_, 0) => false,
        (s, n) => s.checked_add(n).is_some_and(|end| end <= crate::loader::TASK_SIZE),
    };
    if a.flags & !(0xffff_ffff | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        || a.flags & (CLONE_DETACHED | (CSIGNAL & !CLONE_NEWTIME)) != 0
        || a.flags & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) == CLONE_SIGHAND | CLONE_CLEAR_SIGHAND
        || a.flags & (CLONE_THREAD | CLONE_PARENT) != 0 && a.exit_signal != 0
        || !stack_valid
    {
        return Err(Errno::EINVAL);
    }
    if a.flags & CLONE_NEWTIME != 0 {
        k.note_unsupported("clone with namespace flags");
        return Err(Errno::EINVAL);
    }
    Ok(KernelCloneArgs {
        // The exit signal travels in the low byte, as clone's does; the
        // check above keeps CLONE_NEWTIME, which clone3 puts there, out.
        flags: a.flags | a.exit_signal,
        // clone's stack is the top; clone3's is the base and a size.
        stack: a.stack.wrapping_add(a.stack_size),
        stack_size: a.stack_size,
        parent_tid: a.parent_tid,
        child_tid: a.child_tid,
        tls: a.tls,
        set_tid,
        pidfd: a.pidfd,
    })
}

pub fn sys_execve(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_execve(k, ctx, AT_FDCWD, ctx.args[0], ctx.args[1], ctx.args[2], 0)
}

pub fn sys_execveat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_execve(k, ctx, ctx.arg_i32(0), ctx.args[1], ctx.args[2], ctx.args[3], ctx.arg_i32(4))
}

fn wait_options_valid(options: i32, allowed: i32) -> bool {
    options & !allowed == 0
}

pub fn sys_wait4(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let pid = ctx.arg_i32(0);
    let options = ctx.arg_i32(2);
    if !wait_options_valid(
        options,
        WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL,
    ) || pid == i32::MIN
    {
        return SysResult::err(Errno::EINVAL);
    }
    let who = match pid {
        -1 => WaitWho::Any,
        0 => WaitWho::Pgid(0),
        p if p < 0 => WaitWho::Pgid(-p),
        p => WaitWho::Pid(p),
    };
    match find_waitable(k, ctx.pid, who, options | WEXITED, false) {
        Err(e) => SysResult::err(e),
        Ok(Some(Waited { pid: child, ev, usage, .. })) => {
            let status = match ev {
                WaitEvent::Exited(st) => st.wait_status(),
                WaitEvent::Stopped(sig) => (sig << 8) | 0x7f,
                WaitEvent::Continued => 0xffff,
            };
            let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
            if ctx.args[1] != 0 {
                if let Err(e) = m.write_obj(ctx.args[1], &status) {
                    return SysResult::err(e);
                }
            }
            if ctx.args[3] != 0 {
                if let Err(e) = m.write_obj(ctx.args[3], &usage) {
                    return SysResult::err(e);
                }
            }
            SysResult::Done(child as i64)
        }
        Ok(None) if options & WNOHANG != 0 => SysResult::Done(0),
        Ok(None) => {
            let w = k.table.borrow().procs.get(&ctx.pid).map(|p| p.child_wait);
            match w {
                Some(w) => SysResult::block(vec![w]),
                None => SysResult::err(Errno::ECHILD),
            }
        }
    }
}

pub fn sys_waitid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let idtype = ctx.arg_i32(0);
    let id = ctx.arg_i32(1);
    let infop = ctx.args[2];
    let options = ctx.arg_i32(3);
    // kernel_waitid_prepare; its errors, too, reach the caller's siginfo.
    let r = (|| {
        if !wait_options_valid(
            options,
            WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WCLONE | __WALL,
        ) || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
        {
            return Err(Errno::EINVAL);
        }
        let mut nonblocking_pidfd = false;
        let who = match idtype {
            P_ALL => WaitWho::Any,
            P_PID if id > 0 => WaitWho::Pid(id),
            P_PGID if id >= 0 => WaitWho::Pgid(id),
            P_PIDFD if id >= 0 => {
                let (who, nonblock) = waited_pidfd(k, ctx, id)?;
                nonblocking_pidfd = nonblock;
                who
            }
            _ => return Err(Errno::EINVAL),
        };
        // A nonblocking pidfd makes the wait WNOHANG, and "nothing to
        // report" EAGAIN unless the caller asked for WNOHANG itself
        // (kernel_waitid, Linux 5.10).
        let eagain = nonblocking_pidfd && options & WNOHANG == 0;
        let options = if nonblocking_pidfd { options | WNOHANG } else { options };
        match find_waitable(k, ctx.pid, who, options, options & WNOWAIT != 0) {
            Ok(None) if eagain => Err(Errno::EAGAIN),
            r => r,
        }
    })();
    // Linux writes si_signo, si_errno, si_code, si_pid, si_uid and
    // si_status, and leaves the rest of the caller's siginfo alone.
    let write_info = |k: &mut Kernel, info: [u8; 28], ru: Option<Rusage>| -> KResult<()> {
        let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
        if infop != 0 {
            m.write(infop, &info)?;
        }
        if let (Some(ru), true) = (ru, ctx.args[4] != 0) {
            m.write_obj(ctx.args[4], &ru)?;
        }
        Ok(())
    };
    match r {
        // A failed waitid still zeroes the caller's fields (kernel/exit.c).
        Err(e) => SysResult::err(write_info(k, [0u8; 28], None).err().unwrap_or(e)),
        Ok(Some(Waited { pid: child, ev, usage, uid })) => {
            let (code, status) = match ev {
                WaitEvent::Exited(ExitStatus::Exited(c)) => (CLD_EXITED, c),
                WaitEvent::Exited(ExitStatus::Killed { sig, core }) => {
                    (if core { CLD_DUMPED } else { CLD_KILLED }, sig)
                }
                WaitEvent::Stopped(sig) => (CLD_STOPPED, sig),
                WaitEvent::Continued => (CLD_CONTINUED, SIGCONT),
            };
            let mut info = [0u8; 28];
            info[0..4].copy_from_slice(&SIGCHLD.to_le_bytes());
            info[8..12].copy_from_slice(&code.to_le_bytes());
            info[16..20].copy_from_slice(&child.to_le_bytes());
            info[20..24].copy_from_slice(&uid.to_le_bytes());
            info[24..28].copy_from_slice(&status.to_le_bytes());
            write_info(k, info, Some(usage)).map(|_| 0).into()
        }
        Ok(None) if options & WNOHANG != 0 => write_info(k, [0u8; 28], None).map(|_| 0).into(),
        Ok(None) => {
            let w = k.table.borrow().procs.get(&ctx.pid).map(|p| p.child_wait);
            match w {
                Some(w) => SysResult::block(vec![w]),
                None => SysResult::err(Errno::ECHILD),
            }
        }
    }
}

/// The child a waitid(P_PIDFD) names, and whether its pidfd is
/// nonblocking (pidfd_get_pid). A reaped process matches no child
/// (ECHILD), even if its pid now belongs to one.
fn waited_pidfd(k: &Kernel, ctx: &Ctx, fd: i32) -> KResult<(WaitWho, bool)> {
    let f = k.file(ctx.pid, fd)?;
    let pidfd = pidfd_of(&f)?;
    let who = match pidfd.pid() {
        Ok(pid) => WaitWho::Pid(pid),
        Err(_) => WaitWho::Nobody,
    };
    Ok((who, f.nonblocking()))
}

/// pidfd_open(2): a close-on-exec pidfd for process `pid`.
pub fn sys_pidfd_open(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (pid, flags) = (ctx.arg_i32(0), ctx.args[1] as u32);
    if flags & !(PIDFD_NONBLOCK | PIDFD_THREAD) != 0 || pid <= 0 {
        return SysResult::err(Errno::EINVAL);
    }
    if flags & PIDFD_THREAD != 0 {
        k.note_unsupported("pidfd_open with PIDFD_THREAD (pidfds for threads)");
        return SysResult::err(Errno::EINVAL);
    }
    {
        let t = k.table.borrow();
        if !t.procs.contains_key(&pid) {
            // A thread that leads no thread group: ENOENT since Linux
            // 6.15's pidfd_prepare (EINVAL before, as the man page says).
            let thread = t.tasks.contains_key(&pid);
            return SysResult::err(if thread { Errno::ENOENT } else { Errno::ESRCH });
        }
    }
    let r = pidfd::open(k, pid, flags & PIDFD_NONBLOCK != 0).and_then(|file| {
        let limit = k.nofile_limit(ctx.pid);
        k.files_of(ctx.pid)?.borrow_mut().install(file, true, limit)
    });
    r.map(i64::from).into()
}

/// pidfd_getfd(2): a close-on-exec duplicate, in the caller's table, of
/// the file the pidfd's process has open at `targetfd`. The caller must
/// be allowed to trace the process (`ProcessTable::may_ptrace_attach`).
pub fn sys_pidfd_getfd(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (fd, targetfd, flags) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.args[2] as u32);
    let r = (|| -> KResult<i64> {
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        let f = k.file(ctx.pid, fd)?;
        let pidfd = pidfd_of(&f)?;
        let target = pidfd.pid()?;
        if !k.table.borrow().may_ptrace_attach(ctx.pid, target) {
            return Err(Errno::EPERM);
        }
        // An exited process's files are closed: that is ESRCH, not EBADF
        // (__pidfd_fget).
        if pidfd.state() != PidState::Live {
            return Err(Errno::ESRCH);
        }
        let file = k.file(target, targetfd)?;
        let limit = k.nofile_limit(ctx.pid);
        Ok(k.files_of(ctx.pid)?.borrow_mut().install(file, true, limit)? as i64)
    })();
    r.into()
}

/// set_tid_address runs natively (the host must know where to clear the
/// tid at exit); its return value, the caller's tid, is made virtual.
pub fn sys_set_tid_address(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
        t.exit_fixup = Some(Fixup::ReturnTid);
    }
    SysResult::Native { regs: ctx.regs, see_exit: true }
}

fn cred<T>(k: &Kernel, ctx: &Ctx, f: impl Fn(&crate::kernel::task::Cred) -> T) -> T
where
    T: Default,
{
    k.table.borrow().procs.get(&ctx.pid).map(|p| f(&p.cred)).unwrap_or_default()
}

pub fn sys_getuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(cred(k, ctx, |c| c.uid) as i64)
}
pub fn sys_geteuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(cred(k, ctx, |c| c.euid) as i64)
}
pub fn sys_getgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(cred(k, ctx, |c| c.gid) as i64)
}
pub fn sys_getegid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(cred(k, ctx, |c| c.egid) as i64)
}

fn write_triple(k: &mut Kernel, ctx: &Ctx, v: [u32; 3]) -> SysResult {
    let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
    for (i, x) in v.iter().enumerate() {
        if let Err(e) = m.write_obj(ctx.args[i], x) {
            return SysResult::err(e);
        }
    }
    SysResult::Done(0)
}

pub fn sys_getresuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let v = cred(k, ctx, |c| [c.uid, c.euid, c.suid]);
    write_triple(k, ctx, v)
}
pub fn sys_getresgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let v = cred(k, ctx, |c| [c.gid, c.egid, c.sgid]);
    write_triple(k, ctx, v)
}

/// setuid(2): root sets all three ids; others may only set the effective
/// id to the real or saved one.
pub fn sys_setuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let uid = ctx.args[0] as u32;
    let mut t = k.table.borrow_mut();
    let Some(p) = t.procs.get_mut(&ctx.pid) else { return SysResult::err(Errno::ESRCH) };
    let before = effective_ids(p);
    let c = &mut p.cred;
    if c.euid == 0 {
        c.uid = uid;
        c.euid = uid;
        c.suid = uid;
    } else if uid == c.uid || uid == c.suid {
        c.euid = uid;
    } else {
        return SysResult::err(Errno::EPERM);
    }
    commit_creds(p, before);
    SysResult::Done(0)
}

pub fn sys_setgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let gid = ctx.args[0] as u32;
    let mut t = k.table.borrow_mut();
    let Some(p) = t.procs.get_mut(&ctx.pid) else { return SysResult::err(Errno::ESRCH) };
    let before = effective_ids(p);
    let c = &mut p.cred;
    if c.euid == 0 {
        c.gid = gid;
        c.egid = gid;
        c.sgid = gid;
    } else if gid == c.gid || gid == c.sgid {
        c.egid = gid;
    } else {
        return SysResult::err(Errno::EPERM);
    }
    commit_creds(p, before);
    SysResult::Done(0)
}

pub fn sys_getgroups(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let groups = cred(k, ctx, |c| c.groups.clone());
    let size = ctx.arg_i32(0);
    if size < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    if size == 0 {
        return SysResult::Done(groups.len() as i64);
    }
    if (size as usize) < groups.len() {
        return SysResult::err(Errno::EINVAL);
    }
    let r = GuestMem::new(k.platform.as_mut(), ctx.host)
        .write(ctx.args[1], bytemuck::cast_slice(&groups));
    r.map(|_| groups.len() as i64).into()
}

pub fn sys_setgroups(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let n = ctx.args[0] as usize;
    if n > 65536 {
        return SysResult::err(Errno::EINVAL);
    }
    let mut groups = vec![0u32; n];
    if let Err(e) = GuestMem::new(k.platform.as_mut(), ctx.host)
        .read(ctx.args[1], bytemuck::cast_slice_mut(&mut groups))
    {
        return SysResult::err(e);
    }
    let mut t = k.table.borrow_mut();
    let Some(p) = t.procs.get_mut(&ctx.pid) else { return SysResult::err(Errno::ESRCH) };
    if p.cred.euid != 0 {
        return SysResult::err(Errno::EPERM);
    }
    p.cred.groups = groups;
    SysResult::Done(0)
}

/// setpgid(2) with its rules: the target is the caller or a child in the
/// same session that has not exec'd... (exec tracking is not kept: a child
/// is always accepted); a session leader cannot move; the group must exist
/// in the same session unless it is new (pgid == pid).
pub fn sys_setpgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let pid = if ctx.arg_i32(0) == 0 { ctx.pid } else { ctx.arg_i32(0) };
    let pgid_arg = ctx.arg_i32(1);
    if pgid_arg < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let pgid = if pgid_arg == 0 { pid } else { pgid_arg };
    let mut t = k.table.borrow_mut();
    let Some(me) = t.procs.get(&ctx.pid) else { return SysResult::err(Errno::ESRCH) };
    let my_sid = me.sid;
    let Some(target) = t.procs.get(&pid).filter(|p| p.exit.is_none()) else {
        return SysResult::err(Errno::ESRCH);
    };
    if pid != ctx.pid && target.ppid != ctx.pid {
        return SysResult::err(Errno::ESRCH);
    }
    if target.sid != my_sid {
        return SysResult::err(Errno::EPERM);
    }
    if target.sid == target.pid {
        return SysResult::err(Errno::EPERM);
    }
    if pgid != pid && !t.live().any(|p| p.pgid == pgid && p.sid == my_sid) {
        return SysResult::err(Errno::EPERM);
    }
    if let Some(p) = t.procs.get_mut(&pid) {
        p.pgid = pgid;
    }
    SysResult::Done(0)
}

pub fn sys_getpgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let pid = if ctx.arg_i32(0) == 0 { ctx.pid } else { ctx.arg_i32(0) };
    k.table
        .borrow()
        .procs
        .get(&pid)
        .filter(|p| p.exit.is_none())
        .map(|p| p.pgid as i64)
        .ok_or(Errno::ESRCH)
        .into()
}

pub fn sys_getpgrp(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    SysResult::Done(k.table.borrow().procs.get(&ctx.pid).map(|p| p.pgid).unwrap_or(0) as i64)
}

pub fn sys_getsid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let pid = if ctx.arg_i32(0) == 0 { ctx.pid } else { ctx.arg_i32(0) };
    k.table
        .borrow()
        .procs
        .get(&pid)
        .filter(|p| p.exit.is_none())
        .map(|p| p.sid as i64)
        .ok_or(Errno::ESRCH)
        .into()
}

/// setsid(2): fails for a process group leader.
pub fn sys_setsid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let mut t = k.table.borrow_mut();
    let pid = ctx.pid;
    if t.live().any(|p| p.pgid == pid) {
        return SysResult::err(Errno::EPERM);
    }
    match t.procs.get_mut(&pid) {
        Some(p) => {
            p.sid = pid;
            p.pgid = pid;
            SysResult::Done(pid as i64)
        }
        None => SysResult::err(Errno::ESRCH),
    }
}

/// The id-setting rules of setreuid/setresuid (kernel/sys.c): root may set
/// anything; others may only use ids they already have (real, effective
/// or saved). -1 leaves an id unchanged.
fn set_ids(k: &mut Kernel, ctx: &Ctx, new: [u32; 3], gid: bool) -> SysResult {
    let mut t = k.table.borrow_mut();
    let Some(p) = t.procs.get_mut(&ctx.pid) else { return SysResult::err(Errno::ESRCH) };
    let before = effective_ids(p);
    let c = &mut p.cred;
    let root = c.euid == 0;
    let cur = if gid { [c.gid, c.egid, c.sgid] } else { [c.uid, c.euid, c.suid] };
    for v in new {
        if v != u32::MAX && !root && !cur.contains(&v) {
            return SysResult::err(Errno::EPERM);
        }
    }
    let pick = |n: u32, old: u32| if n == u32::MAX { old } else { n };
    let ids = [pick(new[0], cur[0]), pick(new[1], cur[1]), pick(new[2], cur[2])];
    if gid {
        (c.gid, c.egid, c.sgid) = (ids[0], ids[1], ids[2]);
    } else {
        (c.uid, c.euid, c.suid) = (ids[0], ids[1], ids[2]);
    }
    commit_creds(p, before);
    SysResult::Done(0)
}

fn effective_ids(p: &Process) -> (u32, u32) {
    (p.cred.euid, p.cred.egid)
}

/// After a change of credentials (kernel/cred.c commit_creds): a process
/// whose effective ids changed may hold what its old self could read, so
/// it no longer dumps core (suid_dumpable is 0) until it execs.
fn commit_creds(p: &mut Process, before: (u32, u32)) {
    if effective_ids(p) != before {
        p.dumpable = false;
    }
}

pub fn sys_setresuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_ids(k, ctx, [ctx.args[0] as u32, ctx.args[1] as u32, ctx.args[2] as u32], false)
}
pub fn sys_setresgid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_ids(k, ctx, [ctx.args[0] as u32, ctx.args[1] as u32, ctx.args[2] as u32], true)
}

/// setreuid: setting the real id, or the effective id to something other
/// than the real one, also sets the saved id to the new effective id.
fn set_re(k: &mut Kernel, ctx: &Ctx, gid: bool) -> SysResult {
    let (r, e) = (ctx.args[0] as u32, ctx.args[1] as u32);
    let real = {
        let t = k.table.borrow();
        match t.procs.get(&ctx.pid) {
            Some(p) => {
                if gid {
                    p.cred.gid
                } else {
                    p.cred.uid
                }
            }
            None => return SysResult::err(Errno::ESRCH),
        }
    };
    let saved = if r != u32::MAX || (e != u32::MAX && e != real) { e } else { u32::MAX };
    set_ids(k, ctx, [r, e, saved], gid)
}

pub fn sys_setreuid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_re(k, ctx, false)
}
pub fn sys_setregid(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_re(k, ctx, true)
}
