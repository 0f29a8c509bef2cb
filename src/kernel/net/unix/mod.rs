//! AF_UNIX sockets (net/unix/af_unix.c; man 7 unix).
//!
//! Every socket owns a receive queue of messages. A connected stream or
//! seqpacket socket also holds its peer's queue as `tx`, so the two ends
//! of a connection (a socketpair, or a connect/accept) never own each
//! other: closing one end marks the queues (end of file for the reader,
//! EPIPE for the writer) and the other end sees it. SOCK_STREAM readers
//! glue queued messages into one byte stream; SOCK_DGRAM and
//! SOCK_SEQPACKET keep boundaries (a short read drops the tail).
//!
//! A datagram socket sends into whichever socket its destination names;
//! "connecting" it only sets a default destination, held weakly: when
//! that socket goes away the next send fails with ECONNREFUSED, then
//! ENOTCONN, as on Linux.
//!
//! A listening socket keeps the server ends of connections not yet
//! accepted. connect() makes the pair at once (the client may write
//! before the server accepts), as Linux does.
//!
//! Names (bind, connect, sendto) are found through [`names`]: a socket
//! file in the guest's VFS is matched to its socket by inode, abstract
//! names by their bytes; nothing reaches a host path. Each message carries
//! its sender's address and credentials and any passed files (SCM_RIGHTS,
//! see [`scm`]), which are umk's own open files, shared by reference.

pub mod addr;
pub mod names;
pub mod scm;

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::fs::Attr;
use crate::kernel::wait::{WaitId, Waker};
use addr::UnixAddr;
use guest_abi::errno::{ECONNREFUSED, ECONNRESET, EMSGSIZE, ENOTCONN, EPERM};
use guest_abi::misc::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_SEQPACKET: i32 = 5;
/// Bytes a receive queue holds before senders wait (net.core.wmem_default).
pub const QUEUE_BYTES: usize = 212_992;
/// net.core.somaxconn: listen(2) caps its backlog here.
pub const SOMAXCONN: u32 = 4096;
/// net.unix.max_dgram_qlen: datagrams a socket queues before senders wait.
const MAX_DGRAM_QLEN: usize = 512;
/// A datagram must fit the send buffer less this (af_unix.c: sk_sndbuf - 32).
const DGRAM_OVERHEAD: usize = 32;
/// include/uapi/linux/eventpoll.h: the peer shut down its writing side.
const POLLRDHUP: i16 = 0x2000;

/// struct ucred: a process's pid and ids, as SO_PEERCRED and
/// SCM_CREDENTIALS carry them (guest pids, never host ones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The credentials of whoever makes the current call: write(2) on a
/// socket goes through [`FileOps`], which has no caller, yet each message
/// records its sender.
pub type CurrentCred = Rc<dyn Fn() -> Ucred>;

/// One queued message (an skb).
struct Msg {
    data: Vec<u8>,
    /// The sender's address when it sent (recvfrom reports it).
    from: Option<UnixAddr>,
    fds: Vec<Rc<OpenFile>>,
    cred: Ucred,
}

/// What a send carries besides its bytes.
#[derive(Default)]
pub struct Ancillary {
    pub fds: Vec<Rc<OpenFile>>,
    /// SCM_CREDENTIALS given by the sender; None: its own real ids.
    pub cred: Option<Ucred>,
}

/// What a receive got.
pub struct Received {
    pub data: Vec<u8>,
    /// The whole datagram's length (MSG_TRUNC reports it).
    pub full_len: usize,
    pub from: Option<UnixAddr>,
    pub fds: Vec<Rc<OpenFile>>,
    /// The sender's credentials, when the receiver asked (SO_PASSCRED).
    pub cred: Option<Ucred>,
}

/// What [`UnixSocket::stream_view`] reports of a connection.
pub struct StreamView {
    /// Bytes waiting to be read.
    pub rx_bytes: usize,
    /// The peer shut down its writing side or closed.
    pub peer_eof: bool,
    /// The peer closed: nothing sent can be read any more.
    pub peer_gone: bool,
    /// A send would queue at least one byte.
    pub tx_room: bool,
    /// The peer reset the connection.
    pub reset: bool,
    /// An error waits to be reported.
    pub error: bool,
}

