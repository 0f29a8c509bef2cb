//! Tasks and processes: the guest's process table.
//!
//! A [`Task`] is one guest thread (Linux's task_struct); a [`Process`] is a
//! thread group with its pid, parent, process group and session, and the
//! resources its threads share or not according to clone flags: the fd
//! table, the filesystem context (root, cwd, umask) and the address space
//! bookkeeping. Pids are virtual: the first guest process is pid 1 and the
//! guest never sees a host pid.
//!
//! Every guest process is a host process whose host parent is umk itself
//! (guest forks are host clones with CLONE_PARENT), so umk reaps every
//! host zombie and the guest's family tree lives only here.

pub mod clone;
pub mod exec;
pub mod exit;
pub mod sched;

use crate::kernel::fs::fdtable::FdTable;
use crate::kernel::fs::path::Dentry;
use crate::kernel::mm::Mm;
use crate::kernel::wait::WaitId;
use crate::platform::{HostTid, Regs};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

pub type Pid = i32;

use guest_abi::misc::{Rusage, Timeval};

/// Adds a reaped child's usage to its parent's children's usage, as
/// wait_task_zombie does: times and counts add up, maxrss is the largest.
pub fn add_child_usage(acc: &mut Rusage, r: &Rusage) {
    let add_tv = |a: Timeval, b: Timeval| {
        let us = a.tv_usec + b.tv_usec;
        Timeval { tv_sec: a.tv_sec + b.tv_sec + us / 1_000_000, tv_usec: us % 1_000_000 }
    };
    acc.ru_utime = add_tv(acc.ru_utime, r.ru_utime);
    acc.ru_stime = add_tv(acc.ru_stime, r.ru_stime);
    acc.ru_maxrss = acc.ru_maxrss.max(r.ru_maxrss);
    acc.ru_minflt += r.ru_minflt;
    acc.ru_majflt += r.ru_majflt;
    acc.ru_inblock += r.ru_inblock;
    acc.ru_oublock += r.ru_oublock;
    acc.ru_nvcsw += r.ru_nvcsw;
    acc.ru_nivcsw += r.ru_nivcsw;
}

/// A usage in clock ticks (USER_HZ, 100 a second), as times(2) and
/// SIGCHLD's si_utime/si_stime count.
pub fn ticks(t: Timeval) -> i64 {
    t.tv_sec * 100 + t.tv_usec / 10_000
}

/// Root, cwd and umask (struct fs_struct).
#[derive(Clone)]
pub struct FsContext {
    pub root: Rc<Dentry>,
    pub cwd: Rc<Dentry>,
    pub umask: u32,
}

/// Credentials (struct cred): real, effective, saved and filesystem ids.
#[derive(Debug, Clone, Default)]
pub struct Cred {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

/// How a process ended, as wait4 encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Killed { sig: i32, core: bool },
}

impl ExitStatus {
    /// The wait status word (include/uapi/linux/wait.h encoding).
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code & 0xff) << 8,
            ExitStatus::Killed { sig, core } => (sig & 0x7f) | if core { 0x80 } else { 0 },
        }
    }
}

/// A syscall parked until one of its wait queues is woken or its deadline
/// passes; then it runs again from the start.
#[derive(Clone)]
pub struct Parked {
    pub regs: Regs,
    pub waits: Vec<WaitId>,
    pub deadline: Option<Instant>,
    /// The restart code to use if a signal interrupts the wait.
    pub restart: i32,
}

/// What the kernel waits to fix up when a clone call returns.
#[derive(Debug, Clone, Copy)]
pub struct PendingClone {
    pub flags: u64,
    pub parent_tid_ptr: u64,
    pub child_tid_ptr: u64,
    /// The new task's virtual tid, once the clone event named it.
    pub child: Option<Pid>,
    /// The guest's argument registers before umk rewrote the call: both
    /// parent and child get them back (a syscall preserves them; glibc's
    /// vfork keeps its return address in rdi, musl's in rdx).
    pub orig_args: [u64; 6],
    /// The pid clone3's set_tid chose for the child: nobody else gets it
    /// until the clone returns.
    pub set_tid: Option<Pid>,
    /// CLONE_PIDFD: the fd reserved in the parent's table for the child's
    /// pidfd, filled when the clone returns.
    pub pidfd: Option<i32>,
}

