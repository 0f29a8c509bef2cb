//! Socket syscalls (net/socket.c): AF_UNIX sockets of
//! [`crate::kernel::net::unix`] here; for AF_INET and AF_INET6 sockets each
//! call hands over to [`super::inet`].

use super::inet;
use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileOps, OpenFile};
use crate::kernel::mm::GuestMem;
use crate::kernel::net::inet::addr::Family;
use crate::kernel::net::unix::addr::{unnamed_sockaddr, UnixAddr, AF_UNIX as AF_UNIX_U16};
use crate::kernel::net::unix::scm::{self, RecvControl};
use crate::kernel::net::unix::{
    Ancillary, CurrentCred, Received, Ucred, UnixSocket, QUEUE_BYTES, SOCK_DGRAM, SOCK_SEQPACKET,
    SOCK_STREAM,
};
use crate::kernel::wait::WaitId;
use crate::kernel::Kernel;
use guest_abi::errno::{
    EAFNOSUPPORT, EISCONN, EMSGSIZE, ENOBUFS, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT,
};
use guest_abi::fcntl::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use guest_abi::misc::{IoVec, POLLIN, UIO_MAXIOV};
use std::rc::Rc;

const AF_UNSPEC: u16 = 0;
const AF_UNIX: i32 = 1;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
/// include/linux/socket.h AF_MAX: families beyond are EAFNOSUPPORT.
const AF_MAX: i32 = 46;
const SOCK_RAW: i32 = 3;
const SOCK_MAX: i32 = 11;
const SOCK_TYPE_MASK: i32 = 0xf;
const SOCK_NONBLOCK: i32 = O_NONBLOCK;
const SOCK_CLOEXEC: i32 = O_CLOEXEC;
pub(super) const MSG_OOB: i32 = 0x1;
pub(super) const MSG_PEEK: i32 = 0x2;
const MSG_CTRUNC: i32 = 0x8;
pub(super) const MSG_TRUNC: i32 = 0x20;
pub(super) const MSG_DONTWAIT: i32 = 0x40;
pub(super) const MSG_WAITALL: i32 = 0x100;
pub(super) const MSG_NOSIGNAL: i32 = 0x4000;
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;
/// sizeof(struct sockaddr_storage): longer addresses are EINVAL.
const SOCKADDR_STORAGE: usize = 128;
/// net.core.optmem_max: a larger sendmsg control buffer is ENOBUFS.
const OPTMEM_MAX: u64 = 131_072;
/// sizeof(struct cmsghdr): a shorter control buffer holds no message.
const CMSGHDR_LEN: u64 = 16;
pub(super) const SOL_SOCKET: i32 = 1;
pub(super) const SO_REUSEADDR: i32 = 2;
pub(super) const SO_TYPE: i32 = 3;
pub(super) const SO_ERROR: i32 = 4;
pub(super) const SO_SNDBUF: i32 = 7;
pub(super) const SO_RCVBUF: i32 = 8;
const SO_PASSCRED: i32 = 16;
const SO_PEERCRED: i32 = 17;
pub(super) const SO_ACCEPTCONN: i32 = 30;
pub(super) const SO_PROTOCOL: i32 = 38;
pub(super) const SO_DOMAIN: i32 = 39;
/// net.core.wmem_max / rmem_max, and the floors of sock.c
/// (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF) for SO_SNDBUF and SO_RCVBUF.
pub(super) const BUF_MAX: u32 = 212_992;
pub(super) const MIN_SNDBUF: i32 = 4608;
pub(super) const MIN_RCVBUF: i32 = 2304;

pub(super) fn mem<'a>(k: &'a mut Kernel, ctx: &Ctx) -> GuestMem<'a> {
    GuestMem::new(k.platform.as_mut(), ctx.host)
}

/// The caller's credentials: (real, effective) as struct ucred.
pub(super) fn caller(k: &Kernel, ctx: &Ctx) -> (Ucred, Ucred) {
    let t = k.table.borrow();
    match t.procs.get(&ctx.pid) {
        Some(p) => (
            Ucred { pid: ctx.pid as i32, uid: p.cred.uid, gid: p.cred.gid },
            Ucred { pid: ctx.pid as i32, uid: p.cred.euid, gid: p.cred.egid },
        ),
        None => Default::default(),
    }
}

