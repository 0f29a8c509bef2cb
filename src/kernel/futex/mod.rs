//! Futexes whose words hold thread ids: PI futexes and robust lists.
//!
//! Plain futexes (wait, wake, requeue, bitsets) run natively on the host:
//! their words are just numbers in the guest's own memory. Two kinds of
//! word hold a *thread id*, and the host would read it as a host tid while
//! the guest writes its virtual tid:
//!
//! * **PI futexes** (FUTEX_LOCK_PI and friends, [`pi`]): the kernel looks
//!   the owner up by the tid in the word. The seccomp filter stops these
//!   operations and umk emulates them here, with Linux's observable
//!   semantics (futex(2)) but without priority inheritance, which means
//!   nothing when umk schedules no one. umk changes a word only with a
//!   compare-and-swap run in a stopped guest thread
//!   ([`Platform::cmpxchg_u32`](crate::platform::Platform::cmpxchg_u32)),
//!   since guest threads change the same word with their own atomics.
//!   FUTEX_WAIT_REQUEUE_PI waits on a plain word but ends owning a PI one,
//!   so umk emulates it and its partner FUTEX_CMP_REQUEUE_PI too
//!   ([`requeue`]).
//! * **Robust lists** ([`robust`]): when a thread dies holding a robust
//!   mutex, the kernel marks its word FUTEX_OWNER_DIED if the word's tid is
//!   the dying thread's. umk records each thread's list (set_robust_list)
//!   and stops the thread just before it exits, while its memory is still
//!   mapped, to translate its tid in those words for the host.
//!
//! Futexes are keyed like Linux's `get_futex_key`: private ones by address
//! space and address, shared ones by what backs the page (the host's
//! device, inode and offset of a MAP_SHARED mapping), so two processes
//! mapping the same shared memory meet on one futex.

pub mod pi;
pub mod requeue;
pub mod robust;

use crate::kernel::task::Pid;
use crate::kernel::wait::WaitId;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use std::collections::{HashMap, HashSet, VecDeque};

/// Which futex an address names (Linux's `union futex_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// Private memory: the address space (its bookkeeping object's
    /// address) and the address.
    Private { mm: usize, addr: u64 },
    /// Shared memory: the host's device, inode and offset behind the page.
    Shared { dev: u64, ino: u64, off: u64 },
}

/// A thread waiting in FUTEX_LOCK_PI.
#[derive(Debug, Clone, Copy)]
pub struct PiWaiter {
    pub tid: Pid,
    pub host: HostTid,
    /// The word's address in the waiter's own address space.
    pub uaddr: u64,
    pub wait: WaitId,
}

/// A PI futex with waiters (Linux's `struct futex_pi_state`): who owns it
/// and who waits, longest waiter first (every guest thread has the same
/// priority here, so the rt_mutex order is arrival order).
#[derive(Debug, Default)]
pub struct PiState {
    pub owner: Pid,
    pub waiters: VecDeque<PiWaiter>,
}

/// A thread in FUTEX_WAIT_REQUEUE_PI (Linux's `futex_q` with its
/// `rt_waiter` and `requeue_pi_key`).
#[derive(Debug, Clone, Copy)]
pub struct RequeueWaiter {
    pub host: HostTid,
    /// Where it waits: on the plain futex it named, or (after
    /// FUTEX_CMP_REQUEUE_PI moved it) in the PI futex's queue.
    pub on: RequeuePhase,
    /// The PI futex it will own: its key, and its address in the waiter's
    /// own address space.
    pub key2: FutexKey,
    pub uaddr2: u64,
    pub wait: WaitId,
    /// Arrival order, for the requeue to take the longest waiter first.
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequeuePhase {
    Waiting(FutexKey),
    Requeued,
}

/// All futex state umk keeps.
#[derive(Default)]
pub struct Futexes {
    pub pi: HashMap<FutexKey, PiState>,
    /// Waiters handed a PI lock (by an unlock, an owner's death, or a
    /// requeue that took it for them); their FUTEX_LOCK_PI or
    /// FUTEX_WAIT_REQUEUE_PI returns 0 when it runs again.
    pub granted: HashSet<Pid>,
    /// Threads in FUTEX_WAIT_REQUEUE_PI, by thread id.
    pub requeue_pi: HashMap<Pid, RequeueWaiter>,
    pub requeue_seq: u64,
}

/// The key of the futex at `uaddr` as thread `tid` (of process `pid`) sees it.
/// `private`: the caller said FUTEX_PRIVATE_FLAG, so no lookup of the
/// backing is needed (Linux keys such futexes by mm and address as well).
pub fn key_of(k: &mut Kernel, pid: Pid, host: HostTid, uaddr: u64, private: bool) -> FutexKey {
    if !private {
        if let Some((dev, ino, off)) = k.platform.shared_backing(host, uaddr) {
            return FutexKey::Shared { dev, ino, off };
        }
    }
    FutexKey::Private { mm: mm_id(k, pid), addr: uaddr }
}

/// A number naming the address space of `pid` while it lives.
pub fn mm_id(k: &Kernel, pid: Pid) -> usize {
    k.table.borrow().procs.get(&pid).map(|p| std::rc::Rc::as_ptr(&p.mm) as usize).unwrap_or(0)
}
