//! The AF_INET and AF_INET6 halves of the socket calls of [`super::net`]
//! (net/ipv4/af_inet.c inet_stream_ops and inet_dgram_ops, their IPv6
//! twins): decode the guest's arguments and call
//! [`crate::kernel::net::inet`], the VM's private loopback network.

use super::net::{
    caller, install, mem, read_msghdr, read_sockaddr, send_stream, write_sockaddr, BUF_MAX,
    MIN_RCVBUF, MIN_SNDBUF, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_OOB, MSG_PEEK, MSG_TRUNC, MSG_WAITALL,
    SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_ERROR, SO_PROTOCOL, SO_RCVBUF, SO_REUSEADDR,
    SO_SNDBUF, SO_TYPE,
};
use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileOps, OpenFile};
use crate::kernel::net::inet::addr::{self, Endpoint, Family, Unspec, AF_INET, AF_UNSPEC};
use crate::kernel::net::inet::ports::Proto;
use crate::kernel::net::inet::tcp::{self, Connect};
use crate::kernel::net::inet::{udp, InetSocket};
use crate::kernel::Kernel;
use guest_abi::errno::{
    EACCES, EAFNOSUPPORT, ENETUNREACH, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT,
};
use guest_abi::misc::POLLIN;
use std::rc::Rc;

const SOCK_STREAM: i32 = 1;
const SOCK_DGRAM: i32 = 2;
const SOCK_RAW: i32 = 3;
const IPPROTO_IP: i32 = 0;
const IPPROTO_ICMP: i32 = 1;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_UDP: i32 = 17;
const IPPROTO_IPV6: i32 = 41;
const IPPROTO_ICMPV6: i32 = 58;
/// include/uapi/linux/in.h IPPROTO_MAX: larger protocols are EINVAL.
const IPPROTO_MAX: i32 = 263;
const MSG_ERRQUEUE: i32 = 0x2000;
const SO_KEEPALIVE: i32 = 9;
const SO_BROADCAST: i32 = 6;
const SO_LINGER: i32 = 13;
const SO_REUSEPORT: i32 = 15;
const TCP_NODELAY: i32 = 1;
const TCP_CORK: i32 = 3;
const TCP_KEEPIDLE: i32 = 4;
const TCP_KEEPINTVL: i32 = 5;
const TCP_KEEPCNT: i32 = 6;
const IPV6_V6ONLY: i32 = 26;
const IP_TOS: i32 = 1;
const IPV6_TCLASS: i32 = 67;

/// The inet socket behind `fd`, if it is one.
pub fn socket_of(k: &Kernel, ctx: &Ctx, fd: i32) -> Option<(Rc<OpenFile>, Rc<InetSocket>)> {
    let f = k.file(ctx.pid, fd).ok()?;
    let s = f.ops.as_any()?.downcast_ref::<InetSocket>()?.rc()?;
    Some((f, s))
}

/// socket(AF_INET or AF_INET6, ...) (inet_create): TCP and UDP only.
pub fn socket(k: &mut Kernel, ctx: &Ctx, family: Family, ty: i32, kind: i32) -> KResult<i64> {
    let protocol = ctx.arg_i32(2);
    if !(0..IPPROTO_MAX).contains(&protocol) {
        return Err(Errno::EINVAL);
    }
    let proto = match (kind, protocol) {
        (SOCK_STREAM, IPPROTO_IP | IPPROTO_TCP) => Proto::Tcp,
        (SOCK_DGRAM, IPPROTO_IP | IPPROTO_UDP) => Proto::Udp,
        // Ping sockets: net.ipv4.ping_group_range admits nobody by default.
        (SOCK_DGRAM, IPPROTO_ICMP) if family == Family::V4 => return Err(Errno(EACCES)),
        (SOCK_DGRAM, IPPROTO_ICMPV6) if family == Family::V6 => return Err(Errno(EACCES)),
        (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno(EPROTONOSUPPORT)),
        // No raw access to a network that has no wire: the VM grants no
        // CAP_NET_RAW.
        (SOCK_RAW, _) => {
            k.note_unsupported("raw inet sockets");
            return Err(Errno::EPERM);
        }
        _ => return Err(Errno(ESOCKTNOSUPPORT)),
    };
    let (_, eff) = caller(k, ctx);
    let s = InetSocket::new(family, proto, &k.waker, &k.inet_ports, eff.uid);
    Ok(install(k, ctx, s, ty)? as i64)
}

