//! Requeueing onto a PI futex (futex(2): FUTEX_WAIT_REQUEUE_PI and
//! FUTEX_CMP_REQUEUE_PI; Linux's kernel/futex/requeue.c).
//!
//! The pair builds a condition variable whose mutex is a PI futex. A
//! waiter sleeps on a plain word `uaddr` and names the PI word `uaddr2` it
//! will own when it returns. The signaller's CMP_REQUEUE_PI tries to take
//! `uaddr2` for the longest waiter and wakes it owning the lock; the other
//! waiters move into `uaddr2`'s PI queue, where UNLOCK_PI hands the lock to
//! them in turn (see [`super::pi`]). A waiter that returns 0 always owns
//! `uaddr2`.
//!
//! The waiter's word is a plain one, but umk must hold the waiter itself:
//! the host cannot requeue its own waiter onto a futex umk emulates. So
//! such waiters park in umk, and the host never sees them: a plain
//! FUTEX_WAKE or FUTEX_REQUEUE of `uaddr` finds nobody, where Linux fails
//! it with EINVAL (the two families must not be mixed). The other way
//! round is checked: CMP_REQUEUE_PI asks the host whether plain waiters
//! sleep on `uaddr` and fails with EINVAL if so.
//!
//! A signal before the requeue ends the wait with -ERESTARTNOINTR, so the
//! call runs again after the handler (handle_early_requeue_pi_wakeup);
//! after the requeue the waiter cannot restart (its word has moved on) and
//! returns EAGAIN, as futex_wait_requeue_pi does.

use super::pi::{cas, dequeue, first_waiter, read_word, still_waiting};
use super::{key_of, FutexKey, PiWaiter, RequeuePhase, RequeueWaiter};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::futex::*;
use guest_abi::restart::ERESTARTNOINTR;
use std::time::Instant;

/// How often to re-read a word user space keeps changing under us.
const RETRIES: usize = 1000;

/// The key of a futex word, with get_futex_key's checks: the word must be
/// aligned, and a shared one must be mapped (a private key is only an
/// address, checked when the word is read).
fn checked_key(k: &mut Kernel, ctx: &Ctx, uaddr: u64, private: bool) -> KResult<FutexKey> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    if !private {
        read_word(k, ctx.host, uaddr)?;
    }
    Ok(key_of(k, ctx.pid, ctx.host, uaddr, private))
}

/// FUTEX_WAIT_REQUEUE_PI(uaddr, val, deadline, uaddr2). Runs again after
/// each wake-up; the waiter's record says how far it got.
pub fn wait_requeue_pi(
    k: &mut Kernel,
    ctx: &Ctx,
    uaddr: u64,
    val: u32,
    uaddr2: u64,
    private: bool,
    deadline: Option<Instant>,
) -> SysResult {
    if let Some(w) = k.futexes.requeue_pi.get(&ctx.tid).copied() {
        return woken(k, ctx.tid, w, deadline);
    }
    if uaddr == uaddr2 {
        return SysResult::err(Errno::EINVAL);
    }
    let key2 = match checked_key(k, ctx, uaddr2, private) {
        Ok(key) => key,
        Err(e) => return SysResult::err(e),
    };
    let key1 = match checked_key(k, ctx, uaddr, private) {
        Ok(key) => key,
        Err(e) => return SysResult::err(e),
    };
    match read_word(k, ctx.host, uaddr) {
        Err(e) => return SysResult::err(e),
        Ok(v) if v != val => return SysResult::err(Errno::EAGAIN),
        Ok(_) => {}
    }
    // Two addresses can name one shared futex.
    if key1 == key2 {
        return SysResult::err(Errno::EINVAL);
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return SysResult::err(Errno::ETIMEDOUT);
    }
    let wait = k.waker.new_id();
    k.futexes.requeue_seq += 1;
    let w = RequeueWaiter {
        host: ctx.host,
        on: RequeuePhase::Waiting(key1),
        key2,
        uaddr2,
        wait,
        seq: k.futexes.requeue_seq,
    };
    k.futexes.requeue_pi.insert(ctx.tid, w);
    SysResult::Block { waits: vec![wait], deadline, restart: ERESTARTNOINTR }
}

