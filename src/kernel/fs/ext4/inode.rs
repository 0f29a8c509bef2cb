//! On-disk layout of an inode (`struct ext4_inode` in fs/ext4/ext4.h; the
//! "Index Nodes" section of the ext4 disk layout docs).
//!
//! The first 128 bytes are the original ext2 inode. With inodes larger than
//! 128 bytes, `i_extra_isize` says how many further bytes hold fields added
//! later (nanosecond timestamps, creation time, checksum high half); the rest
//! of the inode is free space for in-inode extended attributes.

use super::bytes::{array, le16, le32};
use super::{Ext4Error, Ino};

// i_mode file types are st_mode's (S_IFMT).
pub use guest_abi::stat::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};

// i_flags
pub const EXT4_INDEX_FL: u32 = 0x0000_1000; // directory has an htree index
pub const EXT4_HUGE_FILE_FL: u32 = 0x0004_0000; // i_blocks counts fs blocks, not sectors
pub const EXT4_EXTENTS_FL: u32 = 0x0008_0000; // i_block holds an extent tree
pub const EXT4_EA_INODE_FL: u32 = 0x0020_0000; // inode holds a large xattr value
pub const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000; // data lives in i_block (+ "system.data")

/// Size of the original (ext2) inode; `i_extra_isize` counts from here.
pub const EXT4_GOOD_OLD_INODE_SIZE: usize = 128;
/// `i_block` is 15 32-bit words: 12 direct + 3 indirect block pointers, or an
/// extent tree root, or a fast symlink target, or inline data.
pub const I_BLOCK_LEN: usize = 60;
const I_BLOCK_OFF: usize = 0x28;

/// The inode as stored, before interpretation.
#[derive(Debug, Clone)]
pub struct DiskInode {
    pub i_mode: u16,
    pub i_uid: u32,
    pub i_gid: u32,
    pub i_size: u64,
    pub i_links_count: u16,
    pub i_blocks: u64,
    pub i_flags: u32,
    pub i_block: [u8; I_BLOCK_LEN],
    pub i_generation: u32,
    pub i_file_acl: u64,
    pub i_dtime: u32,
    pub i_extra_isize: u16,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub crtime: Option<(i64, u32)>,
    /// Bytes after `128 + i_extra_isize`: the in-inode xattr area.
    pub xattr_area: Vec<u8>,
}

/// Decode a 32-bit seconds field plus its optional `_extra` word: the low two
/// bits of `extra` extend the seconds past 2038, the upper 30 are nanoseconds
/// (`ext4_decode_extra_time` in fs/ext4/ext4.h).
fn decode_time(secs: u32, extra: Option<u32>) -> (i64, u32) {
    let mut s = i64::from(secs as i32);
    match extra {
        Some(x) => {
            s += i64::from(x & 3) << 32;
            (s, (x >> 2).min(999_999_999))
        }
        None => (s, 0),
    }
}

