//! Open files: what a file descriptor points at.

use super::path::Dentry;
use super::{Attr, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::wait::WaitId;
use guest_abi::fcntl::*;
use guest_abi::misc::{POLLIN, POLLOUT};
use std::cell::Cell;
use std::rc::Rc;

/// Behaviour of an open file. Calls that would block return EAGAIN and
/// name their wait queue through `wait_ids`; the syscall layer parks the
/// caller unless the file is O_NONBLOCK.
pub trait FileOps {
    fn read(&self, _f: &OpenFile, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _f: &OpenFile, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn pread(&self, _off: u64, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::ESPIPE)
    }
    fn pwrite(&self, _off: u64, _data: &[u8]) -> KResult<usize> {
        Err(Errno::ESPIPE)
    }
    /// Whether lseek applies (regular files, directories, some devices).
    fn seekable(&self) -> bool {
        false
    }
    /// Ready events now (POLLIN, POLLOUT, POLLHUP, POLLERR).
    fn poll(&self) -> i16 {
        POLLIN | POLLOUT
    }
    /// The wait queues to sleep on for `events`.
    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        Vec::new()
    }
    /// The terminal behind this file, if it is one (the console, a pty
    /// slave): terminal ioctls and job control go there.
    fn tty(&self) -> Option<Rc<crate::kernel::tty::core::Tty>> {
        None
    }
    /// Ioctls particular to this kind of file (a pty master's TIOCGPTN);
    /// None: not one of them.
    fn ioctl(
        &self,
        _k: &mut crate::kernel::Kernel,
        _ctx: &crate::kernel::syscall::Ctx,
        _req: u64,
        _arg: u64,
    ) -> Option<KResult<i64>> {
        None
    }
    /// For fifo/pipe ends: the peer wake-up and counts are handled on drop.
    fn kind(&self) -> FileKind {
        FileKind::Other
    }
    /// What fstat says of an object with no inode (the console, a pipe).
    fn attr(&self) -> Option<Attr> {
        None
    }
    /// The name of an anonymous-inode file as /proc/PID/fd shows it
    /// ("anon_inode:[eventfd]"), from the name anon_inode_getfile gives.
    fn anon_name(&self) -> Option<&'static str> {
        None
    }
    /// The concrete object, for calls that need one kind of file
    /// (epoll_ctl on an epoll fd).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Pipe,
    Socket,
    Tty,
    Other,
}

/// An open file description (struct file): shared by dup'd descriptors
/// and across fork.
pub struct OpenFile {
    pub ops: Rc<dyn FileOps>,
    /// The inode, for fstat; None for anonymous objects like pipes without a name.
    pub inode: Option<InodeRef>,
    /// The path it was opened by (for /proc/PID/fd, fchdir, *at calls).
    pub dentry: Option<Rc<Dentry>>,
    pub pos: Cell<u64>,
    /// O_ACCMODE | O_APPEND | O_NONBLOCK | ... (status flags).
    pub flags: Cell<i32>,
    /// Attributes of an anonymous object (pipes) for fstat.
    pub anon_attr: Option<Attr>,
    /// An flock(2) lock this description holds, released with it.
    pub flock: std::cell::RefCell<Option<super::lock::FlockGuard>>,
}

impl OpenFile {
    pub fn new(
        ops: Rc<dyn FileOps>,
        inode: Option<InodeRef>,
        dentry: Option<Rc<Dentry>>,
        flags: i32,
    ) -> Rc<OpenFile> {
        Rc::new(OpenFile {
            ops,
            inode,
            dentry,
            pos: Cell::new(0),
            flags: Cell::new(flags & !(O_CLOEXEC | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)),
            anon_attr: None,
            flock: Default::default(),
        })
    }

    pub fn readable(&self) -> bool {
        let m = self.flags.get() & O_ACCMODE;
        (m == O_RDONLY || m == O_RDWR) && self.flags.get() & O_PATH == 0
    }
    pub fn writable(&self) -> bool {
        let m = self.flags.get() & O_ACCMODE;
        (m == O_WRONLY || m == O_RDWR) && self.flags.get() & O_PATH == 0
    }
    pub fn nonblocking(&self) -> bool {
        self.flags.get() & O_NONBLOCK != 0
    }
    pub fn is_path_only(&self) -> bool {
        self.flags.get() & O_PATH != 0
    }

    pub fn attr(&self) -> KResult<Attr> {
        match (&self.inode, &self.anon_attr) {
            (Some(i), _) => i.attr(),
            (None, Some(a)) => Ok(*a),
            (None, None) => self.ops.attr().ok_or(Errno::EBADF),
        }
    }
}

/// A regular file read and written through its inode.
pub struct InodeFile {
    pub inode: InodeRef,
}

impl FileOps for InodeFile {
    fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let n = self.inode.read_at(f.pos.get(), buf)?;
        f.pos.set(f.pos.get() + n as u64);
        Ok(n)
    }
    fn write(&self, f: &OpenFile, data: &[u8]) -> KResult<usize> {
        // O_APPEND: each write goes to the current end, atomically (the
        // kernel is single-threaded, so "atomically" is free).
        let off = if f.flags.get() & O_APPEND != 0 { self.inode.attr()?.size } else { f.pos.get() };
        let n = self.inode.write_at(off, data)?;
        f.pos.set(off + n as u64);
        Ok(n)
    }
    fn pread(&self, off: u64, buf: &mut [u8]) -> KResult<usize> {
        self.inode.read_at(off, buf)
    }
    fn pwrite(&self, off: u64, data: &[u8]) -> KResult<usize> {
        self.inode.write_at(off, data)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn kind(&self) -> FileKind {
        FileKind::Regular
    }
}

/// An open directory: read with getdents64, the position is the readdir cursor.
pub struct DirFile;

impl FileOps for DirFile {
    fn read(&self, _f: &OpenFile, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _f: &OpenFile, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EISDIR)
    }
    fn pread(&self, _off: u64, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::EISDIR)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn kind(&self) -> FileKind {
        FileKind::Directory
    }
}
