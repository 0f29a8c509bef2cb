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
    if targets.is_empty() {
        return SysResult::err(Errno::ESRCH);
    }
    let allowed: Vec<Pid> = targets.into_iter().filter(|p| may_signal(k, ctx.pid, *p)).collect();
    if allowed.is_empty() {
        return SysResult::err(Errno::EPERM);
    }
    let origin = SigOrigin::user(sig, ctx.pid, sender_uid(k, ctx));
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

/// The origin a rt_sigqueueinfo caller may claim: a negative si_code
/// (SI_QUEUE...) for others, anything for itself; Linux fills in the
/// sender's pid and uid only for... no: it trusts them only from itself.
fn queued_origin(
    k: &mut Kernel,
    ctx: &Ctx,
    sig: i32,
    target_pid: Pid,
    info_addr: u64,
) -> Result<SigOrigin, Errno> {
    let info: [u8; 48] = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(info_addr)?;
    let code = i32::from_le_bytes([info[8], info[9], info[10], info[11]]);
    // kernel/signal.c: only the kernel may use si_code >= 0 or SI_TKILL
    // towards another process.
    if (code >= 0 || code == SI_TKILL) && target_pid != ctx.pid {
        return Err(Errno::EPERM);
    }
    let value = u64::from_le_bytes(info[24..32].try_into().unwrap_or([0; 8]));
    let pid = i32::from_le_bytes([info[16], info[17], info[18], info[19]]);
    let uid = u32::from_le_bytes([info[20], info[21], info[22], info[23]]);
    let _ = SI_QUEUE;
    Ok(SigOrigin { sig, code, pid, uid, value, ticks: (0, 0) })
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
    let origin = match queued_origin(k, ctx, sig, pid, ctx.args[2]) {
        Ok(o) => o,
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
    let origin = match queued_origin(k, ctx, sig, tgid, ctx.args[3]) {
        Ok(o) => o,
        Err(e) => return SysResult::err(e),
    };
    thread_kill(k, ctx, Some(tgid), tid, sig, origin)
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