/// A receive queue.
struct Queue {
    msgs: RefCell<VecDeque<Msg>>,
    bytes: Cell<usize>,
    /// The writing end shut down or closed: readers see end of file.
    eof: Cell<bool>,
    /// The reading end is gone or shut down: writers get EPIPE.
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

    fn push(&self, m: Msg) {
        self.bytes.set(self.bytes.get() + m.data.len());
        self.msgs.borrow_mut().push_back(m);
    }
}

enum State {
    /// Fresh from socket(), or any datagram socket.
    Unconnected,
    Listening {
        backlog: usize,
        /// Server ends of connections not yet accepted.
        pending: VecDeque<Rc<UnixSocket>>,
    },
    /// A stream or seqpacket end: `tx` is the peer's receive queue.
    Connected { tx: Rc<Queue>, peer: Weak<UnixSocket> },
}

pub struct UnixSocket {
    kind: i32,
    me: Weak<UnixSocket>,
    waker: Waker,
    ino: u64,
    rx: Rc<Queue>,
    state: RefCell<State>,
    /// A datagram socket's default destination (connect).
    dgram_peer: RefCell<Option<Weak<UnixSocket>>>,
    /// The peer's name when the connection was made, for getpeername
    /// after the peer is gone.
    peer_name: RefCell<Option<UnixAddr>>,
    addr: RefCell<Option<UnixAddr>>,
    shut_rd: Cell<bool>,
    shut_wr: Cell<bool>,
    /// sk_err: reported once by the next receive on an empty queue or
    /// by SO_ERROR.
    error: Cell<Option<Errno>>,
    /// SO_PEERCRED: the peer's credentials when the connection was made.
    peercred: Cell<Option<Ucred>>,
    /// A server end nobody accepted yet: closing it resets the client.
    embryo: Cell<bool>,
    /// The peer went away resetting the connection (it closed with
    /// unread data, or abortively).
    reset: Cell<bool>,
    /// Closing resets the peer even with nothing unread (a TCP socket's
    /// SO_LINGER with a zero timeout).
    pub abort_on_close: Cell<bool>,
    pub passcred: Cell<bool>,
    pub reuseaddr: Cell<bool>,
    pub sndbuf: Cell<i32>,
    pub rcvbuf: Cell<i32>,
    current: CurrentCred,
}

impl UnixSocket {
    /// socket(AF_UNIX, kind, 0): unnamed and unconnected.
    pub fn new(kind: i32, waker: &Waker, current: CurrentCred) -> Rc<UnixSocket> {
        Rc::new_cyclic(|me| {
            let rx = Queue::new(waker);
            UnixSocket {
                kind,
                me: me.clone(),
                waker: waker.clone(),
                ino: rx.wait,
                rx,
                state: RefCell::new(State::Unconnected),
                dgram_peer: RefCell::new(None),
                peer_name: RefCell::new(None),
                addr: RefCell::new(None),
                shut_rd: Cell::new(false),
                shut_wr: Cell::new(false),
                error: Cell::new(None),
                peercred: Cell::new(None),
                embryo: Cell::new(false),
                reset: Cell::new(false),
                abort_on_close: Cell::new(false),
                passcred: Cell::new(false),
                reuseaddr: Cell::new(false),
                sndbuf: Cell::new(QUEUE_BYTES as i32),
                rcvbuf: Cell::new(QUEUE_BYTES as i32),
                current,
            }
        })
    }

    /// socketpair: two connected ends, each with the creator's
    /// credentials as its peer's.
    pub fn pair(
        kind: i32,
        waker: &Waker,
        current: CurrentCred,
        cred: Ucred,
    ) -> (Rc<UnixSocket>, Rc<UnixSocket>) {
        let a = UnixSocket::new(kind, waker, current.clone());
        let b = UnixSocket::new(kind, waker, current);
        if kind == SOCK_DGRAM {
            *a.dgram_peer.borrow_mut() = Some(Rc::downgrade(&b));
            *b.dgram_peer.borrow_mut() = Some(Rc::downgrade(&a));
        } else {
            a.link(&b);
        }
        a.peercred.set(Some(cred));
        b.peercred.set(Some(cred));
        (a, b)
    }

