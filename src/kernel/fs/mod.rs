//! The virtual filesystem.
//!
//! Linux's model, small: an [`Inode`] is a file of some filesystem (ext4
//! image, tmpfs, devfs, procfs); a [`Dentry`](path::Dentry) is an inode
//! reached by a name from a parent, which is what path walks produce and
//! what `..` and getcwd follow; an [`OpenFile`](file::OpenFile) is what an
//! fd points at (position, flags, and the [`FileOps`](file::FileOps) that
//! read and write it); an [`FdTable`](fdtable::FdTable) maps a process's
//! fd numbers to open files. Mounts graft a filesystem's root over a
//! directory: see [`path::Mounts`].

pub mod devfs;
pub mod epoll;
pub mod eventfd;
pub mod ext4;
pub mod fdtable;
pub mod file;
pub mod lock;
pub mod overlay;
pub mod path;
pub mod permission;
pub mod pidfd;
pub mod pipe;
pub mod procfs;
pub mod tmpfs;
pub mod vfs;

use crate::kernel::errno::{Errno, KResult};
use guest_abi::stat::{self as st, Stat, Statx, StatxTimestamp};
use std::any::Any;
use std::rc::Rc;

pub type InodeRef = Rc<dyn Inode>;

/// What stat(2) reports about an inode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attr {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blocks: u64,
    pub blksize: u32,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub btime: Option<(i64, u32)>,
}

impl Attr {
    pub fn file_type(&self) -> u32 {
        self.mode & st::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == st::S_IFDIR
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type() == st::S_IFLNK
    }
    pub fn is_reg(&self) -> bool {
        self.file_type() == st::S_IFREG
    }

    pub fn to_stat(&self) -> Stat {
        Stat {
            st_dev: self.dev,
            st_ino: self.ino,
            st_nlink: self.nlink as u64,
            st_mode: self.mode,
            st_uid: self.uid,
            st_gid: self.gid,
            st_rdev: self.rdev,
            st_size: self.size as i64,
            st_blksize: if self.blksize == 0 { 4096 } else { self.blksize as i64 },
            st_blocks: self.blocks as i64,
            st_atime: self.atime.0,
            st_atime_nsec: self.atime.1 as i64,
            st_mtime: self.mtime.0,
            st_mtime_nsec: self.mtime.1 as i64,
            st_ctime: self.ctime.0,
            st_ctime_nsec: self.ctime.1 as i64,
            ..Default::default()
        }
    }

    pub fn to_statx(&self) -> Statx {
        let ts = |t: (i64, u32)| StatxTimestamp { tv_sec: t.0, tv_nsec: t.1, __reserved: 0 };
        let mut mask = st::STATX_BASIC_STATS;
        if self.btime.is_some() {
            mask |= st::STATX_BTIME;
        }
        Statx {
            stx_mask: mask,
            stx_blksize: if self.blksize == 0 { 4096 } else { self.blksize },
            stx_nlink: self.nlink,
            stx_uid: self.uid,
            stx_gid: self.gid,
            stx_mode: self.mode as u16,
            stx_ino: self.ino,
            stx_size: self.size,
            stx_blocks: self.blocks,
            stx_atime: ts(self.atime),
            stx_btime: ts(self.btime.unwrap_or((0, 0))),
            stx_ctime: ts(self.ctime),
            stx_mtime: ts(self.mtime),
            stx_rdev_major: st::major(self.rdev),
            stx_rdev_minor: st::minor(self.rdev),
            stx_dev_major: st::major(self.dev),
            stx_dev_minor: st::minor(self.dev),
            ..Default::default()
        }
    }
}

/// Who is asking, for ownership of new files and permission checks: the
/// filesystem uid and gid (the effective ids) and supplementary groups.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// One directory entry as readdir reports it.
pub struct DirEntryOut<'a> {
    pub ino: u64,
    pub name: &'a [u8],
    pub dtype: u8,
    /// The cursor to resume after this entry.
    pub next: u64,
}

/// An inode of some filesystem. Defaults answer as Linux does for an
/// inode that lacks the operation.
pub trait Inode: Any {
    fn attr(&self) -> KResult<Attr>;

