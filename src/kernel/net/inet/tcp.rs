//! TCP over the VM's loopback (net/ipv4/tcp.c, inet_connection_sock.c;
//! man 7 tcp).
//!
//! On `lo` the handshake completes inside connect(2): a connection to a
//! listener is made at once and waits in its accept queue, one to a port
//! nobody listens on is refused. The bytes travel through a connected
//! AF_UNIX stream pair (see [`crate::kernel::net::unix`]): its queues, its
//! accept backlog, its end of file and its resets are TCP's too. What TCP
//! does differently is kept here: a write after the peer closed is
//! accepted and lost (the peer answers with a reset, and only the next
//! call fails), a shutdown(SHUT_RD) tells the peer nothing, errors and
//! readiness follow tcp_poll and tcp_sendmsg, and a non-blocking connect
//! always says EINPROGRESS first.

use super::addr::Endpoint;
use super::ports::Proto;
use super::{InetSocket, Transport};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::net::unix::{Ancillary, CurrentCred, Ucred, UnixSocket, SOCK_STREAM};
use crate::kernel::wait::WaitId;
use guest_abi::errno::{ECONNABORTED, ECONNREFUSED, EINPROGRESS, EISCONN, ENOTCONN};
use guest_abi::misc::{POLLHUP, POLLIN, POLLOUT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// include/uapi/linux/eventpoll.h: the peer shut down its writing side.
const POLLRDHUP: i16 = 0x2000;

enum State {
    /// TCP_CLOSE: fresh, or after a refused connect.
    Closed,
    Listening {
        /// The accept queue.
        queue: Rc<UnixSocket>,
        /// Each queued connection's (local, peer) addresses, in order.
        addrs: VecDeque<(Endpoint, Endpoint)>,
    },
    Connected {
        conn: Rc<UnixSocket>,
    },
}

pub struct Tcp {
    state: RefCell<State>,
    shut_rd: Cell<bool>,
    shut_wr: Cell<bool>,
    /// A write after the peer closed met its reset (tcp_reset in
    /// CLOSE_WAIT): the connection is over.
    rst: Cell<bool>,
    /// The last send was such a write.
    lost: Cell<bool>,
    /// A non-blocking connect said EINPROGRESS: the next connect(2)
    /// reports how it ended.
    connecting: Cell<bool>,
}

/// How a connect(2) went on.
pub enum Connect {
    Done,
    /// The listener's accept queue is full: wait for an accept.
    Wait(Vec<WaitId>),
}

/// TCP sockets carry no credentials (SO_PEERCRED is for AF_UNIX).
fn no_cred() -> CurrentCred {
    Rc::new(Ucred::default)
}

impl Tcp {
    pub(super) fn new(conn: Option<Rc<UnixSocket>>) -> Tcp {
        Tcp {
            state: RefCell::new(match conn {
                Some(conn) => State::Connected { conn },
                None => State::Closed,
            }),
            shut_rd: Cell::new(false),
            shut_wr: Cell::new(false),
            rst: Cell::new(false),
            lost: Cell::new(false),
            connecting: Cell::new(false),
        }
    }

    pub fn is_listening(&self) -> bool {
        matches!(*self.state.borrow(), State::Listening { .. })
    }

    fn conn(&self) -> Option<Rc<UnixSocket>> {
        match &*self.state.borrow() {
            State::Connected { conn } => Some(conn.clone()),
            _ => None,
        }
    }

    /// Connected and not yet reset (getpeername works).
    pub fn has_peer(&self) -> bool {
        self.conn().is_some_and(|c| !c.stream_view().reset) && !self.rst.get()
    }

    pub fn take_error(&self) -> Option<Errno> {
        self.conn().and_then(|c| c.take_error())
    }

    /// Whether the last send was lost to a closed peer.
    pub fn lost_to_reset(&self) -> bool {
        self.lost.take()
    }

    pub(super) fn abort_on_close(&self) {
        if let Some(c) = self.conn() {
            c.abort_on_close.set(true);
        }
    }

    /// tcp_recvmsg: ENOTCONN unless connected; queued bytes, then end of
    /// file after the peer's FIN or our own SHUT_RD.
    pub fn recv(&self, max: usize, peek: bool, waitall: bool) -> KResult<Vec<u8>> {
        let conn = self.conn().ok_or(Errno(ENOTCONN))?;
        if self.shut_rd.get() {
            if conn.stream_view().rx_bytes == 0 {
                return Ok(Vec::new());
            }
            return conn.recv(max, peek, false).map(|r| r.data);
        }
        conn.recv(max, peek, waitall).map(|r| r.data)
    }

    /// tcp_sendmsg: EPIPE unless connected; a pending error first.
    pub fn send(&self, data: &[u8]) -> KResult<usize> {
        let conn = self.conn().ok_or(Errno::EPIPE)?;
        if let Some(e) = conn.take_error() {
            return Err(e);
        }
        let v = conn.stream_view();
        if self.shut_wr.get() || self.rst.get() || v.reset {
            return Err(Errno::EPIPE);
        }
        if v.peer_gone {
            self.rst.set(true);
            self.lost.set(true);
            return Ok(data.len());
        }
        conn.send_connected(data, Ancillary::default())
    }

    pub fn shutdown(&self, how: i32) -> KResult<()> {
        let mut st = self.state.borrow_mut();
        match &*st {
            State::Listening { queue, .. } => {
                // inet_shutdown: SHUT_RD on a listener stops it (and wakes
                // its acceptors, which is how servers unblock accept).
                if how != 1 {
                    queue.stop_listening();
                    *st = State::Closed;
                }
                Ok(())
            }
            State::Closed => {
                self.shut_rd.set(self.shut_rd.get() || how != 1);
                self.shut_wr.set(self.shut_wr.get() || how != 0);
                Err(Errno(ENOTCONN))
            }
            State::Connected { conn } => {
                if how != 1 {
                    self.shut_rd.set(true);
                }
                if how != 0 {
                    self.shut_wr.set(true);
                    conn.shutdown(1)?;
                }
                Ok(())
            }
        }
    }

    pub fn readable_bytes(&self) -> KResult<usize> {
        match &*self.state.borrow() {
            State::Listening { .. } => Err(Errno::EINVAL),
            State::Connected { conn } => Ok(conn.stream_view().rx_bytes),
            State::Closed => Ok(0),
        }
    }

    /// tcp_poll.
    pub fn poll(&self) -> i16 {
        let conn = match &*self.state.borrow() {
            State::Listening { queue, .. } => {
                use crate::kernel::fs::file::FileOps;
                return queue.poll();
            }
            State::Closed => {
                let mut ev = POLLOUT | POLLHUP;
                if self.shut_rd.get() {
                    ev |= POLLIN | POLLRDHUP;
                }
                return ev;
            }
            State::Connected { conn } => conn.clone(),
        };
        let v = conn.stream_view();
        let reset = self.rst.get() || v.reset;
        let rcv_shut = self.shut_rd.get() || v.peer_eof || reset;
        let snd_shut = self.shut_wr.get() || reset;
        let mut ev = 0;
        if rcv_shut && snd_shut {
            ev |= POLLHUP;
        }
        if rcv_shut {
            ev |= POLLIN | POLLRDHUP;
        }
        if v.rx_bytes > 0 {
            ev |= POLLIN;
        }
        // After SHUT_WR a socket stays "writable": a write fails at once.
        if snd_shut || v.tx_room {
            ev |= POLLOUT;
        }
        if v.error {
            ev |= guest_abi::misc::POLLERR;
        }
        ev
    }

    pub fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        use crate::kernel::fs::file::FileOps;
        match &*self.state.borrow() {
            State::Listening { queue, .. } => queue.wait_ids(POLLIN),
            State::Connected { conn } => conn.wait_ids(events),
            State::Closed => Vec::new(),
        }
    }
}