    /// Connects two stream or seqpacket ends to each other.
    fn link(self: &Rc<Self>, other: &Rc<UnixSocket>) {
        *self.state.borrow_mut() =
            State::Connected { tx: other.rx.clone(), peer: Rc::downgrade(other) };
        *other.state.borrow_mut() =
            State::Connected { tx: self.rx.clone(), peer: Rc::downgrade(self) };
    }

    pub fn kind(&self) -> i32 {
        self.kind
    }

    /// This socket as a shared reference (it is always held by an Rc).
    pub fn rc(&self) -> Option<Rc<UnixSocket>> {
        self.me.upgrade()
    }

    pub fn is_listening(&self) -> bool {
        matches!(*self.state.borrow(), State::Listening { .. })
    }

    /// getsockname: None for an unnamed socket.
    pub fn name(&self) -> Option<UnixAddr> {
        self.addr.borrow().clone()
    }

    pub fn is_bound(&self) -> bool {
        self.addr.borrow().is_some()
    }

    /// Names the socket; [`names`] checked and registered the name.
    fn set_name(&self, a: UnixAddr) {
        *self.addr.borrow_mut() = Some(a);
    }

    /// getpeername: the peer's name (None if it has none); ENOTCONN
    /// without a peer.
    pub fn peer_name(&self) -> KResult<Option<UnixAddr>> {
        let peer = match &*self.state.borrow() {
            State::Connected { peer, .. } => peer.clone(),
            _ => match &*self.dgram_peer.borrow() {
                Some(p) => p.clone(),
                None => return Err(Errno(ENOTCONN)),
            },
        };
        Ok(match peer.upgrade() {
            Some(p) => p.name(),
            None => self.peer_name.borrow().clone(),
        })
    }

    /// SO_PEERCRED; None before any connection.
    pub fn peer_cred(&self) -> Option<Ucred> {
        self.peercred.get()
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&self) -> Option<Errno> {
        self.error.take()
    }

