//! Who has which port (net/ipv4/inet_connection_sock.c, udp.c
//! udp_lib_get_port; net/ipv6/addrconf.c ipv6_rcv_saddr_equal).
//!
//! Every bound inet socket of the VM is listed here under its protocol and
//! port. bind(2) checks a new binding against the others the way Linux
//! does, SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY included; connect and
//! sendto find the socket a packet to an address would reach. Sockets are
//! held weakly: a closed socket frees its port at once (umk has no
//! TIME_WAIT).

use super::addr::{Endpoint, Family};
use super::InetSocket;
use crate::kernel::errno::{Errno, KResult};
use guest_abi::errno::EADDRINUSE;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::{Rc, Weak};

/// net.ipv4.ip_local_port_range, the ports bind(0) and connect choose from.
pub const EPHEMERAL_FIRST: u16 = 32768;
pub const EPHEMERAL_LAST: u16 = 60999;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Default)]
pub struct Ports {
    bound: RefCell<HashMap<(Proto, u16), Vec<Weak<InetSocket>>>>,
    /// Where the search for a free ephemeral port starts next.
    next: Cell<u16>,
}

/// A socket's bound address as Linux's conflict checks see it: the IPv6
/// address of an AF_INET6 socket (sk_v6_rcv_saddr) and the IPv4 one of
/// either (sk_rcv_saddr; for a v6 socket bound to a non-mapped address
/// other than ::, the placeholder LOOPBACK4_IPV6, 127.0.0.6).
struct RcvSaddr {
    v6: Option<Ipv6Addr>,
    v4: Ipv4Addr,
    v6only: bool,
}

impl RcvSaddr {
    fn of(s: &InetSocket, ep: &Endpoint) -> RcvSaddr {
        let v4 = match ep.v4() {
            Some(a) => a,
            None if ep.ip.is_unspecified() => Ipv4Addr::UNSPECIFIED,
            None => Ipv4Addr::new(127, 0, 0, 6),
        };
        let v6 = (s.family == Family::V6).then_some(ep.ip);
        RcvSaddr { v6, v4, v6only: s.v6only() }
    }
}

/// inet_rcv_saddr_equal(sk, sk2, match_wildcard = true): whether two
/// bindings of one port would receive some address in common.
fn overlap(a: &RcvSaddr, b: &RcvSaddr) -> bool {
    let v4_equal = |a: &RcvSaddr, b: &RcvSaddr| {
        !b.v6only && (a.v4 == b.v4 || a.v4.is_unspecified() || b.v4.is_unspecified())
    };
    let Some(a6) = a.v6 else {
        return v4_equal(a, b);
    };
    let mapped = |ip: &Ipv6Addr| ip.to_ipv4_mapped().is_some();
    // A v4 socket counts as bound to a mapped address.
    let b_mapped = b.v6.as_ref().is_none_or(mapped);
    if mapped(&a6) && b_mapped {
        return v4_equal(a, b);
    }
    let b_any = b.v6.is_some_and(|x| x.is_unspecified());
    if a6.is_unspecified() && b_any {
        return true;
    }
    if b_any && !(b.v6only && mapped(&a6)) {
        return true;
    }
    if a6.is_unspecified() && !(a.v6only && b_mapped) {
        return true;
    }
    b.v6 == Some(a6)
}

impl Ports {
    fn holders(&self, proto: Proto, port: u16) -> Vec<Rc<InetSocket>> {
        let mut map = self.bound.borrow_mut();
        let Some(v) = map.get_mut(&(proto, port)) else {
            return Vec::new();
        };
        v.retain(|w| w.strong_count() > 0);
        let out: Vec<_> = v.iter().filter_map(Weak::upgrade).collect();
        if out.is_empty() {
            map.remove(&(proto, port));
        }
        out
    }

    /// Whether `s`, bound (or about to be) at `ep`, may share the port
    /// with `other` (inet_bind_conflict with relax, udp_lib_lport_inuse).
    fn conflicts(s: &InetSocket, ep: &Endpoint, other: &InetSocket) -> bool {
        let Some(oep) = other.local() else { return false };
        if !overlap(&RcvSaddr::of(s, ep), &RcvSaddr::of(other, &oep)) {
            return false;
        }
        let (o1, o2) = (&s.opts, &other.opts);
        if o1.reuseaddr.get() && o2.reuseaddr.get() && !other.is_listening() {
            return false;
        }
        let same_owner = s.owner_uid == other.owner_uid;
        !(o1.reuseport.get() && o2.reuseport.get() && same_owner)
    }

    /// bind(2): gives `s` the address `ep`, or with port 0 a free
    /// ephemeral port. EADDRINUSE if another socket holds it.
    pub fn bind(&self, s: &Rc<InetSocket>, ep: Endpoint) -> KResult<Endpoint> {
        let ep = if ep.port == 0 { Endpoint::new(ep.ip, self.free_port(s.proto)?) } else { ep };
        for other in self.holders(s.proto, ep.port) {
            if !Rc::ptr_eq(&other, s) && Ports::conflicts(s, &ep, &other) {
                return Err(Errno(EADDRINUSE));
            }
        }
        self.insert(s, ep);
        Ok(ep)
    }

    /// Lists `s` under its port (an accepted connection shares its
    /// listener's).
    pub fn insert(&self, s: &Rc<InetSocket>, ep: Endpoint) {
        s.set_local(Some(ep));
        self.bound.borrow_mut().entry((s.proto, ep.port)).or_default().push(Rc::downgrade(s));
    }