/// Who makes the current call, for messages sent by write(2).
fn current_cred(k: &Kernel) -> CurrentCred {
    let table = k.table.clone();
    let current = k.proc_current.clone();
    Rc::new(move || {
        let pid = current.get();
        let Ok(t) = table.try_borrow() else { return Ucred::default() };
        t.procs.get(&pid).map_or(Ucred::default(), |p| Ucred {
            pid: pid as i32,
            uid: p.cred.uid,
            gid: p.cred.gid,
        })
    })
}

/// socket(2) and socketpair(2) arguments as af_unix sees them: the
/// socket type and the fd flags. Checks come in Linux's order.
fn unix_type(domain: i32, ty: i32, protocol: i32) -> KResult<i32> {
    if (ty & !SOCK_TYPE_MASK) & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !(0..AF_MAX).contains(&domain) {
        return Err(Errno(EAFNOSUPPORT));
    }
    let kind = ty & SOCK_TYPE_MASK;
    if kind >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    if domain != AF_UNIX {
        return Err(Errno(EAFNOSUPPORT));
    }
    if protocol != 0 && protocol != AF_UNIX {
        return Err(Errno(EPROTONOSUPPORT));
    }
    match kind {
        SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET => Ok(kind),
        // af_unix treats SOCK_RAW as SOCK_DGRAM.
        SOCK_RAW => Ok(SOCK_DGRAM),
        _ => Err(Errno(ESOCKTNOSUPPORT)),
    }
}

pub(super) fn install(k: &Kernel, ctx: &Ctx, s: Rc<dyn FileOps>, ty: i32) -> KResult<i32> {
    let limit = k.nofile_limit(ctx.pid);
    let file = OpenFile::new(s, None, None, O_RDWR | (ty & SOCK_NONBLOCK));
    k.files_of(ctx.pid)?.borrow_mut().install(file, ty & SOCK_CLOEXEC != 0, limit)
}

pub fn sys_socket(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (domain, ty) = (ctx.arg_i32(0), ctx.arg_i32(1));
        if (ty & !SOCK_TYPE_MASK) & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let kind = ty & SOCK_TYPE_MASK;
        if matches!(domain, AF_INET | AF_INET6) && kind < SOCK_MAX {
            let family = if domain == AF_INET { Family::V4 } else { Family::V6 };
            return inet::socket(k, ctx, family, ty, kind);
        }
        let kind = unix_type(domain, ty, ctx.arg_i32(2))?;
        let s = UnixSocket::new(kind, &k.waker, current_cred(k));
        Ok(install(k, ctx, s, ty)? as i64)
    })();
    r.into()
}

pub fn sys_socketpair(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (domain, ty) = (ctx.arg_i32(0), ctx.arg_i32(1));
        // inet and inet6 exist on Linux but cannot make pairs.
        if matches!(domain, AF_INET | AF_INET6) && (0..SOCK_MAX).contains(&(ty & SOCK_TYPE_MASK)) {
            return Err(Errno::EOPNOTSUPP);
        }
        let kind = unix_type(domain, ty, ctx.arg_i32(2))?;
        let (_, cred) = caller(k, ctx);
        let (a, b) = UnixSocket::pair(kind, &k.waker, current_cred(k), cred);
        let fa = install(k, ctx, a, ty)?;
        let table = k.files_of(ctx.pid)?;
        let fb = match install(k, ctx, b, ty) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = table.borrow_mut().remove(fa);
                return Err(e);
            }
        };
        if let Err(e) = mem(k, ctx).write(ctx.args[3], bytemuck::cast_slice(&[fa, fb])) {
            let _ = table.borrow_mut().remove(fa);
            let _ = table.borrow_mut().remove(fb);
            return Err(e);
        }
        Ok(0)
    })();
    r.into()
}

/// The socket behind `fd`: EBADF, or ENOTSOCK for another kind of file.
fn socket_of(k: &Kernel, ctx: &Ctx, fd: i32) -> KResult<(Rc<OpenFile>, Rc<UnixSocket>)> {
    let f = k.file(ctx.pid, fd)?;
    let s = f
        .ops
        .as_any()
        .and_then(|a| a.downcast_ref::<UnixSocket>())
        .and_then(|s| s.rc())
        .ok_or(Errno::ENOTSOCK)?;
    Ok((f, s))
}