fn tcp(s: &InetSocket) -> KResult<&Tcp> {
    match &s.t {
        Transport::Tcp(t) => Ok(t),
        Transport::Udp(_) => Err(Errno::EOPNOTSUPP),
    }
}

/// listen(2): an unbound socket gets an ephemeral port first; listening
/// again changes the backlog.
pub fn listen(s: &Rc<InetSocket>, backlog: u32) -> KResult<()> {
    let t = tcp(s)?;
    if t.connecting.get() || matches!(*t.state.borrow(), State::Connected { .. }) {
        return Err(Errno::EINVAL);
    }
    if let State::Listening { queue, .. } = &*t.state.borrow() {
        return queue.listen_unnamed(backlog);
    }
    s.autobind()?;
    s.ports.may_listen(s)?;
    let queue = UnixSocket::new(SOCK_STREAM, &s.waker, no_cred());
    queue.listen_unnamed(backlog)?;
    *t.state.borrow_mut() = State::Listening { queue, addrs: VecDeque::new() };
    Ok(())
}

/// accept(2): the next queued connection, EAGAIN if none.
pub fn accept(s: &Rc<InetSocket>) -> KResult<Rc<InetSocket>> {
    let t = tcp(s)?;
    let (conn, (local, peer)) = match &mut *t.state.borrow_mut() {
        State::Listening { queue, addrs } => {
            let conn = queue.accept()?;
            let a = addrs.pop_front().ok_or(Errno::EAGAIN)?;
            (conn, a)
        }
        _ => return Err(Errno::EINVAL),
    };
    let new = InetSocket::with(
        s.family,
        Proto::Tcp,
        &s.waker,
        &s.ports,
        s.owner_uid,
        s.opts.inherit(),
        Some(conn),
    );
    new.peer.set(Some(peer));
    s.ports.insert(&new, local);
    Ok(new)
}

