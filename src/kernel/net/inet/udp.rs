//! UDP over the VM's loopback (net/ipv4/udp.c, net/ipv6/udp.c; man 7 udp).
//!
//! A datagram goes straight into the receive queue of the socket its
//! destination port leads to, with the sender's address; when that queue
//! is over the receiver's SO_RCVBUF the datagram is dropped, as UDP does.
//! To a port nobody has, it is dropped too, and a sender connected to
//! that address gets ECONNREFUSED on its next call (the ICMP port
//! unreachable of a real stack). A send never blocks.

use super::addr::Endpoint;
use super::ports::Proto;
use super::InetSocket;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::{WaitId, Waker};
use guest_abi::errno::{ECONNREFUSED, EDESTADDRREQ, EMSGSIZE, ENOTCONN};
use guest_abi::misc::{POLLHUP, POLLIN, POLLOUT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// include/uapi/linux/eventpoll.h: the reading side is shut down.
const POLLRDHUP: i16 = 0x2000;
/// The largest UDP payload: 65535 less the UDP header, and for IPv4 less
/// the IP header too (ip_append_data, ip6_append_data).
const MAX_PAYLOAD_V4: usize = 65535 - 8 - 20;
const MAX_PAYLOAD_V6: usize = 65535 - 8;

struct Datagram {
    data: Vec<u8>,
    from: Endpoint,
}

pub struct Udp {
    queue: RefCell<VecDeque<Datagram>>,
    bytes: Cell<usize>,
    wait: WaitId,
    shut_rd: Cell<bool>,
    shut_wr: Cell<bool>,
}

impl Udp {
    pub(super) fn new(waker: &Waker) -> Udp {
        Udp {
            queue: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            wait: waker.new_id(),
            shut_rd: Cell::new(false),
            shut_wr: Cell::new(false),
        }
    }

    pub fn wait(&self) -> WaitId {
        self.wait
    }

    /// The next datagram's length (FIONREAD), 0 with none.
    pub fn next_len(&self) -> usize {
        self.queue.borrow().front().map_or(0, |d| d.data.len())
    }

    /// One datagram, cut to `max` bytes: (bytes, its whole length, its
    /// sender). After SHUT_RD an empty queue reads as end of file.
    pub fn recv(&self, max: usize, peek: bool) -> KResult<(Vec<u8>, usize, Option<Endpoint>)> {
        let mut q = self.queue.borrow_mut();
        let Some(d) = q.front() else {
            if self.shut_rd.get() {
                return Ok((Vec::new(), 0, None));
            }
            return Err(Errno::EAGAIN);
        };
        let full = d.data.len();
        let from = d.from;
        let data = if peek {
            d.data[..max.min(full)].to_vec()
        } else {
            let mut d = q.pop_front().map(|d| d.data).unwrap_or_default();
            self.bytes.set(self.bytes.get().saturating_sub(full));
            d.truncate(max);
            d
        };
        Ok((data, full, Some(from)))
    }

    /// inet_shutdown: flags are set either way, but a socket with no
    /// association answers ENOTCONN.
    pub fn shutdown(&self, how: i32, connected: bool) -> KResult<()> {
        if how != 1 {
            self.shut_rd.set(true);
        }
        if how != 0 {
            self.shut_wr.set(true);
        }
        if connected {
            Ok(())
        } else {
            Err(Errno(ENOTCONN))
        }
    }

    /// datagram_poll: a UDP socket can always send.
    pub fn poll(&self) -> i16 {
        let mut ev = POLLOUT;
        if !self.queue.borrow().is_empty() {
            ev |= POLLIN;
        }
        if self.shut_rd.get() {
            ev |= POLLIN | POLLRDHUP;
            if self.shut_wr.get() {
                ev |= POLLHUP;
            }
        }
        ev
    }
}

/// Queues a datagram on `to`, unless its receive buffer is over
/// SO_RCVBUF (__udp_enqueue_schedule_skb drops it then).
fn deliver(to: &InetSocket, data: &[u8], from: Endpoint) {
    let super::Transport::Udp(u) = &to.t else { return };
    if u.bytes.get() > to.opts.rcvbuf.get().max(0) as usize {
        return;
    }
    u.bytes.set(u.bytes.get() + data.len());
    u.queue.borrow_mut().push_back(Datagram { data: data.to_vec(), from });
    to.waker.wake(u.wait);
}

/// Where a datagram of `len` bytes would go, checked as udp_sendmsg does
/// before it copies a byte: its size, its destination, the route.
pub fn destination(s: &InetSocket, len: usize, to: Option<Endpoint>) -> KResult<Endpoint> {
    if len > 65535 {
        return Err(Errno(EMSGSIZE));
    }
    let dst = match to {
        Some(d) => d,
        None => s.peer().ok_or(Errno(EDESTADDRREQ))?,
    };
    let dst = s.route(&dst)?;
    let max = if dst.is_v4() { MAX_PAYLOAD_V4 } else { MAX_PAYLOAD_V6 };
    if len > max {
        return Err(Errno(EMSGSIZE));
    }
    Ok(dst)
}

/// sendto(2) and send(2) on a UDP socket: `to`, or the connected peer.
pub fn sendto(s: &Rc<InetSocket>, data: &[u8], to: Option<Endpoint>) -> KResult<usize> {
    let super::Transport::Udp(u) = &s.t else { return Err(Errno::EOPNOTSUPP) };
    let dst = destination(s, data.len(), to)?;
    if let Some(e) = s.error.take() {
        return Err(e);
    }
    if u.shut_wr.get() {
        return Err(Errno::EPIPE);
    }
    let local = s.autobind()?;
    let src = s.source_for(&local, &dst);
    match s.ports.lookup(Proto::Udp, &dst, &src) {
        Some(r) => deliver(&r, data, src),
        // The port unreachable reaches a socket connected to `dst`.
        None if s.peer() == Some(dst) => s.set_error(Errno(ECONNREFUSED)),
        None => {}
    }
    Ok(data.len())
}

/// connect(2) on a UDP socket: sets the default destination and the
/// only source datagrams are taken from; None (AF_UNSPEC) dissolves it.
pub fn connect(s: &Rc<InetSocket>, dst: Option<Endpoint>) -> KResult<()> {
    let Some(dst) = dst else {
        // udp_disconnect: what the kernel chose for the association goes.
        s.peer.set(None);
        if !s.user_port.get() {
            s.ports.remove(s);
        } else if !s.user_addr.get() {
            if let Some(l) = s.local() {
                s.set_local(Some(Endpoint::new(super::addr::unbound(s.family).ip, l.port)));
            }
        }
        return Ok(());
    };
    let dst = s.route(&dst)?;
    let local = s.autobind()?;
    if !s.user_addr.get() {
        s.set_local(Some(s.source_for(&local, &dst)));
    }
    s.peer.set(Some(dst));
    Ok(())
}