/// The address a bind or connect names, for a socket of `family`.
fn endpoint(s: &InetSocket, raw: &[u8], unspec: Unspec) -> KResult<Endpoint> {
    match s.family {
        Family::V4 => addr::parse_v4(raw, unspec),
        // UDP over IPv6 also takes a sockaddr_in (ip6_datagram_connect,
        // udpv6_sendmsg); TCP does not.
        Family::V6 if s.proto == Proto::Udp && addr::family_of(raw) == Some(AF_INET) => {
            if s.v6only() {
                return Err(Errno(EAFNOSUPPORT));
            }
            addr::parse_v4_on_v6(raw)
        }
        Family::V6 => addr::parse_v6(raw),
    }
}

pub fn bind(k: &mut Kernel, ctx: &Ctx, s: &Rc<InetSocket>) -> KResult<i64> {
    let raw = read_sockaddr(k, ctx, ctx.args[1], ctx.args[2])?;
    let ep = match s.family {
        Family::V4 => addr::parse_v4(&raw, Unspec::WildcardOnly)?,
        Family::V6 => addr::parse_v6(&raw)?,
    };
    let (_, eff) = caller(k, ctx);
    s.bind(ep, eff.uid == 0)?;
    Ok(0)
}

pub fn listen(s: &Rc<InetSocket>, backlog: u32) -> KResult<i64> {
    match s.proto {
        Proto::Tcp => tcp::listen(s, backlog).map(|_| 0),
        Proto::Udp => Err(Errno::EOPNOTSUPP),
    }
}

pub fn connect(k: &mut Kernel, ctx: &Ctx, f: &OpenFile, s: &Rc<InetSocket>) -> SysResult {
    let r = (|| -> KResult<Connect> {
        let raw = read_sockaddr(k, ctx, ctx.args[1], ctx.args[2])?;
        if raw.len() < 2 {
            return Err(Errno::EINVAL);
        }
        // AF_UNSPEC dissolves an association (inet_dgram_connect,
        // tcp_disconnect).
        let unspec = addr::family_of(&raw) == Some(AF_UNSPEC);
        match s.proto {
            Proto::Udp if unspec => udp::connect(s, None).map(|_| Connect::Done),
            Proto::Udp => {
                udp::connect(s, Some(endpoint(s, &raw, Unspec::Refused)?)).map(|_| Connect::Done)
            }
            Proto::Tcp if unspec => tcp::disconnect(s).map(|_| Connect::Done),
            Proto::Tcp => tcp::connect(s, endpoint(s, &raw, Unspec::Refused)?, f.nonblocking()),
        }
    })();
    match r {
        Ok(Connect::Done) => SysResult::Done(0),
        Ok(Connect::Wait(w)) => SysResult::block(w),
        Err(e) => SysResult::err(e),
    }
}

pub fn accept(
    k: &mut Kernel,
    ctx: &Ctx,
    f: &OpenFile,
    s: &Rc<InetSocket>,
    flags: i32,
) -> SysResult {
    let new = match tcp::accept(s) {
        Ok(n) => n,
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() => {
            return SysResult::block(s.wait_ids(POLLIN))
        }
        Err(e) => return SysResult::err(e),
    };
    let peer = new.peer_name().unwrap_or_else(|_| new.name());
    super::net::install_accepted(k, ctx, new, flags, &peer).into()
}

