//! Memory syscalls umk traps: brk (the host's break belongs to the stub)
//! and mmap of files (guest fds are umk's objects). Anonymous mmap,
//! munmap and mprotect run natively.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::FileKind;
use crate::kernel::mm::{GuestMem, BRK_MAX};
use crate::kernel::Kernel;
use guest_abi::mman::*;
use guest_abi::sysno::{SYS_MMAP, SYS_MPROTECT, SYS_MUNMAP};

fn inject(k: &mut Kernel, ctx: &Ctx, nr: usize, args: [u64; 5]) -> KResult<u64> {
    let r = k.platform.inject_syscall(ctx.host, nr, args).map_err(|_| Errno::EFAULT)?;
    if (-4095..0).contains(&r) {
        return Err(Errno(-r as i32));
    }
    Ok(r as u64)
}

/// brk(2): grows or shrinks the heap; returns the new break, or the old
/// one if the request cannot be met (Linux never returns an error).
pub fn sys_brk(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let want = ctx.args[0];
    let mm = match k.table.borrow().procs.get(&ctx.pid) {
        Some(p) => p.mm.clone(),
        None => return SysResult::err(Errno::ESRCH),
    };
    let (start, cur, mapped) = {
        let m = mm.borrow();
        (m.brk_start, m.brk, m.brk_mapped)
    };
    if want < start || want - start > BRK_MAX {
        return SysResult::Done(cur as i64);
    }
    let Some(new_top) = page_up(want) else { return SysResult::Done(cur as i64) };
    if new_top > mapped {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
        match inject(
            k,
            ctx,
            SYS_MMAP,
            [mapped, new_top - mapped, PROT_READ | PROT_WRITE, flags, u64::MAX],
        ) {
            Ok(addr) if addr == mapped => {}
            Ok(addr) => {
                // An old kernel ignoring MAP_FIXED_NOREPLACE placed it
                // elsewhere: give it back and refuse.
                let _ = inject(k, ctx, SYS_MUNMAP, [addr, new_top - mapped, 0, 0, 0]);
                return SysResult::Done(cur as i64);
            }
            Err(_) => return SysResult::Done(cur as i64),
        }
    } else if new_top < mapped
        && inject(k, ctx, SYS_MUNMAP, [new_top, mapped - new_top, 0, 0, 0]).is_err()
    {
        return SysResult::Done(cur as i64);
    }
    let mut m = mm.borrow_mut();
    m.brk = want;
    m.brk_mapped = new_top;
    SysResult::Done(want as i64)
}

/// mmap(2) of what the seccomp filter did not let through: fixed
/// anonymous mappings (run natively) and file mappings. Private file
/// mappings become private anonymous memory filled with the file's bytes;
/// shared ones map the host memfd that holds a tmpfs file's data, so
/// stores reach the file (other filesystems: read-only copies only).
pub fn sys_mmap(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let [addr, len, prot, flags, fd, off] = ctx.args;
    if flags & MAP_ANONYMOUS != 0 {
        // Fixed anonymous: the guest's own address space, its own business.
        return SysResult::Native { regs: ctx.regs, see_exit: false };
    }
    let r = (|| -> KResult<i64> {
        if off % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let f = k.file(ctx.pid, fd as i32)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let len_pages = page_up(len).ok_or(Errno::ENOMEM)?;
        let shared = match flags & MAP_TYPE {
            MAP_PRIVATE => false,
            MAP_SHARED | MAP_SHARED_VALIDATE => true,
            _ => return Err(Errno::EINVAL),
        };
        if !f.readable() {
            return Err(Errno::EACCES);
        }
        if shared && prot & PROT_WRITE != 0 && !f.writable() {
            return Err(Errno::EACCES);
        }
        let attr = f.attr()?;
        let is_zero_dev = attr.file_type() == guest_abi::stat::S_IFCHR
            && attr.rdev == guest_abi::stat::makedev(1, 5);
        if shared && is_zero_dev {
            // Shared /dev/zero is shared anonymous memory (mm/shmem.c's
            // shmem_zero_setup); the host makes it.
            let a = [addr, len_pages, prot, flags | MAP_ANONYMOUS, u64::MAX];
            return inject(k, ctx, SYS_MMAP, a).map(|a| a as i64);
        }
        if f.ops.kind() != FileKind::Regular && !is_zero_dev {
            return Err(Errno::ENODEV);
        }
        if shared {
            let mem = f.inode.as_ref().ok_or(Errno::ENODEV).and_then(|i| i.host_mem());
            match mem {
                Ok(mem) => {
                    return crate::kernel::mm::filemap::map_shared(
                        k,
                        ctx.host,
                        &mem,
                        addr,
                        len_pages,
                        prot,
                        flags,
                        off,
                        f.writable(),
                    )
                    .map(|a| a as i64);
                }
                // A read-only shared mapping of a file that cannot share
                // its pages is a copy: right until the file changes.
                Err(Errno::ENODEV) if prot & PROT_WRITE == 0 => {}
                Err(Errno::ENODEV) => {
                    k.note_unsupported("writable MAP_SHARED mappings of non-tmpfs files");
                    return Err(Errno::ENODEV);
                }
                Err(e) => return Err(e),
            }
        }
        let keep = flags
            & (MAP_FIXED
                | MAP_FIXED_NOREPLACE
                | MAP_NORESERVE
                | MAP_POPULATE
                | MAP_LOCKED
                | MAP_STACK);
        let mflags = keep | MAP_PRIVATE | MAP_ANONYMOUS;
        let at = inject(k, ctx, SYS_MMAP, [addr, len_pages, prot | PROT_WRITE, mflags, u64::MAX])?;
        if let (false, Some(inode)) = (is_zero_dev, f.inode.clone()) {
            if inode.image_extent(off).is_some() {
                // Pages straight from the image over the reservation.
                let valid = attr.size.saturating_sub(off).min(len_pages);
                crate::kernel::mm::filemap::map_file(
                    k, ctx.host, &inode, None, off, at, len_pages, valid, prot,
                )?;
                return Ok(at as i64);
            }
        }
        if !is_zero_dev && off < attr.size {
            let n = (attr.size - off).min(len_pages) as usize;
            let mut buf = vec![0u8; n];
            let mut done = 0;
            while done < n {
                let got = f.ops.pread(off + done as u64, &mut buf[done..])?;
                if got == 0 {
                    break;
                }
                done += got;
            }
            GuestMem::new(k.platform.as_mut(), ctx.host).write(at, &buf[..done])?;
        }
        if prot & PROT_WRITE == 0 {
            inject(k, ctx, SYS_MPROTECT, [at, len_pages, prot, 0, 0])?;
        }
        Ok(at as i64)
    })();
    r.into()
}
