//! AF_INET and AF_INET6 sockets on the VM's private loopback network
//! (net/ipv4/af_inet.c, net/ipv6/af_inet6.c; man 7 ip, ipv6, tcp, udp).
//!
//! The guest's network is one interface, `lo`, with 127.0.0.0/8 and ::1,
//! and nothing else: no packet leaves the VM, and no host socket is ever
//! made. A destination outside `lo` has no route (ENETUNREACH), an
//! address that is not lo's cannot be bound (EADDRNOTAVAIL). So a packet
//! always ends in another socket of the same VM, found by port in
//! [`ports`], and umk hands the bytes over directly, with no IP, checksum
//! or window in between:
//!
//! - TCP ([`tcp`]): a connection is exactly a connected AF_UNIX stream
//!   pair, so a TCP socket carries one as its transport (the queues, the
//!   accept backlog, end of file, resets) and adds names, ports and
//!   TCP's own rules for errors and readiness on top.
//! - UDP ([`udp`]): each datagram is queued on the receiving socket with
//!   its sender's address; one for a port nobody has is dropped, and a
//!   connected sender learns ECONNREFUSED, as from an ICMP port
//!   unreachable.
//!
//! Addresses are [`addr::Endpoint`]s: IPv6 addresses, IPv4 ones mapped,
//! so a dual-stack AF_INET6 socket meets IPv4 peers as ::ffff:127.0.0.1.

pub mod addr;
pub mod ports;
pub mod tcp;
pub mod udp;

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::fs::Attr;
use crate::kernel::wait::{WaitId, Waker};
use addr::{Endpoint, Family};
use ports::{Ports, Proto};
use std::cell::Cell;
use std::rc::{Rc, Weak};

/// Socket options that only record a value: umk's loopback has no
/// segments to delay (TCP_NODELAY, TCP_CORK), no idle peer to probe
/// (SO_KEEPALIVE, TCP_KEEPIDLE...) and nothing in flight to linger over.
#[derive(Default)]
pub struct Options {
    pub reuseaddr: Cell<bool>,
    pub reuseport: Cell<bool>,
    pub keepalive: Cell<bool>,
    pub broadcast: Cell<bool>,
    /// SO_LINGER: (l_onoff, l_linger).
    pub linger: Cell<(i32, i32)>,
    pub sndbuf: Cell<i32>,
    pub rcvbuf: Cell<i32>,
    pub nodelay: Cell<bool>,
    pub cork: Cell<bool>,
    pub keepidle: Cell<i32>,
    pub keepintvl: Cell<i32>,
    pub keepcnt: Cell<i32>,
    /// IPV6_V6ONLY: an AF_INET6 socket that takes no IPv4 traffic.
    pub v6only: Cell<bool>,
    /// IP_TOS and IPV6_TCLASS: stored and reported; loopback has no use
    /// for them (ssh sets them on every connection).
    pub tos: Cell<i32>,
    pub tclass: Cell<i32>,
}

impl Options {
    /// What a connection accepted from a listener starts with
    /// (sk_clone_lock copies the listener's settings).
    fn inherit(&self) -> Options {
        Options {
            reuseaddr: Cell::new(self.reuseaddr.get()),
            reuseport: Cell::new(self.reuseport.get()),
            keepalive: Cell::new(self.keepalive.get()),
            broadcast: Cell::new(self.broadcast.get()),
            linger: Cell::new(self.linger.get()),
            sndbuf: Cell::new(self.sndbuf.get()),
            rcvbuf: Cell::new(self.rcvbuf.get()),
            nodelay: Cell::new(self.nodelay.get()),
            cork: Cell::new(self.cork.get()),
            keepidle: Cell::new(self.keepidle.get()),
            keepintvl: Cell::new(self.keepintvl.get()),
            keepcnt: Cell::new(self.keepcnt.get()),
            v6only: Cell::new(self.v6only.get()),
            tos: Cell::new(self.tos.get()),
            tclass: Cell::new(self.tclass.get()),
        }
    }
}

/// net.ipv4.tcp_wmem[1], tcp_rmem[1], and net.core.[rw]mem_default for
/// UDP: the buffer sizes a new socket reports.
const TCP_SNDBUF: i32 = 16384;
const TCP_RCVBUF: i32 = 131072;
const UDP_BUF: i32 = 212_992;
/// The keepalive defaults of include/net/tcp.h (seconds, probes).
const TCP_KEEPIDLE: i32 = 7200;
const TCP_KEEPINTVL: i32 = 75;
const TCP_KEEPCNT: i32 = 9;

/// The protocol half of a socket.
pub enum Transport {
    Tcp(tcp::Tcp),
    Udp(udp::Udp),
}

