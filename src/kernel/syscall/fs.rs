//! Path and metadata syscalls: open, stat, getdents, readlink, access,
//! cwd, and the namespace-changing calls (mkdir, unlink, rename, link...).

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::path::{is_dot, Follow};
use crate::kernel::fs::permission::*;
use crate::kernel::fs::Attr;
use crate::kernel::mm::GuestMem;
use crate::kernel::Kernel;
use guest_abi::fcntl::*;
use guest_abi::stat::*;

fn mem<'a>(k: &'a mut Kernel, ctx: &Ctx) -> GuestMem<'a> {
    GuestMem::new(k.platform.as_mut(), ctx.host)
}

fn path_arg(k: &mut Kernel, ctx: &Ctx, i: usize) -> KResult<Vec<u8>> {
    mem(k, ctx).read_path(ctx.args[i], false)
}

fn path_arg_empty_ok(k: &mut Kernel, ctx: &Ctx, i: usize, flags: i32) -> KResult<Vec<u8>> {
    mem(k, ctx).read_path(ctx.args[i], flags & AT_EMPTY_PATH != 0)
}

fn do_openat(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_i: usize,
    flags: i32,
    mode: u32,
) -> KResult<i64> {
    let path = path_arg(k, ctx, path_i)?;
    let file = k.open_at(ctx.pid, dirfd, &path, flags, mode)?;
    if flags & O_NOCTTY == 0 {
        if let Some(tty) = file.inode.as_ref().and_then(crate::kernel::tty::pty::slave_tty) {
            crate::kernel::tty::core::acquire_on_open(k, ctx.pid, &tty);
        }
    }
    let limit = k.nofile_limit(ctx.pid);
    let fd = k.files_of(ctx.pid)?.borrow_mut().install(file, flags & O_CLOEXEC != 0, limit)?;
    Ok(fd as i64)
}

pub fn sys_open(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_openat(k, ctx, AT_FDCWD, 0, ctx.arg_i32(1), ctx.args[2] as u32).into()
}

pub fn sys_openat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_openat(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), ctx.args[3] as u32).into()
}

fn stat_at(k: &mut Kernel, ctx: &Ctx, dirfd: i32, path: &[u8], flags: i32) -> KResult<Attr> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0 {
        return Err(Errno::EINVAL);
    }
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
        return k.file(ctx.pid, dirfd)?.attr();
    }
    let follow = if flags & AT_SYMLINK_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    k.lookup_at(ctx.pid, dirfd, path, follow, flags & AT_EMPTY_PATH != 0)?.inode.attr()
}

fn write_stat(k: &mut Kernel, ctx: &Ctx, addr: u64, a: KResult<Attr>) -> SysResult {
    let r = a.and_then(|a| mem(k, ctx).write_obj(addr, &a.to_stat())).map(|_| 0);
    r.into()
}

pub fn sys_stat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let a = path_arg(k, ctx, 0).and_then(|p| stat_at(k, ctx, AT_FDCWD, &p, 0));
    write_stat(k, ctx, ctx.args[1], a)
}

pub fn sys_lstat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let a = path_arg(k, ctx, 0).and_then(|p| stat_at(k, ctx, AT_FDCWD, &p, AT_SYMLINK_NOFOLLOW));
    write_stat(k, ctx, ctx.args[1], a)
}

pub fn sys_fstat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let a = k.file(ctx.pid, ctx.arg_i32(0)).and_then(|f| f.attr());
    write_stat(k, ctx, ctx.args[1], a)
}

pub fn sys_newfstatat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let flags = ctx.arg_i32(3);
    let a = path_arg_empty_ok(k, ctx, 1, flags)
        .and_then(|p| stat_at(k, ctx, ctx.arg_i32(0), &p, flags));
    write_stat(k, ctx, ctx.args[2], a)
}

