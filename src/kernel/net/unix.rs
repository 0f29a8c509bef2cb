//! AF_UNIX socket pairs (net/unix/af_unix.c, the socketpair part).
//!
//! Each end has a receive queue that the other end fills. SOCK_STREAM
//! queues bytes; SOCK_DGRAM and SOCK_SEQPACKET queue whole messages (a
//! short read of a datagram drops its tail, as Linux does). Closing or
//! shutting down an end is seen by the peer as end of file (reads) or
//! EPIPE (writes).

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::fs::Attr;
use crate::kernel::wait::{WaitId, Waker};
use guest_abi::misc::{POLLHUP, POLLIN, POLLOUT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_SEQPACKET: i32 = 5;
/// Bytes a receive queue holds before senders wait (net.core.wmem_default-ish).
pub const QUEUE_BYTES: usize = 212_992;

/// One direction of a pair: what one end will receive.
struct Queue {
    /// Stream bytes, or datagrams (message boundaries kept).
    msgs: RefCell<VecDeque<Vec<u8>>>,
    bytes: Cell<usize>,
    /// The writing end shut down or closed: readers see end of file.
    eof: Cell<bool>,
    /// The reading end is gone: writers get EPIPE.
    closed: Cell<bool>,
    wait: WaitId,
}

impl Queue {
    fn new(waker: &Waker) -> Rc<Queue> {
        Rc::new(Queue {
            msgs: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            eof: Cell::new(false),
            closed: Cell::new(false),
            wait: waker.new_id(),
        })
    }
}

pub struct UnixSocket {
    kind: i32,
    rx: Rc<Queue>,
    tx: Rc<Queue>,
    waker: Waker,
    ino: u64,
    /// SHUT_RD / SHUT_WR done on this end.
    shut_rd: Cell<bool>,
    shut_wr: Cell<bool>,
}

/// socketpair: two connected ends.
pub fn pair(kind: i32, waker: &Waker) -> (Rc<UnixSocket>, Rc<UnixSocket>) {
    let (a_rx, b_rx) = (Queue::new(waker), Queue::new(waker));
    let a = Rc::new(UnixSocket {
        kind,
        rx: a_rx.clone(),
        tx: b_rx.clone(),
        waker: waker.clone(),
        ino: a_rx.wait,
        shut_rd: Cell::new(false),
        shut_wr: Cell::new(false),
    });
    let b = Rc::new(UnixSocket {
        kind,
        rx: b_rx,
        tx: a_rx,
        waker: waker.clone(),
        ino: a.ino + 1,
        shut_rd: Cell::new(false),
        shut_wr: Cell::new(false),
    });
    (a, b)
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.tx.eof.set(true);
        self.rx.closed.set(true);
        self.waker.wake(self.tx.wait);
        self.waker.wake(self.rx.wait);
    }
}

impl UnixSocket {
    pub fn kind(&self) -> i32 {
        self.kind
    }

    /// recv: Ok(0) at end of file; EAGAIN when it would block. With
    /// `peek` the data stays queued (MSG_PEEK).
    pub fn recv(&self, buf: &mut [u8], peek: bool) -> KResult<usize> {
        let q = &self.rx;
        let mut msgs = q.msgs.borrow_mut();
        if msgs.is_empty() {
            if q.eof.get() || self.shut_rd.get() {
                return Ok(0);
            }
            return Err(Errno::EAGAIN);
        }
        let n = if self.kind == SOCK_STREAM {
            // Gather across queued chunks.
            let mut n = 0;
            for m in msgs.iter() {
                let take = (buf.len() - n).min(m.len());
                buf[n..n + take].copy_from_slice(&m[..take]);
                n += take;
                if n == buf.len() {
                    break;
                }
            }
            if !peek {
                let mut left = n;
                while left > 0 {
                    let Some(front) = msgs.front_mut() else { break };
                    if front.len() <= left {
                        left -= front.len();
                        msgs.pop_front();
                    } else {
                        front.drain(..left);
                        left = 0;
                    }
                }
            }
            n
        } else {
            let m = if peek {
                msgs.front().cloned().unwrap_or_default()
            } else {
                msgs.pop_front().unwrap_or_default()
            };
            let n = m.len().min(buf.len());
            buf[..n].copy_from_slice(&m[..n]);
            if !peek {
                q.bytes.set(q.bytes.get().saturating_sub(m.len()));
                self.waker.wake(q.wait);
                return Ok(n);
            }
            n
        };
        if !peek && self.kind == SOCK_STREAM {
            q.bytes.set(q.bytes.get().saturating_sub(n));
            self.waker.wake(q.wait);
        }
        Ok(n)
    }

    pub fn send(&self, data: &[u8]) -> KResult<usize> {
        let q = &self.tx;
        if self.shut_wr.get() || q.closed.get() {
            return Err(Errno::EPIPE);
        }
        let room = QUEUE_BYTES.saturating_sub(q.bytes.get());
        if self.kind == SOCK_STREAM {
            if data.is_empty() {
                return Ok(0);
            }
            if room == 0 {
                return Err(Errno::EAGAIN);
            }
            let n = data.len().min(room);
            q.msgs.borrow_mut().push_back(data[..n].to_vec());
            q.bytes.set(q.bytes.get() + n);
            self.waker.wake(q.wait);
            return Ok(n);
        }
        if data.len() > QUEUE_BYTES {
            return Err(Errno(guest_abi::errno::EMSGSIZE));
        }
        if room < data.len() {
            return Err(Errno::EAGAIN);
        }
        q.msgs.borrow_mut().push_back(data.to_vec());
        q.bytes.set(q.bytes.get() + data.len());
        self.waker.wake(q.wait);
        Ok(data.len())
    }

    /// shutdown(2): 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR.
    pub fn shutdown(&self, how: i32) -> KResult<()> {
        if !(0..=2).contains(&how) {
            return Err(Errno::EINVAL);
        }
        if how != 1 {
            self.shut_rd.set(true);
            self.waker.wake(self.rx.wait);
        }
        if how != 0 {
            self.shut_wr.set(true);
            self.tx.eof.set(true);
            self.waker.wake(self.tx.wait);
        }
        Ok(())
    }
}

impl FileOps for UnixSocket {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        self.recv(buf, false)
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        self.send(data)
    }
    fn poll(&self) -> i16 {
        let mut ev = 0;
        if !self.rx.msgs.borrow().is_empty() || self.rx.eof.get() || self.shut_rd.get() {
            ev |= POLLIN;
        }
        if !self.shut_wr.get() && !self.tx.closed.get() && self.tx.bytes.get() < QUEUE_BYTES {
            ev |= POLLOUT;
        }
        if self.rx.eof.get() && (self.tx.closed.get() || self.shut_wr.get()) {
            ev |= POLLHUP;
        }
        ev
    }
    fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        let mut v = Vec::with_capacity(2);
        if events & POLLIN != 0 {
            v.push(self.rx.wait);
        }
        if events & POLLOUT != 0 {
            v.push(self.tx.wait);
        }
        if v.is_empty() {
            v.push(self.rx.wait);
        }
        v
    }
    fn kind(&self) -> FileKind {
        FileKind::Socket
    }
    fn attr(&self) -> Option<Attr> {
        Some(Attr {
            dev: 0x8,
            ino: self.ino,
            mode: guest_abi::stat::S_IFSOCK | 0o777,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
