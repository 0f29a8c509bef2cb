//! Exit, zombies, reaping and wait4/waitid.

use super::{add_child_usage, ExitStatus, Pid};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::signal::SigOrigin;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use guest_abi::misc::{Rusage, Timeval};
use guest_abi::sched::*;
use guest_abi::signal::*;

/// A guest thread is gone (the host reaped it).
pub fn on_thread_gone(k: &mut Kernel, host: HostTid, mut status: ExitStatus) {
    k.platform.set_identity(host, None);
    let (tid, pid) = {
        let t = k.table.borrow();
        match t.task_by_host(host) {
            Some(task) => (task.tid, task.pid),
            None => {
                drop(t);
                k.early_started.remove(&host);
                return;
            }
        }
    };
    k.unpark(tid);
    let usage = k.platform.take_exit_usage(host);
    let last = {
        let mut t = k.table.borrow_mut();
        t.tasks.remove(&tid);
        t.by_host.remove(&host);
        match t.procs.get_mut(&pid) {
            Some(p) => {
                p.threads.retain(|x| *x != tid);
                // The host made no core (its RLIMIT_CORE for guests is
                // 1); umk wrote the guest's own.
                if let ExitStatus::Killed { sig, .. } = status {
                    status = ExitStatus::Killed { sig, core: p.core_dumped };
                }
                // The last thread's report covers the whole thread group.
                if let Some(u) = usage {
                    p.usage = u;
                }
                p.threads.is_empty()
            }
            None => false,
        }
    };
    crate::kernel::futex::requeue::waiter_left(k, tid);
    k.futexes.granted.remove(&tid);
    crate::kernel::futex::pi::owner_gone(k, tid);
    if last {
        process_exit(k, pid, status);
    }
}

/// The last thread of `pid` ended: it becomes a zombie for its parent.
fn process_exit(k: &mut Kernel, pid: Pid, status: ExitStatus) {
    let (ppid, exit_signal, children, released, uid, ticks, sid) = {
        let mut t = k.table.borrow_mut();
        let Some(p) = t.procs.get_mut(&pid) else { return };
        p.exit = Some(status);
        // Release what a zombie does not need; closing pipe ends here
        // wakes their peers.
        let files = std::mem::take(&mut p.files);
        let children = std::mem::take(&mut p.children);
        let ticks = (super::ticks(p.usage.ru_utime), super::ticks(p.usage.ru_stime));
        (p.ppid, p.exit_signal, children, files, p.cred.uid, ticks, p.sid)
    };
    drop(released);
    crate::kernel::fs::pidfd::wake_pollers(k);
    crate::kernel::time::set_itimer(k, pid, None);
    k.locks.release_process(pid);
    if sid == pid && pid != 1 {
        crate::kernel::tty::core::disassociate_ctty(k, sid);
    }
    if pid == 1 {
        k.init_exit = Some(status);
    }
    if k.trace.is_some() {
        k.trace_process_exit(pid, status);
    }
    // Orphans go to the nearest living ancestor that is a child
    // subreaper, else to init (kernel/exit.c find_new_reaper).
    let reaper: Pid = {
        let t = k.table.borrow();
        let mut a = ppid;
        let mut found = 1;
        for _ in 0..super::PID_MAX {
            match t.procs.get(&a) {
                Some(p) if p.pid != 1 => {
                    if p.child_subreaper && p.exit.is_none() {
                        found = p.pid;
                        break;
                    }
                    a = p.ppid;
                }
                _ => break,
            }
        }
        found
    };
    // Children that asked for it learn that their parent died.
    let deaths: Vec<(Pid, i32)> = {
        let t = k.table.borrow();
        children
            .iter()
            .filter_map(|c| t.procs.get(c))
            .filter(|c| c.exit.is_none() && c.pdeathsig > 0)
            .map(|c| (c.pid, c.pdeathsig))
            .collect()
    };
    for (c, sig) in deaths {
        crate::kernel::signal::send_to_process(k, c, sig, SigOrigin::kernel(sig));
    }
    let mut zombie_orphans = false;
    {
        let mut t = k.table.borrow_mut();
        for c in &children {
            if let Some(cp) = t.procs.get_mut(c) {
                cp.ppid = reaper;
                zombie_orphans |= cp.exit.is_some();
            }
        }
        if pid != reaper {
            if let Some(r) = t.procs.get_mut(&reaper) {
                r.children.extend(children.iter().copied());
            }
        }
    }
    if zombie_orphans && pid != reaper {
        crate::kernel::signal::notify_parent_of(
            k,
            reaper,
            SigOrigin::child(SIGCHLD, CLD_EXITED, 0, 0, 0),
        );
    }
    if pid == 1 {
        return;
    }
    // A parent that ignores SIGCHLD or set SA_NOCLDWAIT keeps no zombies;
    // with SA_NOCLDWAIT it still gets the signal (kernel/signal.c
    // do_notify_parent).
    let (parent_host, nocldwait) = {
        let t = k.table.borrow();
        let parent = t.procs.get(&ppid);
        let host =
            parent.and_then(|p| p.threads.first()).and_then(|th| t.tasks.get(th)).map(|x| x.host);
        (host, parent.is_some_and(|p| p.sigchld_flags & SA_NOCLDWAIT != 0))
    };
    let ignores = match parent_host {
        Some(h) => k
            .platform
            .signal_state(h)
            .map(|(_, ign, _)| ign & sigmask(SIGCHLD) != 0)
            .unwrap_or(false),
        None => true,
    };
    let autoreap = exit_signal == SIGCHLD && (ignores || nocldwait);
    let (code, st) = match status {
        ExitStatus::Exited(c) => (CLD_EXITED, c),
        ExitStatus::Killed { sig, core: true } => (CLD_DUMPED, sig),
        ExitStatus::Killed { sig, core: false } => (CLD_KILLED, sig),
    };
    if autoreap {
        reap(k, pid);
    }
    // An ignored SIGCHLD is not sent, but the parent's wait still wakes.
    let sig = if autoreap && ignores { 0 } else { exit_signal };
    let origin = SigOrigin::child(sig, code, pid, uid, st).with_ticks(ticks);
    crate::kernel::signal::notify_parent_of(k, ppid, origin);
}