pub fn sys_statx(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let flags = ctx.arg_i32(2);
    let r = path_arg_empty_ok(k, ctx, 1, flags)
        .and_then(|p| stat_at(k, ctx, ctx.arg_i32(0), &p, flags))
        .and_then(|a| mem(k, ctx).write_obj(ctx.args[4], &a.to_statx()))
        .map(|_| 0);
    r.into()
}

/// Fills a getdents64 buffer from the directory's cursor (the file position).
pub fn sys_getdents64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let f = k.file(ctx.pid, ctx.arg_i32(0))?;
        let inode = f.inode.clone().ok_or(Errno::ENOTDIR)?;
        if !inode.attr()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let cap = (ctx.args[2] as usize).min(1 << 20);
        let mut out = Vec::with_capacity(cap.min(32768));
        let mut pos = f.pos.get();
        let mut too_small = false;
        inode.readdir(pos, &mut |e| {
            // struct linux_dirent64: ino, off, reclen, type, name, NUL, padded to 8.
            let reclen = (19 + e.name.len() + 1).div_ceil(8) * 8;
            if out.len() + reclen > cap {
                too_small = out.is_empty();
                return false;
            }
            out.extend_from_slice(&e.ino.to_le_bytes());
            out.extend_from_slice(&e.next.to_le_bytes());
            out.extend_from_slice(&(reclen as u16).to_le_bytes());
            out.push(e.dtype);
            out.extend_from_slice(e.name);
            out.resize(out.len() + reclen - 19 - e.name.len(), 0);
            pos = e.next;
            true
        })?;
        if too_small {
            return Err(Errno::EINVAL);
        }
        mem(k, ctx).write(ctx.args[1], &out)?;
        f.pos.set(pos);
        Ok(out.len() as i64)
    })();
    r.into()
}

fn do_readlinkat(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_i: usize,
    buf: u64,
    size: u64,
) -> KResult<i64> {
    if (size as i64) <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = mem(k, ctx).read_path(ctx.args[path_i], true)?;
    let d = k.lookup_at(ctx.pid, dirfd, &path, Follow::No, true)?;
    let target = d.inode.readlink()?;
    let n = target.len().min(size as usize);
    mem(k, ctx).write(buf, &target[..n])?;
    Ok(n as i64)
}

pub fn sys_readlink(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_readlinkat(k, ctx, AT_FDCWD, 0, ctx.args[1], ctx.args[2]).into()
}

pub fn sys_readlinkat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_readlinkat(k, ctx, ctx.arg_i32(0), 1, ctx.args[2], ctx.args[3]).into()
}

/// access(2): umk's guest runs as root, so only existence, the read-only
/// root, and the execute bit (root needs at least one x bit) matter.
fn do_access(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_i: usize,
    mode: i32,
    flags: i32,
) -> KResult<i64> {
    if mode & !(R_OK | W_OK | X_OK) != 0
        || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0
    {
        return Err(Errno::EINVAL);
    }
    let path = path_arg_empty_ok(k, ctx, path_i, flags)?;
    let follow = if flags & AT_SYMLINK_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    let d = k.lookup_at(ctx.pid, dirfd, &path, follow, flags & AT_EMPTY_PATH != 0)?;
    let a = d.inode.attr()?;
    let creds =
        if flags & AT_EACCESS != 0 { k.creds_of(ctx.pid) } else { k.real_creds_of(ctx.pid) };
    permission(&a, &creds, (mode & 7) as u32)?;
    if mode & W_OK != 0 && d.inode.read_only() {
        return Err(Errno::EROFS);
    }
    Ok(0)
}

pub fn sys_access(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_access(k, ctx, AT_FDCWD, 0, ctx.arg_i32(1), 0).into()
}
pub fn sys_faccessat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_access(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), 0).into()
}
pub fn sys_faccessat2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_access(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), ctx.arg_i32(3)).into()
}

pub fn sys_getcwd(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let cwd = k.fs_of(ctx.pid)?.borrow().cwd.clone();
        let mut p = cwd.path();
        p.push(0);
        if p.len() > ctx.args[1] as usize {
            return Err(Errno::ERANGE);
        }
        mem(k, ctx).write(ctx.args[0], &p)?;
        Ok(p.len() as i64)
    })();
    r.into()
}

