//! On-disk layout of directories (`struct ext4_dir_entry_2` and the
//! `dx_*` htree structures in fs/ext4/ext4.h and fs/ext4/namei.c; "Directory
//! Entries" in the ext4 disk layout docs).
//!
//! A directory's data is a sequence of blocks, each filled exactly by a chain
//! of variable-length entries: inode (0 = unused slot), `rec_len` (bytes to
//! the next entry), name length, file type, name. The last entry of a block
//! stretches to the block's end. With metadata_csum each block ends in a
//! 12-byte fake entry with inode 0 holding the checksum.
//!
//! An htree (dir_index) directory keeps that linear format, so plain readers
//! still work, and hides a B-tree keyed on a hash of the name inside entries
//! that linear readers skip: block 0 holds "." and a ".." entry whose
//! `rec_len` covers the rest of the block, and the index root sits in that
//! space; interior index blocks are one empty entry spanning the block.

use super::bytes::{le16, le32, u8_at};

/// Fixed part of a directory entry.
pub const DIRENT_HEADER_LEN: usize = 8;

/// One raw directory entry, borrowed from its block.
#[derive(Debug, Clone, Copy)]
pub struct RawDirEntry<'a> {
    pub inode: u32,
    pub rec_len: usize,
    pub name: &'a [u8],
    /// `EXT4_FT_*` (0 when the filesystem lacks the filetype feature).
    pub file_type: u8,
}

/// Smallest legal `rec_len` for a name of `name_len` bytes: header + name,
/// rounded up to 4 (`EXT4_DIR_REC_LEN`).
pub fn min_rec_len(name_len: usize) -> usize {
    (DIRENT_HEADER_LEN + name_len + 3) & !3
}

/// `rec_len` as stored is 16 bits; 64 KiB blocks encode their full length
/// in the low bits (`ext4_rec_len_from_disk`).
fn rec_len_from_disk(raw: u16, block_size: usize) -> usize {
    let len = usize::from(raw);
    if block_size < 65536 {
        len
    } else if raw == 65535 || raw == 0 {
        block_size
    } else {
        (len & 65532) | ((len & 3) << 16)
    }
}

/// Parse the entry at `off` of `block` (a chunk of `block.len()` bytes that
/// entries must not cross). Checks what `ext4_check_dir_entry`
/// (fs/ext4/dir.c) checks, so that a walk always moves forward and stays in
/// the block; returns why the entry is corrupt otherwise.
pub fn parse_dirent(block: &[u8], off: usize, filetype: bool) -> Result<RawDirEntry<'_>, String> {
    if off.checked_add(DIRENT_HEADER_LEN).is_none_or(|end| end > block.len()) {
        return Err(format!("directory entry at byte {off} overruns its block"));
    }
    let inode = le32(block, off);
    let rec_len = rec_len_from_disk(le16(block, off + 4), block.len());
    // Without the filetype feature the name length is a 16-bit field.
    let (name_len, file_type) = if filetype {
        (usize::from(u8_at(block, off + 6)), u8_at(block, off + 7))
    } else {
        (usize::from(le16(block, off + 6)), 0)
    };
    if rec_len < min_rec_len(1) || !rec_len.is_multiple_of(4) {
        return Err(format!("directory entry at byte {off} has rec_len {rec_len}"));
    }
    if rec_len < min_rec_len(name_len) {
        return Err(format!(
            "directory entry at byte {off}: rec_len {rec_len} too small for name_len {name_len}"
        ));
    }
    if off + rec_len > block.len() {
        return Err(format!(
            "directory entry at byte {off}: rec_len {rec_len} runs past the block end"
        ));
    }
    let name =
        block.get(off + DIRENT_HEADER_LEN..off + DIRENT_HEADER_LEN + name_len).unwrap_or(&[]);
    Ok(RawDirEntry { inode, rec_len, name, file_type })
}

/// Map `EXT4_FT_*` to the `DT_*` value getdents reports.
pub fn ft_to_dt(ft: u8) -> u8 {
    match ft {
        1 => 8,  // regular file
        2 => 4,  // directory
        3 => 2,  // character device
        4 => 6,  // block device
        5 => 1,  // fifo
        6 => 12, // socket
        7 => 10, // symlink
        _ => 0,
    }
}

// ---- htree (dir_index) ----

