//! POSIX timers on CPU-time clocks (kernel/time/posix-cpu-timers.c).
//!
//! A CPU-time clock advances while the guest's threads run natively, out
//! of umk's sight; the host kernel sees it, so such a timer is a host
//! timer. The host keeps a process's timers in its own thread group (and a
//! thread clock must name one of its threads), so umk creates the timer
//! inside the guest process, with a timer_create injected into the calling
//! thread, and the other timer calls are injected the same way. umk keeps
//! two ids for it: the guest's, from the same space as the ids of umk's
//! own timers, and the host's.
//!
//! The host queues the timer's signal itself, with SI_TIMER and the host's
//! id in si_timerid; si_overrun and si_value are right as they are. Only
//! these signals carry SI_TIMER on the host (umk sends its own timers'
//! signals with kill and tkill), so where the guest takes one — at the
//! signal-delivery-stop, after a native sigtimedwait, in a signalfd read —
//! umk puts the guest's id in and has no record of a sending to use up.
//!
//! Like every signal the host sends to a whole process, a process-directed
//! one cannot end a call umk has parked in another thread (see
//! `send_to_process` for the signals umk sends): it waits until a thread
//! runs that can take it.

use super::{mem, notify_of, Notify};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::signal::SigOrigin;
use crate::kernel::syscall::Ctx;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::misc::{CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
use guest_abi::signal::*;
use guest_abi::sysno::*;

/// The bytes below the stack pointer that a function may use without
/// moving it (the x86-64 psABI's red zone): a thread stopped in a syscall
/// may keep data there, so umk's scratch goes below it, where a signal
/// frame would go.
const RED_ZONE: u64 = 128;

/// Clock ids whose low three bits are this name a clock device by fd.
const CLOCKFD: i32 = 3;

/// A timer the host keeps for the guest.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimer {
    /// The host's id for it.
    host_id: i32,
    /// The signal it sends, if any.
    sig: Option<i32>,
}

/// Whether `clock` counts CPU time: the caller's process or thread, or one
/// named by pid (negative ids, except those naming a clock device).
pub fn is_cpu_clock(clock: i32) -> bool {
    clock == CLOCK_PROCESS_CPUTIME_ID
        || clock == CLOCK_THREAD_CPUTIME_ID
        || clock < 0 && clock & 7 != CLOCKFD
}

/// Runs a timer call inside the calling thread; a host error is the guest's.
fn inject(k: &mut Kernel, ctx: &Ctx, nr: usize, args: [u64; 5]) -> KResult<i64> {
    let r = k.platform.inject_syscall(ctx.host, nr, args).map_err(|_| Errno::EFAULT)?;
    if (-4095..0).contains(&r) {
        return Err(Errno(-r as i32));
    }
    Ok(r)
}

/// timer_create on a CPU-time clock, after the sigevent was read.
pub(super) fn create(
    k: &mut Kernel,
    ctx: &Ctx,
    clock: i32,
    ev: Option<Sigevent>,
    idp: u64,
) -> KResult<i64> {
    // do_timer_create checks the sigevent and writes the new id out before
    // the clock's hook (posix_cpu_timer_create) looks for the pid a clock
    // names: a bad id pointer is EFAULT even with a bad pid.
    let notify = notify_of(k, ctx, ev.as_ref())?;
    let id = {
        let mut t = k.table.borrow_mut();
        let p = t.procs.get_mut(&ctx.pid).ok_or(Errno::ESRCH)?;
        p.timers.alloc_id()?
    };
    let host_clock = match clock {
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => clock,
        _ => match crate::kernel::time::host_cpu_clock(k, ctx, clock) {
            Ok(c) => c,
            Err(e) => {
                mem(k, ctx).write_obj(idp, &id)?;
                return Err(e);
            }
        },
    };
    let (sigev_notify, sigev_signo, sigev_tid) = match notify {
        Notify::None => (SIGEV_NONE, 0, 0),
        Notify::Process(sig) => (SIGEV_SIGNAL, sig, 0),
        Notify::Thread(tid, sig) => {
            let host = k.table.borrow().tasks.get(&tid).map(|t| t.host).ok_or(Errno::EINVAL)?;
            (SIGEV_SIGNAL | SIGEV_THREAD_ID, sig, host)
        }
    };
    let host_ev = Sigevent {
        // Without a sigevent the value is the (guest's) timer id.
        sigev_value: ev.map_or(id as u64, |e| e.sigev_value),
        sigev_signo,
        sigev_notify,
        sigev_tid,
        pad: [0; 11],
    };
    // The host's sigevent and the word it writes its id to go on the
    // thread's stack, where a signal frame would: the guest's own sigevent
    // may be read-only, and the guest must never see the host's id.
    let size = std::mem::size_of::<Sigevent>() as u64 + 8;
    let scratch = ctx.regs.rsp.checked_sub(RED_ZONE + size).ok_or(Errno::EFAULT)? & !15;
    let out = scratch + std::mem::size_of::<Sigevent>() as u64;
    mem(k, ctx).write_obj(scratch, &host_ev)?;
    inject(k, ctx, SYS_TIMER_CREATE, [host_clock as u32 as u64, scratch, out, 0, 0])?;
    // (Only another thread unmapping this one's stack meanwhile could make
    // this fail; the host's timer then lives on unnamed until exec or exit.)
    let host_id: i32 = mem(k, ctx).read_obj(out)?;
    if let Err(e) = mem(k, ctx).write_obj(idp, &id) {
        let _ = inject(k, ctx, SYS_TIMER_DELETE, [host_id as u64, 0, 0, 0, 0]);
        return Err(e);
    }
    let mut t = k.table.borrow_mut();
    let p = t.procs.get_mut(&ctx.pid).ok_or(Errno::ESRCH)?;
    let sig = (sigev_notify != SIGEV_NONE).then_some(sigev_signo);
    p.timers.cpu.insert(id, CpuTimer { host_id, sig });
    p.timers.cpu_by_host.insert(host_id, id);
    Ok(0)
}

