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

pub mod coredump;
pub mod signalfd;

use crate::kernel::syscall::Ctx;
use crate::kernel::task::{Pid, Task};
use crate::kernel::time::posix_timers::cpu as cpu_timers;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::errno::EINTR;
use guest_abi::signal::*;

/// Where a signal came from, as the receiver's siginfo must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigOrigin {
    pub sig: i32,
    pub code: i32,
    pub pid: Pid,
    pub uid: u32,
    /// si_value (sigqueue) or si_status (SIGCHLD).
    pub value: u64,
    /// SIGCHLD's si_utime and si_stime, in clock ticks.
    pub ticks: (i64, i64),
}

impl SigOrigin {
    /// kill(2) from a guest process.
    pub fn user(sig: i32, pid: Pid, uid: u32) -> SigOrigin {
        SigOrigin { sig, code: SI_USER, pid, uid, value: 0, ticks: (0, 0) }
    }
    /// tkill/tgkill from a guest thread.
    pub fn tkill(sig: i32, pid: Pid, uid: u32) -> SigOrigin {
        SigOrigin { sig, code: SI_TKILL, pid, uid, value: 0, ticks: (0, 0) }
    }
    /// The kernel itself (terminal signals, SIGPIPE, SIGALRM).
    pub fn kernel(sig: i32) -> SigOrigin {
        SigOrigin { sig, code: SI_KERNEL, pid: 0, uid: 0, value: 0, ticks: (0, 0) }
    }
    /// SIGCHLD about a child.
    pub fn child(sig: i32, code: i32, pid: Pid, uid: u32, status: i32) -> SigOrigin {
        SigOrigin { sig, code, pid, uid, value: status as u32 as u64, ticks: (0, 0) }
    }
    /// With the child's CPU times, for SIGCHLD.
    pub fn with_ticks(self, ticks: (i64, i64)) -> SigOrigin {
        SigOrigin { ticks, ..self }
    }
}

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
/// arranges the restart code for the signal-delivery-stop (a plain errno
/// there is returned as it is, after the handler).
pub fn interrupt_syscall(k: &mut Kernel, ctx: &Ctx, restart: i32) {
    // A FUTEX_WAIT_REQUEUE_PI waiter leaves its queue on the way out.
    if ctx.nr() == guest_abi::sysno::SYS_FUTEX {
        crate::kernel::futex::requeue::waiter_left(k, ctx.tid);
    }
    let progress = {
        let mut t = k.table.borrow_mut();
        match t.tasks.get_mut(&ctx.tid) {
            Some(task) => {
                let p = std::mem::take(&mut task.io_progress);
                if p == 0 {
                    task.restart = Some((ctx.regs.orig_rax, restart));
                }
                p
            }
            None => 0,
        }
    };
    // A write that already moved bytes returns their count, not EINTR.
    let result = if progress > 0 { progress as i64 } else { -(EINTR as i64) };
    if k.trace.is_some() {
        k.trace_exit(ctx.tid, ctx.host, if progress > 0 { result } else { -(restart as i64) });
    }
    let _ = k.platform.finish_syscall(ctx.host, &ctx.regs, result);
}

/// Sends `sig` to one thread and wakes it if it is parked and would take it.
pub fn send_to_thread(k: &mut Kernel, tid: Pid, sig: i32, origin: SigOrigin) {
    if sig == 0 {
        return;
    }
    let host = {
        let mut t = k.table.borrow_mut();
        let Some(task) = t.tasks.get_mut(&tid) else { return };
        task.sig_hint = true;
        if task.sig_origins.len() < 256 {
            task.sig_origins.push(origin);
        }
        task.host
    };
    if sig == SIGCONT {
        continue_process(k, tid);
    }
    let _ = k.platform.signal_thread(host, sig);
    k.waker.wake(k.signalfd_wait);
    wake_if_interruptible(k, tid, sig);
}