/// The waiter runs again: it owns the PI futex, or its time is up, or it
/// sleeps on.
fn woken(k: &mut Kernel, tid: Pid, w: RequeueWaiter, deadline: Option<Instant>) -> SysResult {
    if k.futexes.granted.remove(&tid) {
        waiter_left(k, tid);
        return SysResult::Done(0);
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        waiter_left(k, tid);
        return SysResult::err(Errno::ETIMEDOUT);
    }
    let restart = match w.on {
        RequeuePhase::Waiting(_) => ERESTARTNOINTR,
        RequeuePhase::Requeued => Errno::EAGAIN.0,
    };
    SysResult::Block { waits: vec![w.wait], deadline, restart }
}

/// Thread `tid` leaves FUTEX_WAIT_REQUEUE_PI early (a signal, a timeout,
/// its exit): out of whichever queue holds it.
pub fn waiter_left(k: &mut Kernel, tid: Pid) {
    if let Some(w) = k.futexes.requeue_pi.remove(&tid) {
        if w.on == RequeuePhase::Requeued {
            dequeue(k, w.key2, tid);
        }
    }
}

/// The threads in FUTEX_WAIT_REQUEUE_PI on `key1`, longest waiter first;
/// records of threads no longer parked there go.
fn waiters_on(k: &mut Kernel, key1: FutexKey) -> Vec<(Pid, RequeueWaiter)> {
    let mut ws: Vec<(Pid, RequeueWaiter)> = k
        .futexes
        .requeue_pi
        .iter()
        .filter(|(_, w)| w.on == RequeuePhase::Waiting(key1))
        .map(|(tid, w)| (*tid, *w))
        .collect();
    ws.retain(|(tid, w)| {
        let live = still_waiting(k, *tid, w.wait);
        if !live {
            k.futexes.requeue_pi.remove(tid);
        }
        live
    });
    ws.sort_by_key(|(_, w)| w.seq);
    ws
}

/// Whether threads the host holds in a plain FUTEX_WAIT sleep on `uaddr`.
/// A FUTEX_REQUEUE of the word onto itself, waking nobody, counts them and
/// leaves them where they are (futex_requeue moves a waiter only between
/// hash buckets).
fn host_waiters(k: &mut Kernel, ctx: &Ctx, uaddr: u64, private: bool) -> KResult<bool> {
    let op = FUTEX_REQUEUE | if private { FUTEX_PRIVATE_FLAG } else { 0 };
    let args = [uaddr, op as u64, 0, i32::MAX as u64, uaddr];
    match k.platform.inject_syscall(ctx.host, guest_abi::sysno::SYS_FUTEX, args) {
        Ok(n) if n < 0 => Err(Errno(-n as i32)),
        Ok(n) => Ok(n > 0),
        Err(_) => Err(Errno::EFAULT),
    }
}

/// The requeued waiter now waits in the PI queue of `key2`, whose lock
/// `owner` holds.
fn enqueue(k: &mut Kernel, key2: FutexKey, owner: Pid, tid: Pid, w: RequeueWaiter) {
    let s = k.futexes.pi.entry(key2).or_default();
    s.owner = owner;
    s.waiters.push_back(PiWaiter { tid, host: w.host, uaddr: w.uaddr2, wait: w.wait });
    if let Some(r) = k.futexes.requeue_pi.get_mut(&tid) {
        r.on = RequeuePhase::Requeued;
    }
    // From now on a signal cannot restart the wait: the waiter's word has
    // moved on, so the call would only fail with EAGAIN; it returns that.
    let mut t = k.table.borrow_mut();
    if let Some(p) = t.tasks.get_mut(&tid).and_then(|t| t.parked.as_mut()) {
        p.restart = Errno::EAGAIN.0;
    }
}

