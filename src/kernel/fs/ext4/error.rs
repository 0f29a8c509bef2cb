//! Errors of the ext4 driver. Every variant's message names what is wrong,
//! and, where it is about one file, the inode number, so that a corrupt image
//! can be diagnosed from the message alone.

use super::Ino;

#[derive(thiserror::Error, Debug)]
pub enum Ext4Error {
    #[error("I/O error reading the image: {0}")]
    Io(#[from] std::io::Error),

    #[error("bad superblock magic {0:#06x} (not an ext2/3/4 image)")]
    BadMagic(u16),

    #[error("unsupported incompatible feature(s): {bits:#x} ({names})")]
    UnsupportedIncompat { bits: u32, names: String },

    #[error("corrupt superblock: {0}")]
    BadSuperblock(String),

    #[error("image truncated: the filesystem needs {need} bytes but the image has only {have}")]
    Truncated { need: u64, have: u64 },

    #[error("group descriptor {group} corrupt: {what}")]
    BadGroupDesc { group: u64, what: String },

    #[error("inode {ino} out of range (the filesystem has {count} inodes)")]
    InodeOutOfRange { ino: Ino, count: u32 },

    #[error("inode {0} is not in use (free or in an uninitialized part of the inode table)")]
    InodeNotInUse(Ino),

    /// On-disk metadata belonging to one inode is inconsistent.
    #[error("inode {ino}: {what}")]
    Corrupt { ino: Ino, what: String },

    #[error("inode {0} is not a directory")]
    NotDir(Ino),

    #[error("inode {0} is not a symbolic link")]
    NotSymlink(Ino),

    /// `map_extent` on a file whose bytes live inside the inode (inline_data):
    /// there is no block of the image to map; use `read` instead.
    #[error("inode {0}: data is stored inline in the inode, not in blocks")]
    NotBlockMapped(Ino),
}

impl Ext4Error {
    pub(crate) fn corrupt(ino: Ino, what: impl Into<String>) -> Self {
        Ext4Error::Corrupt { ino, what: what.into() }
    }

    /// The errno a system call should fail with for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Ext4Error::Io(_) | Ext4Error::Truncated { .. } => libc::EIO,
            Ext4Error::NotDir(_) => libc::ENOTDIR,
            Ext4Error::NotSymlink(_) => libc::EINVAL,
            Ext4Error::InodeOutOfRange { .. } | Ext4Error::InodeNotInUse(_) => libc::ESTALE,
            Ext4Error::NotBlockMapped(_) => libc::ENODEV,
            Ext4Error::UnsupportedIncompat { .. } => libc::EINVAL,
            // Linux reports detected on-disk corruption as EFSCORRUPTED == EUCLEAN.
            Ext4Error::BadMagic(_)
            | Ext4Error::BadSuperblock(_)
            | Ext4Error::BadGroupDesc { .. }
            | Ext4Error::Corrupt { .. } => libc::EUCLEAN,
        }
    }
}
