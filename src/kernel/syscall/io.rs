//! Reading, writing and descriptor syscalls.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileOps, OpenFile};
use crate::kernel::fs::pipe::{Pipe, PipeEnd};
use crate::kernel::fs::Attr;
use crate::kernel::mm::GuestMem;
use crate::kernel::Kernel;
use guest_abi::fcntl::*;
use guest_abi::misc::{
    IoVec, PollFd, Timespec, Timeval, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, UIO_MAXIOV,
};
use guest_abi::restart::ERESTARTNOHAND;
use guest_abi::signal::{SIGPIPE, SIGTTOU};
use guest_abi::termios::*;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Largest transfer one read or write call moves (Linux: MAX_RW_COUNT).
const MAX_RW: usize = 0x7fff_f000;
/// umk moves at most this much per call through its buffer; the guest sees
/// a short count and loops, as with any Linux file.
const CHUNK: usize = 8 << 20;

fn mem<'a>(k: &'a mut Kernel, ctx: &Ctx) -> GuestMem<'a> {
    GuestMem::new(k.platform.as_mut(), ctx.host)
}

/// Turns "would block" into a park unless the file is non-blocking.
fn blocking(r: KResult<i64>, f: &OpenFile, events: i16) -> SysResult {
    match r {
        Err(e) if e == Errno::EAGAIN && !f.nonblocking() => {
            let waits = f.ops.wait_ids(events);
            if waits.is_empty() {
                SysResult::err(Errno::EAGAIN)
            } else {
                SysResult::block(waits)
            }
        }
        r => r.into(),
    }
}

fn do_read(
    k: &mut Kernel,
    ctx: &Ctx,
    fd: i32,
    addr: u64,
    len: usize,
    off: Option<u64>,
) -> SysResult {
    let f = match k.file(ctx.pid, fd) {
        Ok(f) => f,
        Err(e) => return SysResult::err(e),
    };
    if !f.readable() {
        return SysResult::err(Errno::EBADF);
    }
    let tty = f.ops.tty();
    if let Some(tty) = &tty {
        if let Some(r) = tty.job_control(k, ctx, guest_abi::signal::SIGTTIN) {
            return r;
        }
        tty.vtime_expired.set(ctx.deadline.is_some_and(|d| d <= Instant::now()));
    }
    if let Some(sfd) =
        f.ops.as_any().and_then(|a| a.downcast_ref::<crate::kernel::signal::signalfd::SignalFd>())
    {
        let r = crate::kernel::signal::signalfd::read(k, ctx, sfd, addr, len).map(|n| n as i64);
        return blocking(r, &f, POLLIN);
    }
    let len = len.min(MAX_RW).min(CHUNK);
    let mut buf = std::mem::take(&mut k.scratch);
    buf.resize(len, 0);
    let pos = f.pos.get();
    let r = match off {
        Some(o) => f.ops.pread(o, &mut buf[..len]),
        None => f.ops.read(&f, &mut buf[..len]),
    };
    let r = r.and_then(|n| {
        if let Err(e) = mem(k, ctx).write(addr, &buf[..n]) {
            // A bad buffer leaves a file's position where it was.
            if f.ops.seekable() {
                f.pos.set(pos);
            }
            return Err(e);
        }
        Ok(n as i64)
    });
    k.scratch = buf;
    if let Some(tty) = &tty {
        tty.vtime_expired.set(false);
    }
    if let (Some(tty), Err(Errno::EAGAIN)) = (&tty, &r) {
        if let Some(r) = tty_vtime_block(ctx, tty, &f, len) {
            return r;
        }
    }
    blocking(r, &f, POLLIN)
}

/// A terminal read in non-canonical mode with VTIME set waits for input
/// or for its timer, which runs from the start of the call (VMIN == 0) or
/// restarts whenever input wakes the reader (VMIN > 0: an inter-byte
/// timer). When the timer runs out the read re-runs and returns what is
/// there.
fn tty_vtime_block(
    ctx: &Ctx,
    tty: &crate::kernel::tty::core::Tty,
    f: &OpenFile,
    len: usize,
) -> Option<SysResult> {
    if f.nonblocking() {
        return None;
    }
    let (wait, interbyte) = tty.vtime_wait(len)?;
    let deadline = match ctx.deadline {
        Some(d) if !interbyte => d,
        _ => Instant::now() + wait,
    };
    Some(SysResult::Block {
        waits: f.ops.wait_ids(POLLIN),
        deadline: Some(deadline),
        restart: guest_abi::restart::ERESTARTSYS,
    })
}