/// One send (tcp_sendmsg, udp_sendmsg). `name` is the raw destination
/// (empty: none); TCP ignores it, as Linux does.
pub fn send(
    k: &mut Kernel,
    ctx: &Ctx,
    f: &OpenFile,
    s: &Rc<InetSocket>,
    data: &[u8],
    name: &[u8],
    flags: i32,
) -> SysResult {
    let blocking = !f.nonblocking() && flags & MSG_DONTWAIT == 0;
    if flags & MSG_OOB != 0 {
        if s.proto == Proto::Tcp {
            k.note_unsupported("TCP urgent data (MSG_OOB)");
        }
        return SysResult::err(Errno::EOPNOTSUPP);
    }
    let r = match s.proto {
        Proto::Udp => {
            let to = match udp_destination(s, name) {
                Ok(t) => t,
                Err(e) => return SysResult::err(e),
            };
            s.send(data, to)
        }
        Proto::Tcp => {
            match send_stream(k, ctx, data, blocking, &mut |d, _| s.send(d, None), || {
                s.wait_ids(guest_abi::misc::POLLOUT)
            }) {
                Ok(r) => r,
                Err(block) => return block,
            }
        }
    };
    match r {
        Ok(n) => SysResult::Done(n as i64),
        Err(e) => {
            // sk_stream_error: a broken stream raises SIGPIPE.
            if e == Errno::EPIPE && s.proto == Proto::Tcp && flags & MSG_NOSIGNAL == 0 {
                let sig = guest_abi::signal::SIGPIPE;
                let (real, _) = caller(k, ctx);
                crate::kernel::signal::send_to_thread(
                    k,
                    ctx.tid,
                    sig,
                    crate::kernel::signal::SigOrigin::user(sig, ctx.pid, real.uid),
                );
            }
            SysResult::err(e)
        }
    }
}

/// Checks a UDP send of `len` bytes to `name` before its bytes are read
/// (a too-long datagram is EMSGSIZE even from a short buffer).
pub fn udp_precheck(s: &InetSocket, len: usize, name: &[u8]) -> KResult<()> {
    if s.proto == Proto::Udp {
        udp::destination(s, len, udp_destination(s, name)?)?;
    }
    Ok(())
}

/// A UDP destination as udp_sendmsg and udpv6_sendmsg read it.
fn udp_destination(s: &InetSocket, name: &[u8]) -> KResult<Option<Endpoint>> {
    if name.is_empty() {
        return Ok(None);
    }
    match s.family {
        Family::V4 => addr::parse_v4(name, Unspec::AnyAddress).map(Some),
        Family::V6 => match addr::family_of(name) {
            None => Err(Errno::EINVAL),
            Some(AF_UNSPEC) => Ok(None),
            Some(AF_INET) if s.v6only() => Err(Errno(ENETUNREACH)),
            Some(AF_INET) => addr::parse_v4_on_v6(name).map(Some),
            Some(addr::AF_INET6) => addr::parse_v6(name).map(Some),
            Some(_) => Err(Errno::EINVAL),
        },
    }
}

/// What a receive got, or the SysResult to return at once.
pub fn recv(
    k: &mut Kernel,
    f: &OpenFile,
    s: &InetSocket,
    len: usize,
    flags: i32,
) -> Result<crate::kernel::net::inet::Received, SysResult> {
    if flags & MSG_ERRQUEUE != 0 {
        // No ICMP error is ever queued (IP_RECVERR is not offered).
        return Err(SysResult::err(Errno::EAGAIN));
    }
    if flags & MSG_OOB != 0 && s.proto == Proto::Tcp {
        // tcp_recv_urg: there is never urgent data to read.
        k.note_unsupported("TCP urgent data (MSG_OOB)");
        return Err(SysResult::err(Errno::EINVAL));
    }
    let len = len.min(crate::kernel::net::unix::QUEUE_BYTES);
    match s.recv(len, flags & MSG_PEEK != 0, flags & MSG_WAITALL != 0) {
        Ok(r) => Ok(r),
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() && flags & MSG_DONTWAIT == 0 => {
            Err(SysResult::block(s.wait_ids(POLLIN)))
        }
        Err(e) => Err(SysResult::err(e)),
    }
}

