//! Pipes and fifos (fs/pipe.c): a bounded byte queue with reader and
//! writer counts. Reading an empty pipe blocks while writers exist and
//! returns 0 (EOF) when none are left; writing with no readers is EPIPE
//! (and SIGPIPE, sent by the syscall layer). Writes of at most PIPE_BUF
//! bytes are atomic.

use super::file::{FileKind, FileOps, OpenFile};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::{WaitId, Waker};
use guest_abi::misc::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Default pipe capacity (16 pages), as Linux.
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic (include/uapi/linux/limits.h).
pub const PIPE_BUF: usize = 4096;

pub struct Pipe {
    buf: RefCell<VecDeque<u8>>,
    readers: Cell<usize>,
    writers: Cell<usize>,
    waker: Waker,
    /// Woken when data arrives or the last writer leaves.
    pub read_wait: WaitId,
    /// Woken when space frees up or the last reader leaves.
    pub write_wait: WaitId,
    /// How many bytes it holds at most (F_SETPIPE_SZ changes it).
    capacity: Cell<usize>,
}

impl Pipe {
    pub fn new(waker: &Waker) -> Rc<Pipe> {
        Rc::new(Pipe {
            buf: RefCell::new(VecDeque::new()),
            readers: Cell::new(0),
            writers: Cell::new(0),
            read_wait: waker.new_id(),
            write_wait: waker.new_id(),
            waker: waker.clone(),
            capacity: Cell::new(PIPE_CAPACITY),
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity.get()
    }

    /// F_SETPIPE_SZ: rounds up to a power of two pages, at least one page
    /// and at most /proc/sys/fs/pipe-max-size (1 MiB); EBUSY if the data
    /// already queued would not fit (fs/pipe.c pipe_set_size).
    pub fn set_capacity(&self, want: usize) -> KResult<usize> {
        const PIPE_MAX_SIZE: usize = 1 << 20;
        if want > PIPE_MAX_SIZE {
            return Err(Errno::EPERM);
        }
        let size = want.max(4096).next_power_of_two();
        if self.buf.borrow().len() > size {
            return Err(Errno::EBUSY);
        }
        self.capacity.set(size);
        self.waker.wake(self.write_wait);
        Ok(size)
    }

    pub fn readers(&self) -> usize {
        self.readers.get()
    }
    pub fn writers(&self) -> usize {
        self.writers.get()
    }
    pub fn len(&self) -> usize {
        self.buf.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.borrow().is_empty()
    }
}

/// Opens a fifo's pipe (fs/pipe.c fifo_open), without the blocking open:
/// O_RDWR gives both ends; a non-blocking writer with no reader is ENXIO.
pub fn fifo_open(pipe: &Rc<Pipe>, flags: i32) -> KResult<Rc<dyn FileOps>> {
    use guest_abi::fcntl::{O_ACCMODE, O_NONBLOCK, O_RDONLY, O_WRONLY};
    match flags & O_ACCMODE {
        O_RDONLY => Ok(PipeEnd::new(pipe, false)),
        O_WRONLY => {
            if flags & O_NONBLOCK != 0 && pipe.readers() == 0 {
                return Err(Errno::ENXIO);
            }
            Ok(PipeEnd::new(pipe, true))
        }
        _ => Ok(Rc::new(FifoRdwr { r: PipeEnd::new(pipe, false), w: PipeEnd::new(pipe, true) })),
    }
}

/// A fifo opened O_RDWR (a Linux extension): reads and writes one pipe.
struct FifoRdwr {
    r: Rc<PipeEnd>,
    w: Rc<PipeEnd>,
}

impl FileOps for FifoRdwr {
    fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        self.r.read(f, buf)
    }
    fn write(&self, f: &OpenFile, data: &[u8]) -> KResult<usize> {
        self.w.write(f, data)
    }
    fn poll(&self) -> i16 {
        self.r.poll() | self.w.poll()
    }
    fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        let mut v = self.r.wait_ids(events);
        v.extend(self.w.wait_ids(events));
        v
    }
    fn kind(&self) -> FileKind {
        FileKind::Pipe
    }
}

/// One end of a pipe. Dropping the last open file of an end closes it.
pub struct PipeEnd {
    pub pipe: Rc<Pipe>,
    pub write: bool,
}

impl PipeEnd {
    pub fn new(pipe: &Rc<Pipe>, write: bool) -> Rc<PipeEnd> {
        if write {
            pipe.writers.set(pipe.writers.get() + 1);
        } else {
            pipe.readers.set(pipe.readers.get() + 1);
        }
        Rc::new(PipeEnd { pipe: pipe.clone(), write })
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let p = &self.pipe;
        if self.write {
            p.writers.set(p.writers.get().saturating_sub(1));
            if p.writers.get() == 0 {
                p.waker.wake(p.read_wait);
            }
        } else {
            p.readers.set(p.readers.get().saturating_sub(1));
            if p.readers.get() == 0 {
                p.waker.wake(p.write_wait);
            }
        }
    }
}

impl FileOps for PipeEnd {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        if self.write {
            return Err(Errno::EBADF);
        }
        let p = &self.pipe;
        let mut q = p.buf.borrow_mut();
        if q.is_empty() {
            if p.writers.get() == 0 || buf.is_empty() {
                return Ok(0);
            }
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(q.len());
        for (i, b) in q.drain(..n).enumerate() {
            buf[i] = b;
        }
        p.waker.wake(p.write_wait);
        Ok(n)
    }

    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let p = &self.pipe;
        if p.readers.get() == 0 {
            return Err(Errno::EPIPE);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut q = p.buf.borrow_mut();
        let room = p.capacity.get().saturating_sub(q.len());
        // A small write goes in whole or not at all (PIPE_BUF atomicity);
        // a large one may be split.
        if room == 0 || (data.len() <= PIPE_BUF && room < data.len()) {
            return Err(Errno::EAGAIN);
        }
        let n = data.len().min(room);
        q.extend(&data[..n]);
        p.waker.wake(p.read_wait);
        Ok(n)
    }

    fn poll(&self) -> i16 {
        let p = &self.pipe;
        let len = p.buf.borrow().len();
        if self.write {
            let mut ev = 0;
            if p.capacity.get().saturating_sub(len) >= PIPE_BUF {
                ev |= POLLOUT;
            }
            if p.readers.get() == 0 {
                ev |= POLLERR;
            }
            ev
        } else {
            let mut ev = 0;
            if len > 0 {
                ev |= POLLIN;
            }
            if p.writers.get() == 0 {
                ev |= POLLHUP;
            }
            ev
        }
    }

    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![if self.write { self.pipe.write_wait } else { self.pipe.read_wait }]
    }

    fn kind(&self) -> FileKind {
        FileKind::Pipe
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