fn do_write(k: &mut Kernel, ctx: &Ctx, fd: i32, data: &[u8], off: Option<u64>) -> SysResult {
    let f = match k.file(ctx.pid, fd) {
        Ok(f) => f,
        Err(e) => return SysResult::err(e),
    };
    if !f.writable() {
        return SysResult::err(Errno::EBADF);
    }
    if let Some(tty) = f.ops.tty() {
        if let Some(r) = tty.job_control(k, ctx, SIGTTOU) {
            return r;
        }
    }
    if let (Some(inode), crate::kernel::fs::file::FileKind::Regular) = (&f.inode, f.ops.kind()) {
        let root = k.table.borrow().procs.get(&ctx.pid).is_some_and(|p| p.cred.euid == 0);
        if let Err(e) = crate::kernel::fs::permission::remove_privs(inode, root) {
            return SysResult::err(e);
        }
    }
    // pwrite on an O_APPEND file appends anyway (pwrite(2), BUGS).
    let off = match off {
        Some(_) if f.flags.get() & O_APPEND != 0 => Some(f.attr().map(|a| a.size).unwrap_or(0)),
        o => o,
    };
    // A blocking write to a pipe moves everything before it returns,
    // waiting for the reader in between: `io_progress` remembers how far
    // it got across the waits (the call re-runs from the start).
    let progress =
        k.table.borrow().tasks.get(&ctx.tid).map(|t| t.io_progress).unwrap_or(0).min(data.len());
    let rest = &data[progress..];
    let r = match off {
        Some(o) => f.ops.pwrite(o, rest),
        None => f.ops.write(&f, rest),
    };
    let set_progress = |k: &mut Kernel, v: usize| {
        if let Some(t) = k.table.borrow_mut().tasks.get_mut(&ctx.tid) {
            t.io_progress = v;
        }
    };
    let blocking_pipe = !f.nonblocking() && f.ops.kind() == crate::kernel::fs::file::FileKind::Pipe;
    match r {
        Ok(n) if n < rest.len() && blocking_pipe => {
            set_progress(k, progress + n);
            return SysResult::block(f.ops.wait_ids(POLLOUT));
        }
        Ok(n) => {
            set_progress(k, 0);
            return SysResult::Done((progress + n) as i64);
        }
        Err(e) if e == Errno::EAGAIN && blocking_pipe => {
            return SysResult::block(f.ops.wait_ids(POLLOUT))
        }
        Err(_) if progress > 0 => {
            set_progress(k, 0);
            return SysResult::Done(progress as i64);
        }
        Err(_) => {}
    }
    let r = r.map(|n| n as i64);
    if r == Err(Errno::EPIPE) {
        // Writing to a pipe with no reader also raises SIGPIPE (fs/pipe.c).
        let uid = k.table.borrow().procs.get(&ctx.pid).map(|p| p.cred.uid).unwrap_or(0);
        crate::kernel::signal::send_to_thread(
            k,
            ctx.tid,
            SIGPIPE,
            crate::kernel::signal::SigOrigin::user(SIGPIPE, ctx.pid, uid),
        );
    }
    blocking(r, &f, POLLOUT)
}

pub fn sys_read(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_read(k, ctx, ctx.arg_i32(0), ctx.args[1], ctx.args[2] as usize, None)
}

pub fn sys_pread64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if (ctx.args[3] as i64) < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    do_read(k, ctx, ctx.arg_i32(0), ctx.args[1], ctx.args[2] as usize, Some(ctx.args[3]))
}

/// write/pwrite64: the guest's bytes are copied into umk's reusable write
/// buffer (no allocation per call), then written.
fn write_from_user(k: &mut Kernel, ctx: &Ctx, off: Option<u64>) -> SysResult {
    let len = (ctx.args[2] as usize).min(MAX_RW).min(CHUNK);
    let mut buf = std::mem::take(&mut k.scratch_write);
    buf.resize(len, 0);
    let r = match mem(k, ctx).read(ctx.args[1], &mut buf[..len]) {
        Ok(()) => do_write(k, ctx, ctx.arg_i32(0), &buf[..len], off),
        Err(e) => SysResult::err(e),
    };
    k.scratch_write = buf;
    r
}

pub fn sys_write(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    write_from_user(k, ctx, None)
}

pub fn sys_pwrite64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if (ctx.args[3] as i64) < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    write_from_user(k, ctx, Some(ctx.args[3]))
}