/// Removes a zombie from the table.
pub fn reap(k: &mut Kernel, pid: Pid) {
    {
        let mut t = k.table.borrow_mut();
        if let Some(p) = t.procs.remove(&pid) {
            if let Some(parent) = t.procs.get_mut(&p.ppid) {
                parent.children.retain(|c| *c != pid);
            }
        }
    }
    // Its pidfds now say POLLHUP.
    crate::kernel::fs::pidfd::wake_pollers(k);
}

/// Which children a wait call selects (wait4's pid argument).
#[derive(Debug, Clone, Copy)]
pub enum WaitWho {
    Any,
    Pid(Pid),
    Pgid(Pid),
    /// waitid(P_PIDFD) on a pidfd whose process was reaped.
    Nobody,
}

/// A state change wait may report.
#[derive(Debug, Clone, Copy)]
pub enum WaitEvent {
    Exited(ExitStatus),
    Stopped(i32),
    Continued,
}

/// What a wait call found: a child, its state change, its resource usage
/// (its own and its waited-for children's) and its uid.
pub struct Waited {
    pub pid: Pid,
    pub ev: WaitEvent,
    pub usage: Rusage,
    pub uid: u32,
}

/// Finds a child state change for wait4/waitid; reaps unless `nowait`.
/// Ok(None) means "children exist but none changed" (block or WNOHANG).
pub fn find_waitable(
    k: &mut Kernel,
    pid: Pid,
    who: WaitWho,
    options: i32,
    nowait: bool,
) -> KResult<Option<Waited>> {
    let found = {
        let mut t = k.table.borrow_mut();
        let me = t.procs.get(&pid).ok_or(Errno::ECHILD)?;
        let my_pgid = me.pgid;
        let children = me.children.clone();
        let mut any = false;
        let mut found = None;
        for c in children {
            let Some(cp) = t.procs.get(&c) else { continue };
            let matches = match who {
                WaitWho::Any => true,
                WaitWho::Pid(p) => c == p,
                WaitWho::Pgid(0) => cp.pgid == my_pgid,
                WaitWho::Pgid(g) => cp.pgid == g,
                WaitWho::Nobody => false,
            };
            // __WCLONE selects children whose exit signal is not SIGCHLD;
            // __WALL selects both.
            let clone_child = cp.exit_signal != SIGCHLD;
            if options & __WALL == 0 && clone_child != (options & __WCLONE != 0) {
                continue;
            }
            if !matches {
                continue;
            }
            any = true;
            if let Some(st) = cp.exit {
                if options & WEXITED != 0 {
                    found = Some((c, WaitEvent::Exited(st)));
                    break;
                }
            } else if options & WUNTRACED != 0 && cp.stop_report.is_some() {
                let sig = cp.stop_report.unwrap_or(SIGSTOP);
                if !nowait {
                    if let Some(cp) = t.procs.get_mut(&c) {
                        cp.stop_report = None;
                    }
                }
                found = Some((c, WaitEvent::Stopped(sig)));
                break;
            } else if options & WCONTINUED != 0 && cp.continued_report {
                if !nowait {
                    if let Some(cp) = t.procs.get_mut(&c) {
                        cp.continued_report = false;
                    }
                }
                found = Some((c, WaitEvent::Continued));
                break;
            }
        }
        if !any {
            return Err(Errno::ECHILD);
        }
        found
    };
    let Some((c, ev)) = found else { return Ok(None) };
    let usage = child_usage(k, c);
    let uid = k.table.borrow().procs.get(&c).map(|x| x.cred.uid).unwrap_or(0);
    if matches!(ev, WaitEvent::Exited(_)) && !nowait {
        if let Some(me) = k.table.borrow_mut().procs.get_mut(&pid) {
            add_child_usage(&mut me.cusage, &usage);
        }
        reap(k, c);
    }
    Ok(Some(Waited { pid: c, ev, usage, uid }))
}

/// A child's usage as wait4 and waitid report it: its own and its waited-for
/// children's; for a live (stopped or continued) child, its CPU time so far.
pub fn child_usage(k: &mut Kernel, child: Pid) -> Rusage {
    let (mut u, cu, host) = {
        let t = k.table.borrow();
        let Some(p) = t.procs.get(&child) else { return Rusage::default() };
        let host = p.threads.first().and_then(|th| t.tasks.get(th)).map(|x| x.host);
        (p.usage, p.cusage, host)
    };
    if let Some((user, sys)) = host.and_then(|h| k.platform.cpu_times(h)) {
        let tv = |d: std::time::Duration| Timeval {
            tv_sec: d.as_secs() as i64,
            tv_usec: d.subsec_micros() as i64,
        };
        u.ru_utime = tv(user);
        u.ru_stime = tv(sys);
    }
    add_child_usage(&mut u, &cu);
    u
}