/// What recv returns: the bytes, or with MSG_TRUNC a datagram's whole
/// length (for TCP, MSG_TRUNC discards what it counts).
pub fn recv_result(r: &crate::kernel::net::inet::Received, flags: i32) -> i64 {
    if flags & MSG_TRUNC != 0 {
        r.full_len as i64
    } else {
        r.data.len() as i64
    }
}

pub fn recvfrom(k: &mut Kernel, ctx: &Ctx, f: &OpenFile, s: &InetSocket) -> SysResult {
    let flags = ctx.arg_i32(3);
    let r = match recv(k, f, s, ctx.args[2] as usize, flags) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let res = (|| -> KResult<i64> {
        if !(s.proto == Proto::Tcp && flags & MSG_TRUNC != 0) {
            mem(k, ctx).write(ctx.args[1], &r.data)?;
        }
        if ctx.args[4] != 0 {
            write_sockaddr(k, ctx, ctx.args[4], ctx.args[5], r.from.as_deref().unwrap_or(&[]))?;
        }
        Ok(recv_result(&r, flags))
    })();
    res.into()
}

pub fn recvmsg(k: &mut Kernel, ctx: &Ctx, f: &OpenFile, s: &InetSocket) -> SysResult {
    let flags = ctx.arg_i32(2);
    let h = match read_msghdr(k, ctx, ctx.args[1]) {
        Ok(h) => h,
        Err(e) => return SysResult::err(e),
    };
    let total = h.iovs.iter().fold(0usize, |a, i| a.saturating_add(i.len as usize));
    let r = match recv(k, f, s, total, flags) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let res = (|| -> KResult<i64> {
        let mut done = 0;
        let discard = s.proto == Proto::Tcp && flags & MSG_TRUNC != 0;
        for iov in h.iovs.iter().take_while(|_| !discard) {
            if done >= r.data.len() {
                break;
            }
            let take = (iov.len as usize).min(r.data.len() - done);
            mem(k, ctx).write(iov.base, &r.data[done..done + take])?;
            done += take;
        }
        let mut out_flags = 0;
        if s.proto == Proto::Udp && r.full_len > r.data.len() {
            out_flags |= MSG_TRUNC;
        }
        let m = ctx.args[1];
        if h.name != 0 {
            write_sockaddr(k, ctx, h.name, m + 8, r.from.as_deref().unwrap_or(&[]))?;
        }
        // No ancillary data is ever delivered.
        mem(k, ctx).write_obj(m + 40, &0u64)?;
        mem(k, ctx).write_obj(m + 48, &out_flags)?;
        Ok(recv_result(&r, flags))
    })();
    res.into()
}