fn read_iovecs(k: &mut Kernel, ctx: &Ctx, addr: u64, count: u64) -> KResult<Vec<IoVec>> {
    if count as usize > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut v = vec![IoVec::default(); count as usize];
    mem(k, ctx).read(addr, bytemuck::cast_slice_mut(&mut v))?;
    let mut total: u64 = 0;
    for iov in &v {
        total = total.checked_add(iov.len).ok_or(Errno::EINVAL)?;
        if total > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(v)
}

fn do_readv(k: &mut Kernel, ctx: &Ctx, off: Option<u64>) -> SysResult {
    let iovs = match read_iovecs(k, ctx, ctx.args[1], ctx.args[2]) {
        Ok(v) => v,
        Err(e) => return SysResult::err(e),
    };
    let f = match k.file(ctx.pid, ctx.arg_i32(0)) {
        Ok(f) => f,
        Err(e) => return SysResult::err(e),
    };
    if !f.readable() {
        return SysResult::err(Errno::EBADF);
    }
    let total: usize = iovs.iter().map(|i| i.len as usize).sum::<usize>().min(CHUNK);
    let mut buf = vec![0u8; total];
    let r = match off {
        Some(o) => f.ops.pread(o, &mut buf),
        None => f.ops.read(&f, &mut buf),
    };
    let r = r.and_then(|n| {
        let mut done = 0usize;
        for iov in &iovs {
            if done >= n {
                break;
            }
            let take = (iov.len as usize).min(n - done);
            mem(k, ctx).write(iov.base, &buf[done..done + take])?;
            done += take;
        }
        Ok(n as i64)
    });
    blocking(r, &f, POLLIN)
}

fn do_writev(k: &mut Kernel, ctx: &Ctx, off: Option<u64>) -> SysResult {
    let r = (|| -> KResult<Vec<u8>> {
        let iovs = read_iovecs(k, ctx, ctx.args[1], ctx.args[2])?;
        let mut data = Vec::new();
        for iov in iovs {
            let room = CHUNK - data.len();
            if room == 0 {
                break;
            }
            data.extend(mem(k, ctx).read_vec(iov.base, (iov.len as usize).min(room))?);
        }
        Ok(data)
    })();
    match r {
        Ok(data) => do_write(k, ctx, ctx.arg_i32(0), &data, off),
        Err(e) => SysResult::err(e),
    }
}

pub fn sys_readv(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_readv(k, ctx, None)
}
pub fn sys_writev(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_writev(k, ctx, None)
}
pub fn sys_preadv(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if (ctx.args[3] as i64) < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    do_readv(k, ctx, Some(ctx.args[3]))
}
pub fn sys_pwritev(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if (ctx.args[3] as i64) < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    do_writev(k, ctx, Some(ctx.args[3]))
}

pub fn sys_close(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = k.files_of(ctx.pid).and_then(|t| t.borrow_mut().remove(ctx.arg_i32(0)));
    match r {
        Ok(entry) => {
            release_record_locks(k, ctx.pid, &entry.file);
            SysResult::Done(0)
        }
        Err(e) => SysResult::err(e),
    }
}

/// Closing any fd of a file drops the process's POSIX locks on it.
fn release_record_locks(k: &Kernel, pid: crate::kernel::task::Pid, f: &OpenFile) {
    if let Some(i) = &f.inode {
        if let Ok(a) = i.attr() {
            k.locks.release_process_file((a.dev, a.ino), pid);
        }
    }
}

const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// fcntl F_GETLK/F_SETLK/F_SETLKW on a `struct flock` (32 bytes: type,
/// whence, start, len, pid).
fn record_lock(
    k: &mut Kernel,
    ctx: &Ctx,
    f: &Rc<OpenFile>,
    cmd: i32,
    arg: u64,
) -> KResult<SysResult> {
    use crate::kernel::fs::lock::{LockKind, RecordLock};
    let raw: [u8; 32] = mem(k, ctx).read_obj(arg)?;
    let ltype = i16::from_le_bytes([raw[0], raw[1]]);
    let whence = i16::from_le_bytes([raw[2], raw[3]]) as i32;
    let lstart = i64::from_le_bytes(raw[8..16].try_into().unwrap_or([0; 8]));
    let llen = i64::from_le_bytes(raw[16..24].try_into().unwrap_or([0; 8]));
    let inode = f.inode.clone().ok_or(Errno::EINVAL)?;
    let a = inode.attr()?;
    let base: i64 = match whence {
        SEEK_SET => 0,
        SEEK_CUR => f.pos.get() as i64,
        SEEK_END => a.size as i64,
        _ => return Err(Errno::EINVAL),
    };
    let mut start = base.checked_add(lstart).ok_or(Errno::EOVERFLOW)?;
    let mut end: u64 =
        if llen == 0 { u64::MAX } else { start.checked_add(llen).ok_or(Errno::EOVERFLOW)? as u64 };
    if llen < 0 {
        end = start as u64;
        start += llen;
    }
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let start = start as u64;
    let key = (a.dev, a.ino);
    let kind = match ltype {
        F_RDLCK => Some(LockKind::Shared),
        F_WRLCK => Some(LockKind::Exclusive),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    if cmd == F_GETLK {
        let want = RecordLock { pid: ctx.pid, start, end, kind: kind.ok_or(Errno::EINVAL)? };
        let mut out = raw;
        match k.locks.test(key, want) {
            Some(l) => {
                out[0..2].copy_from_slice(
                    &(if l.kind == LockKind::Shared { F_RDLCK } else { F_WRLCK }).to_le_bytes(),
                );
                out[2..4].copy_from_slice(&(SEEK_SET as i16).to_le_bytes());
                out[8..16].copy_from_slice(&(l.start as i64).to_le_bytes());
                let len = if l.end == u64::MAX { 0 } else { (l.end - l.start) as i64 };
                out[16..24].copy_from_slice(&len.to_le_bytes());
                out[24..28].copy_from_slice(&l.pid.to_le_bytes());
            }
            None => out[0..2].copy_from_slice(&F_UNLCK.to_le_bytes()),
        }
        mem(k, ctx).write(arg, &out)?;
        return Ok(SysResult::Done(0));
    }
    // A read lock needs a readable file, a write lock a writable one.
    match kind {
        Some(LockKind::Shared) if !f.readable() => return Err(Errno::EBADF),
        Some(LockKind::Exclusive) if !f.writable() => return Err(Errno::EBADF),
        _ => {}
    }
    match k.locks.set(key, ctx.pid, start, end, kind) {
        Ok(()) => Ok(SysResult::Done(0)),
        Err(e) if e == Errno::EAGAIN && cmd == F_SETLKW => {
            Ok(SysResult::block(vec![k.locks.wait_id(key)]))
        }
        Err(e) => Err(e),
    }
}

const LOCK_SH: i32 = 1;
const LOCK_EX: i32 = 2;
const LOCK_NB: i32 = 4;
const LOCK_UN: i32 = 8;

/// flock(2): whole-file locks of the open file description.
pub fn sys_flock(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    use crate::kernel::fs::lock::{FlockGuard, LockKind};
    let r = (|| -> KResult<SysResult> {
        let f = k.file(ctx.pid, ctx.arg_i32(0))?;
        let op = ctx.arg_i32(1);
        let inode = f.inode.clone().ok_or(Errno::EINVAL)?;
        let a = inode.attr()?;
        let key = (a.dev, a.ino);
        let ofd = Rc::as_ptr(&f) as usize;
        let kind = match op & !LOCK_NB {
            LOCK_SH => LockKind::Shared,
            LOCK_EX => LockKind::Exclusive,
            LOCK_UN => {
                drop(f.flock.borrow_mut().take());
                return Ok(SysResult::Done(0));
            }
            _ => return Err(Errno::EINVAL),
        };
        match k.locks.flock(key, ofd, kind) {
            Ok(()) => {
                let mut g = f.flock.borrow_mut();
                if g.is_none() {
                    *g = Some(FlockGuard { table: k.locks.clone(), key, ofd });
                }
                Ok(SysResult::Done(0))
            }
            Err(e) if e == Errno::EAGAIN && op & LOCK_NB == 0 => {
                Ok(SysResult::block(vec![k.locks.wait_id(key)]))
            }
            Err(e) => Err(e),
        }
    })();
    r.unwrap_or_else(SysResult::err)
}

pub fn sys_lseek(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let f = k.file(ctx.pid, ctx.arg_i32(0))?;
        if !f.ops.seekable() {
            return Err(Errno::ESPIPE);
        }
        let off = ctx.args[1] as i64;
        let size = f.attr().map(|a| a.size as i64).unwrap_or(0);
        let new = match ctx.arg_i32(2) {
            SEEK_SET => off,
            SEEK_CUR => (f.pos.get() as i64).checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_END => size.checked_add(off).ok_or(Errno::EOVERFLOW)?,
            SEEK_DATA if off < size => off,
            SEEK_HOLE if off < size => size,
            SEEK_DATA | SEEK_HOLE => return Err(Errno::ENXIO),
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        f.pos.set(new as u64);
        Ok(new)
    })();
    r.into()
}

pub fn sys_dup(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let limit = k.nofile_limit(ctx.pid);
    let r = k.files_of(ctx.pid).and_then(|t| {
        let mut t = t.borrow_mut();
        let f = t.file(ctx.arg_i32(0))?;
        t.install(f, false, limit).map(|fd| fd as i64)
    });
    r.into()
}

fn do_dup3(k: &mut Kernel, ctx: &Ctx, old: i32, new: i32, flags: i32) -> KResult<i64> {
    let limit = k.nofile_limit(ctx.pid);
    let t = k.files_of(ctx.pid)?;
    let f = t.borrow().file(old)?;
    let closed = t.borrow_mut().install_at(new, f, flags & O_CLOEXEC != 0, limit)?;
    // Closing the replaced file may run its release (a pipe end's Drop):
    // do it outside the table borrow.
    if let Some(c) = &closed {
        release_record_locks(k, ctx.pid, &c.file);
    }
    drop(closed);
    Ok(new as i64)
}

pub fn sys_dup2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (old, new) = (ctx.arg_i32(0), ctx.arg_i32(1));
    if old == new {
        // dup2(fd, fd) checks fd and returns it.
        return k.file(ctx.pid, old).map(|_| new as i64).into();
    }
    do_dup3(k, ctx, old, new, 0).into()
}

