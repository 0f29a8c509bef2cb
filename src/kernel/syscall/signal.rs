//! kill, tkill, tgkill: virtual pids in, host signals out.

use super::{Ctx, SysResult};
use crate::kernel::errno::Errno;
use crate::kernel::mm::GuestMem;
use crate::kernel::signal::{send_to_process, send_to_thread, SigOrigin};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::signal::{NSIG, SIGCHLD};
use guest_abi::signal::{SI_QUEUE, SI_TKILL};

fn valid_sig(sig: i32) -> bool {
    (0..=NSIG).contains(&sig)
}

/// Linux's permission rule (kernel/signal.c kill_ok_by_cred): root may
/// signal anyone; others need a matching real or effective uid.
fn may_signal(k: &Kernel, from: Pid, to: Pid) -> bool {
    let t = k.table.borrow();
    let (Some(a), Some(b)) = (t.procs.get(&from), t.procs.get(&to)) else { return false };
    a.cred.euid == 0
        || a.cred.euid == b.cred.uid
        || a.cred.euid == b.cred.suid
        || a.cred.uid == b.cred.uid
        || a.cred.uid == b.cred.suid
}

pub fn sys_kill(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let pid = ctx.arg_i32(0);
    let sig = ctx.arg_i32(1);
    if !valid_sig(sig) {
        return SysResult::err(Errno::EINVAL);
    }
    let targets: Vec<Pid> = {
        let t = k.table.borrow();
        let my_pgid = t.procs.get(&ctx.pid).map(|p| p.pgid).unwrap_or(0);
        match pid {
            // Every process but init and the caller (kill(2)).
            -1 => t.live().filter(|p| p.pid != 1 && p.pid != ctx.pid).map(|p| p.pid).collect(),
            0 => t.live().filter(|p| p.pgid == my_pgid).map(|p| p.pid).collect(),
            p if p < -1 => t.live().filter(|x| x.pgid == -p).map(|x| x.pid).collect(),
            p => t
                .procs
                .get(&p)
                .filter(|x| x.exit.is_none() || !x.threads.is_empty())
                .map(|x| vec![x.pid])
                .unwrap_or_default(),
        }
    };
    let origin = SigOrigin::user(sig, ctx.pid, sender_uid(k, ctx));
    signal_processes(k, ctx, targets, sig, origin)
}

/// Sends `sig` to those of `targets` the caller may signal: ESRCH if there
/// are none, EPERM if it may signal none of them.
fn signal_processes(
    k: &mut Kernel,
    ctx: &Ctx,
    targets: Vec<Pid>,
    sig: i32,
    origin: SigOrigin,
) -> SysResult {
    if targets.is_empty() {
        return SysResult::err(Errno::ESRCH);
    }
    let allowed: Vec<Pid> = targets.into_iter().filter(|p| may_signal(k, ctx.pid, *p)).collect();
    if allowed.is_empty() {
        return SysResult::err(Errno::EPERM);
    }
    for p in allowed {
        // Zombies exist for kill(2) (it succeeds) but take no signal.
        let live = k.table.borrow().procs.get(&p).is_some_and(|x| x.exit.is_none());
        if live {
            send_to_process(k, p, sig, origin);
        }
    }
    SysResult::Done(0)
}

fn sender_uid(k: &Kernel, ctx: &Ctx) -> u32 {
    k.table.borrow().procs.get(&ctx.pid).map(|p| p.cred.uid).unwrap_or(0)
}

fn thread_kill(
    k: &mut Kernel,
    ctx: &Ctx,
    tgid: Option<Pid>,
    tid: Pid,
    sig: i32,
    origin: SigOrigin,
) -> SysResult {
    if !valid_sig(sig) || tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return SysResult::err(Errno::EINVAL);
    }
    let owner = {
        let t = k.table.borrow();
        match t.tasks.get(&tid) {
            Some(task) if tgid.is_none_or(|g| g == task.pid) => task.pid,
            _ => return SysResult::err(Errno::ESRCH),
        }
    };
    if !may_signal(k, ctx.pid, owner) {
        return SysResult::err(Errno::EPERM);
    }
    send_to_thread(k, tid, sig, origin);
    SysResult::Done(0)
}

pub fn sys_tkill(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let o = SigOrigin::tkill(ctx.arg_i32(1), ctx.pid, sender_uid(k, ctx));
    thread_kill(k, ctx, None, ctx.arg_i32(0), ctx.arg_i32(1), o)
}