/// `struct dx_root_info`, 8 bytes at offset 24 of block 0 (after the "."
/// entry of 12 bytes and the header and name of "..", 12 bytes).
#[derive(Debug, Clone, Copy)]
pub struct DxRootInfo {
    pub hash_version: u8,
    pub info_length: u8,
    pub indirect_levels: u8,
}

pub const DX_ROOT_INFO_OFF: usize = 24;

impl DxRootInfo {
    pub fn parse(block0: &[u8]) -> DxRootInfo {
        DxRootInfo {
            hash_version: u8_at(block0, DX_ROOT_INFO_OFF + 4),
            info_length: u8_at(block0, DX_ROOT_INFO_OFF + 5),
            indirect_levels: u8_at(block0, DX_ROOT_INFO_OFF + 6),
        }
    }
}

/// The entries of one index node: `limit` and `count` (`struct
/// dx_countlimit`) overlay the hash field of entry 0, whose hash is
/// implicitly 0; each entry is (hash, logical block of the child).
#[derive(Debug, Clone)]
pub struct DxNode {
    pub entries: Vec<(u32, u32)>,
}

impl DxNode {
    /// Parse the node whose count/limit header starts at `off` in `block`.
    pub fn parse(block: &[u8], off: usize) -> Result<DxNode, String> {
        let limit = usize::from(le16(block, off));
        let count = usize::from(le16(block, off + 2));
        let room = block.len().saturating_sub(off) / 8;
        if count == 0 || count > limit || limit > room {
            return Err(format!("htree node corrupt (count {count}, limit {limit}, room {room})"));
        }
        let entries = (0..count)
            .map(|i| {
                let e = off + i * 8;
                (if i == 0 { 0 } else { le32(block, e) }, le32(block, e + 4))
            })
            .collect();
        Ok(DxNode { entries })
    }

    /// Index of the child that may hold `hash`: the last entry whose hash is
    /// <= `hash` (`dx_probe`'s binary search).
    pub fn child_for(&self, hash: u32) -> usize {
        self.entries.partition_point(|&(h, _)| h <= hash).saturating_sub(1)
    }
}

// ---- directory name hashes (fs/ext4/hash.c) ----

pub const DX_HASH_LEGACY: u8 = 0;
pub const DX_HASH_HALF_MD4: u8 = 1;
pub const DX_HASH_TEA: u8 = 2;
pub const DX_HASH_LEGACY_UNSIGNED: u8 = 3;
pub const DX_HASH_HALF_MD4_UNSIGNED: u8 = 4;
pub const DX_HASH_TEA_UNSIGNED: u8 = 5;

/// The old "dx_hack_hash". `signed` selects how bytes >= 0x80 are widened,
/// which depended on the creating machine's `char`.
fn legacy_hash(name: &[u8], signed: bool) -> u32 {
    let (mut hash0, mut hash1) = (0x12a3_fe2du32, 0x37ab_e8f9u32);
    for &c in name {
        let c = if signed { c as i8 as i32 as u32 } else { u32::from(c) };
        let mut hash = hash1.wrapping_add(hash0 ^ c.wrapping_mul(7_152_373));
        if hash & 0x8000_0000 != 0 {
            hash = hash.wrapping_sub(0x7fff_ffff);
        }
        hash1 = hash0;
        hash0 = hash;
    }
    hash0 << 1
}

/// Pack up to `4 * num` bytes of `msg` into `num` words, padding with a
/// length-derived pattern (`str2hashbuf_signed/unsigned`).
fn str2hashbuf(msg: &[u8], num: usize, signed: bool) -> [u32; 8] {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut out = [pad; 8];
    let mut val = pad;
    let take = msg.len().min(num * 4);
    let mut w = 0;
    for (i, &c) in msg.iter().take(take).enumerate() {
        let c = if signed { c as i8 as i32 as u32 } else { u32::from(c) };
        val = c.wrapping_add(val << 8);
        if i % 4 == 3 {
            out[w] = val;
            w += 1;
            val = pad;
        }
    }
    if w < num {
        out[w] = val;
    }
    out
}