    /// listen(2). Only a bound stream or seqpacket socket that is not
    /// connected may listen; listening again changes the backlog.
    pub fn listen(&self, backlog: u32, cred: Ucred) -> KResult<()> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        if !self.is_bound() {
            return Err(Errno::EINVAL);
        }
        self.listen_unnamed(backlog)?;
        self.peercred.set(Some(cred));
        Ok(())
    }

    /// Makes the socket a listener, or changes its backlog, whatever its
    /// name: a TCP listener uses an unnamed one for its accept queue.
    pub fn listen_unnamed(&self, backlog: u32) -> KResult<()> {
        let backlog = backlog.min(SOMAXCONN) as usize;
        let mut st = self.state.borrow_mut();
        match &mut *st {
            State::Connected { .. } => return Err(Errno::EINVAL),
            State::Listening { backlog: b, .. } => {
                *b = backlog;
                // A larger backlog may let waiting connectors in.
                self.waker.wake(self.rx.wait);
            }
            State::Unconnected => {
                *st = State::Listening { backlog, pending: VecDeque::new() };
            }
        }
        Ok(())
    }

    /// Stops listening: connections not yet accepted are reset, waiting
    /// acceptors wake (to EINVAL).
    pub fn stop_listening(&self) {
        let old = std::mem::replace(&mut *self.state.borrow_mut(), State::Unconnected);
        drop(old);
        self.waker.wake(self.rx.wait);
    }

    /// The state of a connected stream end, for a transport built on it
    /// (TCP reports readiness its own way).
    pub fn stream_view(&self) -> StreamView {
        let (peer_gone, tx_room) = match &*self.state.borrow() {
            State::Connected { tx, .. } => (tx.closed.get(), tx.bytes.get() < QUEUE_BYTES),
            _ => (true, false),
        };
        StreamView {
            rx_bytes: self.rx.bytes.get(),
            peer_eof: self.rx.eof.get(),
            peer_gone,
            tx_room,
            reset: self.reset.get(),
            error: self.error.get().is_some(),
        }
    }

    /// accept(2): the next connection, EAGAIN if none is pending.
    pub fn accept(&self) -> KResult<Rc<UnixSocket>> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state.borrow_mut();
        let State::Listening { pending, .. } = &mut *st else {
            return Err(Errno::EINVAL);
        };
        let s = pending.pop_front().ok_or(Errno::EAGAIN)?;
        s.embryo.set(false);
        // Room in the backlog for a connector that waits.
        self.waker.wake(self.rx.wait);
        Ok(s)
    }

    /// connect(2) of a stream or seqpacket socket to `listener` (found by
    /// name, of the same type). EAGAIN while the backlog is full.
    pub fn connect_stream(self: &Rc<Self>, listener: &Rc<UnixSocket>, cred: Ucred) -> KResult<()> {
        if Rc::ptr_eq(self, listener) {
            // A listener connecting to its own name.
            return Err(Errno::EINVAL);
        }
        {
            let mut lst = listener.state.borrow_mut();
            let State::Listening { backlog, pending } = &mut *lst else {
                return Err(Errno(ECONNREFUSED));
            };
            if listener.shut_rd.get() {
                return Err(Errno(ECONNREFUSED));
            }
            // af_unix.c unix_recvq_full: one more than the backlog fits.
            if pending.len() > *backlog {
                return Err(Errno::EAGAIN);
            }
            match &*self.state.borrow() {
                State::Connected { .. } => return Err(Errno(guest_abi::errno::EISCONN)),
                State::Listening { .. } => return Err(Errno::EINVAL),
                State::Unconnected => {}
            }
            let server = UnixSocket::new(self.kind, &self.waker, self.current.clone());
            *server.addr.borrow_mut() = listener.name();
            server.passcred.set(listener.passcred.get());
            server.peercred.set(Some(cred));
            server.embryo.set(true);
            *server.peer_name.borrow_mut() = self.name();
            self.peercred.set(listener.peercred.get());
            *self.peer_name.borrow_mut() = listener.name();
            self.link(&server);
            pending.push_back(server);
        }
        self.waker.wake(listener.rx.wait);
        Ok(())
    }

    /// connect(2) of a datagram socket: sets (or with None clears) the
    /// default destination.
    pub fn connect_dgram(&self, target: Option<&Rc<UnixSocket>>) -> KResult<()> {
        if let Some(t) = target {
            self.may_send_to(t)?;
        }
        let new = target.map(Rc::downgrade);
        let mut peer = self.dgram_peer.borrow_mut();
        let changed = match (&*peer, &new) {
            (Some(old), Some(n)) => !old.ptr_eq(n),
            (Some(_), None) => true,
            _ => false,
        };
        if changed {
            // af_unix.c unix_dgram_disconnected: what the old peer sent
            // is dropped.
            let mut q = self.rx.msgs.borrow_mut();
            q.clear();
            self.rx.bytes.set(0);
        }
        *peer = new;
        *self.peer_name.borrow_mut() = target.and_then(|t| t.name());
        Ok(())
    }

    /// af_unix.c unix_may_send: a datagram socket connected elsewhere
    /// takes datagrams only from its peer.
    fn may_send_to(&self, t: &Rc<UnixSocket>) -> KResult<()> {
        match &*t.dgram_peer.borrow() {
            Some(p) if !p.ptr_eq(&self.me) => Err(Errno(EPERM)),
            _ => Ok(()),
        }
    }

    fn cred_for(&self, anc: &Ancillary) -> Ucred {
        anc.cred.unwrap_or_else(|| (self.current)())
    }

    /// Sends on a connected stream or seqpacket socket. A stream takes as
    /// much as fits (the caller waits for the rest); zero bytes send
    /// nothing, passed files included, as on Linux.
    pub fn send_connected(&self, data: &[u8], anc: Ancillary) -> KResult<usize> {
        let tx = match &*self.state.borrow() {
            State::Connected { tx, .. } => tx.clone(),
            _ => return Err(Errno(ENOTCONN)),
        };
        if self.shut_wr.get() || tx.closed.get() {
            return Err(Errno::EPIPE);
        }
        let room = QUEUE_BYTES.saturating_sub(tx.bytes.get());
        let n = if self.kind == SOCK_STREAM {
            if data.is_empty() {
                return Ok(0);
            }
            if room == 0 {
                return Err(Errno::EAGAIN);
            }
            data.len().min(room)
        } else {
            if data.len() > (self.sndbuf.get() as usize).saturating_sub(DGRAM_OVERHEAD) {
                return Err(Errno(EMSGSIZE));
            }
            if room < data.len() {
                return Err(Errno::EAGAIN);
            }
            data.len()
        };
        let cred = self.cred_for(&anc);
        tx.push(Msg { data: data[..n].to_vec(), from: self.name(), fds: anc.fds, cred });
        self.waker.wake(tx.wait);
        Ok(n)
    }

    /// Checks a datagram's size before its destination is looked up.
    pub fn dgram_fits(&self, len: usize) -> KResult<()> {
        if len > (self.sndbuf.get() as usize).saturating_sub(DGRAM_OVERHEAD) {
            return Err(Errno(EMSGSIZE));
        }
        Ok(())
    }

    /// Sends a datagram to `to`, or to the connected peer.
    pub fn send_dgram(
        &self,
        data: &[u8],
        anc: Ancillary,
        to: Option<&Rc<UnixSocket>>,
    ) -> KResult<usize> {
        self.dgram_fits(data.len())?;
        let target = match to {
            Some(t) => t.clone(),
            None => self.dgram_target()?,
        };
        self.may_send_to(&target)?;
        if self.shut_wr.get() || target.rx.closed.get() {
            return Err(Errno::EPIPE);
        }
        let q = &target.rx;
        let to_peer = target.dgram_peer.borrow().as_ref().is_some_and(|p| p.ptr_eq(&self.me));
        if (!to_peer && q.msgs.borrow().len() > MAX_DGRAM_QLEN)
            || q.bytes.get() + data.len() > QUEUE_BYTES
        {
            return Err(Errno::EAGAIN);
        }
        let cred = self.cred_for(&anc);
        q.push(Msg { data: data.to_vec(), from: self.name(), fds: anc.fds, cred });
        self.waker.wake(q.wait);
        Ok(data.len())
    }

    /// The connected peer of a datagram socket. A peer that has gone
    /// away is forgotten with ECONNREFUSED; after that it is ENOTCONN.
    fn dgram_target(&self) -> KResult<Rc<UnixSocket>> {
        let mut peer = self.dgram_peer.borrow_mut();
        let Some(w) = peer.as_ref() else {
            return Err(Errno(ENOTCONN));
        };
        match w.upgrade() {
            Some(t) => Ok(t),
            None => {
                *peer = None;
                Err(Errno(ECONNREFUSED))
            }
        }
    }

    /// What a blocked sender waits on: the queue it sends into.
    pub fn send_waits(&self, to: Option<&Rc<UnixSocket>>) -> Vec<WaitId> {
        if let Some(t) = to {
            return vec![t.rx.wait];
        }
        self.wait_ids(POLLOUT)
    }

    /// Receives up to `max` bytes: Ok with no data at end of file, EAGAIN
    /// when it would block. `peek` leaves the data queued (passed files
    /// are handed out again, as Linux does). `waitall` (MSG_WAITALL) makes
    /// a stream wait until `max` bytes or end of file are there.
    pub fn recv(&self, max: usize, peek: bool, waitall: bool) -> KResult<Received> {
        match &*self.state.borrow() {
            State::Listening { .. } => return Err(Errno::EINVAL),
            State::Unconnected if self.kind == SOCK_STREAM => return Err(Errno::EINVAL),
            State::Unconnected if self.kind == SOCK_SEQPACKET => return Err(Errno(ENOTCONN)),
            _ => {}
        }
        let q = &self.rx;
        let at_end = self.shut_rd.get() || (self.kind != SOCK_DGRAM && q.eof.get());
        let empty = q.msgs.borrow().is_empty();
        if empty || (waitall && self.kind == SOCK_STREAM && q.bytes.get() < max && !at_end) {
            if empty {
                if let Some(e) = self.error.take() {
                    return Err(e);
                }
                if at_end {
                    return Ok(Received {
                        data: Vec::new(),
                        full_len: 0,
                        from: None,
                        fds: Vec::new(),
                        cred: None,
                    });
                }
            }
            return Err(Errno::EAGAIN);
        }
        let r = if self.kind == SOCK_STREAM {
            self.recv_stream(max, peek)
        } else {
            self.recv_message(max, peek)
        };
        if !peek {
            // Room for writers.
            self.waker.wake(q.wait);
        }
        Ok(r)
    }

    /// A stream read glues messages together, but never past one that
    /// carried files, nor (with SO_PASSCRED) across senders
    /// (af_unix.c unix_stream_read_generic).
    fn recv_stream(&self, max: usize, peek: bool) -> Received {
        let q = &self.rx;
        let mut msgs = q.msgs.borrow_mut();
        let mut out = Received {
            data: Vec::new(),
            full_len: 0,
            from: msgs.front().and_then(|m| m.from.clone()),
            fds: Vec::new(),
            cred: None,
        };
        let mut i = 0;
        while out.data.len() < max {
            let Some(m) = msgs.get_mut(i) else { break };
            if self.passcred.get() {
                match out.cred {
                    Some(c) if c != m.cred => break,
                    None => out.cred = Some(m.cred),
                    _ => {}
                }
            }
            let take = (max - out.data.len()).min(m.data.len());
            out.data.extend_from_slice(&m.data[..take]);
            let had_fds = !m.fds.is_empty();
            if peek {
                out.fds.extend(m.fds.iter().cloned());
                i += 1;
                if had_fds {
                    break;
                }
                continue;
            }
            out.fds.append(&mut m.fds);
            if take < m.data.len() {
                m.data.drain(..take);
                break;
            }
            msgs.remove(i);
            if had_fds {
                break;
            }
        }
        if !peek {
            q.bytes.set(q.bytes.get().saturating_sub(out.data.len()));
        }
        out.full_len = out.data.len();
        out
    }

    /// One datagram or seqpacket record.
    fn recv_message(&self, max: usize, peek: bool) -> Received {
        let q = &self.rx;
        let mut msgs = q.msgs.borrow_mut();
        let m = if peek {
            msgs.front().map(|m| Msg {
                data: m.data.clone(),
                from: m.from.clone(),
                fds: m.fds.clone(),
                cred: m.cred,
            })
        } else {
            msgs.pop_front()
        };
        let Some(m) = m else {
            return Received {
                data: Vec::new(),
                full_len: 0,
                from: None,
                fds: Vec::new(),
                cred: None,
            };
        };
        if !peek {
            q.bytes.set(q.bytes.get().saturating_sub(m.data.len()));
        }
        let full_len = m.data.len();
        let mut data = m.data;
        data.truncate(max);
        Received {
            data,
            full_len,
            from: m.from,
            fds: m.fds,
            cred: self.passcred.get().then_some(m.cred),
        }
    }

    /// Bytes the next read would see (FIONREAD): the whole queue of a
    /// stream, the next record of the others.
    pub fn readable_bytes(&self) -> usize {
        if self.kind == SOCK_STREAM {
            self.rx.bytes.get()
        } else {
            self.rx.msgs.borrow().front().map_or(0, |m| m.data.len())
        }
    }

    /// shutdown(2): 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR. On a connection
    /// the peer sees it too: our SHUT_WR is its end of file, our SHUT_RD
    /// its EPIPE.
    pub fn shutdown(&self, how: i32) -> KResult<()> {
        if !(0..=2).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let connected_tx = match &*self.state.borrow() {
            State::Connected { tx, .. } => Some(tx.clone()),
            _ => None,
        };
        if how != 1 {
            self.shut_rd.set(true);
            if connected_tx.is_some() {
                self.rx.closed.set(true);
            }
            self.waker.wake(self.rx.wait);
        }
        if how != 0 {
            self.shut_wr.set(true);
            if let Some(tx) = &connected_tx {
                tx.eof.set(true);
                self.waker.wake(tx.wait);
            }
        }
        Ok(())
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.rx.closed.set(true);
        self.waker.wake(self.rx.wait);
        let st = std::mem::replace(self.state.get_mut(), State::Unconnected);
        match st {
            State::Connected { tx, peer } => {
                tx.eof.set(true);
                self.waker.wake(tx.wait);
                // af_unix.c unix_release_sock: closing with unread data,
                // or before the server accepted, resets the peer.
                if !self.rx.msgs.borrow().is_empty()
                    || self.embryo.get()
                    || self.abort_on_close.get()
                {
                    if let Some(p) = peer.upgrade() {
                        p.error.set(Some(Errno(ECONNRESET)));
                        p.reset.set(true);
                    }
                }
            }
            State::Listening { pending, .. } => drop(pending),
            State::Unconnected => {}
        }
    }
}

