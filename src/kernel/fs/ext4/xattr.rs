//! On-disk layout of extended attributes (`struct ext4_xattr_entry`,
//! `ext4_xattr_header`, `ext4_xattr_ibody_header` in fs/ext4/xattr.h;
//! "Extended Attributes" in the ext4 disk layout docs).
//!
//! Attributes live in two places: the free space at the end of a large inode
//! (after `i_extra_isize`), starting with a 4-byte magic, and one external
//! block named by `i_file_acl`, starting with a 32-byte header. Both hold a
//! list of entries growing down from the start, terminated by four zero
//! bytes, and values packed at the end. Entry value offsets count from the
//! first entry (in-inode) or from the block start (external block). A value
//! too big for either can live in its own inode (ea_inode feature).

use super::bytes::{le16, le32, u8_at};

pub const EXT4_XATTR_MAGIC: u32 = 0xEA02_0000;
/// External block header size (`struct ext4_xattr_header`).
pub const XATTR_BLOCK_HEADER_LEN: usize = 32;
const ENTRY_HEADER_LEN: usize = 16;

/// One attribute entry as stored.
#[derive(Debug, Clone)]
pub struct XattrEntry {
    pub e_name_index: u8,
    pub name: Vec<u8>,
    pub e_value_offs: usize,
    /// Nonzero: the value is the content of this inode (ea_inode).
    pub e_value_inum: u32,
    pub e_value_size: usize,
}

impl XattrEntry {
    /// Full attribute name as userspace sees it ("user.foo"), or None for
    /// namespaces Linux does not list (e.g. "system.data", encryption).
    pub fn full_name(&self) -> Option<Vec<u8>> {
        // The name-index table of fs/ext4/xattr.c (ext4_xattr_handler_map).
        let prefix: &[u8] = match self.e_name_index {
            1 => b"user.",
            2 => b"system.posix_acl_access",
            3 => b"system.posix_acl_default",
            4 => b"trusted.",
            6 => b"security.",
            8 => b"system.richacl",
            _ => return None,
        };
        let mut n = prefix.to_vec();
        n.extend_from_slice(&self.name);
        Some(n)
    }
}

/// Walk the entry list of `region` starting at `first`. Corruption (an
/// entry running past the region) ends with the reason.
pub fn parse_entries(region: &[u8], first: usize) -> Result<Vec<XattrEntry>, String> {
    let mut out = Vec::new();
    let mut off = first;
    loop {
        // Four zero bytes (or the end of the region) end the list.
        if off + 4 > region.len() || le32(region, off) == 0 {
            return Ok(out);
        }
        let name_len = usize::from(u8_at(region, off));
        // EXT4_XATTR_LEN: header + name, rounded up to 4.
        let entry_len = (ENTRY_HEADER_LEN + name_len + 3) & !3;
        if off + entry_len > region.len() {
            return Err(format!("xattr entry at byte {off} runs past its area"));
        }
        out.push(XattrEntry {
            e_name_index: u8_at(region, off + 1),
            e_value_offs: usize::from(le16(region, off + 2)),
            e_value_inum: le32(region, off + 4),
            e_value_size: le32(region, off + 8) as usize,
            name: region.get(off + ENTRY_HEADER_LEN..off + ENTRY_HEADER_LEN + name_len).unwrap_or(&[]).to_vec(),
        });
        off += entry_len;
    }
}

/// The value of `e`, stored in `region` at `base + e_value_offs`.
pub fn inline_value<'a>(region: &'a [u8], base: usize, e: &XattrEntry) -> Result<&'a [u8], String> {
    base.checked_add(e.e_value_offs)
        .and_then(|start| region.get(start..start.checked_add(e.e_value_size)?))
        .ok_or_else(|| {
            format!(
                "xattr value (offset {}, size {}) runs past its area of {} bytes",
                e.e_value_offs,
                e.e_value_size,
                region.len()
            )
        })
}

/// ext4 stores POSIX ACLs in a compact format of its own (`ext4_acl_header`
/// version 1 in fs/ext4/acl.h: 4-byte entries for the owner/group/mask/other
/// entries, 8-byte ones carrying an id for named users and groups).
/// getxattr returns the generic `posix_acl_xattr` format (version 2, all
/// entries 8 bytes, id -1 where none applies); convert like
/// `ext4_acl_from_disk` + `posix_acl_to_xattr` do.
pub fn acl_to_xattr(disk: &[u8]) -> Result<Vec<u8>, String> {
    const EXT4_ACL_VERSION: u32 = 1;
    const ACL_USER: u16 = 2;
    const ACL_GROUP: u16 = 8;
    if le32(disk, 0) != EXT4_ACL_VERSION || disk.len() < 4 {
        return Err("ACL has a bad version".into());
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut off = 4;
    while off < disk.len() {
        let tag = le16(disk, off);
        let perm = le16(disk, off + 2);
        let (id, len) = if tag == ACL_USER || tag == ACL_GROUP { (le32(disk, off + 4), 8) } else { (u32::MAX, 4) };
        if off + len > disk.len() {
            return Err("ACL entry runs past the value".into());
        }
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
        off += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_values() {
        let mut r = vec![0u8; 64];
        r[0] = 3; // name_len
        r[1] = 1; // user.
        r[2] = 40; // value offset
        r[8] = 2; // value size
        r[16..19].copy_from_slice(b"foo");
        r[40..42].copy_from_slice(b"hi");
        let es = parse_entries(&r, 0).unwrap();
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].full_name().unwrap(), b"user.foo");
        assert_eq!(inline_value(&r, 0, &es[0]).unwrap(), b"hi");
        r[8] = 200;
        let es = parse_entries(&r, 0).unwrap();
        assert!(inline_value(&r, 0, &es[0]).is_err());
        r[0] = 255; // name runs off the end
        assert!(parse_entries(&r, 0).is_err());
    }

    #[test]
    fn acl_conversion() {
        let mut d = 1u32.to_le_bytes().to_vec();
        d.extend_from_slice(&[1, 0, 6, 0]); // USER_OBJ rw-
        d.extend_from_slice(&[2, 0, 4, 0, 0xe8, 3, 0, 0]); // USER 1000 r--
        let x = acl_to_xattr(&d).unwrap();
        assert_eq!(x.len(), 4 + 16);
        assert_eq!(&x[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&x[12..20], &[2, 0, 4, 0, 0xe8, 3, 0, 0]);
        assert!(acl_to_xattr(&[2, 0, 0, 0]).is_err());
    }
}