/// net/socket.c move_addr_to_kernel: a socket address from the guest.
pub(super) fn read_sockaddr(k: &mut Kernel, ctx: &Ctx, ptr: u64, len: u64) -> KResult<Vec<u8>> {
    let len = len as i32;
    if len < 0 || len as usize > SOCKADDR_STORAGE {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    mem(k, ctx).read_vec(ptr, len as usize)
}

/// net/socket.c move_addr_to_user: copies as much of `addr` as the
/// guest's length allows and stores the full length.
pub(super) fn write_sockaddr(
    k: &mut Kernel,
    ctx: &Ctx,
    ptr: u64,
    lenp: u64,
    addr: &[u8],
) -> KResult<()> {
    let len: i32 = mem(k, ctx).read_obj(lenp)?;
    let len = (len as i64).min(addr.len() as i64);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    if len > 0 {
        mem(k, ctx).write(ptr, &addr[..len as usize])?;
    }
    mem(k, ctx).write_obj(lenp, &(addr.len() as i32))
}

fn sockaddr_of(a: Option<UnixAddr>) -> Vec<u8> {
    a.map_or_else(unnamed_sockaddr, |a| a.to_sockaddr())
}

fn family(raw: &[u8]) -> Option<u16> {
    (raw.len() >= 2).then(|| u16::from_ne_bytes([raw[0], raw[1]]))
}

/// Sockets with SO_PASSCRED get a name before they connect or send, so
/// that the receiver can tell them apart (af_unix.c).
fn autobind_if_passcred(k: &Kernel, s: &Rc<UnixSocket>) -> KResult<()> {
    if s.passcred.get() && !s.is_bound() {
        k.unix_names.autobind(s)?;
    }
    Ok(())
}

pub fn sys_bind(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
            return inet::bind(k, ctx, &s);
        }
        let (_, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let raw = read_sockaddr(k, ctx, ctx.args[1], ctx.args[2])?;
        let names = k.unix_names.clone();
        // A bare family asks for an automatic abstract name.
        if raw.len() == 2 && family(&raw) == Some(AF_UNIX_U16) {
            names.autobind(&s)?;
            return Ok(0);
        }
        names.bind(k, ctx.pid, &s, UnixAddr::parse(&raw)?)?;
        Ok(0)
    })();
    r.into()
}

pub fn sys_listen(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
            return inet::listen(&s, ctx.args[1] as u32);
        }
        let (_, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let (_, cred) = caller(k, ctx);
        // A negative backlog is a huge unsigned one, capped at somaxconn.
        s.listen(ctx.args[1] as u32, cred)?;
        Ok(0)
    })();
    r.into()
}

pub fn sys_connect(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return inet::connect(k, ctx, &f, &s);
    }
    let r = (|| -> KResult<Result<i64, SysResult>> {
        let (f, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let raw = read_sockaddr(k, ctx, ctx.args[1], ctx.args[2])?;
        let names = k.unix_names.clone();
        if s.kind() == SOCK_DGRAM {
            if raw.len() < 2 {
                return Err(Errno::EINVAL);
            }
            if family(&raw) == Some(AF_UNSPEC) {
                s.connect_dgram(None)?;
                return Ok(Ok(0));
            }
            let a = UnixAddr::parse(&raw)?;
            autobind_if_passcred(k, &s)?;
            let target = names.lookup(k, ctx.pid, &a, SOCK_DGRAM)?;
            s.connect_dgram(Some(&target))?;
            return Ok(Ok(0));
        }
        let a = UnixAddr::parse(&raw)?;
        autobind_if_passcred(k, &s)?;
        let listener = names.lookup(k, ctx.pid, &a, s.kind())?;
        let (_, cred) = caller(k, ctx);
        match s.connect_stream(&listener, cred) {
            Ok(()) => Ok(Ok(0)),
            // A full backlog: wait for an accept.
            Err(e) if e == Errno::EAGAIN && !f.nonblocking() => {
                Ok(Err(SysResult::block(listener.wait_ids(POLLIN))))
            }
            Err(e) => Err(e),
        }
    })();
    match r {
        Ok(Ok(v)) => SysResult::Done(v),
        Ok(Err(block)) => block,
        Err(e) => SysResult::err(e),
    }
}

