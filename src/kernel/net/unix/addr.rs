//! struct sockaddr_un (include/uapi/linux/un.h) and the two name spaces it
//! addresses (man 7 unix): a filesystem path, or an abstract name whose
//! first byte is 0 and which lives only in the kernel.

use crate::kernel::errno::{Errno, KResult};

pub const AF_UNIX: u16 = 1;
/// offsetof(struct sockaddr_un, sun_path): the sa_family_t before it.
pub const SUN_PATH_OFFSET: usize = 2;
/// sizeof(struct sockaddr_un).
pub const SOCKADDR_UN_LEN: usize = 110;

/// A bound name, kept as the bytes Linux keeps (struct unix_address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixAddr {
    /// sun_path up to its first NUL, as the binder wrote it (maybe relative).
    Path(Vec<u8>),
    /// The whole sun_path given, leading NUL included (may hold more NULs).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Parses what bind, connect and sendto got (net/unix/af_unix.c
    /// unix_validate_addr): at least one sun_path byte, at most a whole
    /// sockaddr_un, family AF_UNIX; all else is EINVAL.
    pub fn parse(raw: &[u8]) -> KResult<UnixAddr> {
        if raw.len() <= SUN_PATH_OFFSET || raw.len() > SOCKADDR_UN_LEN {
            return Err(Errno::EINVAL);
        }
        if u16::from_ne_bytes([raw[0], raw[1]]) != AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = &raw[SUN_PATH_OFFSET..];
        if path[0] == 0 {
            return Ok(UnixAddr::Abstract(path.to_vec()));
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Ok(UnixAddr::Path(path[..end].to_vec()))
    }

    /// The sockaddr_un getsockname and friends report: a path gets its
    /// terminating NUL counted (offsetof + strlen + 1), an abstract name
    /// exactly the length it was bound with.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut v = AF_UNIX.to_ne_bytes().to_vec();
        match self {
            UnixAddr::Path(p) => {
                v.extend_from_slice(p);
                // A 108-byte path has no room for the NUL: Linux reports
                // the full sockaddr_un then, without one.
                if v.len() < SOCKADDR_UN_LEN {
                    v.push(0);
                }
            }
            UnixAddr::Abstract(n) => v.extend_from_slice(n),
        }
        v
    }
}

/// The address of an unnamed socket: just the family.
pub fn unnamed_sockaddr() -> Vec<u8> {
    AF_UNIX.to_ne_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &[u8]) -> Vec<u8> {
        let mut v = AF_UNIX.to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn path_stops_at_nul_and_reports_it() {
        let a = UnixAddr::parse(&raw(b"sock\0junk")).unwrap();
        assert_eq!(a, UnixAddr::Path(b"sock".to_vec()));
        assert_eq!(a.to_sockaddr().len(), 2 + 4 + 1);
    }

    #[test]
    fn abstract_keeps_every_byte() {
        let a = UnixAddr::parse(&raw(b"\0ab\0c")).unwrap();
        assert_eq!(a.to_sockaddr().len(), 2 + 5);
    }

    #[test]
    fn too_short_too_long_or_wrong_family_is_einval() {
        assert_eq!(UnixAddr::parse(&raw(b"")), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::parse(&raw(&[b'a'; 109])), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::parse(&[2, 0, b'a']), Err(Errno::EINVAL));
    }
}
