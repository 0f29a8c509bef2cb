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

use super::core::Tty;
use super::ldisc::InputEffect;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
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
    /// The terminal itself (terminal mode).
    pub tty: Rc<Tty>,
    stream_in: RefCell<VecDeque<u8>>,
    eof: Cell<bool>,
    pub read_wait: WaitId,
    waker: Waker,
    input: Receiver<ConsoleInput>,
    out: RefCell<OutputSink>,
    err: RefCell<OutputSink>,
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
    pub fn new(
        terminal: bool,
        winsize: WinSize,
        waker: &Waker,
        input: Receiver<ConsoleInput>,
        out: OutputSink,
        err: OutputSink,
    ) -> Rc<Console> {
        // In terminal mode the terminal writes straight to the host's;
        // in stream mode stdout is written directly (see ConsoleFile).
        let (tty_sink, out): (OutputSink, OutputSink) =
            if terminal { (out, Box::new(|_: &[u8]| {})) } else { (Box::new(|_: &[u8]| {}), out) };
        let tty = Rc::new(Tty::new(waker, winsize, Some(tty_sink)));
        // pid 1's session owns the console from boot.
        tty.fg_pgrp.set(1);
        tty.session.set(1);
        Rc::new(Console {
            terminal,
            read_wait: tty.read_wait,
            tty,
            stream_in: RefCell::new(VecDeque::new()),
            eof: Cell::new(false),
            waker: waker.clone(),
            input,
            out: RefCell::new(out),
            err: RefCell::new(err),
            created: crate::kernel::fs::now(),
        })
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    pub fn file(self: &Rc<Self>, handle: Handle) -> Rc<dyn FileOps> {
        Rc::new(ConsoleFile { console: self.clone(), handle })
    }

    /// Feeds pending host input in and sends the signals it produced.
    pub fn pump(self: &Rc<Self>, k: &mut Kernel) {
        let mut got = false;
        while let Ok(msg) = self.input.try_recv() {
            got = true;
            match msg {
                ConsoleInput::Bytes(b) => {
                    if self.terminal {
                        self.tty.input(&b);
                    } else {
                        self.stream_in.borrow_mut().extend(b);
                    }
                }
                ConsoleInput::Eof => {
                    self.eof.set(true);
                    self.tty.hung_up.set(true);
                }
                ConsoleInput::Resize(ws) => {
                    if self.tty.ldisc.borrow_mut().set_winsize(ws) {
                        self.tty
                            .pending
                            .borrow_mut()
                            .push(InputEffect::Signal(guest_abi::signal::SIGWINCH));
                    }
                }
            }
        }
        if got {
            self.waker.wake(self.read_wait);
        }
        if self.terminal {
            self.tty.flush_output();
        }
        if !self.tty.pending.borrow().is_empty() {
            self.tty.send_pending(k);
        }
    }
}

impl FileOps for ConsoleFile {
    fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let c = &self.console;
        match self.handle {
            Handle::Tty => c.tty.read(f, buf),
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
            Handle::Tty => c.tty.write(data),
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
            Handle::Tty => c.tty.poll(),
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

    fn tty(&self) -> Option<Rc<Tty>> {
        (self.handle == Handle::Tty).then(|| self.console.tty.clone())
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
        Some(crate::kernel::fs::Attr {
            dev: makedev(0, 5),
            ino,
            mode,
            nlink: 1,
            rdev,
            blksize: 4096,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    fn kind(&self) -> FileKind {
        if self.handle == Handle::Tty {
            FileKind::Tty
        } else {
            FileKind::Pipe
        }
    }
}
