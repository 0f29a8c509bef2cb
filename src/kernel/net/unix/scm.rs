//! Ancillary data (man 3 cmsg, man 7 unix): the control buffer of
//! sendmsg and recvmsg, a sequence of struct cmsghdr { size_t cmsg_len;
//! int cmsg_level; int cmsg_type; } each followed by its data and padded
//! to 8 bytes. This file only encodes and decodes; the syscall layer
//! turns fd numbers into open files and back (net/core/scm.c).

use super::Ucred;
use crate::kernel::errno::{Errno, KResult};

pub const SOL_SOCKET: i32 = 1;
pub const SCM_RIGHTS: i32 = 1;
pub const SCM_CREDENTIALS: i32 = 2;
/// include/net/scm.h: files one message may pass.
pub const SCM_MAX_FD: usize = 253;
/// sizeof(struct cmsghdr).
pub const CMSG_HDR: usize = 16;
const UCRED_LEN: usize = 12;

const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}
/// CMSG_LEN: header plus data, unpadded.
pub const fn cmsg_len(data: usize) -> usize {
    CMSG_HDR + data
}
/// CMSG_SPACE: header plus padded data.
pub const fn cmsg_space(data: usize) -> usize {
    CMSG_HDR + cmsg_align(data)
}

/// What a sendmsg control buffer asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SendControl {
    /// SCM_RIGHTS: fd numbers of the sender, in order.
    pub fds: Vec<i32>,
    /// SCM_CREDENTIALS: the ids the sender claims (checked by the caller).
    pub cred: Option<Ucred>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(v)
}

/// Parses a control buffer as net/core/scm.c __scm_send does: every
/// header must lie inside the buffer (EINVAL), headers of other levels
/// are skipped, unknown SOL_SOCKET types are EINVAL, and at most
/// SCM_MAX_FD files go in one message.
pub fn parse(buf: &[u8]) -> KResult<SendControl> {
    let mut out = SendControl::default();
    let mut off = 0;
    while off + CMSG_HDR <= buf.len() {
        let mut l = [0u8; 8];
        l.copy_from_slice(&buf[off..off + 8]);
        let len = u64::from_ne_bytes(l);
        let level = u32_at(buf, off + 8) as i32;
        let ty = u32_at(buf, off + 12) as i32;
        if len < CMSG_HDR as u64 || len > (buf.len() - off) as u64 {
            return Err(Errno::EINVAL);
        }
        let len = len as usize;
        let data = &buf[off + CMSG_HDR..off + len];
        if level == SOL_SOCKET {
            match ty {
                SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if out.fds.len() + n > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    out.fds.extend((0..n).map(|i| u32_at(data, i * 4) as i32));
                }
                SCM_CREDENTIALS => {
                    if data.len() != UCRED_LEN {
                        return Err(Errno::EINVAL);
                    }
                    out.cred = Some(Ucred {
                        pid: u32_at(data, 0) as i32,
                        uid: u32_at(data, 4),
                        gid: u32_at(data, 8),
                    });
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        off += cmsg_align(len);
    }
    Ok(out)
}

/// The control buffer recvmsg fills, at most `cap` bytes (the caller's
/// msg_controllen). Whatever does not fit sets `truncated` (MSG_CTRUNC),
/// as net/core/scm.c put_cmsg does.
pub struct RecvControl {
    pub buf: Vec<u8>,
    cap: usize,
    pub truncated: bool,
}

impl RecvControl {
    pub fn new(cap: usize) -> RecvControl {
        RecvControl { buf: Vec::new(), cap, truncated: false }
    }

    fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }

    /// Appends one message; a short buffer gets what fits of it.
    pub fn put(&mut self, level: i32, ty: i32, data: &[u8]) {
        let room = self.room();
        if room < CMSG_HDR {
            self.truncated = true;
            return;
        }
        let mut len = cmsg_len(data.len());
        if room < len {
            self.truncated = true;
            len = room;
        }
        self.buf.extend_from_slice(&(len as u64).to_ne_bytes());
        self.buf.extend_from_slice(&level.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&data[..len - CMSG_HDR]);
        // Padding up to CMSG_SPACE, if there is room for it.
        let padded = cmsg_space(data.len()).min(room);
        self.buf.resize(self.buf.len() + (padded - len), 0);
    }

    pub fn put_cred(&mut self, c: Ucred) {
        let mut d = Vec::with_capacity(UCRED_LEN);
        d.extend_from_slice(&c.pid.to_ne_bytes());
        d.extend_from_slice(&c.uid.to_ne_bytes());
        d.extend_from_slice(&c.gid.to_ne_bytes());
        self.put(SOL_SOCKET, SCM_CREDENTIALS, &d);
    }

    /// How many fds an SCM_RIGHTS message could still carry
    /// (net/core/scm.c scm_max_fds).
    pub fn fd_room(&self) -> usize {
        let room = self.room();
        if room <= CMSG_HDR {
            0
        } else {
            (room - CMSG_HDR) / 4
        }
    }

    /// Appends the SCM_RIGHTS message for fds already installed.
    pub fn put_fds(&mut self, fds: &[i32]) {
        if fds.is_empty() {
            return;
        }
        let data: Vec<u8> = fds.iter().flat_map(|f| f.to_ne_bytes()).collect();
        self.put(SOL_SOCKET, SCM_RIGHTS, &data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut v = (cmsg_len(data.len()) as u64).to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(cmsg_space(data.len()), 0);
        v
    }

    #[test]
    fn rights_are_read_in_order_across_messages() {
        let mut b = cmsg(SOL_SOCKET, SCM_RIGHTS, &[3, 0, 0, 0, 4, 0, 0, 0]);
        b.extend(cmsg(SOL_SOCKET, SCM_RIGHTS, &[5, 0, 0, 0]));
        assert_eq!(parse(&b).unwrap().fds, vec![3, 4, 5]);
    }

    #[test]
    fn header_past_the_buffer_is_einval() {
        let mut b = cmsg(SOL_SOCKET, SCM_RIGHTS, &[3, 0, 0, 0]);
        b[0] = 200;
        assert_eq!(parse(&b), Err(Errno::EINVAL));
    }

    #[test]
    fn unknown_socket_level_type_is_einval_other_levels_skipped() {
        assert_eq!(parse(&cmsg(SOL_SOCKET, 77, &[])), Err(Errno::EINVAL));
        assert_eq!(parse(&cmsg(6, 77, &[1, 2, 3, 4])).unwrap(), SendControl::default());
    }

    #[test]
    fn short_receive_buffer_truncates() {
        let mut c = RecvControl::new(cmsg_space(4));
        c.put_cred(Ucred { pid: 1, uid: 2, gid: 3 });
        assert!(c.truncated);
        assert_eq!(c.buf.len(), cmsg_space(4));
        assert_eq!(c.fd_room(), 0);
    }
}