pub fn sys_dup3(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let (old, new, flags) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.arg_i32(2));
    if old == new || flags & !O_CLOEXEC != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    do_dup3(k, ctx, old, new, flags).into()
}

pub fn sys_fcntl(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if matches!(ctx.arg_i32(1), F_GETLK | F_SETLK | F_SETLKW) {
        return match k.file(ctx.pid, ctx.arg_i32(0)) {
            Ok(f) => match record_lock(k, ctx, &f, ctx.arg_i32(1), ctx.args[2]) {
                Ok(r) => r,
                Err(e) => SysResult::err(e),
            },
            Err(e) => SysResult::err(e),
        };
    }
    let r = (|| -> KResult<i64> {
        let fd = ctx.arg_i32(0);
        let arg = ctx.args[2];
        let t = k.files_of(ctx.pid)?;
        let limit = k.nofile_limit(ctx.pid);
        match ctx.arg_i32(1) {
            F_DUPFD | F_DUPFD_CLOEXEC => {
                let min = arg as i64;
                if min < 0 || min as usize >= limit {
                    return Err(Errno::EINVAL);
                }
                let f = t.borrow().file(fd)?;
                let cloexec = ctx.arg_i32(1) == F_DUPFD_CLOEXEC;
                Ok(t.borrow_mut().install_from(min as usize, f, cloexec, limit)? as i64)
            }
            F_GETFD => Ok(if t.borrow().get(fd)?.cloexec { FD_CLOEXEC as i64 } else { 0 }),
            F_SETFD => {
                t.borrow_mut().set_cloexec(fd, arg as i32 & FD_CLOEXEC != 0)?;
                Ok(0)
            }
            F_GETFL => {
                let f = t.borrow().file(fd)?;
                Ok(f.flags.get() as i64)
            }
            F_SETFL => {
                let f = t.borrow().file(fd)?;
                // Only these status flags can change (fs/fcntl.c SETFL_MASK).
                let changeable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
                f.flags.set((f.flags.get() & !changeable) | (arg as i32 & changeable));
                Ok(0)
            }
            F_GETPIPE_SZ | F_SETPIPE_SZ => {
                let f = t.borrow().file(fd)?;
                let pipe = f
                    .ops
                    .as_any()
                    .and_then(|a| a.downcast_ref::<PipeEnd>())
                    .map(|e| e.pipe.clone())
                    .ok_or(Errno::EBADF)?;
                if ctx.arg_i32(1) == F_GETPIPE_SZ {
                    return Ok(pipe.capacity() as i64);
                }
                pipe.set_capacity(arg as usize).map(|c| c as i64)
            }
            F_SETOWN | F_GETOWN => Ok(0),
            _ => Err(Errno::EINVAL),
        }
    })();
    r.into()
}