impl FileOps for UnixSocket {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let r = self.recv(buf.len(), false, false)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        if self.kind == SOCK_DGRAM {
            self.send_dgram(data, Ancillary::default(), None)
        } else {
            self.send_connected(data, Ancillary::default())
        }
    }
    fn poll(&self) -> i16 {
        let mut ev = 0;
        if self.error.get().is_some() {
            ev |= POLLERR;
        }
        let rd_shut = self.shut_rd.get() || (self.kind != SOCK_DGRAM && self.rx.eof.get());
        if !self.rx.msgs.borrow().is_empty() || rd_shut {
            ev |= POLLIN;
        }
        if rd_shut {
            ev |= POLLRDHUP;
        }
        match &*self.state.borrow() {
            State::Listening { pending, .. } => {
                // Only a pending connection makes a listener ready.
                return if pending.is_empty() { 0 } else { POLLIN };
            }
            State::Connected { tx, .. } => {
                let wr_shut = self.shut_wr.get() || tx.closed.get();
                if !wr_shut && tx.bytes.get() < QUEUE_BYTES {
                    ev |= POLLOUT;
                }
                if rd_shut && wr_shut {
                    ev |= POLLHUP;
                }
            }
            State::Unconnected => {
                if !self.shut_wr.get() {
                    ev |= POLLOUT;
                }
                // An unconnected stream socket is "hung up" (unix_poll).
                if self.kind != SOCK_DGRAM || (self.shut_rd.get() && self.shut_wr.get()) {
                    ev |= POLLHUP;
                }
            }
        }
        ev
    }
    fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        let mut v = vec![self.rx.wait];
        if events & POLLOUT != 0 {
            if let State::Connected { tx, .. } = &*self.state.borrow() {
                v.push(tx.wait);
            }
            if let Some(p) = self.dgram_peer.borrow().as_ref().and_then(|p| p.upgrade()) {
                v.push(p.rx.wait);
            }
        }
        v
    }
    fn ioctl(
        &self,
        k: &mut crate::kernel::Kernel,
        ctx: &crate::kernel::syscall::Ctx,
        req: u64,
        arg: u64,
    ) -> Option<KResult<i64>> {
        // SIOCINQ (= FIONREAD) and SIOCOUTQ (= TIOCOUTQ).
        const SIOCINQ: u64 = 0x541b;
        const SIOCOUTQ: u64 = 0x5411;
        let n = match req {
            SIOCINQ => {
                if self.is_listening() {
                    return Some(Err(Errno::EINVAL));
                }
                self.readable_bytes()
            }
            SIOCOUTQ => match &*self.state.borrow() {
                State::Connected { tx, .. } => tx.bytes.get(),
                _ => 0,
            },
            _ => return None,
        };
        Some(crate::kernel::net::put_count(k, ctx, arg, n))
    }
    fn kind(&self) -> FileKind {
        FileKind::Socket
    }
    fn attr(&self) -> Option<Attr> {
        Some(crate::kernel::net::socket_attr(self.ino))
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