pub fn sys_tgkill(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let o = SigOrigin::tkill(ctx.arg_i32(2), ctx.pid, sender_uid(k, ctx));
    thread_kill(k, ctx, Some(ctx.arg_i32(0)), ctx.arg_i32(1), ctx.arg_i32(2), o)
}

/// The origin a rt_sigqueueinfo caller may claim from the siginfo at
/// `info_addr`: a negative si_code (SI_QUEUE...) towards others, anything
/// towards itself (`to_self`). Also gives the siginfo's si_signo.
fn queued_origin(
    k: &mut Kernel,
    ctx: &Ctx,
    sig: i32,
    to_self: bool,
    info_addr: u64,
) -> Result<(SigOrigin, i32), Errno> {
    // copy_siginfo_from_user reads the whole siginfo_t.
    let info: [u8; 128] = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(info_addr)?;
    let word = |at: usize| [info[at], info[at + 1], info[at + 2], info[at + 3]];
    let signo = i32::from_le_bytes(word(0));
    let code = i32::from_le_bytes(word(8));
    // kernel/signal.c: only the kernel may use si_code >= 0 or SI_TKILL
    // towards another process.
    if (code >= 0 || code == SI_TKILL) && !to_self {
        return Err(Errno::EPERM);
    }
    let value = u64::from_le_bytes(info[24..32].try_into().unwrap_or([0; 8]));
    let pid = i32::from_le_bytes(word(16));
    let uid = u32::from_le_bytes(word(20));
    let _ = SI_QUEUE;
    Ok((SigOrigin { sig, code, pid, uid, value, ticks: (0, 0) }, signo))
}

pub fn sys_rt_sigqueueinfo(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (pid, sig) = (ctx.arg_i32(0), ctx.arg_i32(1));
    if !valid_sig(sig) || sig == 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let exists = k.table.borrow().procs.get(&pid).is_some_and(|p| p.exit.is_none());
    if !exists {
        return SysResult::err(Errno::ESRCH);
    }
    let origin = match queued_origin(k, ctx, sig, pid == ctx.pid, ctx.args[2]) {
        Ok((o, _)) => o,
        Err(e) => return SysResult::err(e),
    };
    if !may_signal(k, ctx.pid, pid) {
        return SysResult::err(Errno::EPERM);
    }
    send_to_process(k, pid, sig, origin);
    SysResult::Done(0)
}

pub fn sys_rt_tgsigqueueinfo(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (tgid, tid, sig) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.arg_i32(2));
    if !valid_sig(sig) || sig == 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let origin = match queued_origin(k, ctx, sig, tgid == ctx.pid, ctx.args[3]) {
        Ok((o, _)) => o,
        Err(e) => return SysResult::err(e),
    };
    thread_kill(k, ctx, Some(tgid), tid, sig, origin)
}

/// pidfd_send_signal(2): kill(2) through a pidfd, or rt_sigqueueinfo(2)
/// when given a siginfo. The flags choose the thread whose tid is the
/// pidfd's pid, its thread group (the default), or the process group whose
/// id it is. A pidfd whose process was reaped gives ESRCH, whoever has
/// the pid now (kernel/signal.c).
pub fn sys_pidfd_send_signal(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    use crate::kernel::fs::pidfd::pidfd_of;
    use guest_abi::sched::*;
    let (fd, sig, info, flags) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.args[2], ctx.args[3] as u32);
    let scopes = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
    if flags & !scopes != 0 || (flags & scopes).count_ones() > 1 {
        return SysResult::err(Errno::EINVAL);
    }
    let file = match k.file(ctx.pid, fd) {
        Ok(f) => f,
        Err(e) => return SysResult::err(e),
    };
    let pid = match pidfd_of(&file).map(|p| p.pid()) {
        Ok(pid) => pid,
        // A /proc/PID directory serves as a pidfd too.
        Err(e) => match file.inode.as_ref().and_then(crate::kernel::fs::procfs::proc_dir_pid) {
            Some(p) if k.table.borrow().procs.contains_key(&p) => Ok(p),
            Some(_) => Err(Errno::ESRCH),
            None => return SysResult::err(e),
        },
    };
    let (thread, pgrp) = (flags == PIDFD_SIGNAL_THREAD, flags == PIDFD_SIGNAL_PROCESS_GROUP);
    let origin = if info != 0 {
        // Only a thread signalling itself or its own thread group may
        // claim any si_code.
        let to_self = pid == Ok(ctx.tid) && !pgrp;
        match queued_origin(k, ctx, sig, to_self, info) {
            Ok((_, signo)) if signo != sig => return SysResult::err(Errno::EINVAL),
            Ok((o, _)) => o,
            Err(e) => return SysResult::err(e),
        }
    } else if thread {
        SigOrigin::tkill(sig, ctx.pid, sender_uid(k, ctx))
    } else {
        SigOrigin::user(sig, ctx.pid, sender_uid(k, ctx))
    };
    let pid = match pid {
        Ok(pid) => pid,
        Err(e) => return SysResult::err(e),
    };
    if !valid_sig(sig) {
        return SysResult::err(Errno::EINVAL);
    }
    if thread {
        let owner = k.table.borrow().tasks.get(&pid).map(|t| t.pid);
        return match owner {
            Some(p) if !may_signal(k, ctx.pid, p) => SysResult::err(Errno::EPERM),
            Some(_) => {
                send_to_thread(k, pid, sig, origin);
                SysResult::Done(0)
            }
            // The leader thread ended before its thread group: a zombie
            // leader takes the signal and drops it.
            None => signal_processes(k, ctx, vec![pid], 0, origin),
        };
    }
    let targets = if pgrp {
        k.table.borrow().live().filter(|p| p.pgid == pid).map(|p| p.pid).collect()
    } else {
        vec![pid]
    };
    signal_processes(k, ctx, targets, sig, origin)
}

