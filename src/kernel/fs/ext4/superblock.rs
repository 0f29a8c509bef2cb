//! On-disk layout of the superblock and the block group descriptors
//! (`struct ext4_super_block` and `struct ext4_group_desc` in
//! `fs/ext4/ext4.h`; "Super Block" and "Block Group Descriptors" in the
//! kernel's Documentation/filesystems/ext4/ disk layout docs).
//!
//! Parsing only: these functions turn bytes into typed fields and check the
//! fields against each other; what to do with them lives in `mod.rs`.

use super::bytes::{array, le16, le32, u8_at};
use super::Ext4Error;

/// The primary superblock always starts 1024 bytes into the image, whatever
/// the block size (the first 1024 bytes are left for a boot loader).
pub const SUPERBLOCK_OFFSET: u64 = 1024;
pub const SUPERBLOCK_SIZE: usize = 1024;
pub const EXT4_SUPER_MAGIC: u16 = 0xEF53;

// s_feature_compat: may be ignored by a reader that does not know them.
pub const COMPAT_DIR_INDEX: u32 = 0x0020;
pub const COMPAT_SPARSE_SUPER2: u32 = 0x0200;

// s_feature_ro_compat: only writers must refuse unknown ones; we read only.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
pub const RO_COMPAT_GDT_CSUM: u32 = 0x0010;
pub const RO_COMPAT_BIGALLOC: u32 = 0x0200;
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x0400;

// s_feature_incompat: a reader that does not understand one must refuse the
// filesystem, because the on-disk format of something it reads changed.
pub const INCOMPAT_COMPRESSION: u32 = 0x0001;
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
pub const INCOMPAT_RECOVER: u32 = 0x0004;
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
pub const INCOMPAT_META_BG: u32 = 0x0010;
pub const INCOMPAT_EXTENTS: u32 = 0x0040;
pub const INCOMPAT_64BIT: u32 = 0x0080;
pub const INCOMPAT_MMP: u32 = 0x0100;
pub const INCOMPAT_FLEX_BG: u32 = 0x0200;
pub const INCOMPAT_EA_INODE: u32 = 0x0400;
pub const INCOMPAT_DIRDATA: u32 = 0x1000;
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;
pub const INCOMPAT_INLINE_DATA: u32 = 0x8000;
pub const INCOMPAT_ENCRYPT: u32 = 0x10000;
pub const INCOMPAT_CASEFOLD: u32 = 0x20000;

/// The INCOMPAT features this driver reads correctly. RECOVER (the journal
/// holds transactions not yet replayed) is accepted: a read-only reader sees
/// the state as of the last checkpoint, which is consistent, merely older.
pub const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_RECOVER
    | INCOMPAT_META_BG
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_MMP
    | INCOMPAT_FLEX_BG
    | INCOMPAT_EA_INODE
    | INCOMPAT_CSUM_SEED
    | INCOMPAT_LARGEDIR
    | INCOMPAT_INLINE_DATA;

const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (INCOMPAT_COMPRESSION, "compression"),
    (INCOMPAT_FILETYPE, "filetype"),
    (INCOMPAT_RECOVER, "needs_recovery"),
    (INCOMPAT_JOURNAL_DEV, "journal_dev"),
    (INCOMPAT_META_BG, "meta_bg"),
    (INCOMPAT_EXTENTS, "extent"),
    (INCOMPAT_64BIT, "64bit"),
    (INCOMPAT_MMP, "mmp"),
    (INCOMPAT_FLEX_BG, "flex_bg"),
    (INCOMPAT_EA_INODE, "ea_inode"),
    (INCOMPAT_DIRDATA, "dirdata"),
    (INCOMPAT_CSUM_SEED, "metadata_csum_seed"),
    (INCOMPAT_LARGEDIR, "large_dir"),
    (INCOMPAT_INLINE_DATA, "inline_data"),
    (INCOMPAT_ENCRYPT, "encrypt"),
    (INCOMPAT_CASEFOLD, "casefold"),
];