pub fn sys_ftruncate(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        if (ctx.args[1] as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        let f = k.file(ctx.pid, ctx.arg_i32(0))?;
        if !f.writable() {
            return Err(Errno::EINVAL);
        }
        let i = f.inode.clone().ok_or(Errno::EINVAL)?;
        if !i.attr()?.is_reg() {
            return Err(Errno::EINVAL);
        }
        let root = k.table.borrow().procs.get(&ctx.pid).is_some_and(|p| p.cred.euid == 0);
        crate::kernel::fs::permission::remove_privs(&i, root)?;
        i.truncate(ctx.args[1])?;
        Ok(0)
    })();
    r.into()
}

/// fsync/fdatasync: an fsync of the overlay's log, so the data survives a
/// crash of umk or the host (tmpfs and devices have nothing to flush).
pub fn sys_fsync(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = k.file(ctx.pid, ctx.arg_i32(0)).and_then(|_| k.sync_all()).map(|_| 0);
    r.into()
}

/// sync and syncfs: the same, for everything.
pub fn sys_sync(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.nr() == guest_abi::sysno::SYS_SYNCFS {
        if let Err(e) = k.file(ctx.pid, ctx.arg_i32(0)) {
            return SysResult::err(e);
        }
    }
    // sync(2) cannot fail; syncfs reports the error.
    match (k.sync_all(), ctx.nr() == guest_abi::sysno::SYS_SYNCFS) {
        (Err(e), true) => SysResult::err(e),
        _ => SysResult::Done(0),
    }
}

impl Kernel {
    /// Makes everything written so far durable.
    pub fn sync_all(&self) -> KResult<()> {
        match &self.overlay {
            Some(o) => {
                o.sync()?;
                o.maybe_compact()
            }
            None => Ok(()),
        }
    }
}

