//! The console: the host terminal (or host pipes) as the guest sees it.
//!
//! In *terminal mode* (umk's stdin and stdout are a terminal, put in raw
//! mode by the VM) every byte typed goes through umk's own line
//! discipline, which echoes, edits lines and turns ^C, ^\ and ^Z into
//! signals for the foreground process group; the guest's writes go through
//! its output processing to the host terminal. In *stream mode* (stdin or
//! stdout is a pipe or file) the guest's fds 0, 1 and 2 are plain streams
//! connected to the host's.
//!
//! Input arrives from the VM's console thread as [`ConsoleInput`] on a
//! channel; [`Console::pump`] feeds it in after every kernel event.

use super::ldisc::{InputEffect, LineDiscipline, ReadReady};
use super::{IoctlArg, IoctlArgKind, IoctlReply};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::Ctx;
use crate::kernel::task::Pid;
use crate::kernel::wait::{WaitId, Waker};
use crate::kernel::Kernel;
use crossbeam_channel::Receiver;
use guest_abi::misc::{POLLHUP, POLLIN, POLLOUT};
use guest_abi::termios::*;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// What the VM's console thread sends.
#[derive(Debug, Clone)]
pub enum ConsoleInput {
    Bytes(Vec<u8>),
    /// The host's stdin reached end of file (or the terminal hung up).
    Eof,
    /// The host terminal was resized.
    Resize(WinSize),
}

/// Where console output goes on the host.
pub type OutputSink = Box<dyn FnMut(&[u8])>;

pub struct Console {
    terminal: bool,
    ldisc: RefCell<LineDiscipline>,
    stream_in: RefCell<VecDeque<u8>>,
    eof: Cell<bool>,
    pub read_wait: WaitId,
    waker: Waker,
    input: Receiver<ConsoleInput>,
    out: RefCell<OutputSink>,
    err: RefCell<OutputSink>,
    /// Job control: the foreground process group and the session the
    /// console is the controlling terminal of.
    pub fg_pgrp: Cell<Pid>,
    pub session: Cell<Pid>,
    /// Signals the line discipline produced that still need sending.
    pending: RefCell<Vec<InputEffect>>,
    created: (i64, u32),
}

/// Which side of the console an fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handle {
    /// The terminal (all of 0, 1, 2 and /dev/tty in terminal mode).
    Tty,
    Stdin,
    Stdout,
    Stderr,
}

pub struct ConsoleFile {
    pub console: Rc<Console>,
    pub handle: Handle,
}

