//! clone, clone3, fork and vfork.
//!
//! The host does the copying: a guest clone is rewritten into a host clone
//! with CLONE_PARENT (so umk is every guest process's host parent) and run
//! natively. The ptrace clone event names the new host thread; umk gives
//! it a virtual tid (the one clone3's set_tid chose, or the next free one),
//! builds its task and process, and when the parent's clone returns
//! replaces the host tid in its return value (and in CLONE_PARENT_SETTID
//! memory) with the virtual one. The child's first stop fills
//! CLONE_CHILD_SETTID the same way before it runs.

use super::{PendingClone, Pid, Process, Task, PID_MAX};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::OpenFile;
use crate::kernel::fs::pidfd;
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::Kernel;
use crate::platform::{HostTid, Regs};
use guest_abi::sched::*;
use guest_abi::sysno::{SYS_CLONE, SYS_CLONE3};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// What a clone asks for (kernel/fork.c struct kernel_clone_args): fork,
/// vfork and clone fill the first fields, clone3 may ask for more.
#[derive(Debug, Default, Clone)]
pub struct KernelCloneArgs {
    /// CLONE_* flags, clone3's above bit 31 included; the low byte
    /// (CSIGNAL) is the exit signal.
    pub flags: u64,
    /// Top of the child's stack; 0 keeps the caller's stack pointer.
    pub stack: u64,
    /// clone3 only: the stack is [stack - stack_size, stack).
    pub stack_size: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
    /// clone3's set_tid array: the pids asked for, one per pid namespace
    /// level from the innermost; empty for any free pid.
    pub set_tid: Vec<Pid>,
    /// CLONE_PIDFD: where to store the child's pidfd.
    pub pidfd: u64,
}