fn make_pipe(k: &mut Kernel, ctx: &Ctx, addr: u64, flags: i32) -> KResult<i64> {
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let pipe = Pipe::new(&k.waker);
    let attr = Attr {
        dev: 0xc,
        ino: pipe.read_wait,
        mode: guest_abi::stat::S_IFIFO | 0o600,
        nlink: 1,
        blksize: 4096,
        ..Default::default()
    };
    let mk = |write: bool| -> Rc<OpenFile> {
        let ops: Rc<dyn FileOps> = PipeEnd::new(&pipe, write);
        let mut f = OpenFile::new(
            ops,
            None,
            None,
            (if write { O_WRONLY } else { O_RDONLY }) | (flags & O_NONBLOCK),
        );
        if let Some(of) = Rc::get_mut(&mut f) {
            of.anon_attr = Some(attr);
        }
        f
    };
    let (r, w) = (mk(false), mk(true));
    let limit = k.nofile_limit(ctx.pid);
    let t = k.files_of(ctx.pid)?;
    let cloexec = flags & O_CLOEXEC != 0;
    let rfd = t.borrow_mut().install(r, cloexec, limit)?;
    let wfd = match t.borrow_mut().install(w, cloexec, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.borrow_mut().remove(rfd);
            return Err(e);
        }
    };
    let fds = [rfd, wfd];
    if let Err(e) = mem(k, ctx).write(addr, bytemuck::cast_slice(&fds)) {
        let _ = t.borrow_mut().remove(rfd);
        let _ = t.borrow_mut().remove(wfd);
        return Err(e);
    }
    Ok(0)
}

pub fn sys_pipe(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    make_pipe(k, ctx, ctx.args[0], 0).into()
}
pub fn sys_pipe2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    make_pipe(k, ctx, ctx.args[0], ctx.arg_i32(1)).into()
}

pub fn sys_ioctl(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    // Changing terminal settings from a background group stops it first.
    let req = ctx.args[1] & 0xffff_ffff;
    if matches!(req, TCSETS | TCSETSW | TCSETSF | TIOCSWINSZ | TCFLSH | TCXONC) {
        if let Ok(f) = k.file(ctx.pid, ctx.arg_i32(0)) {
            if let Some(tty) = f.ops.tty() {
                if let Some(r) = tty.job_control(k, ctx, SIGTTOU) {
                    return r;
                }
            }
        }
    }
    let r = (|| -> KResult<i64> {
        let fd = ctx.arg_i32(0);
        let req = ctx.args[1] & 0xffff_ffff;
        let arg = ctx.args[2];
        let t = k.files_of(ctx.pid)?;
        let f = t.borrow().file(fd)?;
        match req {
            FIOCLEX | FIONCLEX => {
                t.borrow_mut().set_cloexec(fd, req == FIOCLEX)?;
                return Ok(0);
            }
            FIONBIO => {
                let on: i32 = mem(k, ctx).read_obj(arg)?;
                let fl = f.flags.get();
                f.flags.set(if on != 0 { fl | O_NONBLOCK } else { fl & !O_NONBLOCK });
                return Ok(0);
            }
            _ => {}
        }
        if let Some(r) = f.ops.ioctl(k, ctx, req, arg) {
            return r;
        }
        if let Some(tty) = f.ops.tty() {
            return tty.ioctl(k, ctx, req, arg);
        }
        if req == FIONREAD {
            let n: i32 = match &f.ops.kind() {
                crate::kernel::fs::file::FileKind::Regular => {
                    let size = f.attr()?.size;
                    size.saturating_sub(f.pos.get()).min(i32::MAX as u64) as i32
                }
                _ => 0,
            };
            mem(k, ctx).write_obj(arg, &n)?;
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    })();
    r.into()
}

/// The readiness of each pollfd; returns how many are ready.
fn poll_once(
    k: &Kernel,
    pid: crate::kernel::task::Pid,
    fds: &mut [PollFd],
) -> (usize, Vec<crate::kernel::wait::WaitId>) {
    let mut ready = 0;
    let mut waits = Vec::new();
    let table = k.files_of(pid).ok();
    for p in fds.iter_mut() {
        p.revents = 0;
        if p.fd < 0 {
            continue;
        }
        let f = table.as_ref().and_then(|t| t.borrow().file(p.fd).ok());
        match f {
            None => p.revents = POLLNVAL,
            Some(f) => {
                let ev = f.ops.poll();
                p.revents = ev & (p.events | POLLERR | POLLHUP);
                if p.revents == 0 {
                    waits.extend(f.ops.wait_ids(p.events));
                }
            }
        }
        if p.revents != 0 {
            ready += 1;
        }
    }
    (ready, waits)
}

fn deadline_from(ctx: &Ctx, timeout: Option<Duration>) -> Option<Instant> {
    ctx.deadline.or_else(|| timeout.map(|d| Instant::now() + d))
}

fn do_poll(k: &mut Kernel, ctx: &Ctx, timeout: Option<Duration>) -> SysResult {
    let nfds = ctx.args[1] as usize;
    if nfds > k.nofile_limit(ctx.pid).max(1024) {
        return SysResult::err(Errno::EINVAL);
    }
    let mut fds = vec![PollFd::default(); nfds];
    if let Err(e) = mem(k, ctx).read(ctx.args[0], bytemuck::cast_slice_mut(&mut fds)) {
        return SysResult::err(e);
    }
    let (ready, waits) = poll_once(k, ctx.pid, &mut fds);
    let deadline = deadline_from(ctx, timeout);
    let expired = deadline.is_some_and(|d| d <= Instant::now());
    if ready > 0 || expired || waits.is_empty() && deadline.is_none() && ready == 0 && nfds == 0 {
        if let Err(e) = mem(k, ctx).write(ctx.args[0], bytemuck::cast_slice(&fds)) {
            return SysResult::err(e);
        }
        return SysResult::Done(ready as i64);
    }
    SysResult::Block { waits, deadline, restart: ERESTARTNOHAND }
}

pub fn sys_poll(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let ms = ctx.args[2] as i32;
    let timeout = if ms < 0 { None } else { Some(Duration::from_millis(ms as u64)) };
    do_poll(k, ctx, timeout)
}

fn read_timespec(k: &mut Kernel, ctx: &Ctx, addr: u64) -> KResult<Option<Duration>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = mem(k, ctx).read_obj(addr)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
}