impl DiskInode {
    /// Parse `b`, which is exactly one on-disk inode of `s_inode_size` bytes.
    /// `largedir` and `huge_file` are superblock features that change how
    /// sizes are read.
    pub fn parse(
        ino: Ino,
        b: &[u8],
        largedir: bool,
        huge_file: bool,
    ) -> Result<DiskInode, Ext4Error> {
        if b.len() < EXT4_GOOD_OLD_INODE_SIZE {
            return Err(Ext4Error::corrupt(ino, format!("inode record only {} bytes", b.len())));
        }
        let i_mode = le16(b, 0x0);
        let i_flags = le32(b, 0x20);
        let mode = u32::from(i_mode);
        // i_size_high was i_dir_acl for directories before large_dir
        // (`ext4_isize` in fs/ext4/ext4.h).
        let size_hi =
            if mode & S_IFMT == S_IFREG || largedir { u64::from(le32(b, 0x6C)) << 32 } else { 0 };
        let i_extra_isize = if b.len() > EXT4_GOOD_OLD_INODE_SIZE { le16(b, 0x80) } else { 0 };
        let extra_end = EXT4_GOOD_OLD_INODE_SIZE + usize::from(i_extra_isize);
        if extra_end > b.len() || i_extra_isize % 4 != 0 {
            return Err(Ext4Error::corrupt(
                ino,
                format!("i_extra_isize {i_extra_isize} does not fit a {}-byte inode", b.len()),
            ));
        }
        // A field of the extra part exists only if i_extra_isize covers it
        // (EXT4_FITS_IN_INODE).
        let extra = |off: usize| {
            if off + 4 <= extra_end {
                Some(le32(b, off))
            } else {
                None
            }
        };
        // i_blocks_high only counts with huge_file; then EXT4_HUGE_FILE_FL says
        // the unit is filesystem blocks rather than 512-byte sectors (the
        // caller scales it, knowing the block size).
        let mut i_blocks = u64::from(le32(b, 0x1C));
        if huge_file {
            i_blocks |= u64::from(le16(b, 0x74)) << 32;
        }
        Ok(DiskInode {
            i_mode,
            i_uid: u32::from(le16(b, 0x2)) | u32::from(le16(b, 0x78)) << 16,
            i_gid: u32::from(le16(b, 0x18)) | u32::from(le16(b, 0x7A)) << 16,
            i_size: u64::from(le32(b, 0x4)) | size_hi,
            i_links_count: le16(b, 0x1A),
            i_blocks,
            i_flags,
            i_block: array(b, I_BLOCK_OFF),
            i_generation: le32(b, 0x64),
            i_file_acl: u64::from(le32(b, 0x68)) | u64::from(le16(b, 0x76)) << 32,
            i_dtime: le32(b, 0x14),
            i_extra_isize,
            atime: decode_time(le32(b, 0x8), extra(0x8C)),
            ctime: decode_time(le32(b, 0xC), extra(0x84)),
            mtime: decode_time(le32(b, 0x10), extra(0x88)),
            crtime: extra(0x90).map(|c| decode_time(c, extra(0x94))),
            xattr_area: b.get(extra_end..).unwrap_or(&[]).to_vec(),
        })
    }

    pub fn mode(&self) -> u32 {
        u32::from(self.i_mode)
    }
    pub fn file_type(&self) -> u32 {
        self.mode() & S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }
    pub fn has_flag(&self, fl: u32) -> bool {
        self.i_flags & fl != 0
    }
    /// The `i`-th 32-bit word of `i_block`.
    pub fn block_word(&self, i: usize) -> u32 {
        le32(&self.i_block, i * 4)
    }

    /// Device number of a character or block special file. Old encoding: 8-bit
    /// major and minor in `i_block[0]`; new (Linux 2.6+) encoding in
    /// `i_block[1]` when `i_block[0]` is 0 (`ext4_iget` / `new_decode_dev`).
    pub fn rdev(&self) -> (u32, u32) {
        let old = self.block_word(0);
        if old != 0 {
            ((old >> 8) & 0xff, old & 0xff)
        } else {
            let d = self.block_word(1);
            ((d & 0xfff00) >> 8, (d & 0xff) | ((d >> 12) & 0xfff00))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_time_decoding() {
        assert_eq!(decode_time(5, None), (5, 0));
        // epoch bits 01 push the date past 2038; nanoseconds in the top 30 bits.
        assert_eq!(decode_time(0, Some((7 << 2) | 1)), (1 << 32, 7));
        assert_eq!(decode_time(u32::MAX, Some(0)), (-1, 0));
    }

    #[test]
    fn short_inode_is_an_error() {
        assert!(DiskInode::parse(12, &[0u8; 64], false, false).is_err());
    }

    #[test]
    fn bad_extra_isize_is_an_error() {
        let mut b = vec![0u8; 256];
        b[0x80] = 200; // 128 + 200 > 256
        let e = DiskInode::parse(12, &b, false, false).unwrap_err();
        assert!(e.to_string().contains("inode 12: i_extra_isize 200"), "{e}");
    }
}