fn half_md4_transform(buf: &mut [u32; 4], inp: &[u32; 8]) {
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let [mut a, mut b, mut c, mut d] = *buf;
    macro_rules! round {
        ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x).rotate_left($s);
        };
    }
    round!(f, a, b, c, d, inp[0], 3);
    round!(f, d, a, b, c, inp[1], 7);
    round!(f, c, d, a, b, inp[2], 11);
    round!(f, b, c, d, a, inp[3], 19);
    round!(f, a, b, c, d, inp[4], 3);
    round!(f, d, a, b, c, inp[5], 7);
    round!(f, c, d, a, b, inp[6], 11);
    round!(f, b, c, d, a, inp[7], 19);

    round!(g, a, b, c, d, inp[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, inp[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[6].wrapping_add(K2), 13);

    round!(h, a, b, c, d, inp[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, inp[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[4].wrapping_add(K3), 15);

    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

fn tea_transform(buf: &mut [u32; 4], inp: &[u32; 8]) {
    const DELTA: u32 = 0x9E37_79B9;
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let (a, b, c, d) = (inp[0], inp[1], inp[2], inp[3]);
    let mut sum = 0u32;
    for _ in 0..16 {
        sum = sum.wrapping_add(DELTA);
        b0 = b0.wrapping_add(
            (b1 << 4).wrapping_add(a) ^ b1.wrapping_add(sum) ^ (b1 >> 5).wrapping_add(b),
        );
        b1 = b1.wrapping_add(
            (b0 << 4).wrapping_add(c) ^ b0.wrapping_add(sum) ^ (b0 >> 5).wrapping_add(d),
        );
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

/// The major hash of `name` under `version` (already adjusted for the
/// unsigned flavour) and `seed` (`s_hash_seed`); None for a hash we do not
/// implement (siphash, used only by casefolded encrypted directories).
pub fn dx_hash(name: &[u8], version: u8, seed: &[u32; 4]) -> Option<u32> {
    let mut buf = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    if seed.iter().any(|&w| w != 0) {
        buf = *seed;
    }
    let hash = match version {
        DX_HASH_LEGACY => legacy_hash(name, true),
        DX_HASH_LEGACY_UNSIGNED => legacy_hash(name, false),
        DX_HASH_HALF_MD4 | DX_HASH_HALF_MD4_UNSIGNED => {
            let signed = version == DX_HASH_HALF_MD4;
            // 32 bytes per round; the padding uses the length still left.
            for p in (0..name.len()).step_by(32) {
                half_md4_transform(&mut buf, &str2hashbuf(name.get(p..).unwrap_or(&[]), 8, signed));
            }
            buf[1]
        }
        DX_HASH_TEA | DX_HASH_TEA_UNSIGNED => {
            let signed = version == DX_HASH_TEA;
            for p in (0..name.len()).step_by(16) {
                tea_transform(&mut buf, &str2hashbuf(name.get(p..).unwrap_or(&[]), 4, signed));
            }
            buf[0]
        }
        _ => return None,
    };
    let hash = hash & !1;
    // EXT4_HTREE_EOF_32BIT << 1 is reserved as the end-of-directory marker.
    Some(if hash == 0x7fff_ffff << 1 { (0x7fff_ffff - 1) << 1 } else { hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_rejects_zero_rec_len() {
        let mut b = vec![0u8; 1024];
        b[0] = 11;
        b[6] = 1;
        b[8] = b'a';
        assert!(parse_dirent(&b, 0, true).unwrap_err().contains("rec_len 0"));
        b[4..6].copy_from_slice(&2000u16.to_le_bytes());
        assert!(parse_dirent(&b, 0, true).unwrap_err().contains("past the block end"));
        b[4..6].copy_from_slice(&1024u16.to_le_bytes());
        let e = parse_dirent(&b, 0, true).unwrap();
        assert_eq!((e.inode, e.rec_len, e.name), (11, 1024, &b"a"[..]));
        assert!(parse_dirent(&b, 1020, true).is_err());
        assert!(parse_dirent(&b, usize::MAX - 3, true).is_err());
    }

    #[test]
    fn dx_child_search() {
        let n = DxNode { entries: vec![(0, 1), (100, 2), (200, 3)] };
        assert_eq!(n.child_for(0), 0);
        assert_eq!(n.child_for(99), 0);
        assert_eq!(n.child_for(100), 1);
        assert_eq!(n.child_for(u32::MAX), 2);
    }

    #[test]
    fn hashes_are_even_and_deterministic() {
        for v in 0..6 {
            let h = dx_hash(b"hello", v, &[0; 4]).unwrap();
            assert_eq!(h & 1, 0);
            assert_eq!(Some(h), dx_hash(b"hello", v, &[0; 4]));
        }
        assert_eq!(dx_hash(b"x", 6, &[0; 4]), None);
    }
}
