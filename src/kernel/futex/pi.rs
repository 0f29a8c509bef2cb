//! PI futexes, emulated (futex(2): "Priority-inheritance futexes").
//!
//! The word is `owner tid | FUTEX_WAITERS | FUTEX_OWNER_DIED`. User space
//! takes a free lock with a CAS from 0 to its tid and releases an
//! uncontended one with a CAS from its tid to 0; it enters the kernel only
//! when that fails. So once FUTEX_WAITERS is set no user-space fast path
//! can change the word (musl's robust trylock takes an owner-died word
//! with tid 0 by CAS, and glibc clears OWNER_DIED in a word it owns: both
//! are covered below), and from then on only umk changes it, always by a
//! compare-and-swap in a stopped guest thread. Every transition:
//!
//! * LOCK_PI on tid 0: CAS to `caller | OWNER_DIED-as-was` (plus WAITERS if
//!   others still wait); the caller owns it.
//! * LOCK_PI on another owner: CAS in WAITERS, then the owner must be a
//!   live guest thread (else ESRCH, WAITERS left set, as Linux leaves it);
//!   the caller queues and parks.
//! * UNLOCK_PI by the owner: CAS to `first waiter | WAITERS` and wake it
//!   (Linux keeps WAITERS set whenever a lock is handed over), or to 0.
//! * The owner dies: the longest waiter gets the lock, with OWNER_DIED set
//!   (Linux's exit_pi_state_list leaves the state ownerless, and
//!   fixup_pi_state_owner then marks the word so), see [`owner_gone`] and,
//!   for words on its robust list, [`owner_died`].
//! * FUTEX_CMP_REQUEUE_PI takes a free lock for the longest
//!   FUTEX_WAIT_REQUEUE_PI waiter, or sets WAITERS in a held one, and
//!   queues the others here as if they had called LOCK_PI (see
//!   [`super::requeue`]).
//!
//! A LOCK_PI that would close a cycle of waiters fails with EDEADLK, as
//! rt_mutex's chain walk makes it. Priority inheritance itself is not
//! emulated, and no guest can tell: Linux boosts only real-time and
//! deadline threads, and umk never runs a guest thread real-time on the
//! host (see task::sched).

use super::{key_of, FutexKey, PiWaiter};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::task::Pid;
use crate::kernel::wait::WaitId;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::futex::*;
use std::time::Instant;

/// How often to re-read a word that user space keeps changing under us
/// before giving up with EAGAIN (Linux retries without bound).
const RETRIES: usize = 1000;

pub(super) fn read_word(k: &mut Kernel, host: HostTid, uaddr: u64) -> KResult<u32> {
    GuestMem::new(k.platform.as_mut(), host).read_obj::<u32>(uaddr)
}

pub(super) fn cas(k: &mut Kernel, host: HostTid, uaddr: u64, old: u32, new: u32) -> KResult<u32> {
    k.platform.cmpxchg_u32(host, uaddr, old, new).map_err(|_| Errno::EFAULT)
}

/// Whether `w` still waits: a thread interrupted by a signal, or gone,
/// leaves a stale entry behind, which must not be handed the lock.
pub(super) fn still_waiting(k: &Kernel, tid: Pid, wait: WaitId) -> bool {
    k.table
        .borrow()
        .tasks
        .get(&tid)
        .and_then(|t| t.parked.as_ref())
        .is_some_and(|p| p.waits.contains(&wait))
}

/// The longest waiter that still waits, dropping stale ones; the futex's
/// state goes when nobody is left.
pub(super) fn first_waiter(k: &mut Kernel, key: FutexKey) -> Option<PiWaiter> {
    loop {
        let front = k.futexes.pi.get(&key).and_then(|s| s.waiters.front().copied());
        let Some(w) = front else {
            k.futexes.pi.remove(&key);
            return None;
        };
        if still_waiting(k, w.tid, w.wait) {
            return Some(w);
        }
        if let Some(s) = k.futexes.pi.get_mut(&key) {
            s.waiters.pop_front();
        }
    }
}

pub(super) fn dequeue(k: &mut Kernel, key: FutexKey, tid: Pid) {
    if let Some(s) = k.futexes.pi.get_mut(&key) {
        s.waiters.retain(|w| w.tid != tid);
        if s.waiters.is_empty() {
            k.futexes.pi.remove(&key);
        }
    }
}

/// `w`, the first waiter, now owns the lock (the word already says so).
fn grant(k: &mut Kernel, key: FutexKey, w: PiWaiter) {
    dequeue(k, key, w.tid);
    if let Some(s) = k.futexes.pi.get_mut(&key) {
        s.owner = w.tid;
    }
    k.futexes.granted.insert(w.tid);
    k.waker.wake(w.wait);
}