    /// Frees the port of `s` (a failed connect or a dissolved UDP
    /// association gives back a port the kernel chose).
    pub fn remove(&self, s: &InetSocket) {
        let Some(ep) = s.local() else { return };
        if let Some(v) = self.bound.borrow_mut().get_mut(&(s.proto, ep.port)) {
            v.retain(|w| !std::ptr::eq(w.as_ptr(), s));
        }
        s.set_local(None);
    }

    /// listen(2) checks the port again: two SO_REUSEADDR sockets may
    /// share a port while bound, but only one may listen on it.
    pub fn may_listen(&self, s: &Rc<InetSocket>) -> KResult<()> {
        let Some(ep) = s.local() else { return Ok(()) };
        for other in self.holders(s.proto, ep.port) {
            if Rc::ptr_eq(&other, s) {
                continue;
            }
            let shared = RcvSaddr::of(s, &ep);
            let Some(oep) = other.local() else { continue };
            if !overlap(&shared, &RcvSaddr::of(&other, &oep)) {
                continue;
            }
            let reuseport = s.opts.reuseport.get()
                && other.opts.reuseport.get()
                && s.owner_uid == other.owner_uid;
            if other.is_listening() && !reuseport {
                return Err(Errno(EADDRINUSE));
            }
        }
        Ok(())
    }

    /// A free port of the ephemeral range (inet_csk_find_open_port),
    /// EADDRINUSE when all are taken.
    fn free_port(&self, proto: Proto) -> KResult<u16> {
        let span = (EPHEMERAL_LAST - EPHEMERAL_FIRST) as u32 + 1;
        for i in 0..span {
            let off = (self.next.get() as u32 + i) % span;
            let port = EPHEMERAL_FIRST + off as u16;
            if self.holders(proto, port).is_empty() {
                self.next.set(((off + 1) % span) as u16);
                return Ok(port);
            }
        }
        Err(Errno(EADDRINUSE))
    }

    /// The socket a packet of `proto` to `dst` (a routed, loopback
    /// address) from `src` reaches: for TCP a listener, for UDP any bound
    /// socket whose association, if it has one, is with `src`. An exact
    /// address beats a wildcard, a connected UDP socket an unconnected
    /// one, an AF_INET socket a dual-stack one for IPv4; among equals the
    /// last bound wins (udp4_lib_lookup2 scoring, inet_lhash2_lookup).
    pub fn lookup(&self, proto: Proto, dst: &Endpoint, src: &Endpoint) -> Option<Rc<InetSocket>> {
        let mut best: Option<(u32, Rc<InetSocket>)> = None;
        for s in self.holders(proto, dst.port) {
            let Some(ep) = s.local() else { continue };
            let mut score = match (dst.v4(), s.family) {
                (Some(d), Family::V4) => {
                    let a = ep.v4().unwrap_or(Ipv4Addr::UNSPECIFIED);
                    if a == d {
                        4
                    } else if a.is_unspecified() {
                        2
                    } else {
                        continue;
                    }
                }
                (Some(d), Family::V6) => {
                    if s.v6only() {
                        continue;
                    }
                    if ep.v4() == Some(d) {
                        3
                    } else if ep.is_any() {
                        1
                    } else {
                        continue;
                    }
                }
                (None, Family::V4) => continue,
                (None, Family::V6) => {
                    if ep.ip == dst.ip {
                        4
                    } else if ep.ip.is_unspecified() {
                        2
                    } else {
                        continue;
                    }
                }
            };
            match proto {
                Proto::Tcp if !s.is_listening() => continue,
                Proto::Tcp => {}
                Proto::Udp => match s.peer() {
                    Some(p) if p != *src => continue,
                    Some(_) => score += 8,
                    None => {}
                },
            }
            if best.as_ref().is_none_or(|(b, _)| score >= *b) {
                best = Some((score, s));
            }
        }
        best.map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> RcvSaddr {
        RcvSaddr { v6: None, v4: Ipv4Addr::from(a), v6only: false }
    }
    fn v6(a: &str, v6only: bool) -> RcvSaddr {
        let ip: Ipv6Addr = a.parse().unwrap();
        let sock = RcvSaddr { v6: Some(ip), v4: Ipv4Addr::UNSPECIFIED, v6only };
        match ip.to_ipv4_mapped() {
            Some(m) => RcvSaddr { v4: m, ..sock },
            None if ip.is_unspecified() => sock,
            None => RcvSaddr { v4: Ipv4Addr::new(127, 0, 0, 6), ..sock },
        }
    }

    #[test]
    fn dual_stack_wildcard_overlaps_ipv4() {
        assert!(overlap(&v6("::", false), &v4([127, 0, 0, 1])));
        assert!(overlap(&v4([0, 0, 0, 0]), &v6("::", false)));
        assert!(!overlap(&v6("::", true), &v4([127, 0, 0, 1])));
        assert!(!overlap(&v4([0, 0, 0, 0]), &v6("::", true)));
    }

    #[test]
    fn distinct_addresses_do_not_overlap() {
        assert!(!overlap(&v4([127, 0, 0, 1]), &v4([127, 0, 0, 2])));
        assert!(!overlap(&v4([127, 0, 0, 1]), &v6("::1", false)));
        assert!(overlap(&v6("::1", false), &v6("::1", true)));
        assert!(overlap(&v6("::ffff:127.0.0.1", false), &v4([127, 0, 0, 1])));
    }

    #[test]
    fn two_ipv6_wildcards_always_overlap() {
        assert!(overlap(&v6("::", true), &v6("::", false)));
    }
}