/// Starts a clone: checks flags and lets the host run it.
pub fn do_clone(k: &mut Kernel, ctx: &Ctx, args: &KernelCloneArgs) -> SysResult {
    let flags = args.flags;
    if flags & CLONE_NEW_ANY != 0 {
        // No namespaces yet: say so clearly rather than pretend.
        k.note_unsupported("clone with namespace flags");
        return SysResult::err(Errno::EINVAL);
    }
    // clone's CLONE_PIDFD and CLONE_PARENT_SETTID would both write to
    // parent_tid; clone3 may not point them at the same place either
    // (kernel/fork.c kernel_clone).
    if flags & (CLONE_PIDFD | CLONE_PARENT_SETTID) == CLONE_PIDFD | CLONE_PARENT_SETTID
        && args.pidfd == args.parent_tid
    {
        return SysResult::err(Errno::EINVAL);
    }
    // Linux's own consistency rules (kernel/fork.c copy_process).
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return SysResult::err(Errno::EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return SysResult::err(Errno::EINVAL);
    }
    // CLONE_DETACHED is kept for a future meaning of CLONE_PIDFD.
    if flags & CLONE_PIDFD != 0 && flags & CLONE_DETACHED != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    if flags & (CLONE_PIDFD | CLONE_THREAD) == CLONE_PIDFD | CLONE_THREAD {
        // Linux 6.9 gives a thread's pidfd (PIDFD_THREAD); umk's pidfds
        // name processes only, as Linux's did before.
        k.note_unsupported("CLONE_PIDFD with CLONE_THREAD (pidfds for threads)");
        return SysResult::err(Errno::EINVAL);
    }
    if over_nproc(k, ctx.pid) {
        return SysResult::err(Errno::EAGAIN);
    }
    // copy_process checks a chosen pid when it allocates one, then the
    // cgroup: later than the checks above.
    let set_tid = match claim_set_tid(k, ctx.pid, &args.set_tid) {
        Ok(p) => p,
        Err(e) => return SysResult::err(e),
    };
    // Then the pidfd's fd (pidfd_prepare, put_user).
    let pidfd = if flags & CLONE_PIDFD != 0 {
        match reserve_pidfd(k, ctx, args.pidfd) {
            Ok(fd) => Some(fd),
            Err(e) => return SysResult::err(e),
        }
    } else {
        None
    };
    if flags & CLONE_INTO_CGROUP != 0 {
        // cgroup_css_set_fork: an fd that is not a directory of a cgroup
        // filesystem is EBADF. The guest has no cgroup filesystem, so no
        // fd names a cgroup.
        k.note_unsupported("clone3 with CLONE_INTO_CGROUP (no cgroup filesystem)");
        release_pidfd(k, ctx.pid, pidfd);
        return SysResult::err(Errno::EBADF);
    }
    // CLONE_UNTRACED would let the child escape umk; CLONE_PTRACE means
    // nothing here. Every new process is the host child of umk. The
    // host's CLONE_PIDFD would make a host fd: umk makes the guest's.
    let mut host_flags = flags
        & 0xffff_ffff
        & !(CLONE_UNTRACED | CLONE_PTRACE | CSIGNAL | CLONE_PARENT | CLONE_DETACHED | CLONE_PIDFD);
    if flags & CLONE_THREAD == 0 {
        host_flags |= CLONE_PARENT;
    }
    let mut regs = ctx.regs;
    if flags & CLONE_CLEAR_SIGHAND != 0 {
        // Dispositions live in the host kernel, so the host resets them:
        // umk runs the host's clone3 with the flag, one call, rather than
        // rewriting every action in the child with injected rt_sigaction
        // calls (flush_signal_handlers also clears each sa_flags and
        // sa_mask, which umk cannot see).
        let host = guest_abi::sched::CloneArgs {
            flags: host_flags | CLONE_CLEAR_SIGHAND,
            child_tid: args.child_tid,
            parent_tid: args.parent_tid,
            // With CLONE_PARENT the host takes the exit signal of the
            // caller's thread group (SIGCHLD for every guest process) and
            // clone3 refuses to be given one.
            exit_signal: 0,
            stack: args.stack.wrapping_sub(args.stack_size),
            stack_size: args.stack_size,
            tls: args.tls,
            ..Default::default()
        };
        // The host reads its struct from the caller's memory: put it below
        // the red zone, where the host would put a signal frame.
        let at = regs.rsp.wrapping_sub(128 + CLONE_ARGS_SIZE_VER0 as u64) & !15;
        let bytes = &bytemuck::bytes_of(&host)[..CLONE_ARGS_SIZE_VER0];
        if let Err(e) = GuestMem::new(k.platform.as_mut(), ctx.host).write(at, bytes) {
            // No room left on the caller's stack (Linux needs none).
            release_pidfd(k, ctx.pid, pidfd);
            return SysResult::err(e);
        }
        regs.orig_rax = SYS_CLONE3 as u64;
        regs.set_syscall_args([at, CLONE_ARGS_SIZE_VER0 as u64, 0, 0, 0, ctx.regs.r9]);
    } else {
        if flags & CLONE_THREAD == 0 {
            host_flags |= guest_abi::signal::SIGCHLD as u64;
        }
        regs.orig_rax = SYS_CLONE as u64;
        // r9 is not a clone argument but musl's __clone keeps the thread
        // function there across the call: leave it as the guest set it.
        regs.set_syscall_args([
            host_flags,
            args.stack,
            args.parent_tid,
            args.child_tid,
            args.tls,
            ctx.regs.r9,
        ]);
    }
    {
        let mut t = k.table.borrow_mut();
        if let Some(task) = t.tasks.get_mut(&ctx.tid) {
            task.pending_clone = Some(PendingClone {
                flags,
                parent_tid_ptr: args.parent_tid,
                child_tid_ptr: args.child_tid,
                child: None,
                orig_args: ctx.args,
                set_tid,
                pidfd,
            });
        }
    }
    SysResult::Native { regs, see_exit: true }
}

/// Takes the lowest free fd in the caller's table for a CLONE_PIDFD
/// pidfd and stores its number at `addr`, as copy_process does before the
/// child exists. The fd holds a placeholder until the child is made; a
/// child that gets a copy of the table does not get it.
fn reserve_pidfd(k: &mut Kernel, ctx: &Ctx, addr: u64) -> KResult<i32> {
    let limit = k.nofile_limit(ctx.pid);
    let placeholder = OpenFile::new(Rc::new(pidfd::Reserved), None, None, 0);
    let fd = k.files_of(ctx.pid)?.borrow_mut().install(placeholder, true, limit)?;
    if let Err(e) = GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(addr, &fd) {
        release_pidfd(k, ctx.pid, Some(fd));
        return Err(e);
    }
    Ok(fd)
}