/// Human names of the bits in `bits` (unknown bits as hex).
pub fn incompat_names(bits: u32) -> String {
    let mut names = Vec::new();
    let mut rest = bits;
    for &(bit, name) in INCOMPAT_NAMES {
        if bits & bit != 0 {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    for i in 0..32 {
        if rest & (1 << i) != 0 {
            names.push(format!("unknown {:#x}", 1u32 << i));
        }
    }
    names.join(", ")
}

/// s_flags: which flavour of the legacy/half_md4/tea directory hashes this
/// filesystem was created with (char signedness of the creating machine).
pub const EXT2_FLAGS_UNSIGNED_HASH: u32 = 0x0002;

/// The fields of `struct ext4_super_block` this driver uses.
#[derive(Debug, Clone)]
pub struct SuperBlock {
    pub s_inodes_count: u32,
    pub s_blocks_count: u64,
    pub s_free_blocks_count: u64,
    pub s_free_inodes_count: u32,
    pub s_first_data_block: u32,
    pub s_log_block_size: u32,
    pub s_log_cluster_size: u32,
    pub s_blocks_per_group: u32,
    pub s_inodes_per_group: u32,
    pub s_magic: u16,
    pub s_rev_level: u32,
    pub s_first_ino: u32,
    pub s_inode_size: u16,
    pub s_feature_compat: u32,
    pub s_feature_incompat: u32,
    pub s_feature_ro_compat: u32,
    pub s_uuid: [u8; 16],
    pub s_volume_name: [u8; 16],
    pub s_hash_seed: [u32; 4],
    pub s_def_hash_version: u8,
    pub s_desc_size: u16,
    pub s_first_meta_bg: u32,
    pub s_min_extra_isize: u16,
    pub s_flags: u32,
    pub s_backup_bgs: [u32; 2],
}

impl SuperBlock {
    /// Parse the 1024 bytes at `SUPERBLOCK_OFFSET`. Only the magic is checked
    /// here; `validate` checks the geometry.
    pub fn parse(b: &[u8]) -> Result<SuperBlock, Ext4Error> {
        if b.len() < SUPERBLOCK_SIZE {
            return Err(Ext4Error::BadSuperblock(format!("only {} bytes", b.len())));
        }
        let s_magic = le16(b, 0x38);
        if s_magic != EXT4_SUPER_MAGIC {
            return Err(Ext4Error::BadMagic(s_magic));
        }
        let incompat = le32(b, 0x60);
        let hi = |off| {
            if incompat & INCOMPAT_64BIT != 0 {
                u64::from(le32(b, off)) << 32
            } else {
                0
            }
        };
        let s_rev_level = le32(b, 0x4C);
        // Revision 0 ("good old") filesystems have fixed inode size and first inode.
        let (s_first_ino, s_inode_size) =
            if s_rev_level == 0 { (11, 128) } else { (le32(b, 0x54), le16(b, 0x58)) };
        Ok(SuperBlock {
            s_inodes_count: le32(b, 0x0),
            s_blocks_count: u64::from(le32(b, 0x4)) | hi(0x150),
            s_free_blocks_count: u64::from(le32(b, 0xC)) | hi(0x158),
            s_free_inodes_count: le32(b, 0x10),
            s_first_data_block: le32(b, 0x14),
            s_log_block_size: le32(b, 0x18),
            s_log_cluster_size: le32(b, 0x1C),
            s_blocks_per_group: le32(b, 0x20),
            s_inodes_per_group: le32(b, 0x28),
            s_magic,
            s_rev_level,
            s_first_ino,
            s_inode_size,
            s_feature_compat: le32(b, 0x5C),
            s_feature_incompat: incompat,
            s_feature_ro_compat: le32(b, 0x64),
            s_uuid: array(b, 0x68),
            s_volume_name: array(b, 0x78),
            s_hash_seed: [le32(b, 0xEC), le32(b, 0xF0), le32(b, 0xF4), le32(b, 0xF8)],
            s_def_hash_version: u8_at(b, 0xFC),
            s_desc_size: le16(b, 0xFE),
            s_first_meta_bg: le32(b, 0x104),
            s_min_extra_isize: le16(b, 0x15C),
            s_flags: le32(b, 0x160),
            s_backup_bgs: [le32(b, 0x24C), le32(b, 0x250)],
        })
    }

    pub fn has_incompat(&self, bit: u32) -> bool {
        self.s_feature_incompat & bit != 0
    }
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.s_feature_ro_compat & bit != 0
    }
    pub fn has_compat(&self, bit: u32) -> bool {
        self.s_feature_compat & bit != 0
    }

    /// Check features and geometry; returns the derived `Geometry`.
    /// `dev_size` is the image size in bytes.
    pub fn validate(&self, dev_size: u64) -> Result<Geometry, Ext4Error> {
        let unknown = self.s_feature_incompat & !INCOMPAT_SUPPORTED;
        if unknown != 0 {
            return Err(Ext4Error::UnsupportedIncompat {
                bits: unknown,
                names: incompat_names(unknown),
            });
        }
        let bad = |what: String| Err(Ext4Error::BadSuperblock(what));
        // ext4 allows 1 KiB .. 64 KiB blocks (EXT4_MAX_BLOCK_LOG_SIZE = 16).
        if self.s_log_block_size > 6 {
            return bad(format!("block size 2^(10+{}) is too large", self.s_log_block_size));
        }
        let block_size = 1024u32 << self.s_log_block_size;
        let bs = u64::from(block_size);
        // With bigalloc, blocks are allocated in clusters of 2^n blocks.
        let cluster_bits = if self.has_ro_compat(RO_COMPAT_BIGALLOC) {
            match self.s_log_cluster_size.checked_sub(self.s_log_block_size) {
                Some(n) if n <= 16 => n,
                _ => return bad(format!("s_log_cluster_size {}", self.s_log_cluster_size)),
            }
        } else {
            0
        };
        if self.s_blocks_per_group == 0
            || u64::from(self.s_blocks_per_group) > (bs * 8) << cluster_bits
        {
            // One block bitmap (block_size * 8 bits, one per cluster) covers a group.
            return bad(format!(
                "s_blocks_per_group {} (block size {block_size})",
                self.s_blocks_per_group
            ));
        }
        if self.s_inodes_per_group == 0 || u64::from(self.s_inodes_per_group) > bs * 8 {
            return bad(format!("s_inodes_per_group {}", self.s_inodes_per_group));
        }
        let isz = self.s_inode_size;
        if isz < 128 || !isz.is_power_of_two() || u32::from(isz) > block_size {
            return bad(format!("s_inode_size {isz}"));
        }
        if u64::from(self.s_first_data_block) >= self.s_blocks_count {
            return bad(format!(
                "s_first_data_block {} is not below s_blocks_count {}",
                self.s_first_data_block, self.s_blocks_count
            ));
        }
        let need = self.s_blocks_count.checked_mul(bs).ok_or_else(|| {
            Ext4Error::BadSuperblock(format!("s_blocks_count {} overflows", self.s_blocks_count))
        })?;
        if need > dev_size {
            return Err(Ext4Error::Truncated { need, have: dev_size });
        }
        let groups = (self.s_blocks_count - u64::from(self.s_first_data_block))
            .div_ceil(u64::from(self.s_blocks_per_group));
        if u64::from(self.s_inodes_count)
            > groups.saturating_mul(u64::from(self.s_inodes_per_group))
        {
            return bad(format!(
                "s_inodes_count {} exceeds {groups} groups of {} inodes",
                self.s_inodes_count, self.s_inodes_per_group
            ));
        }
        let desc_size = if self.has_incompat(INCOMPAT_64BIT) {
            let d = self.s_desc_size;
            // EXT4_MIN_DESC_SIZE_64BIT .. EXT4_MAX_DESC_SIZE (fs/ext4/super.c).
            if !(64..=1024).contains(&d) || !d.is_power_of_two() || u32::from(d) > block_size {
                return bad(format!("s_desc_size {d}"));
            }
            u32::from(d)
        } else {
            32
        };
        Ok(Geometry {
            block_size,
            cluster_size: u64::from(block_size) << cluster_bits,
            groups,
            desc_size,
            descs_per_block: block_size / desc_size,
        })
    }

    /// Does block group `group` carry a backup superblock (and group
    /// descriptors)? See `ext4_bg_has_super` in fs/ext4/balloc.c.
    pub fn group_has_super(&self, group: u64) -> bool {
        if group == 0 {
            return true;
        }
        if self.has_compat(COMPAT_SPARSE_SUPER2) {
            return group == u64::from(self.s_backup_bgs[0])
                || group == u64::from(self.s_backup_bgs[1]);
        }
        if group <= 1 || !self.has_ro_compat(RO_COMPAT_SPARSE_SUPER) {
            return true;
        }
        if group & 1 == 0 {
            return false;
        }
        let is_power = |base: u64| {
            let mut n = group;
            while n.is_multiple_of(base) {
                n /= base;
            }
            n == 1
        };
        is_power(3) || is_power(5) || is_power(7)
    }
}

/// Numbers derived from the superblock once it has been validated.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub block_size: u32,
    /// Allocation unit: the block size, or 2^n blocks with bigalloc.
    pub cluster_size: u64,
    pub groups: u64,
    pub desc_size: u32,
    pub descs_per_block: u32,
}