/// Sends `sig` to a process. It goes to the host thread group's shared
/// queue (host kill), where any thread can take it: one that does not
/// block it, a later sigwaitinfo or signalfd read in any thread, or the
/// first thread to unblock it, as in Linux. Threads running in the host
/// take it there; if only threads parked in umk could, umk interrupts one
/// of them (complete_signal's choice).
pub fn send_to_process(k: &mut Kernel, pid: Pid, sig: i32, origin: SigOrigin) {
    let (tgid, threads) = {
        let mut t = k.table.borrow_mut();
        let Some(p) = t.procs.get_mut(&pid) else { return };
        if sig == 0 || p.threads.is_empty() || p.exit.is_some() {
            return;
        }
        if p.sig_origins.len() < 256 {
            p.sig_origins.push(origin);
        }
        let tgid = p.host_tgid;
        let ids = p.threads.clone();
        let mut threads = Vec::with_capacity(ids.len());
        for tid in ids {
            if let Some(task) = t.tasks.get_mut(&tid) {
                task.sig_hint = true;
                threads.push((tid, task.host, task.parked.is_some()));
            }
        }
        (tgid, threads)
    };
    if sig == SIGCONT {
        if let Some((tid, _, _)) = threads.first() {
            continue_process(k, *tid);
        }
    }
    let _ = k.platform.signal_process(tgid, sig);
    k.waker.wake(k.signalfd_wait);
    let m = sigmask(sig);
    let mut parked_taker = None;
    for (tid, host, parked) in threads {
        if k.platform.blocked_signals(host).unwrap_or(u64::MAX) & m != 0 {
            continue;
        }
        if !parked {
            // The host delivers it to a running thread.
            return;
        }
        parked_taker.get_or_insert(tid);
    }
    if let Some(tid) = parked_taker {
        wake_if_interruptible(k, tid, sig);
    }
}

/// SIGCONT resumes a stopped process (the host does that) and is reported
/// to its parent (wait's WCONTINUED, SIGCHLD with CLD_CONTINUED).
fn continue_process(k: &mut Kernel, tid: Pid) {
    let parent = {
        let mut t = k.table.borrow_mut();
        let Some(pid) = t.tasks.get(&tid).map(|x| x.pid) else { return };
        let threads = t.procs.get(&pid).map(|p| p.threads.clone()).unwrap_or_default();
        let mut was_stopped = false;
        for th in threads {
            if let Some(task) = t.tasks.get_mut(&th) {
                was_stopped |= task.stopped;
                task.stopped = false;
            }
        }
        if !was_stopped {
            return;
        }
        match t.procs.get_mut(&pid) {
            Some(p) => {
                p.stop_report = None;
                p.continued_report = true;
                Some((p.ppid, pid, p.cred.uid))
            }
            None => None,
        }
    };
    if let Some((ppid, pid, uid)) = parent {
        notify_parent_cldstop(k, ppid, SigOrigin::child(SIGCHLD, CLD_CONTINUED, pid, uid, SIGCONT));
    }
}

/// Wakes a parent's wait and sends it SIGCHLD (or the child's exit signal).
pub fn notify_parent_of(k: &mut Kernel, ppid: Pid, origin: SigOrigin) {
    let w = k.table.borrow().procs.get(&ppid).filter(|p| p.exit.is_none()).map(|p| p.child_wait);
    if let Some(w) = w {
        k.waker.wake(w);
        if origin.sig > 0 {
            send_to_process(k, ppid, origin.sig, origin);
        }
    }
}

/// A child stopped or continued (do_notify_parent_cldstop): the parent's
/// wait wakes, and it gets SIGCHLD unless it asked for SA_NOCLDSTOP.
fn notify_parent_cldstop(k: &mut Kernel, ppid: Pid, mut origin: SigOrigin) {
    let t = k.table.borrow();
    if t.procs.get(&ppid).is_some_and(|p| p.sigchld_flags & SA_NOCLDSTOP != 0) {
        origin.sig = 0;
    }
    drop(t);
    notify_parent_of(k, ppid, origin);
}