impl Console {
    pub fn new(terminal: bool, winsize: WinSize, waker: &Waker, input: Receiver<ConsoleInput>, out: OutputSink, err: OutputSink) -> Rc<Console> {
        let mut ldisc = LineDiscipline::new();
        ldisc.set_winsize(winsize);
        Rc::new(Console {
            terminal,
            ldisc: RefCell::new(ldisc),
            stream_in: RefCell::new(VecDeque::new()),
            eof: Cell::new(false),
            read_wait: waker.new_id(),
            waker: waker.clone(),
            input,
            out: RefCell::new(out),
            err: RefCell::new(err),
            fg_pgrp: Cell::new(1),
            session: Cell::new(1),
            pending: RefCell::new(Vec::new()),
            created: crate::kernel::fs::now(),
        })
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    pub fn file(self: &Rc<Self>, handle: Handle) -> Rc<dyn FileOps> {
        Rc::new(ConsoleFile { console: self.clone(), handle })
    }

    fn flush_output(&self) {
        let mut l = self.ldisc.borrow_mut();
        let bytes = l.take_output();
        drop(l);
        if !bytes.is_empty() {
            (self.out.borrow_mut())(&bytes);
        }
    }

    /// Feeds pending host input in and sends the signals it produced.
    pub fn pump(self: &Rc<Self>, k: &mut Kernel) {
        let mut got = false;
        while let Ok(msg) = self.input.try_recv() {
            got = true;
            match msg {
                ConsoleInput::Bytes(b) => {
                    if self.terminal {
                        let fx = self.ldisc.borrow_mut().receive_input(&b);
                        self.pending.borrow_mut().extend(fx);
                    } else {
                        self.stream_in.borrow_mut().extend(b);
                    }
                }
                ConsoleInput::Eof => self.eof.set(true),
                ConsoleInput::Resize(ws) => {
                    if self.ldisc.borrow_mut().set_winsize(ws) {
                        self.pending.borrow_mut().push(InputEffect::Signal(guest_abi::signal::SIGWINCH));
                    }
                }
            }
        }
        if got {
            self.waker.wake(self.read_wait);
        }
        if self.terminal {
            self.flush_output();
        }
        let fx: Vec<InputEffect> = self.pending.borrow_mut().drain(..).collect();
        for InputEffect::Signal(sig) in fx {
            crate::kernel::signal::kill_pgrp(k, self.fg_pgrp.get(), sig, crate::kernel::signal::SigOrigin::kernel(sig));
        }
    }

    /// Job control for a read, write or settings change from `ctx`
    /// (drivers/tty/tty_jobctrl.c, __tty_check_change): a process outside
    /// the foreground group of the console's session gets SIGTTIN (read)
    /// or SIGTTOU (write under TOSTOP, or changing settings), and its call
    /// restarts once it is continued; EIO if the signal is ignored or
    /// blocked (reads) or its group is orphaned. None: go ahead.
    pub fn job_control(self: &Rc<Self>, k: &mut Kernel, ctx: &Ctx, sig: i32) -> Option<crate::kernel::syscall::SysResult> {
        use crate::kernel::syscall::SysResult;
        use guest_abi::signal::{sigmask, SIGTTOU};
        let (pgid, sid, orphaned) = {
            let t = k.table.borrow();
            let p = t.procs.get(&ctx.pid)?;
            (p.pgid, p.sid, t.pgrp_orphaned(p.pgid))
        };
        if sid != self.session.get() || pgid == self.fg_pgrp.get() {
            return None;
        }
        if sig == SIGTTOU && self.ldisc.borrow().termios().c_lflag & TOSTOP == 0 && ctx.nr() == guest_abi::sysno::SYS_WRITE {
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
        crate::kernel::signal::kill_pgrp(k, pgid, sig, crate::kernel::signal::SigOrigin::kernel(sig));
        crate::kernel::signal::interrupt_syscall(k, ctx, guest_abi::restart::ERESTARTSYS);
        Some(SysResult::Handled)
    }

    /// Terminal ioctls: job control here, the rest in the line discipline.
    pub fn ioctl(self: &Rc<Self>, k: &mut Kernel, ctx: &Ctx, req: u64, arg: u64) -> KResult<i64> {
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
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(arg, &s)?;
                return Ok(0);
            }
            TIOCSCTTY => {
                let t = k.table.borrow();
                let p = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
                if p.sid != p.pid {
                    return Err(Errno::EPERM);
                }
                let sid = p.sid;
                let pgid = p.pgid;
                drop(t);
                self.session.set(sid);
                self.fg_pgrp.set(pgid);
                return Ok(0);
            }
            TIOCNOTTY => return Ok(0),
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
            // umk writes console output to the host at once: nothing is
            // ever left to drain.
            self.flush_output();
        }
        let reply = self.ldisc.borrow_mut().ioctl(req, a);
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

impl FileOps for ConsoleFile {
    fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let c = &self.console;
        match self.handle {
            Handle::Tty => {
                let mut l = c.ldisc.borrow_mut();
                if f.nonblocking() {
                    let r = l.read_nonblocking(buf);
                    c.pending.borrow_mut().extend(l.take_deferred_effects());
                    return r.ok_or(Errno::EAGAIN);
                }
                let n = match l.read_ready(buf.len()) {
                    ReadReady::Ready => l.read(buf),
                    // A hung-up terminal reads as end of file.
                    _ if c.eof.get() => 0,
                    ReadReady::Block => return Err(Errno::EAGAIN),
                    // VTIME timers are not run yet: return what is there.
                    ReadReady::BlockWithInterbyteTimeout(_) | ReadReady::BlockWithTimeout(_) => l.read(buf),
                };
                c.pending.borrow_mut().extend(l.take_deferred_effects());
                Ok(n)
            }
            Handle::Stdin => {
                let mut q = c.stream_in.borrow_mut();
                if q.is_empty() {
                    return if c.eof.get() || buf.is_empty() { Ok(0) } else { Err(Errno::EAGAIN) };
                }
                let n = buf.len().min(q.len());
                for (i, b) in q.drain(..n).enumerate() {
                    buf[i] = b;
                }
                Ok(n)
            }
            Handle::Stdout | Handle::Stderr => Err(Errno::EBADF),
        }
    }

    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        let c = &self.console;
        match self.handle {
            Handle::Tty => {
                let n = c.ldisc.borrow_mut().write(data);
                c.flush_output();
                Ok(n)
            }
            Handle::Stdout => {
                (c.out.borrow_mut())(data);
                Ok(data.len())
            }
            Handle::Stderr => {
                (c.err.borrow_mut())(data);
                Ok(data.len())
            }
            Handle::Stdin => Err(Errno::EBADF),
        }
    }

    fn poll(&self) -> i16 {
        let c = &self.console;
        match self.handle {
            Handle::Tty => {
                let mut ev = POLLOUT;
                if c.ldisc.borrow().poll_readable() {
                    ev |= POLLIN;
                }
                if c.eof.get() {
                    ev |= POLLHUP;
                }
                ev
            }
            Handle::Stdin => {
                if !c.stream_in.borrow().is_empty() {
                    POLLIN
                } else if c.eof.get() {
                    POLLIN | POLLHUP
                } else {
                    0
                }
            }
            Handle::Stdout | Handle::Stderr => POLLOUT,
        }
    }

    fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        if events & POLLIN != 0 && matches!(self.handle, Handle::Tty | Handle::Stdin) {
            vec![self.console.read_wait]
        } else {
            Vec::new()
        }
    }

    fn is_tty(&self) -> bool {
        self.handle == Handle::Tty
    }

    fn attr(&self) -> Option<crate::kernel::fs::Attr> {
        use guest_abi::stat::*;
        let t = self.console.created;
        let (mode, rdev, ino) = match self.handle {
            // The console is /dev/console, char 5:1, as on Linux.
            Handle::Tty => (S_IFCHR | 0o600, makedev(5, 1), 10),
            // Host pipes or files: the guest sees a pipe.
            Handle::Stdin => (S_IFIFO | 0o600, 0, 1),
            Handle::Stdout => (S_IFIFO | 0o600, 0, 2),
            Handle::Stderr => (S_IFIFO | 0o600, 0, 3),
        };
        Some(crate::kernel::fs::Attr { dev: makedev(0, 5), ino, mode, nlink: 1, rdev, blksize: 4096, atime: t, mtime: t, ctime: t, ..Default::default() })
    }

    fn kind(&self) -> FileKind {
        if self.handle == Handle::Tty {
            FileKind::Tty
        } else {
            FileKind::Pipe
        }
    }
}
