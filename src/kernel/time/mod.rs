//! Clocks and timers. Guest time is host time: clock_gettime and
//! friends run natively through the vDSO. umk keeps ITIMER_REAL (alarm,
//! setitimer) and the POSIX timers ([`posix_timers`]) itself, so that their
//! signals can interrupt a syscall umk has parked. Timers on CPU time
//! (ITIMER_VIRTUAL, ITIMER_PROF, POSIX timers on CPU-time clocks) count
//! time only the host sees: the host keeps them, in the guest process.

pub mod posix_timers;

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::misc::Timeval;
use std::time::{Duration, Instant};

pub const ITIMER_REAL: i32 = 0;

fn to_timeval(d: Duration) -> Timeval {
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }
}

fn from_timeval(t: Timeval) -> KResult<Duration> {
    if t.tv_sec < 0 || !(0..1_000_000).contains(&t.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000))
}

/// The current ITIMER_REAL of a process as (value left, interval).
fn current(k: &Kernel, pid: Pid) -> (Duration, Duration) {
    let t = k.table.borrow();
    match t.procs.get(&pid).and_then(|p| p.itimer_real) {
        Some((at, iv)) => {
            (at.saturating_duration_since(Instant::now()).max(Duration::from_micros(1)), iv)
        }
        None => (Duration::ZERO, Duration::ZERO),
    }
}

fn arm(k: &mut Kernel, pid: Pid, value: Duration, interval: Duration) {
    let at = if value.is_zero() { None } else { Some((Instant::now() + value, interval)) };
    set_itimer(k, pid, at);
}

/// Sets a process's ITIMER_REAL and keeps the kernel's timer index in step.
pub fn set_itimer(k: &mut Kernel, pid: Pid, at: Option<(Instant, Duration)>) {
    let old =
        k.table.borrow_mut().procs.get_mut(&pid).map(|p| std::mem::replace(&mut p.itimer_real, at));
    if let Some(Some((t, _))) = old {
        k.itimers.remove(&(t, pid));
    }
    if let Some((t, _)) = at {
        if k.table.borrow().procs.contains_key(&pid) {
            k.itimers.insert((t, pid));
        }
    }
}

pub fn sys_alarm(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (left, _) = current(k, ctx.pid);
    arm(k, ctx.pid, Duration::from_secs(ctx.args[0] & 0xffff_ffff), Duration::ZERO);
    // alarm(2) returns whole seconds left, rounded to nearest (kernel/time/itimer.c).
    let secs = left.as_secs() + u64::from(left.subsec_micros() >= 500_000);
    SysResult::Done(if left.is_zero() { 0 } else { secs.max(1) } as i64)
}

pub fn sys_setitimer(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.arg_i32(0) != ITIMER_REAL {
        // Virtual and profiling timers count CPU time, which only passes
        // while the thread runs natively: the host keeps them.
        return SysResult::Native { regs: ctx.regs, see_exit: false };
    }
    let r = (|| -> KResult<i64> {
        let (left, iv) = current(k, ctx.pid);
        if ctx.args[1] != 0 {
            let v: [Timeval; 2] =
                GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(ctx.args[1])?;
            let (interval, value) = (from_timeval(v[0])?, from_timeval(v[1])?);
            arm(k, ctx.pid, value, interval);
        } else {
            arm(k, ctx.pid, Duration::ZERO, Duration::ZERO);
        }
        if ctx.args[2] != 0 {
            GuestMem::new(k.platform.as_mut(), ctx.host)
                .write_obj(ctx.args[2], &[to_timeval(iv), to_timeval(left)])?;
        }
        Ok(0)
    })();
    r.into()
}

pub fn sys_getitimer(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.arg_i32(0) != ITIMER_REAL {
        return SysResult::Native { regs: ctx.regs, see_exit: false };
    }
    let (left, iv) = current(k, ctx.pid);
    GuestMem::new(k.platform.as_mut(), ctx.host)
        .write_obj(ctx.args[1], &[to_timeval(iv), to_timeval(left)])
        .map(|_| 0)
        .into()
}

/// Fires expired ITIMER_REAL timers: SIGALRM to the process, then reload.
pub fn run_timers(k: &mut Kernel) {
    posix_timers::run_timers(k);
    let now = Instant::now();
    let due: Vec<Pid> =
        k.itimers.iter().take_while(|(at, _)| *at <= now).map(|(_, pid)| *pid).collect();
    for pid in due {
        let cur = k.table.borrow().procs.get(&pid).and_then(|p| p.itimer_real);
        let next = match cur {
            Some((at, iv)) if !iv.is_zero() => Some((at + iv, iv)),
            _ => None,
        };
        set_itimer(k, pid, next);
        let sig = guest_abi::signal::SIGALRM;
        crate::kernel::signal::send_to_process(
            k,
            pid,
            sig,
            crate::kernel::signal::SigOrigin::kernel(sig),
        );
    }
}

/// clock_gettime, clock_getres and clock_nanosleep run natively, except on
/// a negative clock id (the seccomp filter stops those): a CPU-time clock
/// that names a process or thread by pid, `((~pid) << 3) | type`, or a
/// clock device by fd. umk puts the host's pid in for the guest's and lets
/// the host run the call.
pub fn sys_clock_cpu(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let clock = ctx.arg_i32(0);
    if clock >= 0 {
        // Only under --trace, where every call stops.
        return SysResult::Native { regs: ctx.regs, see_exit: false };
    }
    match host_cpu_clock(k, ctx, clock) {
        Ok(host_clock) => {
            let mut regs = ctx.regs;
            let mut args = ctx.args;
            args[0] = host_clock as u32 as u64;
            regs.set_syscall_args(args);
            if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
                t.exit_fixup = Some(crate::kernel::task::clone::Fixup::RestoreArgs(ctx.args));
            }
            SysResult::Native { regs, see_exit: true }
        }
        Err(e) => SysResult::err(e),
    }
}

/// The host's id for the guest's CPU clock `clock` (posix-cpu-timers.c,
/// pid_for_clock): pid 0 is the caller; a thread clock must name a thread
/// of the caller's process; a process clock a process (its leader).
pub(crate) fn host_cpu_clock(k: &Kernel, ctx: &Ctx, clock: i32) -> KResult<i32> {
    const CPUCLOCK_PERTHREAD: i32 = 4;
    const CPUCLOCK_MAX: i32 = 3;
    if clock & 3 >= CPUCLOCK_MAX {
        // A clock device (CLOCKFD): the guest has none.
        return Err(Errno::EINVAL);
    }
    let pid = !(clock >> 3);
    if pid == 0 {
        return Ok(clock);
    }
    let thread = clock & CPUCLOCK_PERTHREAD != 0;
    let t = k.table.borrow();
    let task = t.tasks.get(&pid).ok_or(Errno::EINVAL)?;
    if thread && task.pid != ctx.pid || !thread && task.tid != task.pid {
        return Err(Errno::EINVAL);
    }
    Ok(((!task.host) << 3) | (clock & 7))
}