fn do_accept(k: &mut Kernel, ctx: &Ctx, flags: i32) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return inet::accept(k, ctx, &f, &s, flags);
    }
    let (f, s) = match socket_of(k, ctx, ctx.arg_i32(0)) {
        Ok(x) => x,
        Err(e) => return SysResult::err(e),
    };
    let new = match s.accept() {
        Ok(n) => n,
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() => {
            return SysResult::block(s.wait_ids(POLLIN))
        }
        Err(e) => return SysResult::err(e),
    };
    let peer = sockaddr_of(new.peer_name().ok().flatten());
    install_accepted(k, ctx, new, flags, &peer).into()
}

/// The end of accept/accept4: the new socket gets an fd and the caller its
/// peer's address; if that address cannot be written the connection is
/// lost, as on Linux.
pub(super) fn install_accepted(
    k: &mut Kernel,
    ctx: &Ctx,
    new: Rc<dyn FileOps>,
    flags: i32,
    peer: &[u8],
) -> KResult<i64> {
    let fd = install(k, ctx, new, flags)?;
    if ctx.args[1] != 0 {
        if let Err(e) = write_sockaddr(k, ctx, ctx.args[1], ctx.args[2], peer) {
            let _ = k.files_of(ctx.pid)?.borrow_mut().remove(fd);
            return Err(e);
        }
    }
    Ok(fd as i64)
}

pub fn sys_accept(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_accept(k, ctx, 0)
}

pub fn sys_accept4(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_accept(k, ctx, ctx.arg_i32(3))
}

pub fn sys_getsockname(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
            write_sockaddr(k, ctx, ctx.args[1], ctx.args[2], &s.name())?;
            return Ok(0);
        }
        let (_, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        write_sockaddr(k, ctx, ctx.args[1], ctx.args[2], &sockaddr_of(s.name()))?;
        Ok(0)
    })();
    r.into()
}

pub fn sys_getpeername(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
            let peer = s.peer_name()?;
            write_sockaddr(k, ctx, ctx.args[1], ctx.args[2], &peer)?;
            return Ok(0);
        }
        let (_, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let peer = s.peer_name()?;
        write_sockaddr(k, ctx, ctx.args[1], ctx.args[2], &sockaddr_of(peer))?;
        Ok(0)
    })();
    r.into()
}