pub struct InetSocket {
    pub family: Family,
    pub proto: Proto,
    me: Weak<InetSocket>,
    waker: Waker,
    /// Woken on changes no queue reports: a connect's outcome, an error.
    wait: WaitId,
    ino: u64,
    ports: Rc<Ports>,
    /// The bound address (None: no port yet).
    local: Cell<Option<Endpoint>>,
    /// The connected peer.
    peer: Cell<Option<Endpoint>>,
    /// The address and the port were chosen by bind(2), not by the kernel
    /// (SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK): a UDP disconnect keeps them.
    user_addr: Cell<bool>,
    user_port: Cell<bool>,
    /// sk_err: reported once, by the next call or SO_ERROR.
    error: Cell<Option<Errno>>,
    /// Whose the socket is, for SO_REUSEPORT (sk_uid).
    owner_uid: u32,
    pub opts: Options,
    pub t: Transport,
}

impl InetSocket {
    /// socket(2).
    pub fn new(
        family: Family,
        proto: Proto,
        waker: &Waker,
        ports: &Rc<Ports>,
        owner_uid: u32,
    ) -> Rc<InetSocket> {
        let opts = Options::default();
        let (snd, rcv) = match proto {
            Proto::Tcp => (TCP_SNDBUF, TCP_RCVBUF),
            Proto::Udp => (UDP_BUF, UDP_BUF),
        };
        opts.sndbuf.set(snd);
        opts.rcvbuf.set(rcv);
        opts.keepidle.set(TCP_KEEPIDLE);
        opts.keepintvl.set(TCP_KEEPINTVL);
        opts.keepcnt.set(TCP_KEEPCNT);
        InetSocket::with(family, proto, waker, ports, owner_uid, opts, None)
    }

    fn with(
        family: Family,
        proto: Proto,
        waker: &Waker,
        ports: &Rc<Ports>,
        owner_uid: u32,
        opts: Options,
        conn: Option<Rc<crate::kernel::net::unix::UnixSocket>>,
    ) -> Rc<InetSocket> {
        let wait = waker.new_id();
        Rc::new_cyclic(|me| InetSocket {
            family,
            proto,
            me: me.clone(),
            waker: waker.clone(),
            wait,
            ino: wait,
            ports: ports.clone(),
            local: Cell::new(None),
            peer: Cell::new(None),
            user_addr: Cell::new(false),
            user_port: Cell::new(false),
            error: Cell::new(None),
            owner_uid,
            opts,
            t: match proto {
                Proto::Tcp => Transport::Tcp(tcp::Tcp::new(conn)),
                Proto::Udp => Transport::Udp(udp::Udp::new(waker)),
            },
        })
    }

    /// This socket as a shared reference (it is always held by an Rc).
    pub fn rc(&self) -> Option<Rc<InetSocket>> {
        self.me.upgrade()
    }

    pub fn kind(&self) -> i32 {
        match self.proto {
            Proto::Tcp => crate::kernel::net::unix::SOCK_STREAM,
            Proto::Udp => crate::kernel::net::unix::SOCK_DGRAM,
        }
    }

