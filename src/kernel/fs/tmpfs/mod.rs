//! tmpfs: a filesystem kept in umk's memory (mm/shmem.c in Linux).
//! Used for /tmp, /run and /dev/shm until the writable overlay lands, and
//! as the model of a writable filesystem for the VFS.

use super::file::FileOps;
use super::pipe::{fifo_open, Pipe};
use super::{now, Attr, Creds, DirEntryOut, Inode, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::Waker;
use crate::platform::hostmem::HostMem;
use guest_abi::stat::*;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

/// Largest file tmpfs accepts (a guard against a guest exhausting umk's memory with one write).
pub const MAX_FILE: u64 = 1 << 34;

pub struct TmpFs {
    dev: u64,
    next_ino: Cell<u64>,
    waker: Waker,
    /// Bytes of file data held, against `limit`.
    used: Cell<u64>,
    limit: u64,
}

enum Content {
    Reg(RefCell<Data>),
    Dir(RefCell<BTreeMap<Vec<u8>, Rc<TmpInode>>>),
    Symlink(Vec<u8>),
    Fifo(RefCell<Option<Rc<Pipe>>>),
    Dev,
}

/// Where a regular file's bytes are. `attr.size` is the file's length
/// either way.
enum Data {
    /// In umk's memory: the common case, the cheapest to read and write.
    Mem(Vec<u8>),
    /// In a host memfd, from the first MAP_SHARED mapping on (shmem's
    /// page cache in Linux): the guests' mappings and umk's reads and
    /// writes then all use the same pages.
    Host(Rc<HostMem>),
}

pub struct TmpInode {
    fs: Rc<TmpFs>,
    attr: RefCell<Attr>,
    content: Content,
    me: Weak<TmpInode>,
    parent: RefCell<Weak<TmpInode>>,
}

impl TmpFs {
    /// A new tmpfs and its root directory.
    /// A tmpfs with no root in any tree (for memfds).
    pub fn new_anon(dev: u64, waker: &Waker, limit: u64) -> Rc<TmpFs> {
        Rc::new(TmpFs {
            dev,
            next_ino: Cell::new(1),
            waker: waker.clone(),
            used: Cell::new(0),
            limit,
        })
    }

    pub fn new_root(dev: u64, waker: &Waker, mode: u32, limit: u64) -> Rc<TmpInode> {
        let fs = Rc::new(TmpFs {
            dev,
            next_ino: Cell::new(1),
            waker: waker.clone(),
            used: Cell::new(0),
            limit,
        });
        let root = fs.make(S_IFDIR | (mode & 0o7777), 0, None, &Creds::default());
        *root.parent.borrow_mut() = root.me.clone();
        root
    }

    /// An inode in no directory (memfd_create, O_TMPFILE).
    pub fn create_anon(self: &Rc<Self>, mode: u32, creds: &Creds) -> InodeRef {
        let i = self.make(mode, 0, None, creds);
        i.attr.borrow_mut().nlink = 0;
        i
    }

    fn make(
        self: &Rc<Self>,
        mode: u32,
        rdev: u64,
        target: Option<&[u8]>,
        creds: &Creds,
    ) -> Rc<TmpInode> {
        let ino = self.next_ino.get() + 1;
        self.next_ino.set(ino);
        let t = now();
        let content = match mode & S_IFMT {
            S_IFDIR => Content::Dir(RefCell::new(BTreeMap::new())),
            S_IFLNK => Content::Symlink(target.unwrap_or_default().to_vec()),
            S_IFIFO => Content::Fifo(RefCell::new(None)),
            S_IFCHR | S_IFBLK | S_IFSOCK => Content::Dev,
            _ => Content::Reg(RefCell::new(Data::Mem(Vec::new()))),
        };
        let size = match &content {
            Content::Symlink(t) => t.len() as u64,
            Content::Dir(_) => 4096,
            _ => 0,
        };
        Rc::new_cyclic(|me| TmpInode {
            fs: self.clone(),
            attr: RefCell::new(Attr {
                dev: self.dev,
                ino,
                mode,
                nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
                uid: creds.uid,
                gid: creds.gid,
                rdev,
                size,
                blocks: 0,
                blksize: 4096,
                atime: t,
                mtime: t,
                ctime: t,
                btime: Some(t),
            }),
            content,
            me: me.clone(),
            parent: RefCell::new(Weak::new()),
        })
    }
}

impl TmpInode {
    fn dir(&self) -> KResult<&RefCell<BTreeMap<Vec<u8>, Rc<TmpInode>>>> {
        match &self.content {
            Content::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_mtime(&self) {
        let t = now();
        let mut a = self.attr.borrow_mut();
        a.mtime = t;
        a.ctime = t;
    }

    fn adjust_nlink(&self, delta: i32) {
        let mut a = self.attr.borrow_mut();
        a.nlink = (a.nlink as i64 + delta as i64).max(0) as u32;
        a.ctime = now();
    }

    fn downcast(i: &InodeRef) -> KResult<Rc<TmpInode>> {
        // Same-filesystem operations (link, rename) need our own type.
        i.as_any().downcast_ref::<TmpInode>().and_then(|t| t.me.upgrade()).ok_or(Errno::EXDEV)
    }

    fn set_size_locked(&self, data: &mut Data, len: u64) -> KResult<()> {
        if len > MAX_FILE {
            return Err(Errno::EFBIG);
        }
        let old = self.attr.borrow().size;
        let used = if len > old {
            let used = self.fs.used.get() + (len - old);
            if used > self.fs.limit {
                return Err(Errno::ENOSPC);
            }
            used
        } else {
            self.fs.used.get().saturating_sub(old - len)
        };
        match data {
            Data::Mem(v) => v.resize(len as usize, 0),
            // Shrinking a mapped memfd is what makes a guest's access past
            // the new end fault with SIGBUS, as on Linux.
            Data::Host(h) => h.set_len(len).map_err(|_| Errno::ENOSPC)?,
        }
        self.fs.used.set(used);
        let mut a = self.attr.borrow_mut();
        a.size = len;
        a.blocks = len.div_ceil(4096) * 8;
        Ok(())
    }
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        if let Content::Reg(_) = &self.content {
            let n = self.attr.borrow().size;
            self.fs.used.set(self.fs.used.get().saturating_sub(n));
        }
    }
}

impl Inode for TmpInode {
    fn attr(&self) -> KResult<Attr> {
        Ok(*self.attr.borrow())
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        let d = self.dir()?;
        if name == b"." {
            return self.me.upgrade().map(|i| i as InodeRef).ok_or(Errno::ENOENT);
        }
        if name == b".." {
            return self.parent.borrow().upgrade().map(|i| i as InodeRef).ok_or(Errno::ENOENT);
        }
        d.borrow().get(name).cloned().map(|i| i as InodeRef).ok_or(Errno::ENOENT)
    }

    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        let d = self.dir()?;
        let me = self.attr.borrow().ino;
        let parent = self.parent.borrow().upgrade().map(|p| p.attr.borrow().ino).unwrap_or(me);
        let mut pos = cursor;
        if pos == 0 {
            if !emit(DirEntryOut { ino: me, name: b".", dtype: DT_DIR, next: 1 }) {
                return Ok(());
            }
            pos = 1;
        }
        if pos == 1 {
            if !emit(DirEntryOut { ino: parent, name: b"..", dtype: DT_DIR, next: 2 }) {
                return Ok(());
            }
            pos = 2;
        }
        let entries = d.borrow();
        for (i, (name, child)) in entries.iter().enumerate().skip((pos - 2) as usize) {
            let a = child.attr.borrow();
            let next = i as u64 + 3;
            if !emit(DirEntryOut { ino: a.ino, name, dtype: dtype_of_mode(a.mode), next }) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        match &self.content {
            Content::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> KResult<usize> {
        match &self.content {
            Content::Reg(d) => {
                let size = self.attr.borrow().size;
                if off >= size {
                    return Ok(0);
                }
                let n = (buf.len() as u64).min(size - off) as usize;
                let n = match &*d.borrow() {
                    Data::Mem(v) => {
                        let start = off as usize;
                        buf[..n].copy_from_slice(&v[start..start + n]);
                        n
                    }
                    Data::Host(h) => h.read_at(off, &mut buf[..n]).map_err(|_| Errno::EIO)?,
                };
                self.attr.borrow_mut().atime = now();
                Ok(n)
            }
            Content::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn write_at(&self, off: u64, data: &[u8]) -> KResult<usize> {
        match &self.content {
            Content::Reg(d) => {
                let end = off.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
                let mut d = d.borrow_mut();
                if end > self.attr.borrow().size {
                    self.set_size_locked(&mut d, end)?;
                }
                match &mut *d {
                    Data::Mem(v) => v[off as usize..end as usize].copy_from_slice(data),
                    Data::Host(h) => h.write_at(off, data).map_err(|_| Errno::ENOSPC)?,
                }
                drop(d);
                self.touch_mtime();
                Ok(data.len())
            }
            Content::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn truncate(&self, len: u64) -> KResult<()> {
        match &self.content {
            Content::Reg(d) => {
                self.set_size_locked(&mut d.borrow_mut(), len)?;
                self.touch_mtime();
                Ok(())
            }
            Content::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn create(
        &self,
        name: &[u8],
        mode: u32,
        rdev: u64,
        target: Option<&[u8]>,
        creds: &Creds,
    ) -> KResult<InodeRef> {
        let d = self.dir()?;
        if d.borrow().contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let child = self.fs.make(mode, rdev, target, creds);
        *child.parent.borrow_mut() = self.me.clone();
        if mode & S_IFMT == S_IFDIR {
            self.adjust_nlink(1);
        }
        d.borrow_mut().insert(name.to_vec(), child.clone());
        self.touch_mtime();
        Ok(child)
    }

    fn create_tmpfile(&self, mode: u32, creds: &Creds) -> KResult<InodeRef> {
        self.dir()?;
        Ok(self.fs.create_anon(mode, creds))
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> KResult<()> {
        let t = Self::downcast(target)?;
        if !Rc::ptr_eq(&t.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        if t.attr.borrow().is_dir() {
            return Err(Errno::EPERM);
        }
        let d = self.dir()?;
        if d.borrow().contains_key(name) {
            return Err(Errno::EEXIST);
        }
        t.adjust_nlink(1);
        d.borrow_mut().insert(name.to_vec(), t);
        self.touch_mtime();
        Ok(())
    }

    fn unlink(&self, name: &[u8], want_dir: bool) -> KResult<()> {
        let d = self.dir()?;
        let child = d.borrow().get(name).cloned().ok_or(Errno::ENOENT)?;
        let is_dir = child.attr.borrow().is_dir();
        if want_dir {
            if !is_dir {
                return Err(Errno::ENOTDIR);
            }
            if !child.dir()?.borrow().is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            self.adjust_nlink(-1);
            child.adjust_nlink(-2);
        } else {
            if is_dir {
                return Err(Errno::EISDIR);
            }
            child.adjust_nlink(-1);
        }
        d.borrow_mut().remove(name);
        self.touch_mtime();
        Ok(())
    }

    fn rename(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> KResult<()> {
        let nd = Self::downcast(new_dir)?;
        if !Rc::ptr_eq(&nd.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        let src = self.dir()?.borrow().get(name).cloned().ok_or(Errno::ENOENT)?;
        let src_is_dir = src.attr.borrow().is_dir();
        // A directory cannot move into itself or below itself.
        if src_is_dir {
            let mut p = Some(nd.clone());
            while let Some(d) = p {
                if Rc::ptr_eq(&d, &src) {
                    return Err(Errno::EINVAL);
                }
                let up = d.parent.borrow().upgrade();
                p = match up {
                    Some(u) if !Rc::ptr_eq(&u, &d) => Some(u),
                    _ => None,
                };
            }
        }
        // Bind first: a borrow in the if-let scrutinee would live through
        // the block and collide with the unlink below.
        let existing = nd.dir()?.borrow().get(new_name).cloned();
        if let Some(existing) = existing {
            if Rc::ptr_eq(&existing, &src) {
                return Ok(());
            }
            let ex_dir = existing.attr.borrow().is_dir();
            match (src_is_dir, ex_dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !existing.dir()?.borrow().is_empty() => {
                    return Err(Errno::ENOTEMPTY)
                }
                _ => {}
            }
            nd.unlink(new_name, ex_dir)?;
        }
        self.dir()?.borrow_mut().remove(name);
        if src_is_dir {
            self.adjust_nlink(-1);
            nd.adjust_nlink(1);
            *src.parent.borrow_mut() = nd.me.clone();
        }
        nd.dir()?.borrow_mut().insert(new_name.to_vec(), src.clone());
        src.attr.borrow_mut().ctime = now();
        self.touch_mtime();
        nd.touch_mtime();
        Ok(())
    }

    fn exchange(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> KResult<()> {
        let nd = Self::downcast(new_dir)?;
        if !Rc::ptr_eq(&nd.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        let a = self.dir()?.borrow().get(name).cloned().ok_or(Errno::ENOENT)?;
        let b = nd.dir()?.borrow().get(new_name).cloned().ok_or(Errno::ENOENT)?;
        if Rc::ptr_eq(&a, &b) {
            return Ok(());
        }
        self.dir()?.borrow_mut().insert(name.to_vec(), b.clone());
        nd.dir()?.borrow_mut().insert(new_name.to_vec(), a.clone());
        // Directories moving between parents carry their ".." and link counts.
        let (a_dir, b_dir) = (a.attr.borrow().is_dir(), b.attr.borrow().is_dir());
        if a_dir {
            *a.parent.borrow_mut() = nd.me.clone();
        }
        if b_dir {
            *b.parent.borrow_mut() = self.me.clone();
        }
        if a_dir != b_dir && !Rc::ptr_eq(&nd, &self.me.upgrade().ok_or(Errno::ENOENT)?) {
            let (to_nd, to_self) = if a_dir { (1, -1) } else { (-1, 1) };
            nd.adjust_nlink(to_nd);
            self.adjust_nlink(to_self);
        }
        let t = now();
        a.attr.borrow_mut().ctime = t;
        b.attr.borrow_mut().ctime = t;
        self.touch_mtime();
        nd.touch_mtime();
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> KResult<()> {
        let mut a = self.attr.borrow_mut();
        a.mode = (a.mode & S_IFMT) | (mode & 0o7777);
        a.ctime = now();
        Ok(())
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        let mut a = self.attr.borrow_mut();
        if let Some(u) = uid {
            a.uid = u;
        }
        if let Some(g) = gid {
            a.gid = g;
        }
        a.ctime = now();
        Ok(())
    }

    fn set_times(&self, atime: Option<(i64, u32)>, mtime: Option<(i64, u32)>) -> KResult<()> {
        let mut a = self.attr.borrow_mut();
        if let Some(t) = atime {
            a.atime = t;
        }
        if let Some(t) = mtime {
            a.mtime = t;
        }
        a.ctime = now();
        Ok(())
    }

    fn open_special(&self, flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        match &self.content {
            Content::Fifo(p) => {
                let pipe = p.borrow_mut().get_or_insert_with(|| Pipe::new(&self.fs.waker)).clone();
                Some(fifo_open(&pipe, flags))
            }
            Content::Dev => {
                let a = self.attr.borrow();
                Some(super::devfs::open_device(a.mode, a.rdev))
            }
            _ => None,
        }
    }

    fn statfs(&self) -> (i64, u64, u64, u64, u64, u64) {
        let blocks = self.fs.limit / 4096;
        let used = self.fs.used.get().div_ceil(4096);
        (
            0x0102_1994,
            4096,
            blocks,
            blocks.saturating_sub(used),
            1 << 20,
            (1 << 20) - self.fs.next_ino.get().min(1 << 20),
        )
    }

    fn host_mem(&self) -> KResult<Rc<HostMem>> {
        let Content::Reg(d) = &self.content else { return Err(Errno::ENODEV) };
        let mut d = d.borrow_mut();
        let h = match &*d {
            Data::Host(h) => return Ok(h.clone()),
            Data::Mem(v) => {
                // The host's limits (open files, memory) are the only way
                // this fails; ENOMEM is what mmap reports for those.
                let h = HostMem::new().map_err(|_| Errno::ENOMEM)?;
                h.set_len(v.len() as u64).map_err(|_| Errno::ENOMEM)?;
                h.write_at(0, v).map_err(|_| Errno::ENOMEM)?;
                Rc::new(h)
            }
        };
        *d = Data::Host(h.clone());
        Ok(h)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