/// How long a chain of PI locks may get (/proc/sys/kernel/max_lock_depth).
const MAX_LOCK_DEPTH: usize = 1024;

/// Whether `me` blocking on a lock held by `owner` would close a cycle
/// (rt_mutex_adjust_prio_chain's deadlock detection, which futexes always
/// ask for): follow the owner to the lock it waits for, that lock's owner,
/// and so on. A chain longer than max_lock_depth counts as one too.
fn would_deadlock(k: &Kernel, me: Pid, owner: Pid) -> bool {
    let mut cur = owner;
    for _ in 0..MAX_LOCK_DEPTH {
        if cur == me {
            return true;
        }
        let waits_for =
            k.futexes.pi.values().find(|s| {
                s.waiters.iter().any(|w| w.tid == cur && still_waiting(k, w.tid, w.wait))
            });
        match waits_for {
            Some(s) if s.owner != 0 && s.owner != cur => cur = s.owner,
            _ => return false,
        }
    }
    true
}

/// FUTEX_LOCK_PI, FUTEX_LOCK_PI2 and (`trylock`) FUTEX_TRYLOCK_PI.
/// Runs again from the start after each wake-up.
pub fn lock(
    k: &mut Kernel,
    ctx: &Ctx,
    uaddr: u64,
    private: bool,
    deadline: Option<Instant>,
    trylock: bool,
) -> SysResult {
    if uaddr % 4 != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let key = key_of(k, ctx.pid, ctx.host, uaddr, private);
    let me = ctx.tid as u32;
    let granted = k.futexes.granted.remove(&ctx.tid);
    for _ in 0..RETRIES {
        let uval = match read_word(k, ctx.host, uaddr) {
            Ok(v) => v,
            Err(e) => {
                dequeue(k, key, ctx.tid);
                return SysResult::err(e);
            }
        };
        let owner = uval & FUTEX_TID_MASK;
        if owner == me {
            dequeue(k, key, ctx.tid);
            // Handed over by an unlock while we waited: ours now.
            return if granted { SysResult::Done(0) } else { SysResult::err(Errno::EDEADLK) };
        }
        if owner == 0 {
            let others =
                k.futexes.pi.get(&key).is_some_and(|s| s.waiters.iter().any(|w| w.tid != ctx.tid));
            let new = me | (uval & FUTEX_OWNER_DIED) | if others { FUTEX_WAITERS } else { 0 };
            match cas(k, ctx.host, uaddr, uval, new) {
                Err(e) => {
                    dequeue(k, key, ctx.tid);
                    return SysResult::err(e);
                }
                Ok(old) if old != uval => continue,
                Ok(_) => {}
            }
            dequeue(k, key, ctx.tid);
            if let Some(s) = k.futexes.pi.get_mut(&key) {
                s.owner = ctx.tid;
            }
            return SysResult::Done(0);
        }
        // Owned by another: make its unlock come to us.
        if uval & FUTEX_WAITERS == 0 {
            match cas(k, ctx.host, uaddr, uval, uval | FUTEX_WAITERS) {
                Err(e) => {
                    dequeue(k, key, ctx.tid);
                    return SysResult::err(e);
                }
                Ok(old) if old != uval => continue,
                Ok(_) => {}
            }
        }
        // The owner is looked up among the guest's threads only: a tid in
        // the word never names a host task.
        if !k.table.borrow().tasks.contains_key(&(owner as Pid)) {
            dequeue(k, key, ctx.tid);
            return SysResult::err(Errno::ESRCH);
        }
        if trylock {
            return SysResult::err(Errno::EAGAIN);
        }
        if would_deadlock(k, ctx.tid, owner as Pid) {
            dequeue(k, key, ctx.tid);
            return SysResult::err(Errno::EDEADLK);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            dequeue(k, key, ctx.tid);
            return SysResult::err(Errno::ETIMEDOUT);
        }
        let wait = {
            let queued = k
                .futexes
                .pi
                .get(&key)
                .and_then(|s| s.waiters.iter().find(|w| w.tid == ctx.tid).map(|w| w.wait));
            match queued {
                Some(w) => w,
                None => {
                    let wait = k.waker.new_id();
                    let s = k.futexes.pi.entry(key).or_default();
                    s.waiters.push_back(PiWaiter { tid: ctx.tid, host: ctx.host, uaddr, wait });
                    wait
                }
            }
        };
        if let Some(s) = k.futexes.pi.get_mut(&key) {
            s.owner = owner as Pid;
        }
        // LOCK_PI is restarted after a signal handler, whatever SA_RESTART
        // says (futex_lock_pi returns -ERESTARTNOINTR).
        return SysResult::Block {
            waits: vec![wait],
            deadline,
            restart: guest_abi::restart::ERESTARTNOINTR,
        };
    }
    dequeue(k, key, ctx.tid);
    SysResult::err(Errno::EAGAIN)
}

