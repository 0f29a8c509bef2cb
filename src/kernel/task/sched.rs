//! Scheduling attributes (kernel/sched/core.c, kernel/sys.c): each
//! thread's nice value and policy, as the guest sets and reads them.
//!
//! The host's scheduler runs the guest's threads. umk keeps the
//! attributes Linux would report and hands the host only what cannot lift
//! a guest above umk itself (see `Platform::set_sched`): a guest's root is
//! not the host's, so SCHED_FIFO inside is recorded and checked as Linux
//! does, and runs as SCHED_OTHER outside.

use super::Cred;
use guest_abi::sched::*;

/// A thread's scheduling attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    /// -20 (most favoured) to 19.
    pub nice: i32,
    pub policy: i32,
    /// 1..=99 under SCHED_FIFO and SCHED_RR, else 0.
    pub rt_priority: i32,
    /// SCHED_RESET_ON_FORK: children start with default scheduling.
    pub reset_on_fork: bool,
}

impl Default for SchedAttr {
    fn default() -> SchedAttr {
        SchedAttr { nice: 0, policy: SCHED_NORMAL, rt_priority: 0, reset_on_fork: false }
    }
}

pub const MIN_NICE: i32 = -20;
pub const MAX_NICE: i32 = 19;

impl SchedAttr {
    /// What a new thread or process starts with (sched_fork).
    pub fn for_child(&self) -> SchedAttr {
        if !self.reset_on_fork {
            return *self;
        }
        let mut a = *self;
        a.reset_on_fork = false;
        if rt_policy(a.policy) || a.policy == SCHED_DEADLINE {
            a.policy = SCHED_NORMAL;
            a.rt_priority = 0;
        }
        a.nice = a.nice.max(0);
        a
    }
}

pub fn rt_policy(policy: i32) -> bool {
    policy == SCHED_FIFO || policy == SCHED_RR
}

pub fn valid_policy(policy: i32) -> bool {
    matches!(
        policy,
        SCHED_NORMAL | SCHED_FIFO | SCHED_RR | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE
    )
}

/// CAP_SYS_NICE: the guest's root has every capability.
pub fn capable_sys_nice(caller: &Cred) -> bool {
    caller.euid == 0
}

/// check_same_owner: a caller may change a thread of its own user.
pub fn same_owner(caller: &Cred, target: &Cred) -> bool {
    caller.euid == target.uid || caller.euid == target.euid
}

/// can_nice: whether `nice` is allowed by the target's RLIMIT_NICE (which
/// counts 20 - nice) or the caller's CAP_SYS_NICE.
pub fn can_nice(caller: &Cred, rlimit_nice: u64, nice: i32) -> bool {
    (20 - nice) as u64 <= rlimit_nice || capable_sys_nice(caller)
}
