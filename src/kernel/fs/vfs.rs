//! The VFS operations behind the path and descriptor syscalls: resolving
//! `dirfd` + path, opening, creating and removing. Syscall handlers decode
//! arguments and call these.

use super::file::{DirFile, FileOps, InodeFile, OpenFile};
use super::path::{Dentry, Follow, Walker};
use super::{Creds, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::task::{FsContext, Pid};
use crate::kernel::Kernel;
use guest_abi::fcntl::*;
use guest_abi::stat::*;
use std::cell::RefCell;
use std::rc::Rc;

impl Kernel {
    pub fn fs_of(&self, pid: Pid) -> KResult<Rc<RefCell<FsContext>>> {
        self.table.borrow().procs.get(&pid).map(|p| p.fs.clone()).ok_or(Errno::ESRCH)
    }

    pub fn files_of(&self, pid: Pid) -> KResult<Rc<RefCell<super::fdtable::FdTable>>> {
        self.table.borrow().procs.get(&pid).map(|p| p.files.clone()).ok_or(Errno::ESRCH)
    }

    /// The filesystem credentials of a process (effective ids and groups).
    pub fn creds_of(&self, pid: Pid) -> Creds {
        let t = self.table.borrow();
        t.procs
            .get(&pid)
            .map(|p| Creds { uid: p.cred.euid, gid: p.cred.egid, groups: p.cred.groups.clone() })
            .unwrap_or_default()
    }

    /// The real ids, which access(2) checks with (unless AT_EACCESS).
    pub fn real_creds_of(&self, pid: Pid) -> Creds {
        let t = self.table.borrow();
        t.procs
            .get(&pid)
            .map(|p| Creds { uid: p.cred.uid, gid: p.cred.gid, groups: p.cred.groups.clone() })
            .unwrap_or_default()
    }

    pub fn file(&self, pid: Pid, fd: i32) -> KResult<Rc<OpenFile>> {
        self.files_of(pid)?.borrow().file(fd)
    }

    /// The directory a *at() call starts from: the cwd for AT_FDCWD, else
    /// the directory open at `dirfd`.
    fn start_dir(&self, pid: Pid, dirfd: i32, path: &[u8]) -> KResult<(Rc<Dentry>, Rc<Dentry>)> {
        let fs = self.fs_of(pid)?;
        let fs = fs.borrow();
        let root = fs.root.clone();
        if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
            return Ok((root, fs.cwd.clone()));
        }
        let f = self.file(pid, dirfd)?;
        let d = f.dentry.clone().ok_or(Errno::ENOTDIR)?;
        if !d.inode.attr()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok((root, d))
    }

    /// Resolves `dirfd` + `path`. An empty path with AT_EMPTY_PATH names
    /// `dirfd` itself.
    pub fn lookup_at(
        &self,
        pid: Pid,
        dirfd: i32,
        path: &[u8],
        follow: Follow,
        empty_ok: bool,
    ) -> KResult<Rc<Dentry>> {
        if path.is_empty() {
            if !empty_ok {
                return Err(Errno::ENOENT);
            }
            if dirfd == AT_FDCWD {
                return Ok(self.fs_of(pid)?.borrow().cwd.clone());
            }
            let f = self.file(pid, dirfd)?;
            return f.dentry.clone().ok_or(Errno::EBADF);
        }
        let (root, start) = self.start_dir(pid, dirfd, path)?;
        let creds = self.creds_of(pid);
        Walker { root: &root, mounts: &self.mounts, creds: Some(&creds) }.walk(&start, path, follow)
    }

    /// Resolves the parent directory of `path`'s last component.
    pub fn lookup_parent_at(
        &self,
        pid: Pid,
        dirfd: i32,
        path: &[u8],
    ) -> KResult<(Rc<Dentry>, Vec<u8>)> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let (root, start) = self.start_dir(pid, dirfd, path)?;
        let creds = self.creds_of(pid);
        Walker { root: &root, mounts: &self.mounts, creds: Some(&creds) }.walk_parent(&start, path)
    }

    /// unlink(2), or rmdir(2) with `rmdir`.
    pub fn unlink_at(&self, pid: Pid, dirfd: i32, path: &[u8], rmdir: bool) -> KResult<()> {
        let (dir, name) = self.lookup_parent_at(pid, dirfd, path)?;
        if super::path::is_dot(&name) {
            // rmdir(2): "." is EINVAL, ".." is ENOTEMPTY; unlink of either is EISDIR.
            return Err(match (rmdir, name.as_slice()) {
                (true, b"..") => Errno::ENOTEMPTY,
                (true, _) => Errno::EINVAL,
                _ => Errno::EISDIR,
            });
        }
        if !rmdir && path.ends_with(b"/") {
            // "unlink("dir/")" names a directory.
            let a = dir.inode.lookup(&name)?.attr()?;
            return Err(if a.is_dir() { Errno::EISDIR } else { Errno::ENOTDIR });
        }
        let victim = dir.inode.lookup(&name)?.attr()?;
        super::permission::may_delete(&dir.inode.attr()?, &victim, &self.creds_of(pid))?;
        dir.inode.unlink(&name, rmdir)
    }

    /// open(2): resolve, create if asked, check, and make an open file.
    pub fn open_at(
        &self,
        pid: Pid,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> KResult<Rc<OpenFile>> {
        if flags & O_TMPFILE == O_TMPFILE {
            return self.open_tmpfile(pid, dirfd, path, flags, mode);
        }
        let follow = if flags & O_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
        let dentry = if flags & O_CREAT != 0 {
            let (mut dir, mut name) = self.lookup_parent_at(pid, dirfd, path)?;
            if super::path::is_dot(&name) {
                return Err(Errno::EISDIR);
            }
            let walker_root = self.fs_of(pid)?.borrow().root.clone();
            let creds = self.creds_of(pid);
            let walker = Walker { root: &walker_root, mounts: &self.mounts, creds: Some(&creds) };
            let mut links = 0;
            loop {
                match walker.child(&dir, &name) {
                    Ok(existing) => {
                        if flags & O_EXCL != 0 {
                            return Err(Errno::EEXIST);
                        }
                        if !existing.inode.attr()?.is_symlink() {
                            break existing;
                        }
                        if flags & O_NOFOLLOW != 0 {
                            return Err(Errno::ELOOP);
                        }
                        // O_CREAT through a symlink creates its target
                        // (a dangling link gets one).
                        links += 1;
                        if links > super::path::MAX_SYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        let target = existing.inode.readlink()?;
                        let (d2, n2) = walker.walk_parent(&dir, &target)?;
                        if super::path::is_dot(&n2) {
                            break walker.walk(&dir, &target, Follow::Yes)?;
                        }
                        dir = d2;
                        name = n2;
                    }
                    Err(e) if e == Errno::ENOENT => {
                        if path.ends_with(b"/") {
                            return Err(Errno::EISDIR);
                        }
                        let umask = self.fs_of(pid)?.borrow().umask;
                        super::permission::may_create(&dir.inode.attr()?, &creds)?;
                        let inode = dir.inode.create(
                            &name,
                            S_IFREG | (mode & 0o7777 & !umask),
                            0,
                            None,
                            &creds,
                        )?;
                        // A file created by this open may be opened for
                        // writing even if its new mode says otherwise.
                        let d = Rc::new(Dentry { name, parent: Some(dir.clone()), inode });
                        return self.open_dentry(d, flags, None);
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            self.lookup_at(pid, dirfd, path, follow, false)?
        };
        let creds = self.creds_of(pid);
        self.open_dentry(dentry, flags, Some(&creds))
    }

    /// Opens a resolved dentry, checking `creds` may (None: a file this
    /// very open just created).
    pub fn open_dentry(
        &self,
        dentry: Rc<Dentry>,
        flags: i32,
        creds: Option<&Creds>,
    ) -> KResult<Rc<OpenFile>> {
        let attr = dentry.inode.attr()?;
        let inode: InodeRef = dentry.inode.clone();
        if flags & O_PATH != 0 {
            return Ok(OpenFile::new(Rc::new(DirFile), Some(inode), Some(dentry), flags));
        }
        let acc = flags & O_ACCMODE;
        let writing = acc == O_WRONLY || acc == O_RDWR;
        if let Some(pts) = crate::kernel::tty::pty::is_ptmx(&inode) {
            let owner = creds.map(|c| (c.uid, c.gid)).unwrap_or((0, 0));
            return pts.open_master(flags, owner);
        }
        if let Some(c) = creds {
            use super::permission::*;
            let mut want = 0;
            if acc == O_RDONLY || acc == O_RDWR {
                want |= MAY_READ;
            }
            if writing || flags & O_TRUNC != 0 {
                want |= MAY_WRITE;
            }
            if !attr.is_symlink() {
                permission(&attr, c, want)?;
            }
        }
        if attr.is_symlink() {
            // Only reached with O_NOFOLLOW on a symlink.
            return Err(Errno::ELOOP);
        }
        if attr.is_dir() {
            if writing || flags & O_CREAT != 0 {
                return Err(Errno::EISDIR);
            }
            return Ok(OpenFile::new(Rc::new(DirFile), Some(inode), Some(dentry), flags));
        }
        if flags & O_DIRECTORY != 0 {
            return Err(Errno::ENOTDIR);
        }
        let ops: Rc<dyn FileOps> = match inode.open_special(flags) {
            Some(r) => r?,
            None => {
                // Writable open of a read-only filesystem fails at open.
                if writing && inode.read_only() {
                    return Err(Errno::EROFS);
                }
                if writing && flags & O_TRUNC != 0 {
                    inode.truncate(0)?;
                }
                Rc::new(InodeFile { inode: inode.clone() })
            }
        };
        Ok(OpenFile::new(ops, Some(inode), Some(dentry), flags))
    }

    /// open(O_TMPFILE): an unnamed regular file in the directory's
    /// filesystem, which linkat(AT_EMPTY_PATH) may name later (unless
    /// O_EXCL). tmpfs and the root overlay support it; others (procfs,
    /// devfs) answer EOPNOTSUPP, as Linux does for them.
    fn open_tmpfile(
        &self,
        pid: Pid,
        dirfd: i32,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> KResult<Rc<OpenFile>> {
        let acc = flags & O_ACCMODE;
        if acc != O_WRONLY && acc != O_RDWR {
            return Err(Errno::EINVAL);
        }
        let dir = self.lookup_at(pid, dirfd, path, Follow::Yes, false)?;
        let dattr = dir.inode.attr()?;
        if !dattr.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let creds = self.creds_of(pid);
        super::permission::may_create(&dattr, &creds)?;
        let umask = self.fs_of(pid)?.borrow().umask;
        let inode = dir.inode.create_tmpfile(S_IFREG | (mode & 0o7777 & !umask), &creds)?;
        if flags & O_EXCL == 0 {
            let mut l = self.linkable.borrow_mut();
            l.retain(|w| w.strong_count() > 0);
            l.push(Rc::downgrade(&inode));
        }
        let name = b"#tmpfile (deleted)".to_vec();
        let d = Rc::new(Dentry { name, parent: Some(dir), inode: inode.clone() });
        let ops: Rc<dyn FileOps> = Rc::new(InodeFile { inode: inode.clone() });
        Ok(OpenFile::new(ops, Some(inode), Some(d), flags & !O_TMPFILE))
    }

    /// Changes the calling process's cwd.
    pub fn set_cwd(&self, pid: Pid, d: Rc<Dentry>) -> KResult<()> {
        if !d.inode.attr()?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.fs_of(pid)?.borrow_mut().cwd = d;
        Ok(())
    }
}
