//! pidfd: a file that names a process (fs/pidfs.c, kernel/pid.c).
//!
//! A pidfd stays bound to the process it was made for, through that
//! process's exit and reaping, and is never taken for a later process that
//! is given the same pid: it keeps the pid and the process's start instant,
//! which no two processes in the table share. It cannot be read or written;
//! poll says POLLIN once the process has exited (a zombie) and adds
//! POLLHUP once it has been reaped (pidfd_poll). Every process exit and
//! every reap wakes one wait queue shared by all pidfds: a poller of
//! another process's pidfd polls again and goes back to sleep.

use super::file::{FileKind, FileOps, OpenFile};
use super::Attr;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::task::{Pid, ProcessTable};
use crate::kernel::wait::WaitId;
use crate::kernel::Kernel;
use guest_abi::fcntl::{O_NONBLOCK, O_RDWR};
use guest_abi::misc::{POLLHUP, POLLIN, POLLRDNORM};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

pub struct PidFd {
    pid: Pid,
    /// The process's start instant: its identity beyond the pid.
    start: Instant,
    table: Rc<RefCell<ProcessTable>>,
    wait: WaitId,
    ino: u64,
}

/// Where the process a pidfd names is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidState {
    Live,
    /// Exited, not yet reaped by its parent.
    Zombie,
    /// Reaped: its pid may belong to someone else now.
    Gone,
}

impl PidFd {
    /// A pidfd for process `pid` (live or a zombie); ESRCH if there is none.
    pub fn new(k: &Kernel, pid: Pid) -> KResult<PidFd> {
        let start = k.table.borrow().procs.get(&pid).map(|p| p.start_time).ok_or(Errno::ESRCH)?;
        Ok(PidFd { pid, start, table: k.table.clone(), wait: k.pidfd_wait, ino: k.waker.new_id() })
    }

    pub fn state(&self) -> PidState {
        match self.table.borrow().procs.get(&self.pid) {
            Some(p) if p.start_time == self.start && p.exit.is_none() => PidState::Live,
            Some(p) if p.start_time == self.start => PidState::Zombie,
            _ => PidState::Gone,
        }
    }

    /// The process's pid while it has not been reaped; ESRCH after.
    pub fn pid(&self) -> KResult<Pid> {
        match self.state() {
            PidState::Gone => Err(Errno::ESRCH),
            _ => Ok(self.pid),
        }
    }
}

impl FileOps for PidFd {
    fn poll(&self) -> i16 {
        match self.state() {
            PidState::Live => 0,
            PidState::Zombie => POLLIN | POLLRDNORM,
            PidState::Gone => POLLIN | POLLRDNORM | POLLHUP,
        }
    }
    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![self.wait]
    }
    fn kind(&self) -> FileKind {
        FileKind::Other
    }
    fn attr(&self) -> Option<Attr> {
        Some(super::anon_inode_attr(self.ino))
    }
    fn anon_name(&self) -> Option<&'static str> {
        Some("[pidfd]")
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// What holds the fd of a CLONE_PIDFD pidfd while the clone runs.
pub struct Reserved;

impl FileOps for Reserved {}

/// The pidfd behind an open file; EBADF for any other file
/// (pidfd_pid).
pub fn pidfd_of(f: &OpenFile) -> KResult<&PidFd> {
    f.ops.as_any().and_then(|a| a.downcast_ref::<PidFd>()).ok_or(Errno::EBADF)
}

/// A new open pidfd for process `pid`; `nonblock` is PIDFD_NONBLOCK,
/// which makes waitid(P_PIDFD) on it fail with EAGAIN rather than wait.
pub fn open(k: &Kernel, pid: Pid, nonblock: bool) -> KResult<Rc<OpenFile>> {
    let ops = Rc::new(PidFd::new(k, pid)?);
    Ok(OpenFile::new(ops, None, None, O_RDWR | if nonblock { O_NONBLOCK } else { 0 }))
}

/// Wakes every pidfd poller: a process exited or was reaped.
pub fn wake_pollers(k: &Kernel) {
    k.waker.wake(k.pidfd_wait);
}