    fn lookup(&self, _name: &[u8]) -> KResult<InodeRef> {
        Err(Errno::ENOTDIR)
    }
    /// Calls `emit` for entries from `cursor` on; `emit` returns false to stop.
    fn readdir(&self, _cursor: u64, _emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        Err(Errno::ENOTDIR)
    }
    fn readlink(&self) -> KResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _off: u64, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EROFS)
    }
    fn truncate(&self, _len: u64) -> KResult<()> {
        Err(Errno::EROFS)
    }
    /// Creates a child: regular file, directory, fifo, device or symlink
    /// (`target` for symlinks), according to `mode`'s type bits.
    fn create(
        &self,
        _name: &[u8],
        _mode: u32,
        _rdev: u64,
        _target: Option<&[u8]>,
        _creds: &Creds,
    ) -> KResult<InodeRef> {
        Err(Errno::EROFS)
    }
    fn link(&self, _name: &[u8], _target: &InodeRef) -> KResult<()> {
        Err(Errno::EROFS)
    }
    fn unlink(&self, _name: &[u8], _dir: bool) -> KResult<()> {
        Err(Errno::EROFS)
    }
    /// Moves `name` of this directory to `new_name` in `new_dir` (same fs).
    fn rename(&self, _name: &[u8], _new_dir: &InodeRef, _new_name: &[u8]) -> KResult<()> {
        Err(Errno::EROFS)
    }
    /// A nameless regular file in this directory's filesystem (O_TMPFILE).
    fn create_tmpfile(&self, _mode: u32, _creds: &Creds) -> KResult<InodeRef> {
        Err(if self.read_only() { Errno::EROFS } else { Errno::EOPNOTSUPP })
    }
    /// Extended attributes, full names ("user.x") and values.
    fn xattrs(&self) -> KResult<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(Vec::new())
    }
    /// Sets an extended attribute (setxattr; the caller checks
    /// XATTR_CREATE/XATTR_REPLACE).
    fn set_xattr(&self, _name: &[u8], _value: &[u8]) -> KResult<()> {
        Err(if self.read_only() { Errno::EROFS } else { Errno::EOPNOTSUPP })
    }
    /// Removes an extended attribute; ENODATA when it is not set.
    fn remove_xattr(&self, _name: &[u8]) -> KResult<()> {
        Err(if self.read_only() { Errno::EROFS } else { Errno::EOPNOTSUPP })
    }
    /// Swaps `name` of this directory with `new_name` in `new_dir`
    /// (renameat2 RENAME_EXCHANGE).
    fn exchange(&self, _name: &[u8], _new_dir: &InodeRef, _new_name: &[u8]) -> KResult<()> {
        Err(Errno::EROFS)
    }
    fn set_mode(&self, _mode: u32) -> KResult<()> {
        Err(Errno::EROFS)
    }
    fn set_owner(&self, _uid: Option<u32>, _gid: Option<u32>) -> KResult<()> {
        Err(Errno::EROFS)
    }
    fn set_times(&self, _atime: Option<(i64, u32)>, _mtime: Option<(i64, u32)>) -> KResult<()> {
        Err(Errno::EROFS)
    }
    /// Opens a character device, fifo or other special file; None means
    /// "an ordinary file: read and write through read_at/write_at".
    fn open_special(&self, _flags: i32) -> Option<KResult<Rc<dyn file::FileOps>>> {
        None
    }
    /// statfs figures: (fs type magic, block size, blocks, free blocks, files, free files).
    fn statfs(&self) -> (i64, u64, u64, u64, u64, u64) {
        (0x0102_1994, 4096, 0, 0, 0, 0) // TMPFS_MAGIC
    }
    /// A "magic" symlink (procfs fd links) that leads to an object rather
    /// than a path.
    fn follow_link(&self) -> Option<KResult<Rc<path::Dentry>>> {
        None
    }
    /// Where file byte `off` lies in the base image file, if the inode's
    /// data is there unchanged: (byte offset in the image, contiguous
    /// bytes). Lets file pages be mapped straight from the image.
    fn image_extent(&self, _off: u64) -> Option<(u64, u64)> {
        None
    }
    /// Whether the inode's filesystem is mounted read-only.
    fn read_only(&self) -> bool {
        false
    }
    /// The host memory file that holds the inode's data, moving the data
    /// there first if needed: what MAP_SHARED maps, so that writes through
    /// the mapping reach the file and every mapping of it. ENODEV where the
    /// filesystem cannot share its pages.
    fn host_mem(&self) -> KResult<Rc<crate::platform::hostmem::HostMem>> {
        Err(Errno::ENODEV)
    }
    fn as_any(&self) -> &dyn Any;
}

/// What fstat says of an anonymous-inode file (eventfd, epoll, signalfd):
/// Linux's anon_inodefs, device 0:13, one inode per object here.
pub fn anon_inode_attr(ino: u64) -> Attr {
    Attr { dev: 0xd, ino, mode: 0o600, nlink: 1, blksize: 4096, ..Default::default() }
}

/// The current time as (seconds, nanoseconds), for new inodes.
pub fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}