pub struct Task {
    pub tid: Pid,
    pub host: HostTid,
    pub pid: Pid,
    pub parked: Option<Parked>,
    /// A program to load once the host execve of the stub completes.
    pub pending_exec: Option<Box<exec::PreparedExec>>,
    pub pending_clone: Option<PendingClone>,
    /// A correction to make when a natively run call returns.
    pub exit_fixup: Option<clone::Fixup>,
    /// A syscall interrupted by a signal: (number, restart code), applied at
    /// the signal-delivery-stop so the host kernel's restart logic sees it.
    pub restart: Option<(u64, i32)>,
    /// Set while the thread waits for its first stop after clone.
    pub starting: bool,
    /// CLONE_CHILD_SETTID address to fill with the virtual tid at start.
    pub set_child_tid: u64,
    /// CLONE_PARENT_SETTID address in memory shared with the parent, to
    /// fill with the virtual tid before the thread first runs.
    pub set_parent_tid: u64,
    /// Argument registers to restore before the new thread first runs.
    pub start_args: Option<[u64; 6]>,
    /// Whether the thread is stopped by a job-control signal.
    pub stopped: bool,
    /// umk sent it a signal that may not have been delivered yet: check
    /// the host's pending set before parking it.
    pub sig_hint: bool,
    /// Who sent the signals umk raised for this thread, oldest first: the
    /// siginfo is rewritten to match at delivery (virtual pids, the guest
    /// call's si_code) so no host pid leaks.
    pub sig_origins: Vec<crate::kernel::signal::SigOrigin>,
    /// The job-control signal behind the host SIGSTOP umk substituted.
    pub stop_sig: Option<i32>,
    /// Bytes already moved by a blocking write that had to wait midway.
    pub io_progress: usize,
    /// The robust futex list head set_robust_list registered (the host
    /// has it too); walked when the thread exits (kernel/futex/robust.rs).
    pub robust_list: Option<u64>,
    /// Nice value and scheduling policy.
    pub sched: sched::SchedAttr,
}

pub struct Process {
    pub pid: Pid,
    pub ppid: Pid,
    pub pgid: Pid,
    pub sid: Pid,
    pub threads: Vec<Pid>,
    pub children: Vec<Pid>,
    pub files: Rc<RefCell<FdTable>>,
    pub fs: Rc<RefCell<FsContext>>,
    pub mm: Rc<RefCell<Mm>>,
    pub cred: Cred,
    /// Signal sent to the parent when this process ends (normally SIGCHLD).
    pub exit_signal: i32,
    pub exit: Option<ExitStatus>,
    /// Woken when a child of this process changes state (wait4).
    pub child_wait: WaitId,
    pub comm: Vec<u8>,
    pub exe: Vec<u8>,
    pub cmdline: Vec<u8>,
    /// The environment exec gave the program, NUL-terminated strings
    /// (/proc/PID/environ).
    pub environ: Vec<u8>,
    /// Resource limits (getrlimit/prlimit64); RLIMIT_NOFILE is enforced.
    pub rlimits: [guest_abi::misc::Rlimit; 16],
    /// Stopped/continued report pending for the parent's wait (WUNTRACED/WCONTINUED).
    pub stop_report: Option<i32>,
    pub continued_report: bool,
    pub start_time: Instant,
    /// PR_SET_PDEATHSIG: the signal this process gets when its parent ends.
    pub pdeathsig: i32,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants come here, not to pid 1.
    pub child_subreaper: bool,
    /// The sa_flags of SIGCHLD's action. The host keeps the disposition,
    /// but SA_NOCLDWAIT and SA_NOCLDSTOP change what the parent's kernel
    /// does when a child ends or stops, and that kernel is umk: the seccomp
    /// filter traps rt_sigaction(SIGCHLD) so umk sees them.
    pub sigchld_flags: u64,
    /// ITIMER_REAL: next expiry and reload interval (alarm, setitimer).
    pub itimer_real: Option<(Instant, std::time::Duration)>,
    /// CPU time and other usage: the process's own, known once it has
    /// ended (the host reports it when umk reaps the host process), and
    /// that of the children it has waited for (RUSAGE_CHILDREN).
    pub usage: Rusage,
    pub cusage: Rusage,
    /// The host's id of the thread group (its first thread's host tid),
    /// which host kill() takes for process-directed signals.
    pub host_tgid: HostTid,
    /// Who sent the process-directed signals still in the host's shared
    /// queue, oldest first (see `Task::sig_origins` for thread-directed).
    pub sig_origins: Vec<crate::kernel::signal::SigOrigin>,
    /// timer_create's timers.
    pub timers: crate::kernel::time::posix_timers::Timers,
    /// Whether a crash may leave a core (PR_SET_DUMPABLE; cleared when the
    /// credentials change, set again by exec).
    pub dumpable: bool,
    /// A core was written for the signal that is killing the process: its
    /// parent's wait reports the core flag.
    pub core_dumped: bool,
}

#[derive(Default)]
pub struct ProcessTable {
    pub procs: BTreeMap<Pid, Process>,
    pub tasks: crate::kernel::hash::FastMap<Pid, Task>,
    pub by_host: crate::kernel::hash::FastMap<HostTid, Pid>,
    next_pid: Pid,
    /// The pid alloc_pid handed out last (/proc/loadavg's last field).
    pub last_pid: Pid,
    /// Tasks created since boot, threads included (Linux's total_forks,
    /// /proc/stat's "processes").
    pub forks: u64,
}

/// pid_max (/proc/sys/kernel/pid_max on a 64-bit host with many CPUs):
/// pids are below it.
pub const PID_MAX: Pid = 4_194_304;
/// Where pid allocation resumes after wrapping: low pids are left to
/// daemons started at boot (include/linux/pid.h RESERVED_PIDS).
pub const RESERVED_PIDS: Pid = 300;