/// One send, as unix_stream_sendmsg / unix_dgram_sendmsg decide it.
/// `name` is the raw destination address (empty: none). A blocking
/// stream send moves everything, waiting midway as a pipe write does.
fn do_send(
    k: &mut Kernel,
    ctx: &Ctx,
    f: &Rc<OpenFile>,
    s: &Rc<UnixSocket>,
    data: &[u8],
    name: &[u8],
    anc: Ancillary,
    flags: i32,
) -> SysResult {
    let blocking = !f.nonblocking() && flags & MSG_DONTWAIT == 0;
    if flags & MSG_OOB != 0 {
        k.note_unsupported("MSG_OOB on unix sockets");
        return SysResult::err(Errno::EOPNOTSUPP);
    }
    let r = if s.kind() == SOCK_DGRAM {
        let target = (|| -> KResult<Option<Rc<UnixSocket>>> {
            autobind_if_passcred(k, s)?;
            if name.is_empty() {
                return Ok(None);
            }
            let a = UnixAddr::parse(name)?;
            s.dgram_fits(data.len())?;
            let names = k.unix_names.clone();
            names.lookup(k, ctx.pid, &a, SOCK_DGRAM).map(Some)
        })();
        let target = match target {
            Ok(t) => t,
            Err(e) => return SysResult::err(e),
        };
        match s.send_dgram(data, anc, target.as_ref()) {
            Err(e) if e == Errno::EAGAIN && blocking => {
                return SysResult::block(s.send_waits(target.as_ref()))
            }
            r => r,
        }
    } else {
        if s.kind() == SOCK_STREAM && !name.is_empty() {
            let connected = s.peer_name().is_ok();
            return SysResult::err(if connected { Errno(EISCONN) } else { Errno::EOPNOTSUPP });
        }
        // Passed files go with the first bytes only.
        let mut anc = Some(anc);
        let mut send = |d: &[u8], first: bool| {
            let a = if first { anc.take().unwrap_or_default() } else { Ancillary::default() };
            s.send_connected(d, a)
        };
        match send_stream(k, ctx, data, blocking, &mut send, || s.send_waits(None)) {
            Ok(r) => r,
            Err(block) => return block,
        }
    };
    match r {
        Ok(n) => SysResult::Done(n as i64),
        Err(e) => {
            // A broken stream raises SIGPIPE unless MSG_NOSIGNAL.
            if e == Errno::EPIPE && s.kind() != SOCK_DGRAM && flags & MSG_NOSIGNAL == 0 {
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

/// A stream send: blocking, it moves everything, waiting midway as a
/// pipe write does (the bytes sent so far are kept in the task across
/// the waits). `send(rest, first)` sends what fits. Err: the wait.
pub(super) fn send_stream(
    k: &mut Kernel,
    ctx: &Ctx,
    data: &[u8],
    blocking: bool,
    send: &mut dyn FnMut(&[u8], bool) -> KResult<usize>,
    waits: impl Fn() -> Vec<WaitId>,
) -> Result<KResult<usize>, SysResult> {
    let progress =
        k.table.borrow().tasks.get(&ctx.tid).map_or(0, |t| t.io_progress).min(data.len());
    let set_progress = |k: &mut Kernel, v: usize| {
        if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
            t.io_progress = v;
        }
    };
    let rest = &data[progress..];
    match send(rest, progress == 0) {
        Ok(n) if n < rest.len() && blocking => {
            set_progress(k, progress + n);
            Err(SysResult::block(waits()))
        }
        Ok(n) => {
            set_progress(k, 0);
            Ok(Ok(progress + n))
        }
        Err(e) if e == Errno::EAGAIN && blocking => Err(SysResult::block(waits())),
        Err(_) if progress > 0 => {
            set_progress(k, 0);
            Ok(Ok(progress))
        }
        Err(e) => Ok(Err(e)),
    }
}

pub fn sys_sendto(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        let r = (|| {
            let name = if ctx.args[4] != 0 {
                read_sockaddr(k, ctx, ctx.args[4], ctx.args[5])?
            } else {
                Vec::new()
            };
            inet::udp_precheck(&s, ctx.args[2] as usize, &name)?;
            read_sendto(k, ctx)
        })();
        return match r {
            Ok((data, name)) => inet::send(k, ctx, &f, &s, &data, &name, ctx.arg_i32(3)),
            Err(e) => SysResult::err(e),
        };
    }
    let r = (|| -> KResult<_> {
        let (f, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let (data, name) = read_sendto(k, ctx)?;
        Ok((f, s, data, name))
    })();
    match r {
        Ok((f, s, data, name)) => {
            do_send(k, ctx, &f, &s, &data, &name, Ancillary::default(), ctx.arg_i32(3))
        }
        Err(e) => SysResult::err(e),
    }
}

/// sendto's bytes and destination.
fn read_sendto(k: &mut Kernel, ctx: &Ctx) -> KResult<(Vec<u8>, Vec<u8>)> {
    // One more byte than a queue holds tells a too-long datagram apart.
    let len = (ctx.args[2] as usize).min(0x10000.max(QUEUE_BYTES + 1));
    let data = mem(k, ctx).read_vec(ctx.args[1], len)?;
    // A null address means none, whatever its length says.
    let name = if ctx.args[4] != 0 {
        read_sockaddr(k, ctx, ctx.args[4], ctx.args[5])?
    } else {
        Vec::new()
    };
    Ok((data, name))
}

/// sendmsg's header, destination and gathered bytes.
fn read_sendmsg(k: &mut Kernel, ctx: &Ctx) -> KResult<(MsgHdr, Vec<u8>, Vec<u8>)> {
    let h = read_msghdr(k, ctx, ctx.args[1])?;
    let name =
        if h.namelen > 0 { mem(k, ctx).read_vec(h.name, h.namelen as usize)? } else { Vec::new() };
    let mut data = Vec::new();
    for iov in &h.iovs {
        let room = 0x10000.max(QUEUE_BYTES + 1).saturating_sub(data.len());
        let take = (iov.len as usize).min(room);
        data.extend(mem(k, ctx).read_vec(iov.base, take)?);
    }
    Ok((h, name, data))
}

/// struct msghdr, as read from the guest.
pub(super) struct MsgHdr {
    pub name: u64,
    pub namelen: i32,
    pub iovs: Vec<IoVec>,
    pub control: u64,
    pub controllen: u64,
}

/// net/socket.c copy_msghdr_from_user.
pub(super) fn read_msghdr(k: &mut Kernel, ctx: &Ctx, addr: u64) -> KResult<MsgHdr> {
    let h: [u64; 7] = mem(k, ctx).read_obj(addr)?;
    let (name, iov, iovlen, control, controllen) = (h[0], h[2], h[3], h[4], h[5]);
    let namelen = if name == 0 { 0 } else { h[1] as i32 };
    if namelen < 0 {
        return Err(Errno::EINVAL);
    }
    if iovlen as usize > UIO_MAXIOV {
        return Err(Errno(EMSGSIZE));
    }
    let mut iovs = vec![IoVec::default(); iovlen as usize];
    mem(k, ctx).read(iov, bytemuck::cast_slice_mut(&mut iovs))?;
    Ok(MsgHdr { name, namelen: namelen.min(SOCKADDR_STORAGE as i32), iovs, control, controllen })
}

/// The files and credentials a sendmsg control buffer passes
/// (net/core/scm.c scm_fp_copy, scm_check_creds).
fn read_ancillary(k: &mut Kernel, ctx: &Ctx, h: &MsgHdr) -> KResult<Ancillary> {
    if h.controllen == 0 {
        return Ok(Ancillary::default());
    }
    if h.controllen > OPTMEM_MAX {
        return Err(Errno(ENOBUFS));
    }
    let buf = mem(k, ctx).read_vec(h.control, h.controllen as usize)?;
    let c = scm::parse(&buf)?;
    let mut anc = Ancillary::default();
    for fd in c.fds {
        anc.fds.push(k.file(ctx.pid, fd)?);
    }
    if let Some(cr) = c.cred {
        if cr.uid == u32::MAX || cr.gid == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let t = k.table.borrow();
        let p = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
        let c = &p.cred;
        let root = c.euid == 0;
        let ok = (cr.pid == ctx.pid as i32 || root)
            && ([c.uid, c.euid, c.suid].contains(&cr.uid) || root)
            && ([c.gid, c.egid, c.sgid].contains(&cr.gid) || root);
        if !ok {
            return Err(Errno::EPERM);
        }
        anc.cred = Some(cr);
    }
    Ok(anc)
}

pub fn sys_sendmsg(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return match read_sendmsg(k, ctx) {
            // No control message (IP_PKTINFO, IP_TOS...) is offered.
            Ok((h, _, _)) if h.controllen >= CMSGHDR_LEN => {
                k.note_unsupported("ancillary data on inet sockets");
                SysResult::err(Errno::EINVAL)
            }
            Ok((_, name, data)) => inet::send(k, ctx, &f, &s, &data, &name, ctx.arg_i32(2)),
            Err(e) => SysResult::err(e),
        };
    }
    let r = (|| -> KResult<_> {
        let (f, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        let (h, name, data) = read_sendmsg(k, ctx)?;
        let anc = read_ancillary(k, ctx, &h)?;
        Ok((f, s, data, name, anc))
    })();
    match r {
        Ok((f, s, data, name, anc)) => do_send(k, ctx, &f, &s, &data, &name, anc, ctx.arg_i32(2)),
        Err(e) => SysResult::err(e),
    }
}

/// Receives for recv/recvfrom/recvmsg; Err is the SysResult to return
/// at once (an error or a wait).
fn do_recv(k: &mut Kernel, ctx: &Ctx, len: usize, flags: i32) -> Result<Received, SysResult> {
    let (f, s) = socket_of(k, ctx, ctx.arg_i32(0)).map_err(SysResult::err)?;
    if flags & MSG_OOB != 0 {
        k.note_unsupported("MSG_OOB on unix sockets");
        return Err(SysResult::err(Errno::EOPNOTSUPP));
    }
    let len = len.min(QUEUE_BYTES);
    match s.recv(len, flags & MSG_PEEK != 0, flags & MSG_WAITALL != 0) {
        Ok(r) => Ok(r),
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() && flags & MSG_DONTWAIT == 0 => {
            Err(SysResult::block(s.wait_ids(POLLIN)))
        }
        Err(e) => Err(SysResult::err(e)),
    }
}

/// What recv returns: the bytes copied, or with MSG_TRUNC a whole
/// datagram's length.
fn recv_result(r: &Received, flags: i32) -> i64 {
    if flags & MSG_TRUNC != 0 {
        r.full_len as i64
    } else {
        r.data.len() as i64
    }
}

pub fn sys_recvfrom(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return inet::recvfrom(k, ctx, &f, &s);
    }
    let flags = ctx.arg_i32(3);
    match do_recv(k, ctx, ctx.args[2] as usize, flags) {
        Ok(r) => {
            let res = (|| -> KResult<i64> {
                mem(k, ctx).write(ctx.args[1], &r.data)?;
                if ctx.args[4] != 0 {
                    let from = r.from.as_ref().map_or(Vec::new(), |a| a.to_sockaddr());
                    write_sockaddr(k, ctx, ctx.args[4], ctx.args[5], &from)?;
                }
                Ok(recv_result(&r, flags))
            })();
            res.into()
        }
        Err(r) => r,
    }
}

/// Installs received files and builds the control buffer
/// (net/core/scm.c scm_recv, scm_detach_fds): credentials first, then as
/// many fds as fit; the rest are dropped with MSG_CTRUNC.
fn deliver_control(
    k: &mut Kernel,
    ctx: &Ctx,
    h: &MsgHdr,
    r: Received,
    flags: i32,
) -> KResult<(usize, bool)> {
    if h.control == 0 {
        return Ok((0, r.cred.is_some() || !r.fds.is_empty()));
    }
    let mut c = RecvControl::new(h.controllen.min(OPTMEM_MAX) as usize);
    if let Some(cr) = r.cred {
        c.put_cred(cr);
    }
    let mut installed = Vec::new();
    if !r.fds.is_empty() {
        let room = c.fd_room();
        let limit = k.nofile_limit(ctx.pid);
        let table = k.files_of(ctx.pid)?;
        for file in r.fds.iter().take(room) {
            match table.borrow_mut().install(file.clone(), flags & MSG_CMSG_CLOEXEC != 0, limit) {
                Ok(fd) => installed.push(fd),
                Err(_) => break,
            }
        }
        c.put_fds(&installed);
        if installed.len() < r.fds.len() {
            c.truncated = true;
        }
    }
    if mem(k, ctx).write(h.control, &c.buf).is_err() {
        // Linux writes each fd number before installing it: nothing
        // reaches the guest, nothing is installed.
        let table = k.files_of(ctx.pid)?;
        for fd in installed {
            let _ = table.borrow_mut().remove(fd);
        }
        return Ok((0, true));
    }
    Ok((c.buf.len(), c.truncated))
}

pub fn sys_recvmsg(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((f, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return inet::recvmsg(k, ctx, &f, &s);
    }
    let flags = ctx.arg_i32(2);
    let h = match read_msghdr(k, ctx, ctx.args[1]) {
        Ok(h) => h,
        Err(e) => return SysResult::err(e),
    };
    let total = h.iovs.iter().fold(0usize, |a, i| a.saturating_add(i.len as usize));
    let mut r = match do_recv(k, ctx, total, flags) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let kind = socket_of(k, ctx, ctx.arg_i32(0)).map_or(SOCK_STREAM, |(_, s)| s.kind());
    let res = (|| -> KResult<i64> {
        let mut done = 0;
        for iov in &h.iovs {
            if done >= r.data.len() {
                break;
            }
            let take = (iov.len as usize).min(r.data.len() - done);
            mem(k, ctx).write(iov.base, &r.data[done..done + take])?;
            done += take;
        }
        let ret = recv_result(&r, flags);
        let mut out_flags = flags & MSG_CMSG_CLOEXEC;
        if kind != SOCK_STREAM && r.full_len > r.data.len() {
            out_flags |= MSG_TRUNC;
        }
        let m = ctx.args[1];
        if h.name != 0 {
            let from = r.from.take().map_or(Vec::new(), |a| a.to_sockaddr());
            write_sockaddr(k, ctx, h.name, m + 8, &from)?;
        }
        let fds_and_cred = Received {
            data: Vec::new(),
            full_len: 0,
            from: None,
            fds: std::mem::take(&mut r.fds),
            cred: r.cred,
        };
        let (used, ctrunc) = deliver_control(k, ctx, &h, fds_and_cred, flags)?;
        if ctrunc {
            out_flags |= MSG_CTRUNC;
        }
        mem(k, ctx).write_obj(m + 40, &(used as u64))?;
        mem(k, ctx).write_obj(m + 48, &out_flags)?;
        Ok(ret)
    })();
    res.into()
}

pub fn sys_shutdown(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
        return s.shutdown(ctx.arg_i32(1)).map(|_| 0).into();
    }
    let r = socket_of(k, ctx, ctx.arg_i32(0)).and_then(|(_, s)| s.shutdown(ctx.arg_i32(1)));
    r.map(|_| 0).into()
}

pub fn sys_getsockopt(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let inet = inet::socket_of(k, ctx, ctx.arg_i32(0));
        let unix = if inet.is_some() { None } else { Some(socket_of(k, ctx, ctx.arg_i32(0))?.1) };
        let len: i32 = mem(k, ctx).read_obj(ctx.args[4])?;
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        if let Some((_, s)) = inet {
            let v = inet::getsockopt(&s, ctx.arg_i32(1), ctx.arg_i32(2))?;
            return put_sockopt(k, ctx, len, &v);
        }
        let Some(s) = unix else { return Err(Errno::ENOTSOCK) };
        // af_unix has no options of its own beyond SOL_SOCKET.
        if ctx.arg_i32(1) != SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let int = |v: i32| v.to_ne_bytes().to_vec();
        let v: Vec<u8> = match ctx.arg_i32(2) {
            SO_TYPE => int(s.kind()),
            SO_DOMAIN => int(AF_UNIX),
            SO_PROTOCOL => int(0),
            SO_ERROR => int(s.take_error().map_or(0, |e| e.0)),
            SO_SNDBUF => int(s.sndbuf.get()),
            SO_RCVBUF => int(s.rcvbuf.get()),
            SO_ACCEPTCONN => int(s.is_listening() as i32),
            SO_PASSCRED => int(s.passcred.get() as i32),
            SO_REUSEADDR => int(s.reuseaddr.get() as i32),
            SO_PEERCRED => {
                // No peer yet: pid 0 and the overflow ids, as Linux.
                let c = s.peer_cred().unwrap_or(Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX });
                let mut b = c.pid.to_ne_bytes().to_vec();
                b.extend_from_slice(&c.uid.to_ne_bytes());
                b.extend_from_slice(&c.gid.to_ne_bytes());
                b
            }
            _ => return Err(Errno(ENOPROTOOPT)),
        };
        put_sockopt(k, ctx, len, &v)
    })();
    r.into()
}

