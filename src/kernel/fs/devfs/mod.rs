//! devfs: /dev with the devices a Linux system always has
//! (drivers/char/mem.c: null, zero, full, random, urandom) and the console.

use super::file::{FileOps, OpenFile};
use super::{now, Attr, DirEntryOut, Inode, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use guest_abi::stat::*;
use std::any::Any;
use std::rc::Rc;

/// Fills a buffer with random bytes from the host (given by the VM).
pub type Entropy = Rc<dyn Fn(&mut [u8])>;

struct Null;
impl FileOps for Null {
    fn read(&self, _f: &OpenFile, _buf: &mut [u8]) -> KResult<usize> {
        Ok(0)
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        Ok(data.len())
    }
    fn pread(&self, _off: u64, _buf: &mut [u8]) -> KResult<usize> {
        Ok(0)
    }
    fn pwrite(&self, _off: u64, data: &[u8]) -> KResult<usize> {
        Ok(data.len())
    }
    fn seekable(&self) -> bool {
        true
    }
}

struct Zero {
    /// /dev/full: reads zeros, writes fail with ENOSPC.
    full: bool,
}
impl FileOps for Zero {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        if self.full {
            Err(Errno::ENOSPC)
        } else {
            Ok(data.len())
        }
    }
    fn pread(&self, _off: u64, buf: &mut [u8]) -> KResult<usize> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn seekable(&self) -> bool {
        true
    }
}

struct Random {
    entropy: Entropy,
}
impl FileOps for Random {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        (self.entropy)(buf);
        Ok(buf.len())
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        Ok(data.len())
    }
}

thread_local! {
    static ENTROPY: std::cell::RefCell<Option<Entropy>> = const { std::cell::RefCell::new(None) };
}

/// Opens a device node by number. The console (5,1) and /dev/tty (5,0)
/// are handled by [`DevFs`], which knows the terminals.
pub fn open_device(mode: u32, rdev: u64) -> KResult<Rc<dyn FileOps>> {
    if mode & S_IFMT != S_IFCHR {
        return Err(Errno::ENXIO);
    }
    match (major(rdev), minor(rdev)) {
        (1, 3) => Ok(Rc::new(Null)),
        (1, 5) => Ok(Rc::new(Zero { full: false })),
        (1, 7) => Ok(Rc::new(Zero { full: true })),
        (1, 8) | (1, 9) => {
            let e = ENTROPY.with(|e| e.borrow().clone()).ok_or(Errno::ENXIO)?;
            Ok(Rc::new(Random { entropy: e }))
        }
        _ => Err(Errno::ENXIO),
    }
}