/// bg_flags: the group's inode table has never been initialized.
pub const EXT4_BG_INODE_UNINIT: u16 = 0x0001;

/// The fields of `struct ext4_group_desc` this driver uses.
#[derive(Debug, Clone, Copy)]
pub struct GroupDesc {
    pub bg_inode_table: u64,
    pub bg_flags: u16,
    pub bg_itable_unused: u32,
}

impl GroupDesc {
    /// Parse one descriptor of `desc_size` bytes (32, or more with 64bit,
    /// in which case the `_hi` halves follow the first 32 bytes).
    pub fn parse(b: &[u8], desc_size: u32) -> GroupDesc {
        let wide = desc_size >= 64;
        let hi32 = |off| {
            if wide {
                u64::from(le32(b, off)) << 32
            } else {
                0
            }
        };
        let hi16 = |off| {
            if wide {
                u32::from(le16(b, off)) << 16
            } else {
                0
            }
        };
        GroupDesc {
            bg_inode_table: u64::from(le32(b, 0x8)) | hi32(0x28),
            bg_flags: le16(b, 0x12),
            bg_itable_unused: u32::from(le16(b, 0x1C)) | hi16(0x32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incompat_names_lists_known_and_unknown_bits() {
        assert_eq!(incompat_names(INCOMPAT_ENCRYPT | 0x8000_0000), "encrypt, unknown 0x80000000");
    }

    #[test]
    fn sparse_super_backup_groups() {
        let mut b = vec![0u8; 1024];
        b[0x38..0x3A].copy_from_slice(&EXT4_SUPER_MAGIC.to_le_bytes());
        b[0x64] = RO_COMPAT_SPARSE_SUPER as u8;
        let sb = SuperBlock::parse(&b).unwrap();
        let with: Vec<u64> = (0..50).filter(|&g| sb.group_has_super(g)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49]);
    }
}