    /// IPPROTO_TCP or IPPROTO_UDP.
    pub fn protocol(&self) -> i32 {
        match self.proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    pub fn v6only(&self) -> bool {
        self.family == Family::V6 && self.opts.v6only.get()
    }

    pub fn local(&self) -> Option<Endpoint> {
        self.local.get()
    }

    fn set_local(&self, ep: Option<Endpoint>) {
        self.local.set(ep);
    }

    pub fn peer(&self) -> Option<Endpoint> {
        self.peer.get()
    }

    pub fn is_listening(&self) -> bool {
        match &self.t {
            Transport::Tcp(t) => t.is_listening(),
            Transport::Udp(_) => false,
        }
    }

    /// getsockname: the wildcard and port 0 before bind.
    pub fn name(&self) -> Vec<u8> {
        self.local().unwrap_or_else(|| addr::unbound(self.family)).to_sockaddr(self.family)
    }

    /// getpeername: ENOTCONN without a peer.
    pub fn peer_name(&self) -> KResult<Vec<u8>> {
        let connected = match &self.t {
            Transport::Tcp(t) => t.has_peer(),
            Transport::Udp(_) => true,
        };
        match self.peer() {
            Some(p) if connected => Ok(p.to_sockaddr(self.family)),
            _ => Err(Errno(guest_abi::errno::ENOTCONN)),
        }
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&self) -> Option<Errno> {
        self.error.take().or_else(|| match &self.t {
            Transport::Tcp(t) => t.take_error(),
            Transport::Udp(_) => None,
        })
    }

    fn set_error(&self, e: Errno) {
        self.error.set(Some(e));
        self.waker.wake(self.wait);
    }

    /// The address an AF_INET6 socket may hold: IPv4-mapped ones only
    /// when it takes IPv4 (inet6_bind).
    fn check_family(&self, ep: &Endpoint) -> KResult<()> {
        if self.family == Family::V6 && ep.is_v4() && self.v6only() {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// bind(2). EINVAL if bound already; binding a port below 1024 needs
    /// root (`privileged`: CAP_NET_BIND_SERVICE).
    pub fn bind(self: &Rc<Self>, ep: Endpoint, privileged: bool) -> KResult<()> {
        self.check_family(&ep)?;
        ep.check_local()?;
        if ep.port != 0 && ep.port < 1024 && !privileged {
            return Err(Errno::EACCES);
        }
        if self.local().is_some() {
            return Err(Errno::EINVAL);
        }
        self.ports.bind(self, ep)?;
        self.user_addr.set(!ep.is_any());
        self.user_port.set(ep.port != 0);
        Ok(())
    }

    /// A port for a socket that sends or connects unbound (inet_autobind):
    /// the wildcard address, an ephemeral port.
    fn autobind(self: &Rc<Self>) -> KResult<Endpoint> {
        if let Some(ep) = self.local() {
            return Ok(ep);
        }
        self.ports.bind(self, addr::unbound(self.family))
    }

    /// The source address of a packet to `dst`: the bound address, or
    /// for a wildcard the one lo's route gives.
    fn source_for(&self, local: &Endpoint, dst: &Endpoint) -> Endpoint {
        if local.is_any() {
            Endpoint::new(dst.source_for(), local.port)
        } else {
            *local
        }
    }

    /// Where a packet from this socket to `dst` goes: lo, or nowhere.
    /// An AF_INET6 socket with IPV6_V6ONLY has no IPv4 route.
    fn route(&self, dst: &Endpoint) -> KResult<Endpoint> {
        let d = dst.route()?;
        if self.v6only() && d.is_v4() {
            return Err(Errno(guest_abi::errno::ENETUNREACH));
        }
        Ok(d)
    }

    /// shutdown(2): 0 SHUT_RD, 1 SHUT_WR, 2 SHUT_RDWR.
    pub fn shutdown(&self, how: i32) -> KResult<()> {
        if !(0..=2).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let r = match &self.t {
            Transport::Tcp(t) => t.shutdown(how),
            Transport::Udp(u) => u.shutdown(how, self.peer().is_some()),
        };
        self.waker.wake(self.wait);
        r
    }

    /// Bytes the next read sees (FIONREAD).
    fn readable_bytes(&self) -> KResult<usize> {
        match &self.t {
            Transport::Tcp(t) => t.readable_bytes(),
            Transport::Udp(u) => Ok(u.next_len()),
        }
    }
}

impl Drop for InetSocket {
    fn drop(&mut self) {
        // SO_LINGER on with a zero timeout: close resets the connection.
        if let Transport::Tcp(t) = &self.t {
            let (on, secs) = self.opts.linger.get();
            if on != 0 && secs == 0 {
                t.abort_on_close();
            }
        }
    }
}

impl FileOps for InetSocket {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let r = self.recv(buf.len(), false, false)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        self.send(data, None)
    }
    fn poll(&self) -> i16 {
        let ev = match &self.t {
            Transport::Tcp(t) => t.poll(),
            Transport::Udp(u) => u.poll(),
        };
        if self.error.get().is_some() {
            ev | guest_abi::misc::POLLERR
        } else {
            ev
        }
    }
    fn wait_ids(&self, events: i16) -> Vec<WaitId> {
        let mut v = vec![self.wait];
        match &self.t {
            Transport::Tcp(t) => v.extend(t.wait_ids(events)),
            Transport::Udp(u) => v.push(u.wait()),
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
            SIOCINQ => match self.readable_bytes() {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            },
            // Loopback acknowledges what it queues at once: nothing is
            // ever unsent.
            SIOCOUTQ => 0,
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

/// What a receive got.
pub struct Received {
    pub data: Vec<u8>,
    /// The whole datagram's length (MSG_TRUNC reports it).
    pub full_len: usize,
    /// The sender, as a sockaddr of the receiver's family (UDP only).
    pub from: Option<Vec<u8>>,
}

impl InetSocket {
    /// Receives up to `max` bytes; EAGAIN when it would block.
    pub fn recv(&self, max: usize, peek: bool, waitall: bool) -> KResult<Received> {
        match &self.t {
            Transport::Tcp(t) => {
                let data = t.recv(max, peek, waitall)?;
                Ok(Received { full_len: data.len(), data, from: None })
            }
            Transport::Udp(u) => {
                if let Some(e) = self.error.take() {
                    return Err(e);
                }
                let (data, full_len, from) = u.recv(max, peek)?;
                let from = from.map(|f| f.to_sockaddr(self.family));
                Ok(Received { data, full_len, from })
            }
        }
    }

    /// Sends `data`, to `to` or the connected peer. A TCP send takes what
    /// fits (EAGAIN: nothing does).
    pub fn send(&self, data: &[u8], to: Option<Endpoint>) -> KResult<usize> {
        let me = self.rc().ok_or(Errno::EBADF)?;
        match &self.t {
            Transport::Tcp(t) => {
                if let Some(e) = self.error.take() {
                    return Err(e);
                }
                let n = t.send(data)?;
                if t.lost_to_reset() {
                    // The peer had closed: its stack answers with a
                    // reset, which the next call reports.
                    self.set_error(Errno::EPIPE);
                }
                Ok(n)
            }
            Transport::Udp(_) => udp::sendto(&me, data, to),
        }
    }

    /// What a blocked sender or receiver waits on.
    pub fn waits(&self, events: i16) -> Vec<WaitId> {
        self.wait_ids(events)
    }
}