pub fn sys_chdir(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = path_arg(k, ctx, 0)
        .and_then(|p| k.lookup_at(ctx.pid, AT_FDCWD, &p, Follow::Yes, false))
        .and_then(|d| k.set_cwd(ctx.pid, d))
        .map(|_| 0);
    r.into()
}

/// chroot(2): the process's root becomes the directory; `..` stops there
/// (see fs/path.rs). Needs root (CAP_SYS_CHROOT); the cwd is left alone,
/// as in Linux. The VM's own root is always the floor.
pub fn sys_chroot(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let path = path_arg(k, ctx, 0)?;
        let d = k.lookup_at(ctx.pid, AT_FDCWD, &path, Follow::Yes, false)?;
        let a = d.inode.attr()?;
        if !a.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let creds = k.creds_of(ctx.pid);
        permission(&a, &creds, MAY_EXEC)?;
        if creds.uid != 0 {
            return Err(Errno::EPERM);
        }
        k.fs_of(ctx.pid)?.borrow_mut().root = d;
        Ok(0)
    })();
    r.into()
}

pub fn sys_fchdir(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = k
        .file(ctx.pid, ctx.arg_i32(0))
        .and_then(|f| f.dentry.clone().ok_or(Errno::ENOTDIR))
        .and_then(|d| k.set_cwd(ctx.pid, d))
        .map(|_| 0);
    r.into()
}

fn do_mknodat(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_i: usize,
    mode: u32,
    dev: u64,
) -> KResult<i64> {
    let path = path_arg(k, ctx, path_i)?;
    let (dir, name) = k.lookup_parent_at(ctx.pid, dirfd, &path)?;
    if is_dot(&name) {
        return Err(Errno::EEXIST);
    }
    let umask = k.fs_of(ctx.pid)?.borrow().umask;
    let ty = mode & S_IFMT;
    let ty = if ty == 0 { S_IFREG } else { ty };
    if ![S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFDIR].contains(&ty) {
        return Err(Errno::EINVAL);
    }
    let creds = k.creds_of(ctx.pid);
    may_create(&dir.inode.attr()?, &creds)?;
    // Only root makes device nodes (CAP_MKNOD).
    if (ty == S_IFCHR || ty == S_IFBLK) && !creds.is_root() {
        return Err(Errno::EPERM);
    }
    dir.inode.create(&name, ty | (mode & 0o7777 & !umask), dev, None, &creds)?;
    Ok(0)
}

pub fn sys_mknod(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.args[1] as u32 & S_IFMT == S_IFDIR {
        return SysResult::err(Errno::EINVAL);
    }
    do_mknodat(k, ctx, AT_FDCWD, 0, ctx.args[1] as u32, ctx.args[2]).into()
}
pub fn sys_mknodat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.args[2] as u32 & S_IFMT == S_IFDIR {
        return SysResult::err(Errno::EINVAL);
    }
    do_mknodat(k, ctx, ctx.arg_i32(0), 1, ctx.args[2] as u32, ctx.args[3]).into()
}
pub fn sys_mkdir(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_mknodat(k, ctx, AT_FDCWD, 0, S_IFDIR | (ctx.args[1] as u32 & 0o7777), 0).into()
}
pub fn sys_mkdirat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_mknodat(k, ctx, ctx.arg_i32(0), 1, S_IFDIR | (ctx.args[2] as u32 & 0o7777), 0).into()
}

fn do_unlinkat(k: &mut Kernel, ctx: &Ctx, dirfd: i32, path_i: usize, flags: i32) -> KResult<i64> {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_arg(k, ctx, path_i)?;
    k.unlink_at(ctx.pid, dirfd, &path, flags & AT_REMOVEDIR != 0)?;
    Ok(0)
}