/// Frees a reserved pidfd fd: the clone failed.
fn release_pidfd(k: &Kernel, pid: Pid, fd: Option<i32>) {
    if let (Some(fd), Ok(files)) = (fd, k.files_of(pid)) {
        let _ = files.borrow_mut().remove(fd);
    }
}

/// The clone made process `child`: its pidfd takes the reserved fd.
fn install_pidfd(k: &Kernel, parent: Pid, fd: i32, child: Pid) {
    let Ok(files) = k.files_of(parent) else { return };
    match pidfd::open(k, child, false) {
        Ok(file) => {
            let limit = k.nofile_limit(parent);
            let _ = files.borrow_mut().install_at(fd, file, true, limit);
        }
        Err(_) => {
            let _ = files.borrow_mut().remove(fd);
        }
    }
}

/// clone3's set_tid, checked as alloc_pid checks it. umk's VM is one pid
/// namespace (level 0), so the array holds at most one pid; it must lie
/// in [1, pid_max) and be free, and choosing it takes CAP_SYS_ADMIN or
/// CAP_CHECKPOINT_RESTORE over the namespace: in umk, where root has every
/// capability and nobody else has any, an effective uid of 0. The pid is
/// held for the child from now on (PendingClone::set_tid).
fn claim_set_tid(k: &Kernel, pid: Pid, set_tid: &[Pid]) -> KResult<Option<Pid>> {
    let want = match set_tid {
        [] => return Ok(None),
        [p] => *p,
        _ => return Err(Errno::EINVAL),
    };
    // (Linux also refuses a pid other than 1 in a namespace without an
    // init; the VM's init lives as long as the VM.)
    if !(1..PID_MAX).contains(&want) {
        return Err(Errno::EINVAL);
    }
    let t = k.table.borrow();
    let capable = t.procs.get(&pid).is_some_and(|p| p.cred.euid == 0);
    if !capable {
        return Err(Errno::EPERM);
    }
    if t.pid_in_use(want) {
        return Err(Errno::EEXIST);
    }
    Ok(Some(want))
}

/// RLIMIT_NPROC: a user other than root may not have more tasks (threads
/// count) than the caller's limit (copy_process).
fn over_nproc(k: &Kernel, pid: super::Pid) -> bool {
    let t = k.table.borrow();
    let Some(me) = t.procs.get(&pid) else { return false };
    let uid = me.cred.uid;
    if uid == 0 || me.cred.euid == 0 {
        return false;
    }
    let limit = me.rlimits[guest_abi::misc::RLIMIT_NPROC as usize].rlim_cur;
    let tasks = t.live().filter(|p| p.cred.uid == uid).map(|p| p.threads.len() as u64).sum::<u64>();
    tasks >= limit
}

