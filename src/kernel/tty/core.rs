//! One terminal (Linux's tty_struct): a line discipline plus the job
//! control state around it — the session it is the controlling terminal
//! of and its foreground process group. The console and every pty slave
//! are one of these; they differ only in where output goes (the host's
//! terminal, or the pty master's read queue).

use super::console::OutputSink;
use super::ldisc::{InputEffect, LineDiscipline, ReadReady};
use super::{IoctlArg, IoctlArgKind, IoctlReply};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::OpenFile;
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::task::Pid;
use crate::kernel::wait::{WaitId, Waker};
use crate::kernel::Kernel;
use guest_abi::misc::{POLLHUP, POLLIN, POLLOUT};
use guest_abi::termios::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub struct Tty {
    pub ldisc: RefCell<LineDiscipline>,
    /// The foreground process group and the session whose controlling
    /// terminal this is (0: none yet).
    pub fg_pgrp: Cell<Pid>,
    pub session: Cell<Pid>,
    /// Readers of the terminal wait here.
    pub read_wait: WaitId,
    /// Readers of its output (a pty master) wait here.
    pub output_wait: WaitId,
    /// The other side is gone: reads return end of file.
    pub hung_up: Cell<bool>,
    /// Set by read(2) for the call in progress: its VTIME timer has run
    /// out, so a read that would wait for more returns what is there.
    pub vtime_expired: Cell<bool>,
    /// Signals the line discipline produced that still need sending.
    pub pending: RefCell<Vec<InputEffect>>,
    /// Where output goes at once (the console's host terminal); None:
    /// it stays queued for a pty master.
    sink: RefCell<Option<OutputSink>>,
    pub waker: Waker,
}

impl Tty {
    pub fn new(waker: &Waker, winsize: WinSize, sink: Option<OutputSink>) -> Tty {
        let mut ldisc = LineDiscipline::new();
        ldisc.set_winsize(winsize);
        Tty {
            ldisc: RefCell::new(ldisc),
            fg_pgrp: Cell::new(0),
            session: Cell::new(0),
            read_wait: waker.new_id(),
            output_wait: waker.new_id(),
            hung_up: Cell::new(false),
            vtime_expired: Cell::new(false),
            pending: RefCell::new(Vec::new()),
            sink: RefCell::new(sink),
            waker: waker.clone(),
        }
    }

    /// Hands queued output to the sink, or tells a pty master it is there.
    pub fn flush_output(&self) {
        let mut sink = self.sink.borrow_mut();
        match sink.as_mut() {
            Some(out) => {
                let bytes = self.ldisc.borrow_mut().take_output();
                if !bytes.is_empty() {
                    out(&bytes);
                }
            }
            None => {
                self.ldisc.borrow_mut().mark_delivered();
                if self.ldisc.borrow().output_pending() > 0 {
                    self.waker.wake(self.output_wait);
                }
            }
        }
    }

    /// Typed input (from the host console or a pty master).
    pub fn input(&self, bytes: &[u8]) {
        let fx = self.ldisc.borrow_mut().receive_input(bytes);
        self.pending.borrow_mut().extend(fx);
        self.waker.wake(self.read_wait);
        if self.ldisc.borrow().pktstatus() != 0 {
            self.waker.wake(self.output_wait);
        }
        self.flush_output();
    }

    /// Sends the signals input produced to the foreground group.
    pub fn send_pending(&self, k: &mut Kernel) {
        let fx: Vec<InputEffect> = self.pending.borrow_mut().drain(..).collect();
        for InputEffect::Signal(sig) in fx {
            let pg = self.fg_pgrp.get();
            if pg > 0 {
                crate::kernel::signal::kill_pgrp(
                    k,
                    pg,
                    sig,
                    crate::kernel::signal::SigOrigin::kernel(sig),
                );
            }
        }
    }