/// Hands an option's value to getsockopt's caller: a short buffer gets
/// the first bytes (sock.c sk_getsockopt).
fn put_sockopt(k: &mut Kernel, ctx: &Ctx, len: i32, v: &[u8]) -> KResult<i64> {
    let n = (len.max(0) as usize).min(v.len());
    mem(k, ctx).write(ctx.args[3], &v[..n])?;
    mem(k, ctx).write_obj(ctx.args[4], &(n as i32))?;
    Ok(0)
}

pub fn sys_setsockopt(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if let Some((_, s)) = inet::socket_of(k, ctx, ctx.arg_i32(0)) {
            let len = ctx.args[4] as i32;
            if len < 0 {
                return Err(Errno::EINVAL);
            }
            // Every option here is an int or a struct linger.
            let raw = mem(k, ctx).read_vec(ctx.args[3], (len as usize).min(8))?;
            inet::setsockopt(&s, ctx.arg_i32(1), ctx.arg_i32(2), &raw)?;
            return Ok(0);
        }
        let (_, s) = socket_of(k, ctx, ctx.arg_i32(0))?;
        if ctx.arg_i32(1) != SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        if (ctx.args[4] as i32) < 4 {
            return Err(Errno::EINVAL);
        }
        let v: i32 = mem(k, ctx).read_obj(ctx.args[3])?;
        match ctx.arg_i32(2) {
            SO_REUSEADDR => s.reuseaddr.set(v != 0),
            SO_PASSCRED => s.passcred.set(v != 0),
            // The value is doubled for bookkeeping overhead and clamped,
            // as sock.c does; umk's queues keep their own fixed size.
            SO_SNDBUF => s.sndbuf.set(((v as u32).min(BUF_MAX) as i32 * 2).max(MIN_SNDBUF)),
            SO_RCVBUF => s.rcvbuf.set(((v as u32).min(BUF_MAX) as i32 * 2).max(MIN_RCVBUF)),
            _ => return Err(Errno(ENOPROTOOPT)),
        }
        Ok(0)
    })();
    r.into()
}