/// The host's id of the calling process's timer `id`, if the host keeps it.
pub(super) fn host_id(k: &Kernel, ctx: &Ctx, id: i32) -> Option<i32> {
    let t = k.table.borrow();
    t.procs.get(&ctx.pid)?.timers.cpu.get(&id).map(|c| c.host_id)
}

/// The signals that the host's timers of process `pid` send.
pub fn signals(k: &Kernel, pid: Pid) -> u64 {
    let t = k.table.borrow();
    let Some(p) = t.procs.get(&pid) else { return 0 };
    p.timers.cpu.values().filter_map(|c| c.sig).fold(0, |set, sig| set | sigmask(sig))
}

// The other calls act on guest memory the host can read and write just as
// well: it is the calling thread's own.

pub(super) fn settime(
    k: &mut Kernel,
    ctx: &Ctx,
    host_id: i32,
    flags: i32,
    newp: u64,
    oldp: u64,
) -> KResult<i64> {
    inject(k, ctx, SYS_TIMER_SETTIME, [host_id as u64, flags as u32 as u64, newp, oldp, 0])
}

pub(super) fn gettime(k: &mut Kernel, ctx: &Ctx, host_id: i32, curp: u64) -> KResult<i64> {
    inject(k, ctx, SYS_TIMER_GETTIME, [host_id as u64, curp, 0, 0, 0])
}

pub(super) fn getoverrun(k: &mut Kernel, ctx: &Ctx, host_id: i32) -> KResult<i64> {
    inject(k, ctx, SYS_TIMER_GETOVERRUN, [host_id as u64, 0, 0, 0, 0])
}

pub(super) fn delete(k: &mut Kernel, ctx: &Ctx, id: i32, host_id: i32) -> KResult<i64> {
    let r = inject(k, ctx, SYS_TIMER_DELETE, [host_id as u64, 0, 0, 0, 0]);
    if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
        p.timers.cpu.remove(&id);
        p.timers.cpu_by_host.remove(&host_id);
    }
    r
}

/// Whether a host siginfo is that of a host timer's signal.
pub fn is_host_timer_signal(info: &[u8; 128]) -> bool {
    i32::from_le_bytes([info[8], info[9], info[10], info[11]]) == SI_TIMER
}

/// Thread `host` is taking the signal of a host timer (see
/// [`is_host_timer_signal`]): puts the guest's id of the timer into
/// si_timerid. Returns whether `info` changed.
pub fn patch_siginfo(k: &Kernel, host: HostTid, info: &mut [u8; 128]) -> bool {
    let host_id = i32::from_le_bytes([info[16], info[17], info[18], info[19]]);
    let t = k.table.borrow();
    let id = t
        .task_by_host(host)
        .and_then(|task| t.procs.get(&task.pid))
        .and_then(|p| p.timers.cpu_by_host.get(&host_id).copied());
    match id {
        Some(id) => {
            info[16..20].copy_from_slice(&id.to_le_bytes());
            true
        }
        None => false,
    }
}

/// A host timer's signal as umk's own timers record theirs (the timer id
/// in `pid`, the overrun in `uid`), from its siginfo.
pub fn origin_of(sig: i32, info: &[u8; 128]) -> SigOrigin {
    let int =
        |off: usize| i32::from_le_bytes([info[off], info[off + 1], info[off + 2], info[off + 3]]);
    let mut value = [0u8; 8];
    value.copy_from_slice(&info[24..32]);
    SigOrigin {
        sig,
        code: SI_TIMER,
        pid: int(16),
        uid: int(20) as u32,
        value: u64::from_le_bytes(value),
        ticks: (0, 0),
    }
}
