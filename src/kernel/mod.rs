//! The emulated Linux kernel. It owns all guest state and never touches
//! the host directly: guest threads are reached through the
//! [`Platform`](crate::platform::Platform), the host terminal through the
//! console channels the VM hands it.
//!
//! The kernel is driven by one event loop ([`crate::vm`]): each platform
//! event (a trapped syscall, a new thread, an exit, a signal about to be
//! delivered) goes to [`Kernel::handle_event`], which updates the guest's
//! state and resumes the thread. A syscall that must wait parks its thread
//! on wait queues ([`wait`]); the loop re-runs it when they are woken.

pub mod boot;
pub mod errno;
pub mod fs;
pub mod futex;
pub mod hash;
pub mod mm;
pub mod net;
pub mod signal;
pub mod syscall;
pub mod task;
pub mod time;
pub mod trace;
pub mod tty;
pub mod uts;
pub mod wait;

use crate::platform::{Event, HostTid, Platform, Regs};
use errno::Errno;
use fs::path::{Dentry, Mounts};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use syscall::{Ctx, SysResult};
use task::{Pid, ProcessTable};
use wait::{WaitId, Waker};

/// mtime, ctime and size of a cached executable.
pub type ExecStamp = ((i64, u32), (i64, u32), u64);

/// What the VM tells the kernel at boot.
pub struct BootConfig {
    pub hostname: Vec<u8>,
    /// Log each unimplemented syscall once to stderr.
    pub log_enosys: bool,
}

pub struct Kernel {
    pub platform: Box<dyn Platform>,
    pub table: Rc<RefCell<ProcessTable>>,
    pub mounts: Rc<Mounts>,
    pub root: Rc<Dentry>,
    pub waker: Waker,
    /// Threads parked on each wait queue.
    pub parked: HashMap<WaitId, Vec<Pid>>,
    /// Parked threads with a timeout, soonest first.
    pub deadlines: std::collections::BTreeSet<(Instant, Pid)>,
    /// Processes with an armed ITIMER_REAL, soonest first.
    pub itimers: std::collections::BTreeSet<(Instant, Pid)>,
    /// Armed POSIX timers by expiry: (when, pid, timer id).
    pub posix_timers: std::collections::BTreeSet<(Instant, Pid, i32)>,
    pub tty: Rc<tty::Console>,
    /// Host and domain name, shared with /proc/sys/kernel.
    pub uts: Rc<RefCell<uts::Uts>>,
    pub entropy: fs::devfs::Entropy,
    /// Exit status of pid 1, once it has ended: the VM stops then.
    pub init_exit: Option<task::ExitStatus>,
    pub enosys_seen: HashSet<usize>,
    pub unsupported_seen: HashSet<&'static str>,
    /// Reused buffers for read(2) and write(2) and friends (no allocation
    /// per call).
    pub scratch: Vec<u8>,
    pub scratch_write: Vec<u8>,
    pub log_enosys: bool,
    /// Children whose first stop arrived before their parent's clone event.
    pub early_started: HashSet<HostTid>,
    /// Executable files read from the image, by (dev, ino): the image never
    /// changes under a running VM, so busybox is read once, not per exec.
    pub exec_cache: HashMap<(u64, u64), (ExecStamp, Arc<Vec<u8>>)>,
    /// The image-backed inode behind each cached executable (by the
    /// address of its bytes), so exec can map its segments from the image.
    pub exec_inodes: HashMap<usize, fs::InodeRef>,
    pub boot_time: Instant,
    /// The pid /proc/self names during the current syscall.
    pub proc_current: Rc<std::cell::Cell<Pid>>,
    /// Signalfd readers and pollers wait here; every signal umk sends
    /// wakes them.
    pub signalfd_wait: wait::WaitId,
    /// Pidfd pollers wait here; every process exit and reap wakes them.
    pub pidfd_wait: wait::WaitId,
    /// Pseudo-terminals (/dev/ptmx, /dev/pts).
    pub devpts: Rc<tty::pty::DevPts>,
    /// Where memfd_create's files live.
    pub memfd_fs: Rc<fs::tmpfs::TmpFs>,
    /// flock and fcntl locks.
    pub locks: fs::lock::LockTable,
    /// PI futexes and their waiters.
    pub futexes: futex::Futexes,
    /// The VM's writable layer over the image (fsync reaches it).
    pub overlay: Option<Rc<fs::overlay::Overlay>>,
    /// Bound AF_UNIX socket names (paths by inode, abstract names).
    pub unix_names: Rc<net::unix::names::Names>,
    /// Bound AF_INET/AF_INET6 sockets by protocol and port.
    pub inet_ports: Rc<net::inet::ports::Ports>,
    /// O_TMPFILE files opened without O_EXCL: linkat may give them a name
    /// although they have no link (Linux's I_LINKABLE).
    pub linkable: RefCell<Vec<std::rc::Weak<dyn fs::Inode>>>,
    /// `--trace` / `--stats`, when asked for.
    pub trace: Option<trace::hook::TraceSession>,
    /// UMK_DEBUG=1: print each trapped syscall (a developer aid until --trace).
    pub debug_trace: bool,
}