pub fn sys_ppoll(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match read_timespec(k, ctx, ctx.args[2]) {
        Ok(t) => do_poll(k, ctx, t),
        Err(e) => SysResult::err(e),
    }
}

/// select(2) and pselect6(2) over the same readiness as poll.
fn do_select(k: &mut Kernel, ctx: &Ctx, timeout: Option<Duration>) -> SysResult {
    let nfds = ctx.arg_i32(0);
    if nfds < 0 || nfds as usize > 1024 * 64 {
        return SysResult::err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let words = n.div_ceil(64);
    let mut sets = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    for (i, set) in sets.iter_mut().enumerate() {
        let addr = ctx.args[1 + i];
        if addr != 0 && words > 0 {
            let bytes = n.div_ceil(8);
            let mut raw = vec![0u8; words * 8];
            if let Err(e) = mem(k, ctx).read(addr, &mut raw[..bytes]) {
                return SysResult::err(e);
            }
            for (w, chunk) in set.iter_mut().zip(raw.chunks(8)) {
                *w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            }
        }
    }
    let mut pfds = Vec::new();
    for fd in 0..n {
        let bit = |s: &Vec<u64>| s[fd / 64] >> (fd % 64) & 1 == 1;
        let mut events = 0;
        if bit(&sets[0]) {
            events |= POLLIN;
        }
        if bit(&sets[1]) {
            events |= POLLOUT;
        }
        if bit(&sets[2]) {
            events |= guest_abi::misc::POLLPRI;
        }
        if events != 0 {
            pfds.push(PollFd { fd: fd as i32, events, revents: 0 });
        }
    }
    let (_, waits) = poll_once(k, ctx.pid, &mut pfds);
    if pfds.iter().any(|p| p.revents & POLLNVAL != 0) {
        return SysResult::err(Errno::EBADF);
    }
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut count = 0;
    for p in &pfds {
        let fd = p.fd as usize;
        let set = |o: &mut Vec<u64>| o[fd / 64] |= 1 << (fd % 64);
        if p.events & POLLIN != 0 && p.revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            set(&mut out[0]);
            count += 1;
        }
        if p.events & POLLOUT != 0 && p.revents & (POLLOUT | POLLERR) != 0 {
            set(&mut out[1]);
            count += 1;
        }
        if p.events & guest_abi::misc::POLLPRI != 0 && p.revents & guest_abi::misc::POLLPRI != 0 {
            set(&mut out[2]);
            count += 1;
        }
    }
    let deadline = deadline_from(ctx, timeout);
    let expired = deadline.is_some_and(|d| d <= Instant::now());
    if count > 0 || expired || (waits.is_empty() && deadline.is_none()) {
        for (i, set) in out.iter().enumerate() {
            let addr = ctx.args[1 + i];
            if addr != 0 && words > 0 {
                let raw: Vec<u8> = set.iter().flat_map(|w| w.to_le_bytes()).collect();
                if let Err(e) = mem(k, ctx).write(addr, &raw[..n.div_ceil(8)]) {
                    return SysResult::err(e);
                }
            }
        }
        return SysResult::Done(count as i64);
    }
    SysResult::Block { waits, deadline, restart: ERESTARTNOHAND }
}

pub fn sys_select(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let timeout = if ctx.args[4] == 0 {
        None
    } else {
        match mem(k, ctx).read_obj::<Timeval>(ctx.args[4]) {
            Ok(tv) if tv.tv_sec >= 0 && (0..1_000_000).contains(&tv.tv_usec) => {
                Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
            }
            Ok(_) => return SysResult::err(Errno::EINVAL),
            Err(e) => return SysResult::err(e),
        }
    };
    do_select(k, ctx, timeout)
}

pub fn sys_pselect6(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match read_timespec(k, ctx, ctx.args[4]) {
        Ok(t) => do_select(k, ctx, t),
        Err(e) => SysResult::err(e),
    }
}