const SFD_CLOEXEC: i32 = guest_abi::fcntl::O_CLOEXEC;
const SFD_NONBLOCK: i32 = guest_abi::fcntl::O_NONBLOCK;

/// signalfd4(2): a new signalfd for the signals in the mask, or (given
/// one) a new mask for an existing signalfd.
pub fn sys_signalfd4(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_signalfd(k, ctx, ctx.arg_i32(3))
}

pub fn sys_signalfd(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_signalfd(k, ctx, 0)
}

fn do_signalfd(k: &mut Kernel, ctx: &Ctx, flags: i32) -> SysResult {
    use crate::kernel::fs::file::OpenFile;
    use crate::kernel::signal::signalfd::SignalFd;
    let r = (|| -> crate::kernel::errno::KResult<i64> {
        let fd = ctx.arg_i32(0);
        if ctx.args[2] != 8 || flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
            return Err(Errno::EINVAL);
        }
        let mask: u64 = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(ctx.args[1])?;
        if fd != -1 {
            let f = k.file(ctx.pid, fd)?;
            let sfd =
                f.ops.as_any().and_then(|a| a.downcast_ref::<SignalFd>()).ok_or(Errno::EINVAL)?;
            sfd.set_mask(mask);
            return Ok(fd as i64);
        }
        let file = OpenFile::new(
            std::rc::Rc::new(SignalFd::new(k, mask)),
            None,
            None,
            guest_abi::fcntl::O_RDWR | (flags & SFD_NONBLOCK),
        );
        let limit = k.nofile_limit(ctx.pid);
        Ok(k.files_of(ctx.pid)?.borrow_mut().install(file, flags & SFD_CLOEXEC != 0, limit)? as i64)
    })();
    r.into()
}

/// rt_sigaction(2) runs natively: the host kernel keeps dispositions.
/// Only SIGCHLD's calls stop here (the seccomp filter picks them), so umk,
/// the kernel of every guest parent, learns SA_NOCLDWAIT and SA_NOCLDSTOP.
pub fn sys_rt_sigaction(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (sig, act) = (ctx.arg_i32(0), ctx.args[1]);
    // A bad size or pointer fails natively (EINVAL, EFAULT) and changes nothing.
    if sig == SIGCHLD && act != 0 && ctx.args[3] == 8 {
        // struct kernel_sigaction: handler, flags, restorer, mask.
        let mut flags = [0u8; 8];
        if GuestMem::new(k.platform.as_mut(), ctx.host).read(act + 8, &mut flags).is_ok() {
            if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                p.sigchld_flags = u64::from_le_bytes(flags);
            }
        }
    }
    SysResult::Native { regs: ctx.regs, see_exit: false }
}

/// rt_sigtimedwait(2) runs natively; on its way out umk puts the guest's
/// view of the sender into the siginfo (see `on_signal_waited`).
pub fn sys_rt_sigtimedwait(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
        t.exit_fixup = Some(crate::kernel::task::clone::Fixup::SigInfo(ctx.args[1]));
    }
    SysResult::Native { regs: ctx.regs, see_exit: true }
}