/// The parent stopped at its clone event: register the child.
pub fn on_cloned(k: &mut Kernel, parent_host: HostTid, child_host: HostTid) {
    let created = {
        let mut t = k.table.borrow_mut();
        let Some(ptask) = t.task_by_host(parent_host) else {
            drop(t);
            k.platform.kill_process(child_host);
            let _ = k.platform.resume(parent_host, 0);
            return;
        };
        let (ptid, ppid) = (ptask.tid, ptask.pid);
        let pc = ptask.pending_clone;
        let flags = pc.map(|p| p.flags).unwrap_or(guest_abi::signal::SIGCHLD as u64);
        let tid = match pc.and_then(|p| p.set_tid) {
            Some(chosen) => chosen,
            None => t.alloc_pid(),
        };
        let pid = if flags & CLONE_THREAD != 0 { ppid } else { tid };
        if flags & CLONE_THREAD != 0 {
            if let Some(p) = t.procs.get_mut(&ppid) {
                p.threads.push(tid);
            }
        } else if let Some(parent) = t.procs.get(&ppid) {
            let files = if flags & CLONE_FILES != 0 {
                parent.files.clone()
            } else {
                let mut copy = parent.files.borrow().clone();
                // Linux reserves the pidfd's fd after copying the table.
                if let Some(fd) = pc.and_then(|p| p.pidfd) {
                    let _ = copy.remove(fd);
                }
                Rc::new(RefCell::new(copy))
            };
            let fs = if flags & CLONE_FS != 0 {
                parent.fs.clone()
            } else {
                Rc::new(RefCell::new(parent.fs.borrow().clone()))
            };
            let mm = if flags & CLONE_VM != 0 {
                parent.mm.clone()
            } else {
                Rc::new(RefCell::new(parent.mm.borrow().clone()))
            };
            let real_parent = if flags & CLONE_PARENT != 0 { parent.ppid } else { ppid };
            let child = Process {
                pid,
                ppid: real_parent,
                pgid: parent.pgid,
                sid: parent.sid,
                threads: vec![tid],
                children: Vec::new(),
                files,
                fs,
                mm,
                cred: parent.cred.clone(),
                exit_signal: (flags & CSIGNAL) as i32,
                exit: None,
                child_wait: k.waker.new_id(),
                comm: parent.comm.clone(),
                exe: parent.exe.clone(),
                cmdline: parent.cmdline.clone(),
                environ: parent.environ.clone(),
                rlimits: parent.rlimits,
                stop_report: None,
                continued_report: false,
                start_time: Instant::now(),
                itimer_real: None,
                timers: Default::default(),
                host_tgid: child_host,
                sig_origins: Vec::new(),
                usage: Default::default(),
                cusage: Default::default(),
                // Not inherited across fork (prctl(2)).
                pdeathsig: 0,
                child_subreaper: false,
                // CLONE_CLEAR_SIGHAND clears every sa_flags as it resets
                // the handlers (flush_signal_handlers).
                sigchld_flags: if flags & CLONE_CLEAR_SIGHAND != 0 {
                    0
                } else {
                    parent.sigchld_flags
                },
                dumpable: parent.dumpable,
                core_dumped: false,
            };
            t.procs.insert(pid, child);
            if let Some(rp) = t.procs.get_mut(&real_parent) {
                rp.children.push(pid);
            }
        }
        let set_child_tid = if flags & CLONE_CHILD_SETTID != 0 {
            pc.map(|p| p.child_tid_ptr).unwrap_or(0)
        } else {
            0
        };
        let mut child_task = Task::new(tid, child_host, pid, set_child_tid);
        // The host wrote its tid there at clone; a thread sharing the
        // memory may read it (musl's pthread_self()->tid, stored in mutex
        // words) before the parent's clone returns and umk fixes it there.
        if flags & CLONE_PARENT_SETTID != 0 && flags & CLONE_VM != 0 {
            child_task.set_parent_tid = pc.map(|p| p.parent_tid_ptr).unwrap_or(0);
        }
        child_task.start_args = pc.map(|p| p.orig_args);
        child_task.sched = t.tasks.get(&ptid).map(|p| p.sched.for_child()).unwrap_or_default();
        t.insert_task(child_task);
        t.forks += 1;
        if let Some(pt) = t.tasks.get_mut(&ptid) {
            if let Some(pc) = pt.pending_clone.as_mut() {
                pc.child = Some(tid);
            }
        }
        (tid, pid, ppid, pc.and_then(|p| p.pidfd))
    };
    let (created, pid, ppid, pidfd) = created;
    // The child is in the table: its pidfd takes the reserved fd now,
    // before anything (its exit and reaping, too) can happen to it.
    if let Some(fd) = pidfd {
        install_pidfd(k, ppid, fd, pid);
    }
    k.platform.set_identity(child_host, Some((pid, created)));
    let _ = k.platform.resume_to_syscall_exit(parent_host);
    if k.early_started.remove(&child_host) {
        start_child(k, created);
    }
}

/// A new thread reached its first stop.
pub fn on_started(k: &mut Kernel, host: HostTid) {
    let tid = {
        let t = k.table.borrow();
        t.task_by_host(host).filter(|t| t.starting).map(|t| t.tid)
    };
    match tid {
        Some(tid) => start_child(k, tid),
        None => {
            let known = k.table.borrow().by_host.contains_key(&host);
            if known {
                // A stop we did not ask for (PTRACE_INTERRUPT): just go on.
                let _ = k.platform.resume(host, 0);
            } else {
                k.early_started.insert(host);
            }
        }
    }
}