pub fn sys_unlink(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_unlinkat(k, ctx, AT_FDCWD, 0, 0).into()
}
pub fn sys_rmdir(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_unlinkat(k, ctx, AT_FDCWD, 0, AT_REMOVEDIR).into()
}
pub fn sys_unlinkat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_unlinkat(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2)).into()
}

const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;

fn do_renameat2(
    k: &mut Kernel,
    ctx: &Ctx,
    olddir: i32,
    old_i: usize,
    newdir: i32,
    new_i: usize,
    flags: u32,
) -> KResult<i64> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
        || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
    {
        return Err(Errno::EINVAL);
    }
    let old = path_arg(k, ctx, old_i)?;
    let new = path_arg(k, ctx, new_i)?;
    let (od, on) = k.lookup_parent_at(ctx.pid, olddir, &old)?;
    let (nd, nn) = k.lookup_parent_at(ctx.pid, newdir, &new)?;
    if is_dot(&on) || is_dot(&nn) {
        return Err(Errno::EBUSY);
    }
    // A trailing slash says "directory": on a file that is ENOTDIR.
    if old.ends_with(b"/") || new.ends_with(b"/") {
        if !od.inode.lookup(&on)?.attr()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
    }
    if flags & RENAME_NOREPLACE != 0 && nd.inode.lookup(&nn).is_ok() {
        return Err(Errno::EEXIST);
    }
    let oa = od.inode.attr()?;
    let na = nd.inode.attr()?;
    if oa.dev != na.dev {
        return Err(Errno::EXDEV);
    }
    let creds = k.creds_of(ctx.pid);
    may_delete(&oa, &od.inode.lookup(&on)?.attr()?, &creds)?;
    match nd.inode.lookup(&nn) {
        Ok(target) => may_delete(&na, &target.attr()?, &creds)?,
        Err(_) => may_create(&na, &creds)?,
    }
    if flags & RENAME_EXCHANGE != 0 {
        od.inode.exchange(&on, &nd.inode, &nn)?;
    } else {
        od.inode.rename(&on, &nd.inode, &nn)?;
    }
    Ok(0)
}

pub fn sys_rename(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_renameat2(k, ctx, AT_FDCWD, 0, AT_FDCWD, 1, 0).into()
}
pub fn sys_renameat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_renameat2(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), 3, 0).into()
}
pub fn sys_renameat2(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_renameat2(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), 3, ctx.args[4] as u32).into()
}

fn do_symlinkat(
    k: &mut Kernel,
    ctx: &Ctx,
    target_i: usize,
    dirfd: i32,
    path_i: usize,
) -> KResult<i64> {
    let target = path_arg(k, ctx, target_i)?;
    let path = path_arg(k, ctx, path_i)?;
    let (dir, name) = k.lookup_parent_at(ctx.pid, dirfd, &path)?;
    if is_dot(&name) {
        return Err(Errno::EEXIST);
    }
    let creds = k.creds_of(ctx.pid);
    may_create(&dir.inode.attr()?, &creds)?;
    dir.inode.create(&name, S_IFLNK | 0o777, 0, Some(&target), &creds)?;
    Ok(0)
}

pub fn sys_symlink(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_symlinkat(k, ctx, 0, AT_FDCWD, 1).into()
}
pub fn sys_symlinkat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_symlinkat(k, ctx, 0, ctx.arg_i32(1), 2).into()
}

