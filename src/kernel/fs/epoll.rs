//! epoll(7): an interest list of open files, and a wait that reports which
//! of them are ready (fs/eventpoll.c).
//!
//! Readiness is asked of each file's `poll` when epoll_wait runs, so the
//! list is level-triggered by nature; EPOLLET is honoured by reporting an
//! event only when bits appear that were not there at the last report, and
//! EPOLLONESHOT by disarming an entry after it reported once.

use super::file::{FileKind, FileOps, OpenFile};
use super::Attr;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::{WaitId, Waker};
use guest_abi::misc::{POLLERR, POLLHUP, POLLIN};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

struct Interest {
    fd: i32,
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// What was last reported (for EPOLLET).
    last: u32,
    /// EPOLLONESHOT fired: silent until EPOLL_CTL_MOD.
    disarmed: bool,
}

pub struct EpollFile {
    interests: RefCell<Vec<Interest>>,
    waker: Waker,
    /// Woken when the interest list changes (a waiter re-evaluates).
    wait: WaitId,
    ino: u64,
}

impl EpollFile {
    pub fn new(waker: &Waker) -> EpollFile {
        let wait = waker.new_id();
        EpollFile { interests: RefCell::new(Vec::new()), waker: waker.clone(), wait, ino: wait }
    }

    fn same(i: &Interest, fd: i32, file: &Rc<OpenFile>) -> bool {
        i.fd == fd && i.file.upgrade().is_some_and(|f| Rc::ptr_eq(&f, file))
    }

    /// epoll_ctl.
    pub fn ctl(
        &self,
        op: i32,
        fd: i32,
        file: &Rc<OpenFile>,
        events: u32,
        data: u64,
    ) -> KResult<()> {
        let mut list = self.interests.borrow_mut();
        list.retain(|i| i.file.strong_count() > 0);
        let pos = list.iter().position(|i| Self::same(i, fd, file));
        match op {
            EPOLL_CTL_ADD => {
                if pos.is_some() {
                    return Err(Errno::EEXIST);
                }
                list.push(Interest {
                    fd,
                    file: Rc::downgrade(file),
                    events,
                    data,
                    last: 0,
                    disarmed: false,
                });
            }
            EPOLL_CTL_MOD => {
                let i = pos.ok_or(Errno::ENOENT)?;
                if events & EPOLLEXCLUSIVE != 0 {
                    return Err(Errno::EINVAL);
                }
                let e = &mut list[i];
                e.events = events;
                e.data = data;
                e.last = 0;
                e.disarmed = false;
            }
            EPOLL_CTL_DEL => {
                let i = pos.ok_or(Errno::ENOENT)?;
                list.remove(i);
            }
            _ => return Err(Errno::EINVAL),
        }
        drop(list);
        self.waker.wake(self.wait);
        Ok(())
    }

    /// Collects up to `max` ready events as (events, data); and the wait
    /// queues to sleep on when none is ready.
    pub fn collect(&self, max: usize) -> (Vec<(u32, u64)>, Vec<WaitId>) {
        let mut out = Vec::new();
        let mut waits = vec![self.wait];
        let mut list = self.interests.borrow_mut();
        list.retain(|i| i.file.strong_count() > 0);
        for i in list.iter_mut() {
            let Some(f) = i.file.upgrade() else { continue };
            if i.disarmed {
                continue;
            }
            let ready = f.ops.poll() as u16 as u32 & (i.events | EPOLLERR | EPOLLHUP) & 0xffff;
            let report = if i.events & EPOLLET != 0 { ready & !i.last } else { ready };
            i.last = ready;
            if report != 0 && out.len() < max {
                out.push((if i.events & EPOLLET != 0 { ready } else { report }, i.data));
                if i.events & EPOLLONESHOT != 0 {
                    i.disarmed = true;
                }
            } else if report == 0 {
                waits.extend(f.ops.wait_ids((i.events & 0xffff) as i16));
            }
        }
        (out, waits)
    }
}

impl FileOps for EpollFile {
    fn poll(&self) -> i16 {
        // An epoll fd is readable when one of its files is ready.
        let list = self.interests.borrow();
        let any = list.iter().any(|i| match i.file.upgrade() {
            Some(f) if !i.disarmed => {
                f.ops.poll() as u16 as u32 & (i.events | EPOLLERR | EPOLLHUP) & 0xffff != 0
            }
            _ => false,
        });
        if any {
            POLLIN
        } else {
            0
        }
    }

    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        let mut v = vec![self.wait];
        for i in self.interests.borrow().iter() {
            if let Some(f) = i.file.upgrade() {
                v.extend(f.ops.wait_ids((i.events & 0xffff) as i16 | POLLIN | POLLERR | POLLHUP));
            }
        }
        v
    }

    fn kind(&self) -> FileKind {
        FileKind::Other
    }

    fn anon_name(&self) -> Option<&'static str> {
        Some("[eventpoll]")
    }
    fn attr(&self) -> Option<Attr> {
        Some(super::anon_inode_attr(self.ino))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Whether an open file is an epoll instance (epoll_ctl's first argument).
pub fn as_epoll(f: &OpenFile) -> Option<&EpollFile> {
    f.ops.as_any().and_then(|a| a.downcast_ref::<EpollFile>())
}

#[allow(dead_code)]
const _: u32 = EPOLLIN | EPOLLRDHUP | EPOLLWAKEUP;