fn int(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub fn getsockopt(s: &InetSocket, level: i32, name: i32) -> KResult<Vec<u8>> {
    let o = &s.opts;
    let b = |v: bool| int(v as i32);
    Ok(match (level, name) {
        (SOL_SOCKET, SO_TYPE) => int(s.kind()),
        (SOL_SOCKET, SO_DOMAIN) => int(s.family.af()),
        (SOL_SOCKET, SO_PROTOCOL) => int(s.protocol()),
        (SOL_SOCKET, SO_ERROR) => int(s.take_error().map_or(0, |e| e.0)),
        (SOL_SOCKET, SO_ACCEPTCONN) => b(s.is_listening()),
        (SOL_SOCKET, SO_REUSEADDR) => b(o.reuseaddr.get()),
        (SOL_SOCKET, SO_REUSEPORT) => b(o.reuseport.get()),
        (SOL_SOCKET, SO_KEEPALIVE) => b(o.keepalive.get()),
        (SOL_SOCKET, SO_BROADCAST) => b(o.broadcast.get()),
        (SOL_SOCKET, SO_SNDBUF) => int(o.sndbuf.get()),
        (SOL_SOCKET, SO_RCVBUF) => int(o.rcvbuf.get()),
        (SOL_SOCKET, SO_LINGER) => {
            let (on, secs) = o.linger.get();
            let mut v = int((on != 0) as i32);
            v.extend(int(if on != 0 { secs } else { 0 }));
            v
        }
        (IPPROTO_TCP, _) if s.proto == Proto::Tcp => match name {
            TCP_NODELAY => b(o.nodelay.get()),
            TCP_CORK => b(o.cork.get()),
            TCP_KEEPIDLE => int(o.keepidle.get()),
            TCP_KEEPINTVL => int(o.keepintvl.get()),
            TCP_KEEPCNT => int(o.keepcnt.get()),
            _ => return Err(Errno(ENOPROTOOPT)),
        },
        (IPPROTO_IPV6, IPV6_V6ONLY) if s.family == Family::V6 => b(o.v6only.get()),
        (IPPROTO_IP, IP_TOS) => int(o.tos.get()),
        (IPPROTO_IPV6, IPV6_TCLASS) if s.family == Family::V6 => int(o.tclass.get()),
        _ => return Err(Errno(ENOPROTOOPT)),
    })
}

/// setsockopt with the value already read (`v`: the first int, `raw`:
/// every byte given).
pub fn setsockopt(s: &InetSocket, level: i32, name: i32, raw: &[u8]) -> KResult<()> {
    if raw.len() < 4 {
        return Err(Errno::EINVAL);
    }
    let v = i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let o = &s.opts;
    match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => o.reuseaddr.set(v != 0),
        (SOL_SOCKET, SO_REUSEPORT) => o.reuseport.set(v != 0),
        (SOL_SOCKET, SO_KEEPALIVE) => o.keepalive.set(v != 0),
        (SOL_SOCKET, SO_BROADCAST) => o.broadcast.set(v != 0),
        // Doubled for bookkeeping and clamped, as sock.c does; umk's
        // queues keep their own sizes.
        (SOL_SOCKET, SO_SNDBUF) => {
            o.sndbuf.set(((v as u32).min(BUF_MAX) as i32 * 2).max(MIN_SNDBUF))
        }
        (SOL_SOCKET, SO_RCVBUF) => {
            o.rcvbuf.set(((v as u32).min(BUF_MAX) as i32 * 2).max(MIN_RCVBUF))
        }
        (SOL_SOCKET, SO_LINGER) => {
            if raw.len() < 8 {
                return Err(Errno::EINVAL);
            }
            let secs = i32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
            // Turning lingering off keeps the old time.
            let old = o.linger.get().1;
            o.linger.set(if v != 0 { (1, secs) } else { (0, old) });
        }
        (IPPROTO_TCP, _) if s.proto == Proto::Tcp => match name {
            TCP_NODELAY => o.nodelay.set(v != 0),
            TCP_CORK => o.cork.set(v != 0),
            TCP_KEEPIDLE | TCP_KEEPINTVL if !(1..=32767).contains(&v) => return Err(Errno::EINVAL),
            TCP_KEEPIDLE => o.keepidle.set(v),
            TCP_KEEPINTVL => o.keepintvl.set(v),
            TCP_KEEPCNT if !(1..=127).contains(&v) => return Err(Errno::EINVAL),
            TCP_KEEPCNT => o.keepcnt.set(v),
            _ => return Err(Errno(ENOPROTOOPT)),
        },
        (IPPROTO_IPV6, IPV6_V6ONLY) if s.family == Family::V6 => {
            // Only before the socket has an address.
            if s.local().is_some() {
                return Err(Errno::EINVAL);
            }
            o.v6only.set(v != 0);
        }
        // A stream socket's ECN bits are the stack's, not the user's
        // (__ip_sock_set_tos).
        (IPPROTO_IP, IP_TOS) if s.proto == Proto::Tcp => o.tos.set((v & 0xfc) | (o.tos.get() & 3)),
        (IPPROTO_IP, IP_TOS) => o.tos.set(v & 0xff),
        (IPPROTO_IPV6, IPV6_TCLASS) if s.family == Family::V6 => match v {
            -1 => o.tclass.set(0),
            0..=0xff => o.tclass.set(v),
            _ => return Err(Errno::EINVAL),
        },
        _ => return Err(Errno(ENOPROTOOPT)),
    }
    Ok(())
}
