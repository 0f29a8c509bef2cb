//! Robust futex lists (futex(2), "Robust futexes"; kernel/futex/core.c
//! exit_robust_list).
//!
//! A thread registers a `struct robust_list_head { next, futex_offset,
//! list_op_pending }` with set_robust_list. At its exit the kernel walks
//! the list, and for each lock word whose tid bits are the dying thread's
//! sets FUTEX_OWNER_DIED, clears the tid and wakes a waiter. The host does
//! that walk too — but compares with the *host* tid, while guest words hold
//! the virtual one. So umk stops the thread just before it exits
//! ([`Event::Exiting`](crate::platform::Event::Exiting), turned on only
//! for threads with a list), walks the list the same way and rewrites the
//! tid bits of each such word to the host tid; the host's own walk, which
//! runs right after, then does exactly what Linux does, wake included.
//!
//! The window: between umk's rewrite and the host's walk (the thread is
//! resumed at once, and the walk is the first thing its exit does) the
//! word holds a host tid. Other threads only see "locked by someone"; a
//! thread whose virtual tid equals that host tid could take it for its own
//! (EDEADLK from an error-checking lock) in that instant. umk also sets
//! FUTEX_WAITERS in the rewritten word: its rewrite is a plain write, and a
//! waiter's concurrent CAS adding WAITERS must not be lost, or the host
//! would not wake it. A spurious WAITERS bit costs one futex wake.
//!
//! PI entries (marked in the list, or with waiters in umk's FUTEX_LOCK_PI:
//! musl does not mark them) are umk's own ([`super::pi::owner_died`]):
//! their waiters wait in umk, not in the host.
//!
//! Exits covered: every thread's exit stop — exit, exit_group (caller and
//! the threads it kills), fatal signals, SIGKILL (all seen on Linux 6.18)
//! — and execve by the thread-group leader (Linux walks the list at exec
//! too). ptrace(2) allows a kernel to skip the exit stop of a thread
//! killed by SIGKILL; there, its locks in shared memory would stay held.
//! A non-leader's execve is left alone, as Linux compares with the
//! leader's tid it takes over.

use super::pi;
use crate::kernel::mm::GuestMem;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::futex::*;

/// A thread stopped just before its exit.
pub fn on_exiting(k: &mut Kernel, host: HostTid) {
    let found = {
        let t = k.table.borrow();
        t.task_by_host(host).map(|task| (task.tid, task.pid, task.robust_list))
    };
    if let Some((tid, pid, Some(head))) = found {
        release(k, host, tid, pid, head);
    }
    let _ = k.platform.resume(host, 0);
}

/// Walks the robust list at `head` of thread `tid` (stopped, host `host`)
/// as exit_robust_list does, preparing each word it holds for the host's
/// walk. A bad pointer or a loop ends the walk quietly, as in Linux.
pub fn release(k: &mut Kernel, host: HostTid, tid: Pid, pid: Pid, head: u64) {
    let mut m = GuestMem::new(k.platform.as_mut(), host);
    let (Ok(first), Ok(offset), Ok(pending)) =
        (m.read_u64(head), m.read_u64(head.wrapping_add(8)), m.read_u64(head.wrapping_add(16)))
    else {
        return;
    };
    let mut entry = first;
    let mut limit = ROBUST_LIST_LIMIT;
    while entry != head {
        // The low bit of each pointer marks a PI futex.
        let node = entry & !1;
        let next = GuestMem::new(k.platform.as_mut(), host).read_u64(node);
        // A pending lock may be on the list already: once is enough.
        if entry != pending
            && !owner_died(k, host, tid, pid, node.wrapping_add(offset), entry & 1 != 0)
        {
            return;
        }
        let Ok(next) = next else { return };
        entry = next;
        limit -= 1;
        if limit == 0 {
            break;
        }
    }
    if pending != 0 {
        owner_died(k, host, tid, pid, (pending & !1).wrapping_add(offset), pending & 1 != 0);
    }
}

/// One lock word of the dying thread; false ends the walk (an unaligned
/// or unreadable word, as handle_futex_death's -1).
fn owner_died(k: &mut Kernel, host: HostTid, tid: Pid, pid: Pid, uaddr: u64, is_pi: bool) -> bool {
    if uaddr % 4 != 0 {
        return false;
    }
    let Ok(uval) = GuestMem::new(k.platform.as_mut(), host).read_obj::<u32>(uaddr) else {
        return false;
    };
    if uval & FUTEX_TID_MASK != tid as u32 {
        return true;
    }
    // musl does not mark its PI mutexes in the list; threads waiting in
    // umk's FUTEX_LOCK_PI say what the word is.
    if is_pi || pi::has_waiters(k, host, pid, uaddr) {
        return pi::owner_died(k, host, pid, uaddr, uval).is_ok();
    }
    let new = (host as u32 & FUTEX_TID_MASK) | FUTEX_WAITERS | (uval & FUTEX_OWNER_DIED);
    GuestMem::new(k.platform.as_mut(), host).write_obj(uaddr, &new).is_ok()
}
