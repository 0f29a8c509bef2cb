//! futex (its PI operations), set_robust_list, get_robust_list.

use super::{Ctx, SysResult};
use crate::kernel::errno::Errno;
use crate::kernel::futex::pi;
use crate::kernel::mm::GuestMem;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::futex::*;
use guest_abi::misc::Timespec;
use std::time::Duration;

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
    match cmd {
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 => {
            // An absolute time: LOCK_PI's always on CLOCK_REALTIME,
            // LOCK_PI2's on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME.
            let clock = if cmd == FUTEX_LOCK_PI || realtime {
                guest_abi::misc::CLOCK_REALTIME
            } else {
                guest_abi::misc::CLOCK_MONOTONIC
            };
            let deadline = match ctx.args[3] {
                0 => None,
                at => {
                    let ts = match GuestMem::new(k.platform.as_mut(), ctx.host)
                        .read_obj::<Timespec>(at)
                    {
                        Ok(ts) => ts,
                        Err(e) => return SysResult::err(e),
                    };
                    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                        return SysResult::err(Errno::EINVAL);
                    }
                    let when = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                    Some(crate::kernel::time::posix_timers::abs_to_instant(clock, when))
                }
            };
            pi::lock(k, ctx, uaddr, private, deadline, false)
        }
        FUTEX_TRYLOCK_PI => pi::lock(k, ctx, uaddr, private, None, true),
        FUTEX_UNLOCK_PI => pi::unlock(k, ctx, uaddr, private),
        _ => {
            // glibc stopped using them in 2.25 (condition variables no
            // longer requeue); say so rather than half-emulate them.
            k.note_unsupported("FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI");
            SysResult::err(Errno::ENOSYS)
        }
    }
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
