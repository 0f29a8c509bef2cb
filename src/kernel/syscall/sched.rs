//! Scheduling calls: nice values (getpriority, setpriority), policies
//! (sched_setscheduler and friends) and CPU affinity. The attributes live
//! in `task::sched`; the host thread gets what `Platform::set_sched` allows.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::task::sched::*;
use crate::kernel::task::{Cred, Pid};
use crate::kernel::Kernel;
use guest_abi::misc::{Timespec, RLIMIT_NICE, RLIMIT_RTPRIO};
use guest_abi::sched::*;

/// The thread `pid` names for the sched_* calls (find_process_by_pid): 0
/// is the caller, any thread id names that thread.
fn find_task(k: &Kernel, ctx: &Ctx, pid: i32) -> KResult<Pid> {
    match pid {
        p if p < 0 => Err(Errno::EINVAL),
        0 => Ok(ctx.tid),
        p if k.table.borrow().tasks.contains_key(&p) => Ok(p),
        _ => Err(Errno::ESRCH),
    }
}

/// A thread's attributes, credentials and the two rlimits that bound them.
fn task_state(k: &Kernel, tid: Pid) -> KResult<(SchedAttr, Cred, u64, u64)> {
    let t = k.table.borrow();
    let task = t.tasks.get(&tid).ok_or(Errno::ESRCH)?;
    let p = t.procs.get(&task.pid).ok_or(Errno::ESRCH)?;
    let lim = |r: u32| p.rlimits[r as usize].rlim_cur;
    Ok((task.sched, p.cred.clone(), lim(RLIMIT_NICE), lim(RLIMIT_RTPRIO)))
}

fn caller_cred(k: &Kernel, ctx: &Ctx) -> Cred {
    k.table.borrow().procs.get(&ctx.pid).map(|p| p.cred.clone()).unwrap_or_default()
}

/// Records new attributes and passes the host its share.
fn commit(k: &mut Kernel, tid: Pid, attr: SchedAttr) {
    let host = {
        let mut t = k.table.borrow_mut();
        let Some(task) = t.tasks.get_mut(&tid) else { return };
        task.sched = attr;
        task.host
    };
    // The guest's view is what Linux reports; the host may refuse to
    // lower a nice value it raised (RLIMIT_NICE), which only the host's
    // scheduling sees.
    let _ = k.platform.set_sched(host, attr.nice, attr.policy);
}

/// The threads getpriority/setpriority name (kernel/sys.c).
fn prio_targets(k: &Kernel, ctx: &Ctx, which: i32, who: i32) -> KResult<Vec<Pid>> {
    let t = k.table.borrow();
    let me = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
    let threads_of = |pred: &dyn Fn(&crate::kernel::task::Process) -> bool| -> Vec<Pid> {
        t.live().filter(|p| pred(p)).flat_map(|p| p.threads.iter().copied()).collect()
    };
    Ok(match which {
        PRIO_PROCESS => match who {
            0 => vec![ctx.tid],
            w if t.tasks.contains_key(&w) => vec![w],
            _ => Vec::new(),
        },
        PRIO_PGRP => {
            let pgrp = if who == 0 { me.pgid } else { who };
            threads_of(&|p| p.pgid == pgrp)
        }
        PRIO_USER => {
            let uid = if who == 0 { me.cred.uid } else { who as u32 };
            threads_of(&|p| p.cred.uid == uid)
        }
        _ => return Err(Errno::EINVAL),
    })
}

/// getpriority(2): the highest priority among the targets, as 20 - nice
/// (the C library turns it back into a nice value).
pub fn sys_getpriority(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = prio_targets(k, ctx, ctx.arg_i32(0), ctx.arg_i32(1)).and_then(|targets| {
        let t = k.table.borrow();
        let best =
            targets.iter().filter_map(|tid| t.tasks.get(tid)).map(|x| 20 - x.sched.nice).max();
        best.map(i64::from).ok_or(Errno::ESRCH)
    });
    r.into()
}

/// setpriority(2): every target gets the nice value (clamped to -20..19);
/// a target the caller may not change makes the call fail, but the others
/// still change (set_one_prio).
pub fn sys_setpriority(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let nice = ctx.arg_i32(2).clamp(MIN_NICE, MAX_NICE);
    let targets = match prio_targets(k, ctx, ctx.arg_i32(0), ctx.arg_i32(1)) {
        Ok(t) => t,
        Err(e) => return SysResult::err(e),
    };
    let me = caller_cred(k, ctx);
    let mut error = Some(Errno::ESRCH);
    for tid in targets {
        let Ok((mut attr, cred, rlim_nice, _)) = task_state(k, tid) else { continue };
        if !same_owner(&me, &cred) && !capable_sys_nice(&me) {
            error = Some(Errno::EPERM);
            continue;
        }
        if nice < attr.nice && !can_nice(&me, rlim_nice, nice) {
            error = Some(Errno::EACCES);
            continue;
        }
        if error == Some(Errno::ESRCH) {
            error = None;
        }
        attr.nice = nice;
        commit(k, tid, attr);
    }
    match error {
        Some(e) => SysResult::err(e),
        None => SysResult::Done(0),
    }
}