fn do_linkat(
    k: &mut Kernel,
    ctx: &Ctx,
    olddir: i32,
    old_i: usize,
    newdir: i32,
    new_i: usize,
    flags: i32,
) -> KResult<i64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = path_arg_empty_ok(k, ctx, old_i, flags)?;
    let new = path_arg(k, ctx, new_i)?;
    let follow = if flags & AT_SYMLINK_FOLLOW != 0 { Follow::Yes } else { Follow::No };
    let src = k.lookup_at(ctx.pid, olddir, &old, follow, flags & AT_EMPTY_PATH != 0)?;
    let sa = src.inode.attr()?;
    if sa.is_dir() {
        return Err(Errno::EPERM);
    }
    // A file with no links left cannot get one back (vfs_link), except an
    // O_TMPFILE file opened without O_EXCL, once.
    let linkable = |k: &Kernel| {
        let mut l = k.linkable.borrow_mut();
        let me = std::rc::Rc::downgrade(&src.inode);
        let i = l.iter().position(|w| w.ptr_eq(&me));
        i.map(|i| l.swap_remove(i)).is_some()
    };
    if sa.nlink == 0 && !linkable(k) {
        return Err(Errno::ENOENT);
    }
    let (dir, name) = k.lookup_parent_at(ctx.pid, newdir, &new)?;
    if is_dot(&name) {
        return Err(Errno::EEXIST);
    }
    if src.inode.attr()?.dev != dir.inode.attr()?.dev {
        return Err(Errno::EXDEV);
    }
    may_create(&dir.inode.attr()?, &k.creds_of(ctx.pid))?;
    dir.inode.link(&name, &src.inode)?;
    Ok(0)
}

pub fn sys_link(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_linkat(k, ctx, AT_FDCWD, 0, AT_FDCWD, 1, 0).into()
}
pub fn sys_linkat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_linkat(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(2), 3, ctx.arg_i32(4)).into()
}

fn resolve(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_i: usize,
    flags: i32,
) -> KResult<crate::kernel::fs::InodeRef> {
    let path = path_arg_empty_ok(k, ctx, path_i, flags)?;
    let follow = if flags & AT_SYMLINK_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    Ok(k.lookup_at(ctx.pid, dirfd, &path, follow, flags & AT_EMPTY_PATH != 0)?.inode.clone())
}

/// chmod: the owner or root; a non-member loses setgid (fs/attr.c).
fn do_chmod(
    k: &mut Kernel,
    ctx: &Ctx,
    inode: KResult<crate::kernel::fs::InodeRef>,
    mode: u32,
) -> SysResult {
    let r = inode.and_then(|i| {
        let a = i.attr()?;
        let c = k.creds_of(ctx.pid);
        owner_or_root(&a, &c)?;
        let mut mode = mode & 0o7777;
        if !c.is_root() && !c.in_group(a.gid) {
            mode &= !S_ISGID;
        }
        i.set_mode(mode)
    });
    r.map(|_| 0).into()
}

pub fn sys_chmod(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = resolve(k, ctx, AT_FDCWD, 0, 0);
    do_chmod(k, ctx, i, ctx.args[1] as u32)
}
pub fn sys_fchmod(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = k.file(ctx.pid, ctx.arg_i32(0)).and_then(|f| f.inode.clone().ok_or(Errno::EBADF));
    do_chmod(k, ctx, i, ctx.args[1] as u32)
}
pub fn sys_fchmodat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = resolve(k, ctx, ctx.arg_i32(0), 1, 0);
    do_chmod(k, ctx, i, ctx.args[2] as u32)
}

fn owner_args(uid: u64, gid: u64) -> (Option<u32>, Option<u32>) {
    let u = uid as u32;
    let g = gid as u32;
    (if u == u32::MAX { None } else { Some(u) }, if g == u32::MAX { None } else { Some(g) })
}

fn do_chown(
    k: &mut Kernel,
    ctx: &Ctx,
    inode: KResult<crate::kernel::fs::InodeRef>,
    uid: u64,
    gid: u64,
) -> SysResult {
    let (u, g) = owner_args(uid, gid);
    let r = inode.and_then(|i| {
        may_chown(&i.attr()?, &k.creds_of(ctx.pid), u, g)?;
        i.set_owner(u, g)
    });
    r.map(|_| 0).into()
}

