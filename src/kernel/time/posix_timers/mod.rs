//! POSIX interval timers: timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete (kernel/time/posix-timers.c).
//!
//! umk runs them itself, like ITIMER_REAL: a timer's signal must be able to
//! interrupt a syscall umk has parked, and only umk knows about those. Its
//! signal goes out like any signal umk sends, with an SI_TIMER record that
//! names the timer, so the guest sees si_timerid, si_overrun and si_value.
//!
//! As in Linux, a periodic timer whose signal is queued is not re-armed
//! until the signal is delivered; then the periods that passed meanwhile
//! become the overrun count. A timer that nobody is waiting for costs
//! nothing.
//!
//! Clocks: CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI and
//! the two _ALARM clocks (which cannot wake a suspended host here). Timers
//! on CPU-time clocks count time umk does not see: the host keeps those
//! ([`cpu`]), under ids from the same space.

pub mod cpu;

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::signal::SigOrigin;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::misc::*;
use guest_abi::signal::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Timers one process may have (Linux bounds them by RLIMIT_SIGPENDING).
const MAX_TIMERS: usize = 32_768;

/// Where a timer's signal goes.
#[derive(Debug, Clone, Copy)]
enum Notify {
    None,
    Process(i32),
    Thread(Pid, i32),
}

#[derive(Debug, Clone)]
pub struct PosixTimer {
    clock: i32,
    notify: Notify,
    /// sigev_value, passed to the handler as si_value.
    value: u64,
    /// The next expiry, if armed.
    at: Option<Instant>,
    interval: Duration,
    /// Its signal is queued and not yet delivered: a periodic timer waits
    /// for the delivery to re-arm.
    queued: bool,
    /// Overruns counted at the last delivery (timer_getoverrun).
    overrun_last: i32,
}

/// A process's timers (signal_struct's posix_timers): not inherited by
/// fork, deleted by exec.
#[derive(Debug, Clone, Default)]
pub struct Timers {
    map: BTreeMap<i32, PosixTimer>,
    /// Timers on CPU-time clocks, which the host keeps, by guest id.
    cpu: BTreeMap<i32, cpu::CpuTimer>,
    /// The same, host id to guest id, for the signals the host sends.
    cpu_by_host: BTreeMap<i32, i32>,
    next_id: i32,
}

impl Timers {
    /// A free id for a new timer, as posix_timer_add picks one: the next
    /// after the last one handed out, wrapping at INT_MAX.
    fn alloc_id(&mut self) -> KResult<i32> {
        if self.map.len() + self.cpu.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        let mut id = self.next_id;
        while self.map.contains_key(&id) || self.cpu.contains_key(&id) {
            id = id.checked_add(1).unwrap_or(0);
        }
        self.next_id = id.checked_add(1).unwrap_or(0);
        Ok(id)
    }
}

fn mem<'a>(k: &'a mut Kernel, ctx: &Ctx) -> GuestMem<'a> {
    GuestMem::new(k.platform.as_mut(), ctx.host)
}

fn from_timespec(t: Timespec) -> KResult<Duration> {
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

fn to_timespec(d: Duration) -> Timespec {
    Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// The host clock a timer clock counts on (the _ALARM clocks count like
/// their base clocks).
fn base_clock(clock: i32) -> i32 {
    match clock {
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        c => c,
    }
}

/// Checks a clock id for a timer umk keeps, as clockid_to_kclock and the
/// clock's timer_create hook do (CPU-time clocks are [`cpu`]'s).
fn check_clock(clock: i32) -> KResult<()> {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI | CLOCK_REALTIME_ALARM
        | CLOCK_BOOTTIME_ALARM => Ok(()),
        // These clocks have no timers in Linux either; nor has a clock
        // device (a negative id naming an fd), which the guest cannot
        // have anyway.
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            Err(Errno::EOPNOTSUPP)
        }
        c if c < 0 => Err(Errno::EOPNOTSUPP),
        _ => Err(Errno::EINVAL),
    }
}

/// The instant a TIMER_ABSTIME value on `clock` stands for.
pub(crate) fn abs_to_instant(clock: i32, when: Duration) -> Instant {
    let now_i = Instant::now();
    match crate::platform::host_clock(base_clock(clock)) {
        Some(now) if when > now => now_i + (when - now),
        _ => now_i,
    }
}

/// What timer_gettime reports: time to the next expiry and the interval.
fn remaining(t: &PosixTimer) -> (Duration, Duration) {
    let Some(at) = t.at else { return (Duration::ZERO, t.interval) };
    let now = Instant::now();
    let mut left = at.saturating_duration_since(now);
    // A one-shot SIGEV_NONE timer is never queued: once due it reads 0.
    if left.is_zero() && t.interval.is_zero() && matches!(t.notify, Notify::None) {
        return (Duration::ZERO, Duration::ZERO);
    }
    if left.is_zero() && !t.interval.is_zero() {
        // Due or overdue and not re-armed yet: the period it is in now.
        let late = now.duration_since(at).as_nanos();
        let iv = t.interval.as_nanos();
        let next = at + Duration::from_nanos(((late / iv + 1) * iv).min(u64::MAX as u128) as u64);
        left = next.saturating_duration_since(now);
    }
    // An armed timer that is due reports 1ns (common_timer_get).
    (left.max(Duration::from_nanos(1)), t.interval)
}