/// FUTEX_UNLOCK_PI.
pub fn unlock(k: &mut Kernel, ctx: &Ctx, uaddr: u64, private: bool) -> SysResult {
    let me = ctx.tid as u32;
    for _ in 0..RETRIES {
        let uval = match read_word(k, ctx.host, uaddr) {
            Ok(v) => v,
            Err(e) => return SysResult::err(e),
        };
        // Only the owner may unlock (checked before the alignment, as
        // futex_unlock_pi does).
        if uval & FUTEX_TID_MASK != me {
            return SysResult::err(Errno::EPERM);
        }
        if uaddr % 4 != 0 {
            return SysResult::err(Errno::EINVAL);
        }
        let key = key_of(k, ctx.pid, ctx.host, uaddr, private);
        match first_waiter(k, key) {
            Some(w) => {
                // The new owner; OWNER_DIED goes, we owned it consistently.
                match cas(k, ctx.host, uaddr, uval, w.tid as u32 | FUTEX_WAITERS) {
                    Err(e) => return SysResult::err(e),
                    Ok(old) if old != uval => continue,
                    Ok(_) => {}
                }
                grant(k, key, w);
                return SysResult::Done(0);
            }
            None => {
                // No waiter: neither WAITERS nor OWNER_DIED is kept. A word
                // that changed meanwhile is user space's to sort out.
                return match cas(k, ctx.host, uaddr, uval, 0) {
                    Err(e) => SysResult::err(e),
                    Ok(old) if old != uval => SysResult::err(Errno::EAGAIN),
                    Ok(_) => SysResult::Done(0),
                };
            }
        }
    }
    SysResult::err(Errno::EAGAIN)
}

/// A thread is gone: the PI locks it still owns go to their longest
/// waiters with OWNER_DIED set, as after Linux's exit_pi_state_list. The
/// word is changed through the waiter's own view of it: the dead thread's
/// memory may be gone.
pub fn owner_gone(k: &mut Kernel, tid: Pid) {
    let keys: Vec<FutexKey> =
        k.futexes.pi.iter().filter(|(_, s)| s.owner == tid).map(|(key, _)| *key).collect();
    for key in keys {
        let Some(w) = first_waiter(k, key) else { continue };
        let Ok(uval) = read_word(k, w.host, w.uaddr) else { continue };
        if uval & FUTEX_TID_MASK != tid as u32 {
            continue;
        }
        let new = w.tid as u32 | FUTEX_WAITERS | FUTEX_OWNER_DIED;
        if cas(k, w.host, w.uaddr, uval, new) == Ok(uval) {
            grant(k, key, w);
        }
    }
}

/// The keys the word at `uaddr` of process `pid` may have been waited on
/// with: as shared memory (no FUTEX_PRIVATE_FLAG) and as private.
fn keys_of(k: &mut Kernel, host: HostTid, pid: Pid, uaddr: u64) -> [FutexKey; 2] {
    let shared = key_of(k, pid, host, uaddr, false);
    [shared, FutexKey::Private { mm: super::mm_id(k, pid), addr: uaddr }]
}

/// Whether threads wait in FUTEX_LOCK_PI on the word at `uaddr`.
pub fn has_waiters(k: &mut Kernel, host: HostTid, pid: Pid, uaddr: u64) -> bool {
    keys_of(k, host, pid, uaddr).iter().any(|key| k.futexes.pi.contains_key(key))
}

/// A robust-list PI futex of a dying thread (stopped before its exit, the
/// word at `uaddr` naming it): Linux's handle_futex_death sets OWNER_DIED
/// and clears the tid, then exit_pi_state_list hands the lock to the
/// longest waiter, OWNER_DIED kept. The dying thread owns the word and is
/// stopped, and no user-space CAS succeeds on a word with a tid in it, so
/// a plain write cannot race here.
pub fn owner_died(k: &mut Kernel, host: HostTid, pid: Pid, uaddr: u64, uval: u32) -> KResult<()> {
    let [shared, private] = keys_of(k, host, pid, uaddr);
    let waiter = first_waiter(k, shared)
        .map(|w| (shared, w))
        .or_else(|| first_waiter(k, private).map(|w| (private, w)));
    let new = match waiter {
        Some((_, w)) => w.tid as u32 | FUTEX_WAITERS | FUTEX_OWNER_DIED,
        None => (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED,
    };
    GuestMem::new(k.platform.as_mut(), host).write_obj(uaddr, &new)?;
    if let Some((key, w)) = waiter {
        grant(k, key, w);
    }
    Ok(())
}
