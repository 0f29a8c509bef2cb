//! The ext4 image as a VFS filesystem: read-only inodes backed by [`Ext4`].
//! Writes fail with EROFS; the writable overlay goes on top (a later layer).

use super::{Ext4, Ext4Error, Ino, ROOT_INO};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::{Attr, DirEntryOut, Inode, InodeRef};
use guest_abi::stat::makedev;
use std::any::Any;
use std::rc::Rc;

/// EXT4_SUPER_MAGIC, as statfs reports it.
const EXT4_SUPER_MAGIC: i64 = 0xEF53;

pub struct ImageFs {
    pub ext4: Ext4,
    pub dev: u64,
    /// The pipe behind each fifo of the image that has been opened: fifo
    /// state lives in memory, the image only names the fifo.
    pub fifos:
        std::cell::RefCell<std::collections::HashMap<Ino, Rc<crate::kernel::fs::pipe::Pipe>>>,
    pub waker: crate::kernel::wait::Waker,
}

pub struct ImageInode {
    fs: Rc<ImageFs>,
    ino: Ino,
}

fn eio(e: Ext4Error) -> Errno {
    match e {
        Ext4Error::NotDir(_) => Errno::ENOTDIR,
        Ext4Error::NotSymlink(_) => Errno::EINVAL,
        _ => {
            // The image is damaged: the guest sees an I/O error, as with a
            // bad disk; umk carries on.
            Errno::EIO
        }
    }
}

impl ImageFs {
    pub fn root(fs: &Rc<ImageFs>) -> InodeRef {
        Rc::new(ImageInode { fs: fs.clone(), ino: ROOT_INO })
    }
}

impl Inode for ImageInode {
    fn attr(&self) -> KResult<Attr> {
        let a = self.fs.ext4.inode(self.ino).map_err(eio)?;
        Ok(Attr {
            dev: self.fs.dev,
            ino: a.ino as u64,
            mode: a.mode,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            rdev: makedev(a.rdev_major, a.rdev_minor),
            size: a.size,
            blocks: a.blocks,
            blksize: self.fs.ext4.block_size(),
            atime: a.atime,
            mtime: a.mtime,
            ctime: a.ctime,
            btime: a.crtime,
        })
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        match self.fs.ext4.lookup(self.ino, name).map_err(eio)? {
            Some(ino) => Ok(Rc::new(ImageInode { fs: self.fs.clone(), ino })),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        self.fs
            .ext4
            .read_dir(self.ino, cursor, &mut |e, next| {
                emit(DirEntryOut { ino: e.ino as u64, name: e.name, dtype: e.file_type, next })
            })
            .map_err(eio)?;
        Ok(())
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        self.fs.ext4.readlink(self.ino).map_err(eio)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> KResult<usize> {
        self.fs.ext4.read(self.ino, off, buf).map_err(eio)
    }

    fn open_special(
        &self,
        flags: i32,
    ) -> Option<KResult<Rc<dyn crate::kernel::fs::file::FileOps>>> {
        let a = match self.attr() {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        use guest_abi::stat::*;
        match a.mode & S_IFMT {
            S_IFCHR | S_IFBLK => Some(crate::kernel::fs::devfs::open_device(a.mode, a.rdev)),
            S_IFIFO => {
                let pipe = self
                    .fs
                    .fifos
                    .borrow_mut()
                    .entry(self.ino)
                    .or_insert_with(|| crate::kernel::fs::pipe::Pipe::new(&self.fs.waker))
                    .clone();
                Some(crate::kernel::fs::pipe::fifo_open(&pipe, flags))
            }
            // Opening a socket inode is ENXIO on Linux too.
            S_IFSOCK => Some(Err(Errno::ENXIO)),
            _ => None,
        }
    }

    fn statfs(&self) -> (i64, u64, u64, u64, u64, u64) {
        let s = self.fs.ext4.stats();
        (EXT4_SUPER_MAGIC, s.block_size as u64, s.blocks, s.free_blocks, s.inodes, s.free_inodes)
    }

    fn xattrs(&self) -> KResult<Vec<(Vec<u8>, Vec<u8>)>> {
        self.fs.ext4.xattrs(self.ino).map_err(eio)
    }

    fn image_extent(&self, off: u64) -> Option<(u64, u64)> {
        self.fs.ext4.map_extent(self.ino, off).ok().flatten()
    }

    fn read_only(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