/// Puts an armed timer on the kernel's timer index.
fn schedule(k: &mut Kernel, pid: Pid, id: i32, at: Instant) {
    k.posix_timers.insert((at, pid, id));
}

/// Where a timer's signal goes, from its sigevent (good_sigevent).
fn notify_of(k: &Kernel, ctx: &Ctx, ev: Option<&Sigevent>) -> KResult<Notify> {
    // No sigevent: SIGALRM to the process, with the id as value.
    let Some(ev) = ev else { return Ok(Notify::Process(SIGALRM)) };
    let sig_ok = (1..=SIGRTMAX).contains(&ev.sigev_signo);
    match ev.sigev_notify {
        SIGEV_NONE => Ok(Notify::None),
        // SIGEV_THREAD is the C library's business; the kernel sends a
        // signal, as for SIGEV_SIGNAL.
        SIGEV_SIGNAL | SIGEV_THREAD if sig_ok => Ok(Notify::Process(ev.sigev_signo)),
        n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID && sig_ok => {
            let t = k.table.borrow();
            match t.tasks.get(&ev.sigev_tid) {
                Some(task) if task.pid == ctx.pid => {
                    Ok(Notify::Thread(ev.sigev_tid, ev.sigev_signo))
                }
                _ => Err(Errno::EINVAL),
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn sys_timer_create(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (clock, sevp, idp) = (ctx.arg_i32(0), ctx.args[1], ctx.args[2]);
        let ev: Option<Sigevent> = if sevp != 0 { Some(mem(k, ctx).read_obj(sevp)?) } else { None };
        if cpu::is_cpu_clock(clock) {
            return cpu::create(k, ctx, clock, ev, idp);
        }
        check_clock(clock)?;
        let notify = notify_of(k, ctx, ev.as_ref())?;
        let id = {
            let mut t = k.table.borrow_mut();
            let p = t.procs.get_mut(&ctx.pid).ok_or(Errno::ESRCH)?;
            let timers = &mut p.timers;
            let id = timers.alloc_id()?;
            let value = ev.map(|e| e.sigev_value).unwrap_or(id as u64);
            let timer = PosixTimer {
                clock,
                notify,
                value,
                at: None,
                interval: Duration::ZERO,
                queued: false,
                overrun_last: 0,
            };
            timers.map.insert(id, timer);
            id
        };
        if let Err(e) = mem(k, ctx).write_obj(idp, &id) {
            if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                p.timers.map.remove(&id);
            }
            return Err(e);
        }
        Ok(0)
    })();
    r.into()
}

pub fn sys_timer_settime(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (id, flags, newp, oldp) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.args[2], ctx.args[3]);
        if let Some(host_id) = cpu::host_id(k, ctx, id) {
            return cpu::settime(k, ctx, host_id, flags, newp, oldp);
        }
        if newp == 0 {
            return Err(Errno::EINVAL);
        }
        let new: Itimerspec = mem(k, ctx).read_obj(newp)?;
        let interval = from_timespec(new.it_interval)?;
        let value = from_timespec(new.it_value)?;
        let (old, at) = {
            let mut t = k.table.borrow_mut();
            let p = t.procs.get_mut(&ctx.pid).ok_or(Errno::EINVAL)?;
            let timer = p.timers.map.get_mut(&id).ok_or(Errno::EINVAL)?;
            let old = remaining(timer);
            let at = if value.is_zero() {
                None
            } else if flags & TIMER_ABSTIME != 0 {
                Some(abs_to_instant(timer.clock, value))
            } else {
                Some(Instant::now() + value)
            };
            timer.at = at;
            // A disarmed timer keeps no interval (common_timer_set).
            timer.interval = if at.is_some() { interval } else { Duration::ZERO };
            timer.queued = false;
            timer.overrun_last = 0;
            let runs = !matches!(timer.notify, Notify::None);
            (old, at.filter(|_| runs))
        };
        if let Some(at) = at {
            schedule(k, ctx.pid, id, at);
        }
        if oldp != 0 {
            let (value, interval) = old;
            let old =
                Itimerspec { it_interval: to_timespec(interval), it_value: to_timespec(value) };
            mem(k, ctx).write_obj(oldp, &old)?;
        }
        Ok(0)
    })();
    r.into()
}

/// The timer `id` of the calling process.
fn timer(k: &Kernel, ctx: &Ctx, id: i32) -> KResult<PosixTimer> {
    let t = k.table.borrow();
    let p = t.procs.get(&ctx.pid).ok_or(Errno::EINVAL)?;
    p.timers.map.get(&id).cloned().ok_or(Errno::EINVAL)
}

