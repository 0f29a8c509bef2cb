//! Socket syscalls: today socketpair(AF_UNIX) and the calls that move
//! data over such a pair.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::OpenFile;
use crate::kernel::mm::GuestMem;
use crate::kernel::net::unix::{
    self, UnixSocket, QUEUE_BYTES, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM,
};
use crate::kernel::Kernel;
use guest_abi::fcntl::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use guest_abi::misc::{IoVec, POLLIN, POLLOUT, UIO_MAXIOV};
use std::rc::Rc;

const AF_UNIX: i32 = 1;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SOCK_RAW: i32 = 3;
const SOCK_MAX: i32 = 11;
const SOCK_NONBLOCK: i32 = O_NONBLOCK;
const SOCK_CLOEXEC: i32 = O_CLOEXEC;
const MSG_PEEK: i32 = 0x2;
const MSG_DONTWAIT: i32 = 0x40;
const MSG_NOSIGNAL: i32 = 0x4000;
const SOL_SOCKET: i32 = 1;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_DOMAIN: i32 = 39;

fn mem<'a>(k: &'a mut Kernel, ctx: &Ctx) -> GuestMem<'a> {
    GuestMem::new(k.platform.as_mut(), ctx.host)
}

pub fn sys_socketpair(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (domain, ty) = (ctx.arg_i32(0), ctx.arg_i32(1));
        let kind = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
        // net/socket.c: a type out of range is EINVAL before any family
        // looks at it.
        if !(0..SOCK_MAX).contains(&kind) {
            return Err(Errno::EINVAL);
        }
        match domain {
            AF_UNIX => {}
            // inet and inet6 exist on Linux but cannot make pairs.
            AF_INET | AF_INET6 => return Err(Errno::EOPNOTSUPP),
            _ => return Err(Errno(guest_abi::errno::EAFNOSUPPORT)),
        }
        // af_unix treats SOCK_RAW as SOCK_DGRAM.
        let kind = if kind == SOCK_RAW { SOCK_DGRAM } else { kind };
        if ![SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET].contains(&kind) {
            return Err(Errno(guest_abi::errno::ESOCKTNOSUPPORT));
        }
        if ctx.args[2] != 0 {
            return Err(Errno(guest_abi::errno::EPROTONOSUPPORT));
        }
        let (a, b) = unix::pair(kind, &k.waker);
        let flags = O_RDWR | (ty & SOCK_NONBLOCK);
        let cloexec = ty & SOCK_CLOEXEC != 0;
        let limit = k.nofile_limit(ctx.pid);
        let table = k.files_of(ctx.pid)?;
        let fa = table.borrow_mut().install(OpenFile::new(a, None, None, flags), cloexec, limit)?;
        let fb =
            match table.borrow_mut().install(OpenFile::new(b, None, None, flags), cloexec, limit) {
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

fn socket_of(
    k: &Kernel,
    ctx: &Ctx,
) -> KResult<(Rc<OpenFile>, Rc<dyn crate::kernel::fs::file::FileOps>)> {
    let f = k.file(ctx.pid, ctx.arg_i32(0))?;
    if f.ops.as_any().and_then(|a| a.downcast_ref::<UnixSocket>()).is_none() {
        return Err(Errno::ENOTSOCK);
    }
    let ops = f.ops.clone();
    Ok((f, ops))
}

fn sock(ops: &Rc<dyn crate::kernel::fs::file::FileOps>) -> &UnixSocket {
    // socket_of checked the type.
    ops.as_any().and_then(|a| a.downcast_ref::<UnixSocket>()).expect("checked by socket_of")
}

/// Sends `data`; blocking, EPIPE and SIGPIPE as for a pipe.
fn do_send(k: &mut Kernel, ctx: &Ctx, data: &[u8], flags: i32) -> SysResult {
    let (f, ops) = match socket_of(k, ctx) {
        Ok(x) => x,
        Err(e) => return SysResult::err(e),
    };
    match sock(&ops).send(data) {
        Ok(n) => SysResult::Done(n as i64),
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() && flags & MSG_DONTWAIT == 0 => {
            SysResult::block(f.ops.wait_ids(POLLOUT))
        }
        Err(e) => {
            if e == Errno::EPIPE && flags & MSG_NOSIGNAL == 0 {
                let sig = guest_abi::signal::SIGPIPE;
                let uid = k.table.borrow().procs.get(&ctx.pid).map(|p| p.cred.uid).unwrap_or(0);
                crate::kernel::signal::send_to_thread(
                    k,
                    ctx.tid,
                    sig,
                    crate::kernel::signal::SigOrigin::user(sig, ctx.pid, uid),
                );
            }
            SysResult::err(e)
        }
    }
}

/// Receives into `len` bytes; returns the data (blocking as for a pipe).
fn do_recv(k: &mut Kernel, ctx: &Ctx, len: usize, flags: i32) -> Result<Vec<u8>, SysResult> {
    let (f, ops) = socket_of(k, ctx).map_err(SysResult::err)?;
    let mut buf = vec![0u8; len.min(QUEUE_BYTES)];
    match sock(&ops).recv(&mut buf, flags & MSG_PEEK != 0) {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() && flags & MSG_DONTWAIT == 0 => {
            Err(SysResult::block(f.ops.wait_ids(POLLIN)))
        }
        Err(e) => Err(SysResult::err(e)),
    }
}

pub fn sys_sendto(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.args[4] != 0 {
        // A connected pair takes no address.
        return SysResult::err(Errno(guest_abi::errno::EISCONN));
    }
    let len = (ctx.args[2] as usize).min(QUEUE_BYTES + 1);
    match mem(k, ctx).read_vec(ctx.args[1], len) {
        Ok(data) => do_send(k, ctx, &data, ctx.arg_i32(3)),
        Err(e) => SysResult::err(e),
    }
}

pub fn sys_recvfrom(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match do_recv(k, ctx, ctx.args[2] as usize, ctx.arg_i32(3)) {
        Ok(data) => {
            let r = mem(k, ctx).write(ctx.args[1], &data).and_then(|_| {
                if ctx.args[5] != 0 {
                    // No peer address for an unnamed socket: length 0.
                    mem(k, ctx).write_obj(ctx.args[5], &0u32)?;
                }
                Ok(data.len() as i64)
            });
            r.into()
        }
        Err(r) => r,
    }
}

/// struct msghdr: name, namelen, iov, iovlen, control, controllen, flags.
fn read_msghdr(k: &mut Kernel, ctx: &Ctx) -> KResult<(Vec<IoVec>, u64)> {
    let h: [u64; 7] = mem(k, ctx).read_obj(ctx.args[1])?;
    let (iov, iovlen, controllen) = (h[2], h[3], h[5]);
    if controllen != 0 {
        // Passing fds and credentials (SCM_RIGHTS...) is not supported.
        k.note_unsupported("ancillary data on unix sockets");
        return Err(Errno::EOPNOTSUPP);
    }
    if iovlen as usize > UIO_MAXIOV {
        return Err(Errno(guest_abi::errno::EMSGSIZE));
    }
    let mut v = vec![IoVec::default(); iovlen as usize];
    mem(k, ctx).read(iov, bytemuck::cast_slice_mut(&mut v))?;
    Ok((v, h[0]))
}

pub fn sys_sendmsg(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<Vec<u8>> {
        let (iovs, name) = read_msghdr(k, ctx)?;
        if name != 0 {
            return Err(Errno(guest_abi::errno::EISCONN));
        }
        let mut data = Vec::new();
        for iov in iovs {
            let take = (iov.len as usize).min(QUEUE_BYTES + 1 - data.len().min(QUEUE_BYTES));
            data.extend(mem(k, ctx).read_vec(iov.base, take)?);
        }
        Ok(data)
    })();
    match r {
        Ok(data) => do_send(k, ctx, &data, ctx.arg_i32(2)),
        Err(e) => SysResult::err(e),
    }
}

pub fn sys_recvmsg(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (iovs, _) = match read_msghdr(k, ctx) {
        Ok(x) => x,
        Err(e) => return SysResult::err(e),
    };
    let total: usize = iovs.iter().map(|i| i.len as usize).sum();
    match do_recv(k, ctx, total, ctx.arg_i32(2)) {
        Ok(data) => {
            let r = (|| -> KResult<i64> {
                let mut done = 0;
                for iov in &iovs {
                    if done >= data.len() {
                        break;
                    }
                    let take = (iov.len as usize).min(data.len() - done);
                    mem(k, ctx).write(iov.base, &data[done..done + take])?;
                    done += take;
                }
                // msg_namelen = 0, msg_controllen = 0, msg_flags = 0.
                let h = ctx.args[1];
                mem(k, ctx).write_obj(h + 8, &0u32)?;
                mem(k, ctx).write_obj(h + 40, &0u64)?;
                mem(k, ctx).write_obj(h + 48, &0i32)?;
                Ok(data.len() as i64)
            })();
            r.into()
        }
        Err(r) => r,
    }
}

pub fn sys_shutdown(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = socket_of(k, ctx).and_then(|(_, ops)| sock(&ops).shutdown(ctx.arg_i32(1))).map(|_| 0);
    r.into()
}

pub fn sys_getsockopt(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (_, ops) = socket_of(k, ctx)?;
        if ctx.arg_i32(1) != SOL_SOCKET {
            return Err(Errno(guest_abi::errno::ENOPROTOOPT));
        }
        let v: i32 = match ctx.arg_i32(2) {
            SO_TYPE => sock(&ops).kind(),
            SO_DOMAIN => AF_UNIX,
            SO_ERROR => 0,
            SO_SNDBUF | SO_RCVBUF => QUEUE_BYTES as i32,
            _ => return Err(Errno(guest_abi::errno::ENOPROTOOPT)),
        };
        let len: u32 = mem(k, ctx).read_obj(ctx.args[4])?;
        if (len as usize) < 4 {
            return Err(Errno::EINVAL);
        }
        mem(k, ctx).write_obj(ctx.args[3], &v)?;
        mem(k, ctx).write_obj(ctx.args[4], &4u32)?;
        Ok(0)
    })();
    r.into()
}
