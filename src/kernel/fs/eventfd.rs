//! eventfd(2): a 64-bit counter as a file (fs/eventfd.c).

use super::file::{FileKind, FileOps, OpenFile};
use super::Attr;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::{WaitId, Waker};
use guest_abi::misc::{POLLIN, POLLOUT};
use std::cell::Cell;

pub const EFD_SEMAPHORE: i32 = 1;
const MAX: u64 = u64::MAX - 1;

pub struct EventFd {
    count: Cell<u64>,
    semaphore: bool,
    waker: Waker,
    wait: WaitId,
    ino: u64,
}

impl EventFd {
    pub fn new(initval: u64, semaphore: bool, waker: &Waker) -> EventFd {
        let wait = waker.new_id();
        EventFd { count: Cell::new(initval), semaphore, waker: waker.clone(), wait, ino: wait }
    }
}

impl FileOps for EventFd {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let c = self.count.get();
        if c == 0 {
            return Err(Errno::EAGAIN);
        }
        let v = if self.semaphore { 1 } else { c };
        self.count.set(c - v);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.waker.wake(self.wait);
        Ok(8)
    }

    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        let v = u64::from_ne_bytes(
            data.get(..8).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?,
        );
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let c = self.count.get();
        if MAX - c < v {
            return Err(Errno::EAGAIN);
        }
        self.count.set(c + v);
        self.waker.wake(self.wait);
        Ok(8)
    }

    fn poll(&self) -> i16 {
        let c = self.count.get();
        let mut ev = 0;
        if c > 0 {
            ev |= POLLIN;
        }
        if c < MAX {
            ev |= POLLOUT;
        }
        ev
    }

    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![self.wait]
    }

    fn kind(&self) -> FileKind {
        FileKind::Other
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[eventfd]")
    }
    fn attr(&self) -> Option<Attr> {
        // anon_inode:[eventfd]
        Some(super::anon_inode_attr(self.ino))
    }
}