fn wake_if_interruptible(k: &mut Kernel, tid: Pid, sig: i32) {
    let (host, woken) = {
        let t = k.table.borrow();
        match t.tasks.get(&tid) {
            Some(Task { parked: Some(p), host, .. }) => {
                (*host, p.waits.iter().any(|w| k.waker.is_woken(*w)))
            }
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
    let Some((mut p, mut host, mut pid)) = k.unpark(tid) else { return };
    if woken {
        // Linux's waiters look at their condition before they look for
        // signals: a wait woken in the same instant as the signal comes
        // completes (wait4 after an autoreaped child gives ECHILD).
        k.run_syscall(Ctx::of_parked(tid, pid, host, &p));
        // Parked again: nothing to return, so the signal interrupts it.
        (p, host, pid) = match k.unpark(tid) {
            Some(again) => again,
            None => return,
        };
    }
    interrupt_syscall(k, &Ctx::of_parked(tid, pid, host, &p), p.restart);
}

/// Sends `sig` to every process in a process group. Returns how many got it.
pub fn kill_pgrp(k: &mut Kernel, pgrp: Pid, sig: i32, origin: SigOrigin) -> usize {
    let pids: Vec<Pid> =
        k.table.borrow().live().filter(|p| p.pgid == pgrp).map(|p| p.pid).collect();
    for p in &pids {
        send_to_process(k, *p, sig, origin);
    }
    pids.len()
}

/// A signal is about to be delivered to a guest thread.
pub fn on_signal_stop(k: &mut Kernel, host: HostTid, sig: i32) {
    let info = k.platform.get_siginfo(host).ok();
    let restart = {
        let mut t = k.table.borrow_mut();
        t.task_by_host_mut(host).and_then(|task| {
            task.sig_hint = false;
            task.restart.take()
        })
    };
    let mut info = info;
    if let Some(info) = info.as_mut() {
        if take_siginfo(k, host, sig, info) {
            let _ = k.platform.set_siginfo(host, info);
        }
    } else {
        take_delivered(k, host, sig, None);
    }
    if k.trace.is_some() {
        k.trace_signal(host, sig);
    }
    // The host would discard SIGTSTP/SIGTTIN/SIGTTOU: to it every guest
    // process group is orphaned (their host parent, umk, is in another
    // session). Where the guest's group is not orphaned and the signal
    // takes its default action, stop the thread with SIGSTOP instead and
    // remember which signal it was, for the parent's wait.
    let mut sig = sig;
    if matches!(sig, SIGTSTP | SIGTTIN | SIGTTOU) {
        let (_, ignored, caught) = k.platform.signal_state(host).unwrap_or((0, 0, 0));
        if (ignored | caught) & sigmask(sig) == 0 {
            let mut t = k.table.borrow_mut();
            let pgid = t.task_by_host(host).and_then(|task| t.procs.get(&task.pid)).map(|p| p.pgid);
            let orphaned = pgid.is_none_or(|g| t.pgrp_orphaned(g));
            if let Some(task) = t.task_by_host_mut(host) {
                if !orphaned {
                    task.stop_sig = Some(sig);
                }
            }
            sig = if orphaned { 0 } else { SIGSTOP };
        }
    }
    // A signal that will kill the process with a core: umk writes it now,
    // while the memory and registers are still there.
    if coredump::sig_kernel_coredump(sig) {
        let (_, ignored, caught) = k.platform.signal_state(host).unwrap_or((0, 0, 0));
        if (ignored | caught) & sigmask(sig) == 0 {
            coredump::do_coredump(k, host, sig, &info.unwrap_or([0; 128]));
        }
    }
    if let Some((nr, code)) = restart {
        if let Ok(mut regs) = k.platform.get_regs(host) {
            regs.orig_rax = nr;
            regs.rax = (-(code as i64)) as u64;
            let _ = k.platform.set_regs(host, &regs);
        }
    }
    let _ = k.platform.resume(host, sig);
}

fn si_code(info: &[u8; 128]) -> i32 {
    i32::from_le_bytes([info[8], info[9], info[10], info[11]])
}

/// A signal is being taken by thread `host` (delivered, or dequeued by
/// sigtimedwait or a signalfd read): uses up umk's record of its sending.
/// The host's si_code says which queue it came from: SI_USER is umk's
/// kill, so the process's shared queue; SI_TKILL a thread's own. Without a
/// siginfo, the thread's record goes first.
pub fn take_delivered(
    k: &mut Kernel,
    host: HostTid,
    sig: i32,
    code: Option<i32>,
) -> Option<SigOrigin> {
    let mut o = {
        let mut t = k.table.borrow_mut();
        let task = t.task_by_host_mut(host)?;
        let pid = task.pid;
        let own = match code {
            Some(SI_USER) => None,
            _ => take_from(&mut task.sig_origins, sig),
        };
        let shared = match (own, code) {
            (None, Some(SI_USER) | None) => {
                t.procs.get_mut(&pid).and_then(|p| take_from(&mut p.sig_origins, sig))
            }
            _ => None,
        };
        own.or(shared).map(|o| (o, pid))
    };
    if let Some((o, pid)) = o.as_mut() {
        crate::kernel::time::posix_timers::on_delivery(k, *pid, o);
    }
    o.map(|(o, _)| o)
}

/// rt_sigtimedwait (sigwaitinfo, sigtimedwait) took signal `ret` off the
/// queue, natively: the record of its sending is used up, and the siginfo
/// it wrote at `addr` gets the guest's view instead of umk's host pid.
pub fn on_signal_waited(k: &mut Kernel, host: HostTid, ret: i64, addr: u64) {
    if !(1..=NSIG as i64).contains(&ret) {
        return;
    }
    let sig = ret as i32;
    let info = if addr != 0 {
        crate::kernel::mm::GuestMem::new(k.platform.as_mut(), host).read_obj::<[u8; 128]>(addr).ok()
    } else {
        None
    };
    if let Some(mut info) = info {
        if take_siginfo(k, host, sig, &mut info) {
            let _ = crate::kernel::mm::GuestMem::new(k.platform.as_mut(), host).write(addr, &info);
        }
    } else {
        take_delivered(k, host, sig, None);
    }
}

/// Thread `host` is taking signal `sig`, whose host siginfo is `info`:
/// uses up umk's record of its sending and gives `info` the guest's view.
/// Returns whether `info` changed.
fn take_siginfo(k: &mut Kernel, host: HostTid, sig: i32, info: &mut [u8; 128]) -> bool {
    // A host timer's signal: umk sent nothing, only its id is the host's.
    if cpu_timers::is_host_timer_signal(info) {
        return cpu_timers::patch_siginfo(k, host, info);
    }
    let origin = take_delivered(k, host, sig, Some(si_code(info)));
    // Without a record (more than 256 sends outstanding) the sender is
    // still blanked: a guest never sees umk's host pid.
    patch_siginfo(info, origin)
}

/// Uses up a record of sending `sig` from one queue's list: the oldest
/// one, and for a standard signal, which does not queue (one delivery
/// answers all its sends), every one.
fn take_from(list: &mut Vec<SigOrigin>, sig: i32) -> Option<SigOrigin> {
    let o = list.iter().position(|o| o.sig == sig).map(|i| list.remove(i));
    if sig < SIGRTMIN {
        list.retain(|o| o.sig != sig);
    }
    o
}

/// Rewrites a host siginfo with what umk recorded when it sent the signal.
/// Only signals umk raised (kill/tkill from umk: SI_USER or SI_TKILL with
/// umk's host pid) are touched; a fault stays as the host says. Without a
/// record the sender is left blank rather than umk's host pid.
fn patch_siginfo(info: &mut [u8; 128], o: Option<SigOrigin>) -> bool {
    let code = si_code(info);
    if code != SI_USER && code != SI_TKILL {
        return false;
    }
    let Some(o) = o else {
        info[16..24].fill(0);
        return true;
    };
    info[8..12].copy_from_slice(&o.code.to_le_bytes());
    info[16..20].copy_from_slice(&o.pid.to_le_bytes());
    info[20..24].copy_from_slice(&o.uid.to_le_bytes());
    if o.sig == SIGCHLD && o.code > 0 {
        info[24..28].copy_from_slice(&(o.value as i32).to_le_bytes());
        info[28..32].fill(0);
        info[32..40].copy_from_slice(&o.ticks.0.to_le_bytes());
        info[40..48].copy_from_slice(&o.ticks.1.to_le_bytes());
    } else if o.code == SI_QUEUE || o.code == SI_TIMER || o.code == SI_TKILL && o.value != 0 {
        info[24..32].copy_from_slice(&o.value.to_le_bytes());
    }
    true
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
        let sig = task.stop_sig.take().unwrap_or(sig);
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
    let _ = k.platform.listen(host);
    if let Some(ppid) = parent {
        let uid = k.table.borrow().procs.get(&pid).map(|p| p.cred.uid).unwrap_or(0);
        notify_parent_cldstop(k, ppid, SigOrigin::child(SIGCHLD, CLD_STOPPED, pid, uid, sig));
    }
}
