//! kill, tkill, tgkill: virtual pids in, host signals out.

use super::{Ctx, SysResult};
use crate::kernel::errno::Errno;
use crate::kernel::signal::{kill_pgrp, send_to_process, send_to_thread};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::signal::NSIG;

fn valid_sig(sig: i32) -> bool {
    (0..=NSIG).contains(&sig)
}

/// Linux's permission rule (kernel/signal.c kill_ok_by_cred): root may
/// signal anyone; others need a matching real or effective uid.
fn may_signal(k: &Kernel, from: Pid, to: Pid) -> bool {
    let t = k.table.borrow();
    let (Some(a), Some(b)) = (t.procs.get(&from), t.procs.get(&to)) else { return false };
    a.cred.euid == 0 || a.cred.euid == b.cred.uid || a.cred.euid == b.cred.suid || a.cred.uid == b.cred.uid || a.cred.uid == b.cred.suid
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
            p => t.procs.get(&p).filter(|x| x.exit.is_none() || !x.threads.is_empty()).map(|x| vec![x.pid]).unwrap_or_default(),
        }
    };
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
            send_to_process(k, p, sig);
        }
    }
    let _ = kill_pgrp;
    SysResult::Done(0)
}

fn thread_kill(k: &mut Kernel, ctx: &Ctx, tgid: Option<Pid>, tid: Pid, sig: i32) -> SysResult {
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
    send_to_thread(k, tid, sig);
    SysResult::Done(0)
}

pub fn sys_tkill(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    thread_kill(k, ctx, None, ctx.arg_i32(0), ctx.arg_i32(1))
}

pub fn sys_tgkill(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    thread_kill(k, ctx, Some(ctx.arg_i32(0)), ctx.arg_i32(1), ctx.arg_i32(2))
}