pub fn sys_timer_gettime(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some(host_id) = cpu::host_id(k, ctx, ctx.arg_i32(0)) {
            return cpu::gettime(k, ctx, host_id, ctx.args[1]);
        }
        let t = timer(k, ctx, ctx.arg_i32(0))?;
        let (value, interval) = remaining(&t);
        let cur = Itimerspec { it_interval: to_timespec(interval), it_value: to_timespec(value) };
        mem(k, ctx).write_obj(ctx.args[1], &cur)?;
        Ok(0)
    })();
    r.into()
}

pub fn sys_timer_getoverrun(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some(host_id) = cpu::host_id(k, ctx, ctx.arg_i32(0)) {
        return cpu::getoverrun(k, ctx, host_id).into();
    }
    timer(k, ctx, ctx.arg_i32(0)).map(|t| t.overrun_last as i64).into()
}

pub fn sys_timer_delete(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some(host_id) = cpu::host_id(k, ctx, ctx.arg_i32(0)) {
        return cpu::delete(k, ctx, ctx.arg_i32(0), host_id).into();
    }
    let mut t = k.table.borrow_mut();
    let removed = t.procs.get_mut(&ctx.pid).and_then(|p| p.timers.map.remove(&ctx.arg_i32(0)));
    // Its entry on the kernel's index goes stale and is skipped when due.
    match removed {
        Some(_) => SysResult::Done(0),
        None => SysResult::err(Errno::EINVAL),
    }
}

/// Fires the POSIX timers that are due.
pub fn run_timers(k: &mut Kernel) {
    let now = Instant::now();
    while let Some(&(at, pid, id)) = k.posix_timers.first() {
        if at > now {
            break;
        }
        k.posix_timers.pop_first();
        fire(k, pid, id, at);
    }
}

/// One expiry of timer `id` of `pid`, scheduled for `at`.
fn fire(k: &mut Kernel, pid: Pid, id: i32, at: Instant) {
    let (notify, value) = {
        let mut t = k.table.borrow_mut();
        let Some(timer) = t.procs.get_mut(&pid).and_then(|p| p.timers.map.get_mut(&id)) else {
            return;
        };
        // Re-armed, disarmed or already waiting since this entry was made.
        if timer.at != Some(at) || timer.queued {
            return;
        }
        timer.queued = true;
        if timer.interval.is_zero() {
            timer.at = None;
        }
        (timer.notify, timer.value)
    };
    let (target, sig) = match notify {
        Notify::None => return,
        Notify::Process(sig) => (None, sig),
        Notify::Thread(tid, sig) => (Some(tid), sig),
    };
    let origin = SigOrigin { sig, code: SI_TIMER, pid: id, uid: 0, value, ticks: (0, 0) };
    let host = {
        let t = k.table.borrow();
        let tid = target.unwrap_or(pid);
        t.tasks
            .get(&tid)
            .or_else(|| t.procs.get(&pid)?.threads.first().and_then(|x| t.tasks.get(x)))
            .map(|x| x.host)
    };
    // An ignored signal would be dropped by the host and never delivered:
    // the timer goes on as if it had been.
    let ignored = host
        .and_then(|h| k.platform.signal_state(h).ok())
        .is_some_and(|(_, ign, _)| ign & sigmask(sig) != 0);
    if ignored || host.is_none() {
        delivered(k, pid, id);
        return;
    }
    match target {
        Some(tid) => crate::kernel::signal::send_to_thread(k, tid, sig, origin),
        None => crate::kernel::signal::send_to_process(k, pid, sig, origin),
    }
}

/// The signal of timer `id` was delivered (or dropped): count the periods
/// that passed since its expiry as overruns and re-arm a periodic timer.
/// Returns the overrun count for si_overrun.
fn delivered(k: &mut Kernel, pid: Pid, id: i32) -> i32 {
    let next = {
        let mut t = k.table.borrow_mut();
        let Some(timer) = t.procs.get_mut(&pid).and_then(|p| p.timers.map.get_mut(&id)) else {
            return 0;
        };
        if !timer.queued {
            return timer.overrun_last;
        }
        timer.queued = false;
        timer.overrun_last = 0;
        match timer.at {
            Some(at) if !timer.interval.is_zero() => {
                // hrtimer_forward: the first period end after now.
                let now = Instant::now();
                let iv = timer.interval.as_nanos();
                let late = now.saturating_duration_since(at).as_nanos();
                let missed = late / iv;
                timer.overrun_last = missed.min(i32::MAX as u128) as i32;
                let step = ((missed + 1) * iv).min(u64::MAX as u128) as u64;
                let next = at + Duration::from_nanos(step);
                timer.at = Some(next);
                Some(next)
            }
            _ => None,
        }
    };
    if let Some(next) = next {
        schedule(k, pid, id, next);
    }
    let t = k.table.borrow();
    t.procs.get(&pid).and_then(|p| p.timers.map.get(&id)).map(|x| x.overrun_last).unwrap_or(0)
}

/// A timer's signal is being delivered to a thread of `pid` (at the signal
/// stop, by sigtimedwait or by a signalfd read): fills in si_overrun.
pub fn on_delivery(k: &mut Kernel, pid: Pid, origin: &mut SigOrigin) {
    if origin.code == SI_TIMER {
        origin.uid = delivered(k, pid, origin.pid) as u32;
    }
}
