//! Where the kernel reports to the tracer: the syscall path, signal
//! delivery and process exit call these. When neither `--trace` nor
//! `--stats` is given `Kernel::trace` is None and each hook is one branch.

use super::{Stats, TraceMem, Tracer};
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::Ctx;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use crate::platform::HostTid;
use std::collections::HashMap;
use std::time::Instant;

/// What `--trace` and `--stats` keep while the VM runs.
pub struct TraceSession {
    pub tracer: Option<Tracer>,
    pub stats: Option<Stats>,
    /// Where trace lines go (stderr or a file).
    pub out: Box<dyn FnMut(&str)>,
    /// When each thread's current call was first seen.
    started: HashMap<Pid, (usize, Instant)>,
}

impl TraceSession {
    pub fn new(
        tracer: Option<Tracer>,
        stats: Option<Stats>,
        out: Box<dyn FnMut(&str)>,
    ) -> TraceSession {
        TraceSession { tracer, stats, out, started: HashMap::new() }
    }
}

struct Mem<'a>(GuestMem<'a>);

impl TraceMem for Mem<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.0.read(addr, buf).is_ok()
    }
}

impl Kernel {
    /// A syscall starts (or runs again after a wait).
    pub fn trace_enter(&mut self, ctx: &Ctx) {
        let Some(t) = self.trace.as_mut() else { return };
        let nr = ctx.nr();
        t.started.entry(ctx.tid).or_insert((nr, Instant::now()));
        if let Some(tr) = t.tracer.as_mut() {
            if tr.wants(nr) {
                let mut m = Mem(GuestMem::new(self.platform.as_mut(), ctx.host));
                tr.enter(ctx.pid, ctx.tid, nr, ctx.args, &mut m);
            }
        }
    }

    /// A syscall of `tid` finished with `ret`.
    pub fn trace_exit(&mut self, tid: Pid, host: HostTid, ret: i64) {
        let Some(t) = self.trace.as_mut() else { return };
        let Some((nr, start)) = t.started.remove(&tid) else { return };
        let elapsed = start.elapsed();
        if let Some(s) = t.stats.as_mut() {
            s.record(nr, ret, elapsed);
        }
        if let Some(tr) = t.tracer.as_mut() {
            let mut m = Mem(GuestMem::new(self.platform.as_mut(), host));
            if let Some(line) = tr.exit(tid, ret, elapsed, &mut m) {
                (t.out)(&line);
            }
        }
    }

    /// A syscall of `tid` was parked.
    pub fn trace_blocked(&mut self, tid: Pid) {
        let Some(t) = self.trace.as_mut() else { return };
        if let Some(line) = t.tracer.as_mut().and_then(|tr| tr.blocked(tid)) {
            (t.out)(&line);
        }
    }

    /// A signal is being delivered to `host`.
    pub fn trace_signal(&mut self, host: HostTid, sig: i32) {
        if self.trace.as_ref().is_none_or(|t| t.tracer.is_none()) {
            return;
        }
        let (pid, tid) = match self.table.borrow().task_by_host(host) {
            Some(t) => (t.pid, t.tid),
            None => return,
        };
        let info = self.platform.get_siginfo(host).unwrap_or([0; 128]);
        if let Some(t) = self.trace.as_mut() {
            if let Some(tr) = t.tracer.as_mut() {
                let line = tr.signal(pid, tid, sig, &info);
                (t.out)(&line);
            }
        }
    }

    /// A process ended.
    pub fn trace_process_exit(&mut self, pid: Pid, status: crate::kernel::task::ExitStatus) {
        let Some(t) = self.trace.as_mut() else { return };
        t.started.retain(|_, _| true);
        if let Some(tr) = t.tracer.as_mut() {
            let line = match status {
                crate::kernel::task::ExitStatus::Exited(c) => tr.exited(pid, Some(c), None),
                crate::kernel::task::ExitStatus::Killed { sig, core } => {
                    tr.exited(pid, None, Some((sig, core)))
                }
            };
            (t.out)(&line);
        }
    }

    /// A syscall umk does not implement.
    pub fn trace_enosys(&mut self, nr: usize) {
        if let Some(s) = self.trace.as_mut().and_then(|t| t.stats.as_mut()) {
            s.record_enosys(nr);
        }
    }

    /// The `--stats` report, at the end.
    pub fn trace_report(&self) -> Option<String> {
        self.trace.as_ref().and_then(|t| t.stats.as_ref()).map(|s| s.report())
    }
}