fn start_child(k: &mut Kernel, tid: Pid) {
    let (host, addr, parent_addr, args) = {
        let mut t = k.table.borrow_mut();
        let Some(task) = t.tasks.get_mut(&tid) else { return };
        task.starting = false;
        (task.host, task.set_child_tid, task.set_parent_tid, task.start_args.take())
    };
    if let Some(args) = args {
        if let Ok(mut regs) = k.platform.get_regs(host) {
            regs.set_syscall_args(args);
            let _ = k.platform.set_regs(host, &regs);
        }
    }
    // Inherited from a parent whose exit umk watches; the child has no
    // robust list yet.
    let _ = k.platform.set_exit_stop(host, false);
    if addr != 0 {
        // The host wrote its own tid there; the guest must see ours.
        let _ = GuestMem::new(k.platform.as_mut(), host).write_obj(addr, &tid);
    }
    if parent_addr != 0 {
        let _ = GuestMem::new(k.platform.as_mut(), host).write_obj(parent_addr, &tid);
    }
    let _ = k.platform.resume(host, 0);
}

/// A syscall that asked to see its return has returned.
pub fn on_syscall_exit(k: &mut Kernel, host: HostTid, regs: Regs) {
    let (fix, vtid, vpid) = {
        let mut t = k.table.borrow_mut();
        match t.task_by_host_mut(host) {
            Some(task) => {
                let fix = match task.pending_clone.take() {
                    Some(pc) => Some(Fixup::Clone(pc)),
                    None => task.exit_fixup.take(),
                };
                (fix, task.tid, task.pid)
            }
            None => (None, 0, 0),
        }
    };
    let mut regs = regs;
    match fix {
        Some(Fixup::Clone(pc)) => {
            regs.set_syscall_args(pc.orig_args);
            let ret = regs.rax as i64;
            let mut child = None;
            if ret > 0 {
                child =
                    pc.child.or_else(|| k.table.borrow().by_host.get(&(ret as HostTid)).copied());
                if let Some(child) = child {
                    regs.rax = child as u64;
                    if pc.flags & CLONE_PARENT_SETTID != 0 {
                        let _ = GuestMem::new(k.platform.as_mut(), host)
                            .write_obj(pc.parent_tid_ptr, &child);
                    }
                }
            }
            // The clone failed: no pidfd (on_cloned made it otherwise).
            if child.is_none() {
                release_pidfd(k, vpid, pc.pidfd);
            }
            let _ = k.platform.set_regs(host, &regs);
        }
        Some(Fixup::ReturnTid) => {
            regs.rax = vtid as u64;
            let _ = k.platform.set_regs(host, &regs);
        }
        Some(Fixup::SigInfo(info)) => {
            crate::kernel::signal::on_signal_waited(k, host, regs.rax as i64, info);
        }
        Some(Fixup::RestoreArgs(args)) => {
            regs.set_syscall_args(args);
            let _ = k.platform.set_regs(host, &regs);
        }
        None => {}
    }
    if k.trace.is_some() {
        k.trace_exit(vtid, host, regs.rax as i64);
    }
    let _ = k.platform.resume(host, 0);
}

/// What to correct when a natively run syscall returns.
#[derive(Debug, Clone, Copy)]
pub enum Fixup {
    Clone(PendingClone),
    /// The call returns the caller's tid: give the virtual one.
    ReturnTid,
    /// rt_sigtimedwait returned a signal: the siginfo at this address
    /// gets the guest's view of its sender.
    SigInfo(u64),
    /// umk rewrote the call's arguments for the host: the guest gets its
    /// own back (a syscall preserves them).
    RestoreArgs([u64; 6]),
}

impl Task {
    pub fn new(tid: Pid, host: HostTid, pid: Pid, set_child_tid: u64) -> Task {
        Task {
            tid,
            host,
            pid,
            parked: None,
            pending_exec: None,
            pending_clone: None,
            exit_fixup: None,
            restart: None,
            starting: true,
            set_child_tid,
            set_parent_tid: 0,
            start_args: None,
            stopped: false,
            sig_hint: false,
            sig_origins: Vec::new(),
            io_progress: 0,
            stop_sig: None,
            // Linux starts every new task without a robust list.
            robust_list: None,
            sched: Default::default(),
        }
    }
}