/// FUTEX_CMP_REQUEUE_PI(uaddr, nr_wake, nr_requeue, uaddr2, cmpval): the
/// number of waiters woken owning `uaddr2` (at most one) plus those moved
/// to its queue.
pub fn cmp_requeue_pi(
    k: &mut Kernel,
    ctx: &Ctx,
    (uaddr, uaddr2): (u64, u64),
    nr_wake: i32,
    nr_requeue: i32,
    cmpval: u32,
    private: bool,
) -> SysResult {
    if nr_wake < 0 || nr_requeue < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    // Waking more than one waiter makes no sense when only one can own
    // the lock (requeue.c's comment on nr_wake).
    if uaddr == uaddr2 || nr_wake != 1 {
        return SysResult::err(Errno::EINVAL);
    }
    let key1 = match checked_key(k, ctx, uaddr, private) {
        Ok(key) => key,
        Err(e) => return SysResult::err(e),
    };
    let key2 = match checked_key(k, ctx, uaddr2, private) {
        Ok(key) => key,
        Err(e) => return SysResult::err(e),
    };
    if key1 == key2 {
        return SysResult::err(Errno::EINVAL);
    }
    for _ in 0..RETRIES {
        match read_word(k, ctx.host, uaddr) {
            Err(e) => return SysResult::err(e),
            Ok(v) if v != cmpval => return SysResult::err(Errno::EAGAIN),
            Ok(_) => {}
        }
        match requeue_once(k, ctx, (uaddr, uaddr2), (key1, key2), nr_requeue, private) {
            Err(Errno::EAGAIN) => continue,
            r => return r.map(i64::from).into(),
        }
    }
    SysResult::err(Errno::EAGAIN)
}

/// One try of the requeue; EAGAIN when the PI word changed under us.
fn requeue_once(
    k: &mut Kernel,
    ctx: &Ctx,
    (uaddr, uaddr2): (u64, u64),
    (key1, key2): (FutexKey, FutexKey),
    nr_requeue: i32,
    private: bool,
) -> KResult<i32> {
    // futex_proxy_trylock_atomic reads the PI word first, waiters or not.
    let uval = read_word(k, ctx.host, uaddr2)?;
    // Only FUTEX_WAIT_REQUEUE_PI waiters may sleep on the plain word.
    // Linux meets the others in arrival order; umk cannot order host
    // waiters among its own, so any of them fails the call.
    let pi_waiting = k.futexes.pi.contains_key(&key1) && first_waiter(k, key1).is_some();
    if pi_waiting || host_waiters(k, ctx, uaddr, private)? {
        return Err(Errno::EINVAL);
    }
    let waiters = waiters_on(k, key1);
    let Some(&(top, top_w)) = waiters.first() else { return Ok(0) };
    if top_w.key2 != key2 {
        return Err(Errno::EINVAL);
    }
    // futex_lock_pi_atomic on behalf of the top waiter.
    let owner = (uval & FUTEX_TID_MASK) as Pid;
    if owner == top {
        return Err(Errno::EDEADLK);
    }
    let mut count: i32 = 0;
    let holder = if owner == 0 {
        // Free: it is the top waiter's, which wakes owning it. WAITERS
        // is set when more waiters may follow it into the queue.
        let queued = first_waiter(k, key2).is_some();
        let waiters_bit = if nr_requeue > 0 || queued { FUTEX_WAITERS } else { 0 };
        let new = top as u32 | (uval & FUTEX_OWNER_DIED) | waiters_bit;
        if cas(k, ctx.host, uaddr2, uval, new)? != uval {
            return Err(Errno::EAGAIN);
        }
        if let Some(s) = k.futexes.pi.get_mut(&key2) {
            s.owner = top;
        }
        if let Some(r) = k.futexes.requeue_pi.get_mut(&top) {
            r.on = RequeuePhase::Requeued;
        }
        k.futexes.granted.insert(top);
        k.waker.wake(top_w.wait);
        count = 1;
        top
    } else {
        // Held: its unlock must come to the kernel, and its owner must be
        // one of the guest's threads.
        if uval & FUTEX_WAITERS == 0
            && cas(k, ctx.host, uaddr2, uval, uval | FUTEX_WAITERS)? != uval
        {
            return Err(Errno::EAGAIN);
        }
        if !k.table.borrow().tasks.contains_key(&owner) {
            return Err(Errno::ESRCH);
        }
        owner
    };
    // The rest, up to nr_requeue of them (one more when the lock was
    // held: then the top waiter is requeued too).
    for &(tid, w) in waiters.iter().skip(count as usize) {
        // Linux's `task_count - nr_wake >= nr_requeue`, nr_wake being 1.
        if count > nr_requeue {
            break;
        }
        if w.key2 != key2 {
            return Err(Errno::EINVAL);
        }
        // rt_mutex_start_proxy_lock: a waiter cannot wait for itself.
        if tid == holder {
            return Err(Errno::EDEADLK);
        }
        enqueue(k, key2, holder, tid, w);
        count += 1;
    }
    Ok(count)
}