/// What /dev holds.
enum Node {
    Dev(u32, u32),
    Link(&'static [u8]),
    Dir(InodeRef),
}

/// Opens the caller's controlling terminal, as /dev/tty does (ENXIO when
/// its session has none).
pub type CttyOpener = Box<dyn Fn() -> KResult<Rc<dyn FileOps>>>;

pub struct DevFs {
    dev: u64,
    console: Rc<dyn FileOps>,
    ctty: CttyOpener,
    entries: Vec<(&'static [u8], u64, Node)>,
    mtime: (i64, u32),
}

impl DevFs {
    /// /dev, with `console` as /dev/console, `ctty` behind /dev/tty, and
    /// the given subdirectories (shm, pts) as plain entries.
    pub fn new(
        dev: u64,
        console: Rc<dyn FileOps>,
        ctty: CttyOpener,
        entropy: Entropy,
        shm: InodeRef,
        pts: InodeRef,
    ) -> Rc<DevFs> {
        ENTROPY.with(|e| *e.borrow_mut() = Some(entropy));
        let entries = vec![
            (&b"console"[..], 10, Node::Dev(5, 1)),
            (b"fd", 11, Node::Link(b"/proc/self/fd")),
            (b"full", 12, Node::Dev(1, 7)),
            (b"null", 13, Node::Dev(1, 3)),
            (b"ptmx", 14, Node::Link(b"pts/ptmx")),
            (b"pts", 15, Node::Dir(pts)),
            (b"random", 16, Node::Dev(1, 8)),
            (b"shm", 17, Node::Dir(shm)),
            (b"stderr", 18, Node::Link(b"/proc/self/fd/2")),
            (b"stdin", 19, Node::Link(b"/proc/self/fd/0")),
            (b"stdout", 20, Node::Link(b"/proc/self/fd/1")),
            (b"tty", 21, Node::Dev(5, 0)),
            (b"urandom", 22, Node::Dev(1, 9)),
            (b"zero", 23, Node::Dev(1, 5)),
        ];
        Rc::new(DevFs { dev, console, ctty, entries, mtime: now() })
    }
}

/// One node of devfs (device or symlink).
struct DevNode {
    fs: Rc<DevFs>,
    idx: usize,
}

fn node_attr(fs: &DevFs, ino: u64, mode: u32, rdev: u64, size: u64) -> Attr {
    Attr {
        dev: fs.dev,
        ino,
        mode,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev,
        size,
        blocks: 0,
        blksize: 4096,
        atime: fs.mtime,
        mtime: fs.mtime,
        ctime: fs.mtime,
        btime: None,
    }
}

impl Inode for DevNode {
    fn attr(&self) -> KResult<Attr> {
        let (_, ino, node) = &self.fs.entries[self.idx];
        Ok(match node {
            Node::Dev(ma, mi) => {
                let perm = if (*ma, *mi) == (5, 1) { 0o600 } else { 0o666 };
                node_attr(&self.fs, *ino, S_IFCHR | perm, makedev(*ma, *mi), 0)
            }
            Node::Link(t) => node_attr(&self.fs, *ino, S_IFLNK | 0o777, 0, t.len() as u64),
            Node::Dir(d) => return d.attr(),
        })
    }
    fn readlink(&self) -> KResult<Vec<u8>> {
        match &self.fs.entries[self.idx].2 {
            Node::Link(t) => Ok(t.to_vec()),
            _ => Err(Errno::EINVAL),
        }
    }
    fn open_special(&self, _flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        match &self.fs.entries[self.idx].2 {
            Node::Dev(5, 0) => Some((self.fs.ctty)()),
            Node::Dev(5, _) => Some(Ok(self.fs.console.clone())),
            Node::Dev(ma, mi) => Some(open_device(S_IFCHR, makedev(*ma, *mi))),
            _ => None,
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The /dev directory itself.
pub struct DevRoot {
    pub fs: Rc<DevFs>,
}

impl Inode for DevRoot {
    fn attr(&self) -> KResult<Attr> {
        Ok(node_attr(&self.fs, 1, S_IFDIR | 0o755, 0, 0).with_nlink(4))
    }
    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        if name == b"." || name == b".." {
            return Ok(Rc::new(DevRoot { fs: self.fs.clone() }));
        }
        let idx = self.fs.entries.iter().position(|(n, _, _)| *n == name).ok_or(Errno::ENOENT)?;
        if let Node::Dir(d) = &self.fs.entries[idx].2 {
            return Ok(d.clone());
        }
        Ok(Rc::new(DevNode { fs: self.fs.clone(), idx }))
    }
    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        let fixed: [(&[u8], u64, u8); 2] = [(b".", 1, DT_DIR), (b"..", 1, DT_DIR)];
        for (i, (name, ino, dtype)) in fixed.iter().enumerate() {
            if (i as u64) >= cursor
                && !emit(DirEntryOut { ino: *ino, name, dtype: *dtype, next: i as u64 + 1 })
            {
                return Ok(());
            }
        }
        for (i, (name, ino, node)) in self.fs.entries.iter().enumerate() {
            let pos = i as u64 + 2;
            if pos < cursor {
                continue;
            }
            let dtype = match node {
                Node::Dev(..) => DT_CHR,
                Node::Link(_) => DT_LNK,
                Node::Dir(_) => DT_DIR,
            };
            if !emit(DirEntryOut { ino: *ino, name, dtype, next: pos + 1 }) {
                return Ok(());
            }
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Attr {
    fn with_nlink(mut self, n: u32) -> Attr {
        self.nlink = n;
        self
    }
}