impl ProcessTable {
    pub fn new() -> ProcessTable {
        ProcessTable { next_pid: 1, ..Default::default() }
    }

    /// The next free virtual pid/tid, cyclically from the last one handed
    /// out, as alloc_pid's idr_alloc_cyclic.
    pub fn alloc_pid(&mut self) -> Pid {
        loop {
            let p = self.next_pid;
            self.next_pid = if p + 1 >= PID_MAX { RESERVED_PIDS } else { p + 1 };
            if !self.pid_in_use(p) {
                self.last_pid = p;
                return p;
            }
        }
    }

    /// Whether pid number `p` is taken. Linux keeps a struct pid while any
    /// task uses it as its tid, thread group id, process group id or
    /// session id, zombies included; umk also counts a pid that a clone3
    /// in flight asked for with set_tid (see clone::claim_set_tid).
    pub fn pid_in_use(&self, p: Pid) -> bool {
        self.tasks.contains_key(&p)
            || self.procs.contains_key(&p)
            || self.procs.values().any(|q| q.pgid == p || q.sid == p)
            || self.tasks.values().any(|t| t.pending_clone.is_some_and(|c| c.set_tid == Some(p)))
    }

    pub fn task_by_host(&self, host: HostTid) -> Option<&Task> {
        self.by_host.get(&host).and_then(|t| self.tasks.get(t))
    }

    pub fn task_by_host_mut(&mut self, host: HostTid) -> Option<&mut Task> {
        let t = *self.by_host.get(&host)?;
        self.tasks.get_mut(&t)
    }

    pub fn process_of(&self, tid: Pid) -> Option<&Process> {
        self.tasks.get(&tid).and_then(|t| self.procs.get(&t.pid))
    }

    pub fn insert_task(&mut self, task: Task) {
        self.by_host.insert(task.host, task.tid);
        self.tasks.insert(task.tid, task);
    }

    /// Whether a process group is orphaned (POSIX: no member has a parent
    /// in another group of the same session). Stop signals from the
    /// terminal are discarded for orphaned groups (kernel/signal.c).
    pub fn pgrp_orphaned(&self, pgrp: Pid) -> bool {
        !self.live().filter(|p| p.pgid == pgrp).any(|p| match self.procs.get(&p.ppid) {
            Some(parent) => parent.pgid != pgrp && parent.sid == p.sid,
            None => false,
        })
    }

    /// Whether process `caller` may inspect process `target` as a tracer
    /// would (kernel/ptrace.c __ptrace_may_access with
    /// PTRACE_MODE_ATTACH_REALCREDS): itself always; else the caller's real
    /// uid and gid must equal each of the target's real, effective and
    /// saved ids, and a live target must be dumpable, unless the caller has
    /// CAP_SYS_PTRACE (in umk: an effective uid of 0). The Yama LSM's
    /// ptrace_scope is not modelled.
    pub fn may_ptrace_attach(&self, caller: Pid, target: Pid) -> bool {
        let (Some(a), Some(b)) = (self.procs.get(&caller), self.procs.get(&target)) else {
            return false;
        };
        if caller == target {
            return true;
        }
        let capable = a.cred.euid == 0;
        let (c, t) = (&a.cred, &b.cred);
        let same_ids = [t.uid, t.euid, t.suid].iter().all(|u| *u == c.uid)
            && [t.gid, t.egid, t.sgid].iter().all(|g| *g == c.gid);
        // A zombie has no memory left to guard (task->mm is NULL).
        (same_ids || capable) && (b.dumpable || b.exit.is_some() || capable)
    }

    /// Live (non-zombie) processes.
    pub fn live(&self) -> impl Iterator<Item = &Process> {
        self.procs.values().filter(|p| p.exit.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with_tasks(tids: &[Pid]) -> ProcessTable {
        let mut t = ProcessTable::new();
        for &tid in tids {
            t.insert_task(Task::new(tid, 1000 + tid, tid, 0));
        }
        t
    }

    #[test]
    fn alloc_pid_skips_pids_in_use() {
        let mut t = table_with_tasks(&[1, 2, 4]);
        assert_eq!(t.alloc_pid(), 3);
        assert_eq!(t.alloc_pid(), 5);
    }

    #[test]
    fn alloc_pid_wraps_below_pid_max_to_reserved_pids() {
        let mut t = table_with_tasks(&[RESERVED_PIDS]);
        t.next_pid = PID_MAX - 1;
        assert_eq!(t.alloc_pid(), PID_MAX - 1);
        assert_eq!(t.alloc_pid(), RESERVED_PIDS + 1);
    }

    #[test]
    fn alloc_pid_skips_a_pid_set_tid_holds() {
        let mut t = table_with_tasks(&[1]);
        if let Some(task) = t.tasks.get_mut(&1) {
            task.pending_clone = Some(PendingClone {
                flags: 0,
                parent_tid_ptr: 0,
                child_tid_ptr: 0,
                child: None,
                orig_args: [0; 6],
                set_tid: Some(2),
                pidfd: None,
            });
        }
        assert!(t.pid_in_use(2));
        assert_eq!(t.alloc_pid(), 3);
    }
}