/// posix_fadvise(2): advice changes no result, only caching; umk checks
/// the arguments as Linux does and takes no further action.
pub fn sys_fadvise64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = k.file(ctx.pid, ctx.arg_i32(0)).and_then(|f| {
        if f.ops.kind() == crate::kernel::fs::file::FileKind::Pipe {
            return Err(Errno::ESPIPE);
        }
        if !(0..=5).contains(&ctx.arg_i32(3)) || (ctx.args[2] as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(0)
    });
    r.into()
}

/// sendfile(2): copies between two umk files through umk's buffer.
pub fn sys_sendfile(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let out = k.file(ctx.pid, ctx.arg_i32(0))?;
        let inp = k.file(ctx.pid, ctx.arg_i32(1))?;
        if !out.writable() || !inp.readable() {
            return Err(Errno::EBADF);
        }
        if out.flags.get() & O_APPEND != 0 {
            return Err(Errno::EINVAL);
        }
        let count = (ctx.args[3] as usize).min(CHUNK);
        let offp = ctx.args[2];
        let mut buf = vec![0u8; count];
        let n = if offp != 0 {
            let off: i64 = mem(k, ctx).read_obj(offp)?;
            if off < 0 {
                return Err(Errno::EINVAL);
            }
            let n = inp.ops.pread(off as u64, &mut buf)?;
            mem(k, ctx).write_obj(offp, &(off + n as i64))?;
            n
        } else {
            inp.ops.read(&inp, &mut buf)?
        };
        let mut done = 0;
        while done < n {
            match out.ops.write(&out, &buf[done..n]) {
                Ok(0) => break,
                Ok(w) => done += w,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done as i64)
    })();
    r.into()
}

const FALLOC_FL_KEEP_SIZE: i32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;
const FALLOC_FL_ZERO_RANGE: i32 = 0x10;

/// fallocate(2). umk's filesystems keep data in memory or in the overlay
/// log, so "allocating" is making sure the range exists: mode 0 extends
/// the size; KEEP_SIZE alone has no visible effect; PUNCH_HOLE (with
/// KEEP_SIZE) and ZERO_RANGE make the range read as zeros.
pub fn sys_fallocate(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let f = k.file(ctx.pid, ctx.arg_i32(0))?;
        let mode = ctx.arg_i32(1);
        let (off, len) = (ctx.args[2] as i64, ctx.args[3] as i64);
        if off < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        let end = off.checked_add(len).ok_or(Errno::EFBIG)? as u64;
        if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if !f.writable() {
            return Err(Errno::EBADF);
        }
        match f.ops.kind() {
            crate::kernel::fs::file::FileKind::Regular => {}
            crate::kernel::fs::file::FileKind::Pipe => return Err(Errno::ESPIPE),
            crate::kernel::fs::file::FileKind::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::ENODEV),
        }
        let inode = f.inode.clone().ok_or(Errno::ENODEV)?;
        let size = inode.attr()?.size;
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) != 0 {
            // Zero what exists of the range (in bounded chunks).
            let stop = if mode & FALLOC_FL_KEEP_SIZE != 0 { end.min(size) } else { end };
            let zeros = vec![0u8; 1 << 16];
            let mut at = off as u64;
            while at < stop {
                let n = (stop - at).min(zeros.len() as u64) as usize;
                inode.write_at(at, &zeros[..n])?;
                at += n as u64;
            }
            return Ok(0);
        }
        if mode & FALLOC_FL_KEEP_SIZE == 0 && end > size {
            inode.truncate(end)?;
        }
        Ok(0)
    })();
    r.into()
}

const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

/// close_range(2): closes (or marks close-on-exec) every fd in [first, last].
pub fn sys_close_range(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (first, last, flags) = (ctx.args[0] as u32, ctx.args[1] as u32, ctx.args[2] as u32);
        if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
            return Err(Errno::EINVAL);
        }
        if flags & CLOSE_RANGE_UNSHARE != 0 {
            // A private copy of a shared table first (CLONE_FILES sharers
            // keep theirs).
            let mut t = k.table.borrow_mut();
            if let Some(p) = t.procs.get_mut(&ctx.pid) {
                let copy = p.files.borrow().clone();
                p.files = Rc::new(std::cell::RefCell::new(copy));
            }
        }
        let table = k.files_of(ctx.pid)?;
        let fds: Vec<i32> = table
            .borrow()
            .iter()
            .map(|(fd, _)| fd)
            .filter(|fd| *fd as u32 >= first && *fd as u32 <= last)
            .collect();
        let mut closed = Vec::new();
        for fd in fds {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                let _ = table.borrow_mut().set_cloexec(fd, true);
            } else if let Ok(e) = table.borrow_mut().remove(fd) {
                closed.push(e);
            }
        }
        for e in &closed {
            release_record_locks(k, ctx.pid, &e.file);
        }
        drop(closed);
        Ok(0)
    })();
    r.into()
}