pub fn sys_chown(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = resolve(k, ctx, AT_FDCWD, 0, 0);
    do_chown(k, ctx, i, ctx.args[1], ctx.args[2])
}
pub fn sys_lchown(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = resolve(k, ctx, AT_FDCWD, 0, AT_SYMLINK_NOFOLLOW);
    do_chown(k, ctx, i, ctx.args[1], ctx.args[2])
}
pub fn sys_fchown(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = k.file(ctx.pid, ctx.arg_i32(0)).and_then(|f| f.inode.clone().ok_or(Errno::EBADF));
    do_chown(k, ctx, i, ctx.args[1], ctx.args[2])
}
pub fn sys_fchownat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let i = resolve(k, ctx, ctx.arg_i32(0), 1, ctx.arg_i32(4));
    do_chown(k, ctx, i, ctx.args[2], ctx.args[3])
}

pub fn sys_umask(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    k.fs_of(ctx.pid)
        .map(|fs| {
            let mut fs = fs.borrow_mut();
            let old = fs.umask;
            fs.umask = ctx.args[0] as u32 & 0o777;
            old as i64
        })
        .into()
}

pub fn sys_truncate(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if (ctx.args[1] as i64) < 0 {
        return SysResult::err(Errno::EINVAL);
    }
    resolve(k, ctx, AT_FDCWD, 0, 0)
        .and_then(|i| {
            let a = i.attr()?;
            if a.is_dir() {
                return Err(Errno::EISDIR);
            }
            let creds = k.creds_of(ctx.pid);
            permission(&a, &creds, MAY_WRITE)?;
            remove_privs(&i, creds.uid == 0)?;
            i.truncate(ctx.args[1])
        })
        .map(|_| 0)
        .into()
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

pub fn sys_utimensat(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let dirfd = ctx.arg_i32(0);
        let flags = ctx.arg_i32(3);
        let inode = if ctx.args[1] == 0 {
            // futimens: the path is NULL and dirfd is the file.
            k.file(ctx.pid, dirfd)?.inode.clone().ok_or(Errno::EBADF)?
        } else {
            resolve(k, ctx, dirfd, 1, flags)?
        };
        let now = crate::kernel::fs::now();
        // Explicit times need ownership; "now" also write permission.
        let attr = inode.attr()?;
        let c = k.creds_of(ctx.pid);
        if owner_or_root(&attr, &c).is_err() {
            if ctx.args[2] != 0 {
                return Err(Errno::EPERM);
            }
            permission(&attr, &c, MAY_WRITE)?;
        }
        let (a, m) = if ctx.args[2] == 0 {
            (Some(now), Some(now))
        } else {
            let ts: [guest_abi::misc::Timespec; 2] = mem(k, ctx).read_obj(ctx.args[2])?;
            let conv = |t: guest_abi::misc::Timespec| -> KResult<Option<(i64, u32)>> {
                match t.tv_nsec {
                    UTIME_NOW => Ok(Some(now)),
                    UTIME_OMIT => Ok(None),
                    n if (0..1_000_000_000).contains(&n) => Ok(Some((t.tv_sec, n as u32))),
                    _ => Err(Errno::EINVAL),
                }
            };
            (conv(ts[0])?, conv(ts[1])?)
        };
        inode.set_times(a, m)?;
        Ok(0)
    })();
    r.into()
}

fn write_statfs(
    k: &mut Kernel,
    ctx: &Ctx,
    addr: u64,
    inode: crate::kernel::fs::InodeRef,
) -> KResult<i64> {
    let (magic, bsize, blocks, bfree, files, ffree) = inode.statfs();
    // struct statfs (x86_64): type, bsize, blocks, bfree, bavail, files,
    // ffree, fsid[2] (int), namelen, frsize, flags, spare[4].
    let mut w = [0i64; 15];
    w[0] = magic;
    w[1] = bsize as i64;
    w[2] = blocks as i64;
    w[3] = bfree as i64;
    w[4] = bfree as i64;
    w[5] = files as i64;
    w[6] = ffree as i64;
    w[7] = inode.attr()?.dev as i64;
    w[8] = 255;
    w[9] = bsize as i64;
    w[10] = if inode.read_only() { 1 } else { 0 }; // ST_RDONLY
    mem(k, ctx).write(addr, bytemuck::cast_slice(&w[..]))?;
    Ok(0)
}