    /// read(2) on the terminal.
    pub fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let mut l = self.ldisc.borrow_mut();
        if f.nonblocking() {
            let r = l.read_nonblocking(buf);
            self.pending.borrow_mut().extend(l.take_deferred_effects());
            return match r {
                Some(n) => Ok(n),
                None if self.hung_up.get() => Ok(0),
                None => Err(Errno::EAGAIN),
            };
        }
        let n = match l.read_ready(buf.len()) {
            ReadReady::Ready => l.read(buf),
            // A hung-up terminal reads as end of file.
            _ if self.hung_up.get() => 0,
            ReadReady::Block => return Err(Errno::EAGAIN),
            // VTIME: wait (see `vtime_wait`) until the timer runs out.
            ReadReady::BlockWithInterbyteTimeout(_) | ReadReady::BlockWithTimeout(_) => {
                if !self.vtime_expired.get() {
                    return Err(Errno::EAGAIN);
                }
                l.read(buf)
            }
        };
        self.pending.borrow_mut().extend(l.take_deferred_effects());
        Ok(n)
    }

    /// How long a blocked read of `count` bytes may wait before it returns
    /// what is there (VTIME, in non-canonical mode), and whether that timer
    /// restarts with every byte (VMIN > 0) rather than running from the
    /// start of the call (VMIN == 0). None: wait for input alone.
    pub fn vtime_wait(&self, count: usize) -> Option<(std::time::Duration, bool)> {
        match self.ldisc.borrow().read_ready(count) {
            ReadReady::BlockWithTimeout(d) => Some((d, false)),
            ReadReady::BlockWithInterbyteTimeout(d) => Some((d, true)),
            _ => None,
        }
    }

    /// write(2) on the terminal.
    pub fn write(&self, data: &[u8]) -> KResult<usize> {
        if self.hung_up.get() && self.sink.borrow().is_none() {
            return Err(Errno::EIO);
        }
        let n = self.ldisc.borrow_mut().write(data);
        self.flush_output();
        Ok(n)
    }

    pub fn poll(&self) -> i16 {
        let mut ev = POLLOUT;
        if self.ldisc.borrow().poll_readable() {
            ev |= POLLIN;
        }
        if self.hung_up.get() {
            ev |= POLLHUP;
        }
        ev
    }

    /// Job control for a read, write or settings change from `ctx`
    /// (drivers/tty/tty_jobctrl.c, __tty_check_change): a process outside
    /// the foreground group of the terminal's session gets SIGTTIN (read)
    /// or SIGTTOU (write under TOSTOP, or changing settings), and its call
    /// restarts once it is continued; EIO if the signal is ignored or
    /// blocked (reads) or its group is orphaned. None: go ahead.
    pub fn job_control(&self, k: &mut Kernel, ctx: &Ctx, sig: i32) -> Option<SysResult> {
        use guest_abi::signal::{sigmask, SIGTTOU};
        let (pgid, sid, orphaned) = {
            let t = k.table.borrow();
            let p = t.procs.get(&ctx.pid)?;
            (p.pgid, p.sid, t.pgrp_orphaned(p.pgid))
        };
        if self.session.get() == 0 || sid != self.session.get() || pgid == self.fg_pgrp.get() {
            return None;
        }
        if sig == SIGTTOU
            && self.ldisc.borrow().termios().c_lflag & TOSTOP == 0
            && ctx.nr() == guest_abi::sysno::SYS_WRITE
        {
            return None;
        }
        let blocked = k.platform.blocked_signals(ctx.host).unwrap_or(0);
        let (_, ignored, _) = k.platform.signal_state(ctx.host).unwrap_or((0, 0, 0));
        if (blocked | ignored) & sigmask(sig) != 0 {
            // A background writer that ignores SIGTTOU may write.
            return if sig == SIGTTOU { None } else { Some(SysResult::err(Errno::EIO)) };
        }
        if orphaned {
            return Some(SysResult::err(Errno::EIO));
        }
        crate::kernel::signal::kill_pgrp(
            k,
            pgid,
            sig,
            crate::kernel::signal::SigOrigin::kernel(sig),
        );
        crate::kernel::signal::interrupt_syscall(k, ctx, guest_abi::restart::ERESTARTSYS);
        Some(SysResult::Handled)
    }

    /// Terminal ioctls: job control here, the rest in the line discipline.
    pub fn ioctl(&self, k: &mut Kernel, ctx: &Ctx, req: u64, arg: u64) -> KResult<i64> {
        match req {
            TIOCGPGRP => {
                let g = self.fg_pgrp.get();
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(arg, &g)?;
                return Ok(0);
            }
            TIOCSPGRP => {
                let g: i32 = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(arg)?;
                if g <= 0 {
                    return Err(Errno::EINVAL);
                }
                let t = k.table.borrow();
                let sid = t.procs.get(&ctx.pid).map(|p| p.sid).unwrap_or(0);
                if sid != self.session.get() {
                    return Err(Errno::ENOTTY);
                }
                // The group must exist in the caller's session.
                if !t.live().any(|p| p.pgid == g && p.sid == sid) {
                    return Err(Errno::EPERM);
                }
                self.fg_pgrp.set(g);
                return Ok(0);
            }
            TIOCGSID => {
                let s = self.session.get();
                if s == 0 {
                    return Err(Errno::ENOTTY);
                }
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(arg, &s)?;
                return Ok(0);
            }
            TIOCSCTTY => {
                // tiocsctty: a session leader without a terminal takes one
                // that no session has; root may steal it with arg 1.
                let t = k.table.borrow();
                let p = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
                let (sid, pgid, root) = (p.sid, p.pgid, p.cred.euid == 0);
                drop(t);
                if self.session.get() == sid && sid != 0 {
                    return Ok(0);
                }
                if sid != ctx.pid || session_has_ctty(k, sid) {
                    return Err(Errno::EPERM);
                }
                if self.session.get() != 0 && !(arg == 1 && root) {
                    return Err(Errno::EPERM);
                }
                self.session.set(sid);
                self.fg_pgrp.set(pgid);
                return Ok(0);
            }
            TIOCNOTTY => {
                let t = k.table.borrow();
                let p = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
                let (sid, leader) = (p.sid, p.sid == p.pid);
                drop(t);
                if sid == 0 || self.session.get() != sid {
                    return Err(Errno::ENOTTY);
                }
                // umk keeps the terminal per session: only its leader
                // giving it up changes anything.
                if leader {
                    disassociate_ctty(k, sid);
                }
                return Ok(0);
            }
            _ => {}
        }
        let kind = LineDiscipline::ioctl_arg_kind(req).ok_or(Errno::ENOTTY)?;
        let a = {
            let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
            match kind {
                IoctlArgKind::None => IoctlArg::None,
                IoctlArgKind::Value => IoctlArg::Value(arg),
                IoctlArgKind::Termios => IoctlArg::Termios(m.read_obj(arg)?),
                IoctlArgKind::WinSize => IoctlArg::WinSize(m.read_obj(arg)?),
                IoctlArgKind::Byte => IoctlArg::Byte(m.read_obj(arg)?),
            }
        };
        if LineDiscipline::ioctl_waits_for_output(req) {
            // Console output goes to the host at once; a pty's stays until
            // its master reads (tcdrain does not wait for that here).
            self.flush_output();
        }
        let reply = self.ldisc.borrow_mut().ioctl(req, a);
        if self.ldisc.borrow().pktstatus() != 0 {
            // A packet-mode pty master has an event to read.
            self.waker.wake(self.output_wait);
        }
        let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
        match reply {
            IoctlReply::Done => Ok(0),
            IoctlReply::Termios(t) => m.write_obj(arg, &t).map(|_| 0),
            IoctlReply::WinSize(w) => m.write_obj(arg, &w).map(|_| 0),
            IoctlReply::Int(v) => m.write_obj(arg, &v).map(|_| 0),
            IoctlReply::Effects(fx) => {
                self.pending.borrow_mut().extend(fx);
                self.waker.wake(self.read_wait);
                Ok(0)
            }
            IoctlReply::Error(e) => Err(Errno(e)),
        }
    }
}