impl Kernel {
    /// Runs the event and everything it made runnable.
    pub fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Syscall { tid, regs } => self.on_syscall(tid, regs),
            Event::SyscallExit { tid, regs } => task::clone::on_syscall_exit(self, tid, regs),
            Event::Cloned { parent, child } => task::clone::on_cloned(self, parent, child),
            Event::Started { tid } => task::clone::on_started(self, tid),
            Event::Exec { tid, old_tid, regs } => task::exec::on_exec(self, tid, old_tid, regs),
            Event::Signal { tid, sig } => signal::on_signal_stop(self, tid, sig),
            Event::GroupStop { tid, sig } => signal::on_group_stop(self, tid, sig),
            Event::Exiting { tid } => futex::robust::on_exiting(self, tid),
            Event::Exited { tid, code } => {
                task::exit::on_thread_gone(self, tid, task::ExitStatus::Exited(code))
            }
            Event::Killed { tid, sig, core } => {
                task::exit::on_thread_gone(self, tid, task::ExitStatus::Killed { sig, core })
            }
            Event::Doorbell => {}
        }
        let tty = self.tty.clone();
        tty.pump(self);
        let pts = self.devpts.clone();
        pts.pump(self);
        self.run_woken();
    }

    fn on_syscall(&mut self, host: HostTid, regs: Regs) {
        let (tid, pid) = {
            let mut t = self.table.borrow_mut();
            match t.task_by_host_mut(host) {
                Some(task) => {
                    // A failed host execve leaves its plan behind.
                    task.pending_exec = None;
                    (task.tid, task.pid)
                }
                None => {
                    // Not ours (cannot happen): keep it from running.
                    drop(t);
                    self.platform.kill_process(host);
                    return;
                }
            }
        };
        let ctx = Ctx { tid, pid, host, regs, args: regs.syscall_args(), deadline: None };
        self.run_syscall(ctx);
    }

    /// Dispatches a syscall and applies its result.
    pub fn run_syscall(&mut self, ctx: Ctx) {
        self.proc_current.set(ctx.pid);
        if self.trace.is_some() {
            self.trace_enter(&ctx);
        }
        let res = syscall::dispatch(self, &ctx);
        self.apply(ctx, res);
    }

    fn apply(&mut self, ctx: Ctx, res: SysResult) {
        if self.debug_trace {
            let name = guest_abi::sysno::name(ctx.nr()).unwrap_or("?");
            let r = match &res {
                SysResult::Done(v) => format!("= {v}"),
                SysResult::Native { .. } => "native".into(),
                SysResult::Block { .. } => "blocks".into(),
                SysResult::Handled => "handled".into(),
            };
            eprintln!(
                "[{}] {}({:#x}, {:#x}, {:#x}) {}",
                ctx.tid, name, ctx.args[0], ctx.args[1], ctx.args[2], r
            );
        }
        match res {
            SysResult::Done(v) => {
                if self.trace.is_some() {
                    self.trace_exit(ctx.tid, ctx.host, v);
                }
                let _ = self.platform.finish_syscall(ctx.host, &ctx.regs, v);
            }
            SysResult::Native { regs, see_exit } => {
                // A trace wants the result of a call the host runs: see
                // its return (execve's success shows at the exec event).
                let see = see_exit
                    || (self.trace.is_some()
                        && regs.orig_rax != guest_abi::sysno::SYS_EXECVEAT as u64);
                let _ = self.platform.resume_syscall_native(ctx.host, &regs, see);
            }
            SysResult::Block { waits, deadline, restart } => {
                // If a signal is already pending for the thread, the wait
                // is interrupted at once, as Linux checks signal_pending
                // before sleeping.
                if signal::has_deliverable_signal(self, ctx.host, None) {
                    signal::interrupt_syscall(self, &ctx, restart);
                    return;
                }
                if self.trace.is_some() {
                    self.trace_blocked(ctx.tid);
                }
                for w in &waits {
                    self.parked.entry(*w).or_default().push(ctx.tid);
                }
                if let Some(d) = deadline {
                    self.deadlines.insert((d, ctx.tid));
                }
                let mut t = self.table.borrow_mut();
                if let Some(task) = t.tasks.get_mut(&ctx.tid) {
                    task.parked = Some(task::Parked { regs: ctx.regs, waits, deadline, restart });
                }
            }
            SysResult::Handled => {}
        }
    }

    /// Unparks one thread (it will run its syscall again or be interrupted).
    pub fn unpark(&mut self, tid: Pid) -> Option<(task::Parked, HostTid, Pid)> {
        let (p, host, pid) = {
            let mut t = self.table.borrow_mut();
            let task = t.tasks.get_mut(&tid)?;
            (task.parked.take()?, task.host, task.pid)
        };
        for w in &p.waits {
            if let Some(v) = self.parked.get_mut(w) {
                v.retain(|x| *x != tid);
                if v.is_empty() {
                    self.parked.remove(w);
                }
            }
        }
        if let Some(d) = p.deadline {
            self.deadlines.remove(&(d, tid));
        }
        Some((p, host, pid))
    }

    /// Re-runs the syscalls of threads whose wait queues were woken and of
    /// those whose deadline passed.
    pub fn run_woken(&mut self) {
        // The common case, a syscall that woke nobody and no deadline due,
        // costs two checks and no allocation.
        let due = |k: &Kernel| {
            k.deadlines.first().is_some_and(|(d, _)| *d <= Instant::now())
                || k.itimers.first().is_some_and(|(d, _)| *d <= Instant::now())
                || k.posix_timers.first().is_some_and(|(d, _, _)| *d <= Instant::now())
        };
        if !self.waker.has_woken() && !due(self) {
            return;
        }
        time::run_timers(self);
        for _round in 0..64 {
            let woken = self.waker.take_woken();
            let now = Instant::now();
            let mut ready: Vec<Pid> = Vec::new();
            for w in woken {
                if let Some(v) = self.parked.get(&w) {
                    ready.extend(v.iter().copied());
                }
            }
            ready.extend(self.deadlines.iter().take_while(|(d, _)| *d <= now).map(|(_, tid)| *tid));
            if ready.is_empty() {
                return;
            }
            ready.sort_unstable();
            ready.dedup();
            for tid in ready {
                if let Some((p, host, pid)) = self.unpark(tid) {
                    self.run_syscall(Ctx::of_parked(tid, pid, host, &p));
                }
            }
        }
    }

    /// The earliest deadline of any parked thread (for the VM's timer).
    pub fn next_deadline(&self) -> Option<Instant> {
        let parked = self.deadlines.first().map(|(d, _)| *d);
        let timer = self.itimers.first().map(|(d, _)| *d);
        let posix = self.posix_timers.first().map(|(d, _, _)| *d);
        [parked, timer, posix].into_iter().flatten().min()
    }

    /// Logs an unimplemented syscall once.
    pub fn note_enosys(&mut self, nr: usize) {
        self.trace_enosys(nr);
        if self.enosys_seen.insert(nr) && self.log_enosys {
            let name = guest_abi::sysno::name(nr).unwrap_or("unknown");
            eprintln!("umk: syscall {name} ({nr}) is not implemented (ENOSYS)");
        }
    }

    /// Logs a feature umk does not support yet, once.
    pub fn note_unsupported(&mut self, what: &'static str) {
        if self.unsupported_seen.insert(what) && self.log_enosys {
            eprintln!("umk: {what} is not supported yet");
        }
    }

    /// A new anonymous device number (for tmpfs, devfs, procfs, pipes).
    pub fn errno_of(e: Errno) -> i64 {
        -(e.0 as i64)
    }
}

#[cfg(test)]
mod tests;
