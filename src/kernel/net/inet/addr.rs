//! struct sockaddr_in and sockaddr_in6 (include/uapi/linux/in.h, in6.h),
//! and which addresses exist on the VM's only interface, `lo`
//! (127.0.0.0/8 and ::1).
//!
//! Inside umk every endpoint is kept as an IPv6 address and a port, an
//! IPv4 address as its mapped form ::ffff:a.b.c.d, the way a dual-stack
//! AF_INET6 socket sees IPv4 peers. Only the sockaddr a socket reports
//! depends on its family.

use crate::kernel::errno::{Errno, KResult};
use guest_abi::errno::{EADDRNOTAVAIL, EAFNOSUPPORT, ENETUNREACH};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const AF_UNSPEC: u16 = 0;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
/// sizeof(struct sockaddr_in).
pub const SOCKADDR_IN_LEN: usize = 16;
/// sizeof(struct sockaddr_in6).
pub const SOCKADDR_IN6_LEN: usize = 28;
/// The RFC 2133 sockaddr_in6, without sin6_scope_id: Linux still takes it.
pub const SIN6_LEN_RFC2133: usize = 24;

/// An address family of inet sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn af(self) -> i32 {
        match self {
            Family::V4 => AF_INET as i32,
            Family::V6 => AF_INET6 as i32,
        }
    }
}

/// An address and port; IPv4 addresses in their mapped form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: Ipv6Addr,
    pub port: u16,
}

pub const V4_ANY: Ipv6Addr = Ipv4Addr::UNSPECIFIED.to_ipv6_mapped();
pub const V4_LOOPBACK: Ipv6Addr = Ipv4Addr::LOCALHOST.to_ipv6_mapped();

impl Endpoint {
    pub fn new(ip: Ipv6Addr, port: u16) -> Endpoint {
        Endpoint { ip, port }
    }

    /// The IPv4 address, for a mapped one.
    pub fn v4(&self) -> Option<Ipv4Addr> {
        self.ip.to_ipv4_mapped()
    }

    pub fn is_v4(&self) -> bool {
        self.v4().is_some()
    }

    /// INADDR_ANY or in6addr_any.
    pub fn is_any(&self) -> bool {
        self.ip == V4_ANY || self.ip == Ipv6Addr::UNSPECIFIED
    }

    /// An address of `lo` a socket may bind (inet_bind, inet6_bind):
    /// the wildcards, all of 127.0.0.0/8 (one route covers it) and ::1.
    pub fn check_local(&self) -> KResult<()> {
        let ok = match self.v4() {
            Some(a) => a.is_unspecified() || a.is_loopback(),
            None => self.ip.is_unspecified() || self.ip.is_loopback(),
        };
        if ok {
            Ok(())
        } else {
            Err(Errno(EADDRNOTAVAIL))
        }
    }

    /// Where a packet to this address goes. Only loopback addresses have
    /// a route: everything else is ENETUNREACH, the guest's network ends
    /// at `lo`. A wildcard destination means this host, as Linux makes it
    /// (ip_route_connect, tcp_v6_connect).
    pub fn route(&self) -> KResult<Endpoint> {
        match self.v4() {
            Some(a) if a.is_unspecified() => Ok(Endpoint::new(V4_LOOPBACK, self.port)),
            Some(a) if a.is_loopback() => Ok(*self),
            Some(_) => Err(Errno(ENETUNREACH)),
            None if self.ip.is_unspecified() => Ok(Endpoint::new(Ipv6Addr::LOCALHOST, self.port)),
            None if self.ip.is_loopback() => Ok(*self),
            None => Err(Errno(ENETUNREACH)),
        }
    }

    /// The source address the kernel picks for a packet to `self` (which
    /// [`Endpoint::route`] made a loopback address): lo's routes say
    /// `src 127.0.0.1` for all of 127/8.
    pub fn source_for(&self) -> Ipv6Addr {
        if self.is_v4() {
            V4_LOOPBACK
        } else {
            Ipv6Addr::LOCALHOST
        }
    }