/// Whether session `sid` has a controlling terminal: the console or a pty.
pub fn session_has_ctty(k: &Kernel, sid: Pid) -> bool {
    session_tty(k, sid).is_some()
}

fn session_tty(k: &Kernel, sid: Pid) -> Option<Rc<Tty>> {
    if sid == 0 {
        return None;
    }
    if k.tty.tty.session.get() == sid {
        return Some(k.tty.tty.clone());
    }
    k.devpts.session_tty(sid)
}

/// The session leader is gone (or gave the terminal up with TIOCNOTTY):
/// the foreground group gets SIGHUP and SIGCONT, and the terminal belongs
/// to no session any more (disassociate_ctty).
pub fn disassociate_ctty(k: &mut Kernel, sid: Pid) {
    let Some(tty) = session_tty(k, sid) else { return };
    let pg = tty.fg_pgrp.get();
    tty.session.set(0);
    tty.fg_pgrp.set(0);
    if pg > 0 {
        for sig in [guest_abi::signal::SIGHUP, guest_abi::signal::SIGCONT] {
            crate::kernel::signal::kill_pgrp(
                k,
                pg,
                sig,
                crate::kernel::signal::SigOrigin::kernel(sig),
            );
        }
    }
}

/// open(2) of a terminal without O_NOCTTY: a session leader that has no
/// controlling terminal gets this one, if no other session has it
/// (tty_open_proc_set_tty). The console and pty masters never become one.
pub fn acquire_on_open(k: &Kernel, pid: Pid, tty: &Tty) {
    let t = k.table.borrow();
    let Some(p) = t.procs.get(&pid) else { return };
    let (sid, pgid) = (p.sid, p.pgid);
    drop(t);
    if sid == pid && tty.session.get() == 0 && !session_has_ctty(k, sid) {
        tty.session.set(sid);
        tty.fg_pgrp.set(pgid);
    }
}