/// connect(2) to `dst`.
pub fn connect(s: &Rc<InetSocket>, dst: Endpoint, nonblocking: bool) -> KResult<Connect> {
    let t = tcp(s)?;
    if t.connecting.take() {
        // __inet_stream_connect, SS_CONNECTING: done now, or failed.
        if t.conn().is_some() {
            return Ok(Connect::Done);
        }
        t.shut_rd.set(false);
        t.shut_wr.set(false);
        return Err(s.error.take().unwrap_or(Errno(ECONNABORTED)));
    }
    if !matches!(*t.state.borrow(), State::Closed) {
        return Err(Errno(EISCONN));
    }
    let dst = s.route(&dst)?;
    let local = s.autobind()?;
    let src = s.source_for(&local, &dst);
    s.set_local(Some(src));
    let Some(listener) = s.ports.lookup(Proto::Tcp, &dst, &src) else {
        refused(s, local);
        if nonblocking {
            // tcp_done: the socket is shut both ways until reconnected.
            s.set_error(Errno(ECONNREFUSED));
            t.shut_rd.set(true);
            t.shut_wr.set(true);
            t.connecting.set(true);
            return Err(Errno(EINPROGRESS));
        }
        return Err(Errno(ECONNREFUSED));
    };
    let lt = tcp(&listener)?;
    let mut lst = lt.state.borrow_mut();
    let State::Listening { queue, addrs } = &mut *lst else {
        return Err(Errno(ECONNREFUSED));
    };
    let conn = UnixSocket::new(SOCK_STREAM, &s.waker, no_cred());
    match conn.connect_stream(queue, Ucred::default()) {
        Ok(()) => {}
        Err(e) if e == Errno::EAGAIN && !nonblocking => {
            use crate::kernel::fs::file::FileOps;
            return Ok(Connect::Wait(queue.wait_ids(POLLIN)));
        }
        Err(e) => return Err(e),
    }
    addrs.push_back((dst, src));
    drop(lst);
    *t.state.borrow_mut() = State::Connected { conn };
    s.peer.set(Some(dst));
    s.waker.wake(s.wait);
    if nonblocking {
        t.connecting.set(true);
        return Err(Errno(EINPROGRESS));
    }
    Ok(Connect::Done)
}

/// A failed connect gives back the source address the kernel chose for
/// a socket bound to a wildcard; the port stays bound (as on Linux).
fn refused(s: &InetSocket, before: Endpoint) {
    s.set_local(Some(before));
}

/// connect(AF_UNSPEC) (tcp_disconnect): a listener stops, a connection
/// is reset, and the socket is as after bind again.
pub fn disconnect(s: &Rc<InetSocket>) -> KResult<()> {
    let t = tcp(s)?;
    let old = std::mem::replace(&mut *t.state.borrow_mut(), State::Closed);
    match old {
        State::Listening { queue, .. } => queue.stop_listening(),
        State::Connected { conn } => conn.abort_on_close.set(true),
        State::Closed => {}
    }
    for flag in [&t.shut_rd, &t.shut_wr, &t.rst, &t.connecting] {
        flag.set(false);
    }
    if s.peer.take().is_some() || !s.user_addr.get() {
        if let Some(l) = s.local() {
            refused(s, Endpoint::new(super::addr::unbound(s.family).ip, l.port));
        }
    }
    s.waker.wake(s.wait);
    Ok(())
}