    /// The sockaddr a socket of `family` reports for this endpoint.
    pub fn to_sockaddr(&self, family: Family) -> Vec<u8> {
        match (family, self.v4()) {
            (Family::V4, Some(a)) => {
                let mut v = vec![0u8; SOCKADDR_IN_LEN];
                v[..2].copy_from_slice(&AF_INET.to_ne_bytes());
                v[2..4].copy_from_slice(&self.port.to_be_bytes());
                v[4..8].copy_from_slice(&a.octets());
                v
            }
            _ => {
                let mut v = vec![0u8; SOCKADDR_IN6_LEN];
                v[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
                v[2..4].copy_from_slice(&self.port.to_be_bytes());
                v[8..24].copy_from_slice(&self.ip.octets());
                v
            }
        }
    }
}

/// The address of a socket of `family` that has none yet.
pub fn unbound(family: Family) -> Endpoint {
    match family {
        Family::V4 => Endpoint::new(V4_ANY, 0),
        Family::V6 => Endpoint::new(Ipv6Addr::UNSPECIFIED, 0),
    }
}

/// sa_family of a raw address.
pub fn family_of(raw: &[u8]) -> Option<u16> {
    (raw.len() >= 2).then(|| u16::from_ne_bytes([raw[0], raw[1]]))
}

/// Decodes a sockaddr_in of at least [`SOCKADDR_IN_LEN`] bytes.
fn sin(raw: &[u8]) -> Endpoint {
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let a = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
    Endpoint::new(a.to_ipv6_mapped(), port)
}

/// Decodes a sockaddr_in6 of at least [`SIN6_LEN_RFC2133`] bytes.
fn sin6(raw: &[u8]) -> Endpoint {
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    let mut a = [0u8; 16];
    a.copy_from_slice(&raw[8..24]);
    Endpoint::new(Ipv6Addr::from(a), port)
}

/// The address given to an AF_INET socket: EINVAL if shorter than a
/// sockaddr_in, EAFNOSUPPORT for another family. `unspec_any` lets
/// AF_UNSPEC stand for AF_INET, which bind does for INADDR_ANY and
/// sendto for any address (inet_bind's "compatibility games").
pub fn parse_v4(raw: &[u8], unspec: Unspec) -> KResult<Endpoint> {
    if raw.len() < SOCKADDR_IN_LEN {
        return Err(Errno::EINVAL);
    }
    let ep = sin(raw);
    match family_of(raw) {
        Some(AF_INET) => Ok(ep),
        Some(AF_UNSPEC) if unspec == Unspec::AnyAddress => Ok(ep),
        Some(AF_UNSPEC) if unspec == Unspec::WildcardOnly && ep.ip == V4_ANY => Ok(ep),
        _ => Err(Errno(EAFNOSUPPORT)),
    }
}

/// How AF_UNSPEC in a sockaddr_in is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unspec {
    Refused,
    /// As AF_INET when the address is INADDR_ANY (bind).
    WildcardOnly,
    /// As AF_INET (UDP sendto).
    AnyAddress,
}

/// The address given to an AF_INET6 socket: EINVAL if shorter than the
/// RFC 2133 sockaddr_in6, EAFNOSUPPORT for another family.
pub fn parse_v6(raw: &[u8]) -> KResult<Endpoint> {
    if raw.len() < SIN6_LEN_RFC2133 {
        return Err(Errno::EINVAL);
    }
    if family_of(raw) != Some(AF_INET6) {
        return Err(Errno(EAFNOSUPPORT));
    }
    Ok(sin6(raw))
}

/// A sockaddr_in given to an AF_INET6 UDP socket (which takes them, as
/// udpv6_sendmsg and ip6_datagram_connect do).
pub fn parse_v4_on_v6(raw: &[u8]) -> KResult<Endpoint> {
    parse_v4(raw, Unspec::Refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw4(a: [u8; 4], port: u16) -> Vec<u8> {
        Endpoint::new(Ipv4Addr::from(a).to_ipv6_mapped(), port).to_sockaddr(Family::V4)
    }

    #[test]
    fn v4_round_trips_in_network_order() {
        let r = raw4([127, 0, 0, 1], 8080);
        assert_eq!(&r[2..4], &[0x1f, 0x90]);
        let ep = parse_v4(&r, Unspec::Refused).unwrap();
        assert_eq!(ep, Endpoint::new(V4_LOOPBACK, 8080));
        // The same endpoint on a v6 socket is the mapped address.
        let r6 = ep.to_sockaddr(Family::V6);
        assert_eq!(r6.len(), SOCKADDR_IN6_LEN);
        assert_eq!(parse_v6(&r6).unwrap(), ep);
    }

    #[test]
    fn short_or_foreign_address_is_refused() {
        assert_eq!(parse_v4(&raw4([127, 0, 0, 1], 1)[..15], Unspec::Refused), Err(Errno::EINVAL));
        let mut r = raw4([127, 0, 0, 1], 1);
        r[0] = 1;
        assert_eq!(parse_v4(&r, Unspec::Refused), Err(Errno(EAFNOSUPPORT)));
        assert_eq!(parse_v6(&r), Err(Errno::EINVAL));
    }

    #[test]
    fn unspec_is_inet_only_where_linux_allows() {
        let mut r = raw4([0, 0, 0, 0], 5);
        r[0] = 0;
        assert!(parse_v4(&r, Unspec::WildcardOnly).is_ok());
        assert_eq!(parse_v4(&r, Unspec::Refused), Err(Errno(EAFNOSUPPORT)));
        r[4] = 127;
        assert_eq!(parse_v4(&r, Unspec::WildcardOnly), Err(Errno(EAFNOSUPPORT)));
        assert!(parse_v4(&r, Unspec::AnyAddress).is_ok());
    }

    #[test]
    fn only_loopback_is_local_or_routable() {
        let ep = |a: [u8; 4]| Endpoint::new(Ipv4Addr::from(a).to_ipv6_mapped(), 1);
        assert!(ep([127, 1, 2, 3]).check_local().is_ok());
        assert_eq!(ep([10, 0, 0, 1]).check_local(), Err(Errno(EADDRNOTAVAIL)));
        assert_eq!(ep([10, 0, 0, 1]).route(), Err(Errno(ENETUNREACH)));
        assert_eq!(ep([0, 0, 0, 0]).route().unwrap().ip, V4_LOOPBACK);
        let g = Endpoint::new("2001:db8::1".parse().unwrap(), 1);
        assert_eq!(g.route(), Err(Errno(ENETUNREACH)));
        assert_eq!(
            Endpoint::new(Ipv6Addr::UNSPECIFIED, 1).route().unwrap().ip,
            Ipv6Addr::LOCALHOST
        );
    }
}
