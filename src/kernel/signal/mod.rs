//! Signals: who gets what, and what happens to a thread parked in umk.
//!
//! Dispositions, masks, signal frames and sigreturn are the host kernel's:
//! a guest signal is a real host signal sent to the guest thread, so
//! handlers, SA_* flags, sigaltstack and default actions behave exactly as
//! on Linux because they *are* Linux. umk decides the rest: pid
//! translation and permission for kill(2), the terminal's signals, and the
//! fate of a thread umk has parked in an emulated syscall.
//!
//! A parked thread is stopped under ptrace, so the host cannot interrupt
//! it. When umk sends a signal the thread does not block, it finishes the
//! parked call itself and records the restart code; at the
//! signal-delivery-stop that follows it puts the syscall number back and
//! sets -ERESTARTSYS (or the call's own code), so the host kernel's signal
//! code (arch/x86/kernel/signal.c) turns it into EINTR or a transparent
//! restart exactly as it would for a native call.

use crate::kernel::syscall::Ctx;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::errno::EINTR;
use guest_abi::signal::*;

/// Whether `host` has a signal pending that it does not block (or, with
/// `mask`, that `mask` does not block).
pub fn has_deliverable_signal(k: &mut Kernel, host: HostTid, mask: Option<u64>) -> bool {
    let hint = {
        let t = k.table.borrow();
        t.task_by_host(host).map(|t| t.sig_hint).unwrap_or(false)
    };
    if !hint {
        return false;
    }
    let blocked = match mask {
        Some(m) => m,
        None => k.platform.blocked_signals(host).unwrap_or(0),
    };
    let (pending, ignored, _) = k.platform.signal_state(host).unwrap_or((0, 0, 0));
    pending & !blocked & !ignored != 0
}

/// Ends the parked (or about to park) syscall of `ctx` with EINTR now and
/// arranges the restart code for the signal-delivery-stop.
pub fn interrupt_syscall(k: &mut Kernel, ctx: &Ctx, restart: i32) {
    {
        let mut t = k.table.borrow_mut();
        if let Some(task) = t.tasks.get_mut(&ctx.tid) {
            task.restart = Some((ctx.regs.orig_rax, restart));
        }
    }
    let _ = k.platform.finish_syscall(ctx.host, &ctx.regs, -(EINTR as i64));
}

/// Sends `sig` to one thread and wakes it if it is parked and would take it.
pub fn send_to_thread(k: &mut Kernel, tid: Pid, sig: i32) {
    let host = {
        let mut t = k.table.borrow_mut();
        let Some(task) = t.tasks.get_mut(&tid) else { return };
        task.sig_hint = true;
        task.host
    };
    if sig == 0 {
        return;
    }
    let _ = k.platform.signal_thread(host, sig);
    wake_if_interruptible(k, tid, sig);
}

/// Sends `sig` to a process: to its first thread that does not block it
/// (as Linux's complete_signal picks a thread), else the leader.
pub fn send_to_process(k: &mut Kernel, pid: Pid, sig: i32) {
    let threads: Vec<(Pid, HostTid)> = {
        let t = k.table.borrow();
        let Some(p) = t.procs.get(&pid) else { return };
        p.threads.iter().filter_map(|tid| t.tasks.get(tid).map(|task| (*tid, task.host))).collect()
    };
    if sig == 0 || threads.is_empty() {
        return;
    }
    let mut target = threads[0].0;
    for (tid, host) in &threads {
        let blocked = k.platform.blocked_signals(*host).unwrap_or(0);
        if blocked & sigmask(sig) == 0 {
            target = *tid;
            break;
        }
    }
    send_to_thread(k, target, sig);
}

fn wake_if_interruptible(k: &mut Kernel, tid: Pid, sig: i32) {
    let host = {
        let t = k.table.borrow();
        match t.tasks.get(&tid) {
            Some(task) if task.parked.is_some() => task.host,
            _ => return,
        }
    };
    let blocked = k.platform.blocked_signals(host).unwrap_or(0);
    let (_, ignored, _) = k.platform.signal_state(host).unwrap_or((0, 0, 0));
    // SIGKILL and SIGSTOP cannot be blocked or ignored. An ignored signal
    // does not interrupt (Linux discards it at generation), except that
    // SIGCONT still continues a stopped task.
    let m = sigmask(sig);
    let takes = sig == SIGKILL || sig == SIGSTOP || (blocked & m == 0 && ignored & m == 0);
    if !takes {
        return;
    }
    if let Some((p, host, pid)) = k.unpark(tid) {
        let ctx = Ctx { tid, pid, host, regs: p.regs, args: p.regs.syscall_args(), deadline: p.deadline };
        interrupt_syscall(k, &ctx, p.restart);
    }
}

/// Sends `sig` to every process in a process group. Returns how many got it.
pub fn kill_pgrp(k: &mut Kernel, pgrp: Pid, sig: i32) -> usize {
    let pids: Vec<Pid> = k.table.borrow().live().filter(|p| p.pgid == pgrp).map(|p| p.pid).collect();
    for p in &pids {
        send_to_process(k, *p, sig);
    }
    pids.len()
}

/// A signal is about to be delivered to a guest thread.
pub fn on_signal_stop(k: &mut Kernel, host: HostTid, sig: i32) {
    let restart = {
        let mut t = k.table.borrow_mut();
        match t.task_by_host_mut(host) {
            Some(task) => {
                task.sig_hint = false;
                task.restart.take()
            }
            None => None,
        }
    };
    if let Some((nr, code)) = restart {
        if let Ok(mut regs) = k.platform.get_regs(host) {
            regs.orig_rax = nr;
            regs.rax = (-(code as i64)) as u64;
            let _ = k.platform.set_regs(host, &regs);
        }
    }
    let _ = k.platform.resume(host, sig);
}

/// A guest thread entered a job-control stop. Keep it stopped until a
/// SIGCONT (PTRACE_LISTEN), and tell the parent.
pub fn on_group_stop(k: &mut Kernel, host: HostTid, sig: i32) {
    let (pid, parent) = {
        let mut t = k.table.borrow_mut();
        let Some(task) = t.task_by_host_mut(host) else {
            drop(t);
            let _ = k.platform.listen(host);
            return;
        };
        task.stopped = true;
        let pid = task.pid;
        let parent = match t.procs.get_mut(&pid) {
            Some(p) if p.stop_report.is_none() => {
                p.stop_report = Some(sig);
                Some(p.ppid)
            }
            _ => None,
        };
        (pid, parent)
    };
    let _ = pid;
    let _ = k.platform.listen(host);
    if let Some(ppid) = parent {
        let w = k.table.borrow().procs.get(&ppid).map(|p| p.child_wait);
        if let Some(w) = w {
            k.waker.wake(w);
        }
    }
}