pub fn sys_statfs(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    resolve(k, ctx, AT_FDCWD, 0, 0).and_then(|i| write_statfs(k, ctx, ctx.args[1], i)).into()
}
pub fn sys_fstatfs(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    k.file(ctx.pid, ctx.arg_i32(0))
        .and_then(|f| f.inode.clone().ok_or(Errno::EBADF))
        .and_then(|i| write_statfs(k, ctx, ctx.args[1], i))
        .into()
}

/// Which inode an xattr call names: a path (following links or not) or an fd.
fn xattr_inode(
    k: &mut Kernel,
    ctx: &Ctx,
    how: XattrTarget,
) -> KResult<crate::kernel::fs::InodeRef> {
    match how {
        XattrTarget::Path(follow) => {
            let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
            resolve(k, ctx, AT_FDCWD, 0, flags)
        }
        XattrTarget::Fd => k.file(ctx.pid, ctx.arg_i32(0))?.inode.clone().ok_or(Errno::EBADF),
    }
}

#[derive(Clone, Copy)]
enum XattrTarget {
    Path(bool),
    Fd,
}

/// XATTR_NAME_MAX and XATTR_SIZE_MAX (include/uapi/linux/limits.h).
const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: usize = 65536;

fn do_getxattr(k: &mut Kernel, ctx: &Ctx, how: XattrTarget) -> KResult<i64> {
    let name = mem(k, ctx).read_cstr(ctx.args[1], XATTR_NAME_MAX).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::ERANGE
        } else {
            e
        }
    })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    let inode = xattr_inode(k, ctx, how)?;
    let value = inode
        .xattrs()?
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .ok_or(Errno::ENODATA)?;
    let size = ctx.args[3] as usize;
    if size == 0 {
        return Ok(value.len() as i64);
    }
    if value.len() > size.min(XATTR_SIZE_MAX) {
        return Err(Errno::ERANGE);
    }
    mem(k, ctx).write(ctx.args[2], &value)?;
    Ok(value.len() as i64)
}

fn do_listxattr(k: &mut Kernel, ctx: &Ctx, how: XattrTarget) -> KResult<i64> {
    let inode = xattr_inode(k, ctx, how)?;
    let mut list = Vec::new();
    for (n, _) in inode.xattrs()? {
        list.extend_from_slice(&n);
        list.push(0);
    }
    let size = ctx.args[2] as usize;
    if size == 0 {
        return Ok(list.len() as i64);
    }
    if list.len() > size {
        return Err(Errno::ERANGE);
    }
    mem(k, ctx).write(ctx.args[1], &list)?;
    Ok(list.len() as i64)
}

pub fn sys_getxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_getxattr(k, ctx, XattrTarget::Path(true)).into()
}
pub fn sys_lgetxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_getxattr(k, ctx, XattrTarget::Path(false)).into()
}
pub fn sys_fgetxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_getxattr(k, ctx, XattrTarget::Fd).into()
}
pub fn sys_listxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_listxattr(k, ctx, XattrTarget::Path(true)).into()
}
pub fn sys_llistxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_listxattr(k, ctx, XattrTarget::Path(false)).into()
}
pub fn sys_flistxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_listxattr(k, ctx, XattrTarget::Fd).into()
}

const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

