//! Event notification syscalls: eventfd and epoll.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::epoll::{as_epoll, EpollFile};
use crate::kernel::fs::eventfd::{EventFd, EFD_SEMAPHORE};
use crate::kernel::fs::file::OpenFile;
use crate::kernel::mm::GuestMem;
use crate::kernel::Kernel;
use guest_abi::fcntl::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use guest_abi::misc::Timespec;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn install(k: &mut Kernel, ctx: &Ctx, file: Rc<OpenFile>, cloexec: bool) -> KResult<i64> {
    let limit = k.nofile_limit(ctx.pid);
    Ok(k.files_of(ctx.pid)?.borrow_mut().install(file, cloexec, limit)? as i64)
}

fn do_eventfd(k: &mut Kernel, ctx: &Ctx, flags: i32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let ev = EventFd::new(ctx.args[0] & 0xffff_ffff, flags & EFD_SEMAPHORE != 0, &k.waker);
    let f = OpenFile::new(Rc::new(ev), None, None, O_RDWR | (flags & O_NONBLOCK));
    install(k, ctx, f, flags & O_CLOEXEC != 0).into()
}

pub fn sys_eventfd(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_eventfd(k, ctx, 0)
}

pub fn sys_eventfd2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_eventfd(k, ctx, ctx.arg_i32(1))
}

fn new_epoll(k: &mut Kernel, ctx: &Ctx, cloexec: bool) -> SysResult {
    let ep = EpollFile::new(&k.waker);
    let f = OpenFile::new(Rc::new(ep), None, None, O_RDWR);
    install(k, ctx, f, cloexec).into()
}

pub fn sys_epoll_create(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.arg_i32(0) <= 0 {
        return SysResult::err(Errno::EINVAL);
    }
    new_epoll(k, ctx, false)
}

pub fn sys_epoll_create1(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let flags = ctx.arg_i32(0);
    if flags & !O_CLOEXEC != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    new_epoll(k, ctx, flags & O_CLOEXEC != 0)
}

pub fn sys_epoll_ctl(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let (epfd, op, fd) = (ctx.arg_i32(0), ctx.arg_i32(1), ctx.arg_i32(2));
        let ep_file = k.file(ctx.pid, epfd)?;
        let target = k.file(ctx.pid, fd)?;
        let ep = as_epoll(&ep_file).ok_or(Errno::EINVAL)?;
        if epfd == fd || Rc::ptr_eq(&ep_file, &target) {
            return Err(Errno::EINVAL);
        }
        // Regular files and directories are always ready: Linux refuses them.
        if matches!(
            target.ops.kind(),
            crate::kernel::fs::file::FileKind::Regular
                | crate::kernel::fs::file::FileKind::Directory
        ) {
            return Err(Errno::EPERM);
        }
        let (events, data) = if op == crate::kernel::fs::epoll::EPOLL_CTL_DEL {
            (0, 0)
        } else {
            // struct epoll_event is packed on x86_64: u32 events, u64 data.
            let raw: [u8; 12] =
                GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(ctx.args[3])?;
            (
                u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]),
                u64::from_le_bytes(raw[4..12].try_into().unwrap_or([0; 8])),
            )
        };
        ep.ctl(op, fd, &target, events, data)?;
        Ok(0)
    })();
    r.into()
}

fn do_epoll_wait(k: &mut Kernel, ctx: &Ctx, timeout: Option<Duration>) -> SysResult {
    let r = (|| -> KResult<SysResult> {
        let max = ctx.arg_i32(2);
        if max <= 0 || max as usize > (i32::MAX as usize) / 12 {
            return Err(Errno::EINVAL);
        }
        let ep_file = k.file(ctx.pid, ctx.arg_i32(0))?;
        let ep = as_epoll(&ep_file).ok_or(Errno::EINVAL)?;
        let (ready, waits) = ep.collect(max as usize);
        let deadline = ctx.deadline.or_else(|| timeout.map(|d| Instant::now() + d));
        let expired = deadline.is_some_and(|d| d <= Instant::now());
        if ready.is_empty() && !expired {
            return Ok(SysResult::Block {
                waits,
                deadline,
                restart: guest_abi::restart::ERESTARTNOHAND,
            });
        }
        let mut out = Vec::with_capacity(ready.len() * 12);
        for (events, data) in &ready {
            out.extend_from_slice(&events.to_le_bytes());
            out.extend_from_slice(&data.to_le_bytes());
        }
        GuestMem::new(k.platform.as_mut(), ctx.host).write(ctx.args[1], &out)?;
        Ok(SysResult::Done(ready.len() as i64))
    })();
    r.unwrap_or_else(SysResult::err)
}

pub fn sys_epoll_wait(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let ms = ctx.arg_i32(3);
    do_epoll_wait(k, ctx, if ms < 0 { None } else { Some(Duration::from_millis(ms as u64)) })
}

pub fn sys_epoll_pwait(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    sys_epoll_wait(k, ctx)
}

pub fn sys_epoll_pwait2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let t = if ctx.args[3] == 0 {
        None
    } else {
        match GuestMem::new(k.platform.as_mut(), ctx.host).read_obj::<Timespec>(ctx.args[3]) {
            Ok(ts) if ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec) => {
                Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
            }
            Ok(_) => return SysResult::err(Errno::EINVAL),
            Err(e) => return SysResult::err(e),
        }
    };
    do_epoll_wait(k, ctx, t)
}