/// __sched_setscheduler's checks; `policy` None keeps the current one
/// (sched_setparam).
fn setscheduler(
    k: &mut Kernel,
    ctx: &Ctx,
    pid: i32,
    policy: Option<i32>,
    param: u64,
) -> KResult<i64> {
    if param == 0 || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let p: SchedParam = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(param)?;
    let tid = find_task(k, ctx, pid)?;
    let (old, cred, rlim_nice, rlim_rtprio) = task_state(k, tid)?;
    let (policy, reset_on_fork) = match policy {
        None => (old.policy, old.reset_on_fork),
        Some(p) => {
            let policy = p & !SCHED_RESET_ON_FORK;
            if !valid_policy(policy) {
                return Err(Errno::EINVAL);
            }
            (policy, p & SCHED_RESET_ON_FORK != 0)
        }
    };
    let prio = p.sched_priority as u32;
    // SCHED_DEADLINE needs sched_setattr's runtime and period.
    if prio >= MAX_USER_RT_PRIO as u32
        || policy == SCHED_DEADLINE
        || rt_policy(policy) != (prio != 0)
    {
        return Err(Errno::EINVAL);
    }
    let me = caller_cred(k, ctx);
    if !capable_sys_nice(&me) {
        if rt_policy(policy) {
            if policy != old.policy && rlim_rtprio == 0 {
                return Err(Errno::EPERM);
            }
            if prio as u64 > (old.rt_priority as u64).max(rlim_rtprio) {
                return Err(Errno::EPERM);
            }
        }
        // Leaving SCHED_IDLE is as good as lowering the nice value.
        if old.policy == SCHED_IDLE && policy != SCHED_IDLE && !can_nice(&me, rlim_nice, old.nice) {
            return Err(Errno::EPERM);
        }
        if !same_owner(&me, &cred) {
            return Err(Errno::EPERM);
        }
        if old.reset_on_fork && !reset_on_fork {
            return Err(Errno::EPERM);
        }
    }
    let attr = SchedAttr { nice: old.nice, policy, rt_priority: prio as i32, reset_on_fork };
    commit(k, tid, attr);
    Ok(0)
}

pub fn sys_sched_setscheduler(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    setscheduler(k, ctx, ctx.arg_i32(0), Some(ctx.arg_i32(1)), ctx.args[2]).into()
}

pub fn sys_sched_setparam(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    setscheduler(k, ctx, ctx.arg_i32(0), None, ctx.args[1]).into()
}

pub fn sys_sched_getscheduler(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = find_task(k, ctx, ctx.arg_i32(0))
        .and_then(|tid| task_state(k, tid))
        .map(|(a, ..)| (a.policy | if a.reset_on_fork { SCHED_RESET_ON_FORK } else { 0 }) as i64);
    r.into()
}

pub fn sys_sched_getparam(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (pid, param) = (ctx.arg_i32(0), ctx.args[1]);
    let r = (|| {
        if param == 0 || pid < 0 {
            return Err(Errno::EINVAL);
        }
        let (a, ..) = task_state(k, find_task(k, ctx, pid)?)?;
        let p = SchedParam { sched_priority: if rt_policy(a.policy) { a.rt_priority } else { 0 } };
        GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(param, &p)?;
        Ok(0)
    })();
    r.into()
}

pub fn sys_sched_get_priority_max(_k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match ctx.arg_i32(0) {
        SCHED_FIFO | SCHED_RR => SysResult::Done((MAX_USER_RT_PRIO - 1) as i64),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => SysResult::Done(0),
        _ => SysResult::err(Errno::EINVAL),
    }
}

pub fn sys_sched_get_priority_min(_k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match ctx.arg_i32(0) {
        SCHED_FIFO | SCHED_RR => SysResult::Done(1),
        SCHED_NORMAL | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => SysResult::Done(0),
        _ => SysResult::err(Errno::EINVAL),
    }
}

/// sched_rr_get_interval(2): SCHED_RR's 100 ms time slice (RR_TIMESLICE),
/// none for SCHED_FIFO; for the fair policies the host's own answer.
pub fn sys_sched_rr_get_interval(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (tid, attr) =
        match find_task(k, ctx, ctx.arg_i32(0)).and_then(|t| Ok((t, task_state(k, t)?.0))) {
            Ok(x) => x,
            Err(e) => return SysResult::err(e),
        };
    let slice = match attr.policy {
        SCHED_RR => Timespec { tv_sec: 0, tv_nsec: 100_000_000 },
        SCHED_FIFO => Timespec { tv_sec: 0, tv_nsec: 0 },
        _ => return native_on(k, ctx, tid),
    };
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[1], &slice).map(|_| 0).into()
}

/// Runs the call on the host with the thread's host tid for its pid.
fn native_on(k: &Kernel, ctx: &Ctx, tid: Pid) -> SysResult {
    let Some(host) = k.table.borrow().tasks.get(&tid).map(|t| t.host) else {
        return SysResult::err(Errno::ESRCH);
    };
    let mut regs = ctx.regs;
    regs.rdi = host as u64;
    SysResult::Native { regs, see_exit: false }
}

/// sched_setaffinity(2): the host pins the host thread; umk checks the
/// guest's permission first (same owner or CAP_SYS_NICE).
pub fn sys_sched_setaffinity(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let tid = match find_task(k, ctx, ctx.arg_i32(0)) {
        Ok(t) => t,
        Err(e) => return SysResult::err(e),
    };
    let me = caller_cred(k, ctx);
    match task_state(k, tid) {
        Ok((_, cred, ..)) if same_owner(&me, &cred) || capable_sys_nice(&me) => {
            native_on(k, ctx, tid)
        }
        Ok(_) => SysResult::err(Errno::EPERM),
        Err(e) => SysResult::err(e),
    }
}

/// sched_getaffinity(2): the host thread's mask.
pub fn sys_sched_getaffinity(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match find_task(k, ctx, ctx.arg_i32(0)) {
        Ok(tid) => native_on(k, ctx, tid),
        Err(e) => SysResult::err(e),
    }
}