/// setxattr(2) family: path (or fd), name, value, size, flags.
fn do_setxattr(k: &mut Kernel, ctx: &Ctx, how: XattrTarget) -> KResult<i64> {
    let flags = ctx.arg_i32(4);
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = mem(k, ctx).read_cstr(ctx.args[1], XATTR_NAME_MAX).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::ERANGE
        } else {
            e
        }
    })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    // Namespaces Linux knows; trusted.* and security.* need root here.
    let ns_ok =
        [&b"user."[..], b"trusted.", b"security.", b"system."].iter().any(|p| name.starts_with(p));
    if !ns_ok {
        return Err(Errno::EOPNOTSUPP);
    }
    let size = ctx.args[3] as usize;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let value = mem(k, ctx).read_vec(ctx.args[2], size)?;
    let inode = xattr_inode(k, ctx, how)?;
    let creds = k.creds_of(ctx.pid);
    let a = inode.attr()?;
    if name.starts_with(b"user.") {
        permission(&a, &creds, MAY_WRITE)?;
    } else if !creds.is_root() {
        return Err(Errno::EPERM);
    }
    let exists = inode.xattrs()?.iter().any(|(n, _)| *n == name);
    if flags & XATTR_CREATE != 0 && exists {
        return Err(Errno::EEXIST);
    }
    if flags & XATTR_REPLACE != 0 && !exists {
        return Err(Errno::ENODATA);
    }
    inode.set_xattr(&name, &value)?;
    Ok(0)
}

fn do_removexattr(k: &mut Kernel, ctx: &Ctx, how: XattrTarget) -> KResult<i64> {
    let name = mem(k, ctx).read_cstr(ctx.args[1], XATTR_NAME_MAX).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::ERANGE
        } else {
            e
        }
    })?;
    let inode = xattr_inode(k, ctx, how)?;
    let creds = k.creds_of(ctx.pid);
    if name.starts_with(b"user.") {
        permission(&inode.attr()?, &creds, MAY_WRITE)?;
    } else if !creds.is_root() {
        return Err(Errno::EPERM);
    }
    inode.remove_xattr(&name)?;
    Ok(0)
}

pub fn sys_setxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_setxattr(k, ctx, XattrTarget::Path(true)).into()
}
pub fn sys_lsetxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_setxattr(k, ctx, XattrTarget::Path(false)).into()
}
pub fn sys_fsetxattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_setxattr(k, ctx, XattrTarget::Fd).into()
}
pub fn sys_removexattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_removexattr(k, ctx, XattrTarget::Path(true)).into()
}
pub fn sys_lremovexattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_removexattr(k, ctx, XattrTarget::Path(false)).into()
}
pub fn sys_fremovexattr(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    do_removexattr(k, ctx, XattrTarget::Fd).into()
}

const MFD_CLOEXEC: u64 = 1;
const MFD_ALLOW_SEALING: u64 = 2;

/// memfd_create(2): an anonymous tmpfs file; /proc/PID/fd shows it as
/// "/memfd:NAME (deleted)", as Linux does.
pub fn sys_memfd_create(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let flags = ctx.args[1];
        if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING) != 0 {
            return Err(Errno::EINVAL);
        }
        // The name may be 249 bytes (NAME_MAX minus "memfd:").
        let name = mem(k, ctx).read_cstr(ctx.args[0], 249).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::EINVAL
            } else {
                e
            }
        })?;
        let creds = k.creds_of(ctx.pid);
        let inode = k.memfd_fs.create_anon(S_IFREG | 0o777, &creds);
        let mut shown = b"/memfd:".to_vec();
        shown.extend_from_slice(&name);
        shown.extend_from_slice(b" (deleted)");
        let dentry = std::rc::Rc::new(crate::kernel::fs::path::Dentry {
            name: shown,
            parent: None,
            inode: inode.clone(),
        });
        let ops: std::rc::Rc<dyn crate::kernel::fs::file::FileOps> =
            std::rc::Rc::new(crate::kernel::fs::file::InodeFile { inode: inode.clone() });
        let file = crate::kernel::fs::file::OpenFile::new(
            ops,
            Some(inode),
            Some(dentry),
            O_RDWR | O_LARGEFILE,
        );
        let limit = k.nofile_limit(ctx.pid);
        Ok(k.files_of(ctx.pid)?.borrow_mut().install(file, flags & MFD_CLOEXEC != 0, limit)? as i64)
    })();
    r.into()
}
