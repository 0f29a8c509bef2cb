//! futex (its PI operations), set_robust_list, get_robust_list.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::futex::{pi, requeue};
use crate::kernel::mm::GuestMem;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::futex::*;
use guest_abi::misc::Timespec;
use std::time::{Duration, Instant};

/// futex(uaddr, op, val, timeout, uaddr2, val3). The seccomp filter stops
/// only the PI operations; the others reach here only under --trace and
/// run natively.
pub fn sys_futex(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let op = ctx.args[1] as u32;
    let cmd = op & FUTEX_CMD_MASK;
    if !is_pi_cmd(cmd) {
        return SysResult::Native { regs: ctx.regs, see_exit: false };
    }
    let uaddr = ctx.args[0];
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    // Only these take FUTEX_CLOCK_REALTIME (kernel/futex/syscalls.c).
    if realtime && cmd != FUTEX_LOCK_PI2 && cmd != FUTEX_WAIT_REQUEUE_PI {
        return SysResult::err(Errno::ENOSYS);
    }
    // An absolute time: LOCK_PI's always on CLOCK_REALTIME, the others'
    // on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME. A call run again
    // after a wake-up keeps the one it read first.
    let timed = matches!(cmd, FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_WAIT_REQUEUE_PI);
    let deadline = if ctx.deadline.is_some() {
        ctx.deadline
    } else if timed {
        let clock = if cmd == FUTEX_LOCK_PI || realtime {
            guest_abi::misc::CLOCK_REALTIME
        } else {
            guest_abi::misc::CLOCK_MONOTONIC
        };
        match read_deadline(k, ctx, ctx.args[3], clock) {
            Ok(d) => d,
            Err(e) => return SysResult::err(e),
        }
    } else {
        None
    };
    match cmd {
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 => pi::lock(k, ctx, uaddr, private, deadline, false),
        FUTEX_TRYLOCK_PI => pi::lock(k, ctx, uaddr, private, None, true),
        FUTEX_UNLOCK_PI => pi::unlock(k, ctx, uaddr, private),
        FUTEX_WAIT_REQUEUE_PI => {
            let (val, uaddr2) = (ctx.args[2] as u32, ctx.args[4]);
            requeue::wait_requeue_pi(k, ctx, uaddr, val, uaddr2, private, deadline)
        }
        _ => {
            // FUTEX_CMP_REQUEUE_PI: nr_requeue travels in the timeout's
            // place, the expected value in val3.
            let (nr_wake, nr_requeue) = (ctx.arg_i32(2), ctx.args[3] as u32 as i32);
            let (uaddr2, cmpval) = (ctx.args[4], ctx.args[5] as u32);
            requeue::cmp_requeue_pi(k, ctx, (uaddr, uaddr2), nr_wake, nr_requeue, cmpval, private)
        }
    }
}

/// The absolute timeout at `at` (none if null) on `clock`, as an Instant.
fn read_deadline(k: &mut Kernel, ctx: &Ctx, at: u64, clock: i32) -> KResult<Option<Instant>> {
    if at == 0 {
        return Ok(None);
    }
    let ts = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj::<Timespec>(at)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    let when = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    Ok(Some(crate::kernel::time::posix_timers::abs_to_instant(clock, when)))
}

/// set_robust_list(head, len): umk keeps the head to walk the list at the
/// thread's exit, and the host gets it too, for its own walk (see
/// kernel/futex/robust.rs).
pub fn sys_set_robust_list(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (head, len) = (ctx.args[0], ctx.args[1]);
    if len != ROBUST_LIST_HEAD_SIZE {
        return SysResult::err(Errno::EINVAL);
    }
    if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
        t.robust_list = Some(head);
    }
    if k.platform.set_exit_stop(ctx.host, true).is_err() {
        return SysResult::err(Errno::ESRCH);
    }
    SysResult::Native { regs: ctx.regs, see_exit: false }
}

/// get_robust_list(tid, head_ptr, len_ptr).
pub fn sys_get_robust_list(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let tid = match ctx.arg_i32(0) {
        0 => ctx.tid,
        t => t as Pid,
    };
    let head = match k.table.borrow().tasks.get(&tid) {
        Some(t) => t.robust_list.unwrap_or(0),
        None => return SysResult::err(Errno::ESRCH),
    };
    let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
    // Linux stores the length first.
    if let Err(e) = m.write_obj(ctx.args[2], &ROBUST_LIST_HEAD_SIZE) {
        return SysResult::err(e);
    }
    m.write_obj(ctx.args[1], &head).map(|_| 0).into()
}
