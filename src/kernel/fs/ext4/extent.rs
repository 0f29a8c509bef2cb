//! On-disk layout of extent trees (`struct ext4_extent_header`,
//! `ext4_extent_idx`, `ext4_extent` in fs/ext4/ext4_extents.h; "Extent Tree"
//! in the ext4 disk layout docs).
//!
//! A node is a 12-byte header followed by 12-byte entries. The root node
//! lives in the inode's 60-byte `i_block` (room for 4 entries); deeper nodes
//! fill whole blocks. In an index node (`eh_depth > 0`) each entry points to
//! the child covering logical blocks from `ei_block` on; in a leaf
//! (`eh_depth == 0`) each entry maps `ee_len` logical blocks starting at
//! `ee_block` to physical blocks starting at `ee_start`.

use super::bytes::{le16, le32};

pub const EXT4_EXT_MAGIC: u16 = 0xF30A;
pub const EXTENT_HEADER_LEN: usize = 12;
pub const EXTENT_ENTRY_LEN: usize = 12;
/// The kernel never builds a tree deeper than 5 (`EXT4_MAX_EXTENT_DEPTH`);
/// anything deeper is corruption, and bounding it bounds our walk.
pub const EXT4_MAX_EXTENT_DEPTH: u16 = 5;
/// `ee_len` above this marks an uninitialized (preallocated) extent whose
/// real length is `ee_len - EXT_INIT_MAX_LEN`; it reads as zeros.
pub const EXT_INIT_MAX_LEN: u16 = 1 << 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentHeader {
    pub eh_magic: u16,
    pub eh_entries: u16,
    pub eh_max: u16,
    pub eh_depth: u16,
}

impl ExtentHeader {
    pub fn parse(b: &[u8]) -> ExtentHeader {
        ExtentHeader {
            eh_magic: le16(b, 0),
            eh_entries: le16(b, 2),
            eh_max: le16(b, 4),
            eh_depth: le16(b, 6),
        }
    }

    /// Check the header against the node it sits in (`node_len` bytes) and
    /// the depth its parent promised; returns why it is corrupt, if it is
    /// (compare `ext4_ext_check` in fs/ext4/extents.c).
    pub fn check(&self, node_len: usize, want_depth: Option<u16>) -> Result<(), String> {
        if self.eh_magic != EXT4_EXT_MAGIC {
            return Err(format!("extent header corrupt (bad magic {:#06x})", self.eh_magic));
        }
        let room = node_len.saturating_sub(EXTENT_HEADER_LEN) / EXTENT_ENTRY_LEN;
        if usize::from(self.eh_max) > room || self.eh_entries > self.eh_max {
            return Err(format!(
                "extent header corrupt ({} entries, max {}, room for {room})",
                self.eh_entries, self.eh_max
            ));
        }
        if self.eh_depth > EXT4_MAX_EXTENT_DEPTH {
            return Err(format!(
                "extent header corrupt (depth {} > {EXT4_MAX_EXTENT_DEPTH})",
                self.eh_depth
            ));
        }
        if let Some(d) = want_depth {
            if self.eh_depth != d {
                return Err(format!(
                    "extent header corrupt (depth {} where {d} expected)",
                    self.eh_depth
                ));
            }
        }
        Ok(())
    }
}

/// A leaf entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub ee_block: u32,
    /// Length in blocks, uninitialized marker removed.
    pub len: u16,
    pub uninit: bool,
    pub ee_start: u64,
}

impl Extent {
    /// Parse leaf entry `i` of the node `b`.
    pub fn parse(b: &[u8], i: usize) -> Extent {
        let o = EXTENT_HEADER_LEN + i * EXTENT_ENTRY_LEN;
        let raw_len = le16(b, o + 4);
        let (len, uninit) = if raw_len > EXT_INIT_MAX_LEN {
            (raw_len - EXT_INIT_MAX_LEN, true)
        } else {
            (raw_len, false)
        };
        Extent {
            ee_block: le32(b, o),
            len,
            uninit,
            ee_start: u64::from(le16(b, o + 6)) << 32 | u64::from(le32(b, o + 8)),
        }
    }
}

/// An index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentIdx {
    pub ei_block: u32,
    pub ei_leaf: u64,
}

impl ExtentIdx {
    pub fn parse(b: &[u8], i: usize) -> ExtentIdx {
        let o = EXTENT_HEADER_LEN + i * EXTENT_ENTRY_LEN;
        ExtentIdx {
            ei_block: le32(b, o),
            ei_leaf: u64::from(le16(b, o + 8)) << 32 | u64::from(le32(b, o + 4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let mut node = [0u8; 60];
        node[0..2].copy_from_slice(&EXT4_EXT_MAGIC.to_le_bytes());
        node[2] = 1; // entries
        node[4] = 4; // max
        assert!(ExtentHeader::parse(&node).check(60, Some(0)).is_ok());
        node[4] = 5; // 5 entries do not fit in 60 bytes
        assert!(ExtentHeader::parse(&node).check(60, None).unwrap_err().contains("room for 4"));
        node[4] = 4;
        node[6] = 9;
        assert!(ExtentHeader::parse(&node).check(60, None).unwrap_err().contains("depth 9"));
        node[0] = 0;
        assert!(ExtentHeader::parse(&node).check(60, None).unwrap_err().contains("bad magic"));
    }

    #[test]
    fn uninit_extent_length() {
        let mut node = [0u8; 24];
        node[12..16].copy_from_slice(&7u32.to_le_bytes());
        node[16..18].copy_from_slice(&(EXT_INIT_MAX_LEN + 3).to_le_bytes());
        node[20..24].copy_from_slice(&100u32.to_le_bytes());
        let e = Extent::parse(&node, 0);
        assert_eq!(e, Extent { ee_block: 7, len: 3, uninit: true, ee_start: 100 });
    }
}
