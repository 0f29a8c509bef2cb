//! A read-only ext2/ext3/ext4 driver: umk's root filesystem lives in an ext4
//! image, and every path lookup, `read`, `getdents` and `readlink` the guest
//! makes ends up here.
//!
//! # The on-disk model
//!
//! An ext4 image is an array of fixed-size *blocks* (1, 2, 4 or up to 64
//! KiB). Byte 1024 holds the **superblock** ([`superblock::SuperBlock`],
//! `struct ext4_super_block` in `fs/ext4/ext4.h`): block size, counts, and
//! three feature masks. *compat* features can be ignored by a reader that does
//! not know them, *ro_compat* ones only matter to writers, and an unknown
//! *incompat* feature means the format changed in a way we cannot read, so
//! [`Ext4::open`] refuses it.
//!
//! The blocks are split into **block groups** of `s_blocks_per_group` blocks,
//! each with `s_inodes_per_group` inodes. The **group descriptor table**
//! follows the superblock (block 1, or block 2 with 1 KiB blocks, where the
//! superblock itself is block 1); each [`superblock::GroupDesc`] says where
//! that group's bitmaps and **inode table** are (with flex_bg they are packed
//! together at the start of the disk, which is why we always go through the
//! descriptor rather than compute it). Inode *n* (numbered from 1; 2 is the
//! root directory) is entry `(n-1) % s_inodes_per_group` of the inode table
//! of group `(n-1) / s_inodes_per_group`.
//!
//! An **inode** ([`inode::DiskInode`]) holds the file's type, permissions,
//! owner, size and timestamps, and a 60-byte `i_block` area saying where the
//! data is. In ext2/ext3 that is a **block map**: 12 direct block numbers,
//! then one single-, one double- and one triple-indirect block (blocks full
//! of block numbers). ext4 files (`EXT4_EXTENTS_FL`) instead hold the root
//! of an **extent tree** ([`extent`]): each extent maps a run of up to 32768
//! logical blocks to consecutive physical blocks, and index nodes fan out to
//! more extents when four do not fit in the inode. Tiny files and symlinks
//! may keep their bytes in `i_block` itself (fast symlinks, inline_data).
//!
//! A **directory** is a file whose blocks are chains of variable-length
//! entries (inode number, name, file type) ([`dir`]). Large directories add
//! a hashed B-tree ("htree", dir_index) hidden in entries that look empty to
//! old readers, so a lookup reads 2 or 3 blocks instead of all of them.
//! **Extended attributes** ([`xattr`]) live in spare space at the end of
//! the inode and in one extra block.
//!
//! # Structure of this module
//!
//! The files named after on-disk structures (`superblock.rs`, `inode.rs`,
//! `extent.rs`, `dir.rs`, `xattr.rs`) only parse bytes into typed values and
//! check them; this file holds the behaviour: caches, mapping file blocks,
//! walking directories. Nothing on disk is trusted: every number is checked
//! before it is used as an index, an offset or a size, and corruption turns
//! into an [`Ext4Error`] that names it, never a panic or an endless loop.
//!
//! Parsed inodes are cached (bounded LRU), and so are metadata blocks
//! (descriptors, inode table, index, directory and xattr blocks); file data
//! is not, since the host's page cache already holds the image. Each cached
//! inode remembers the last run of contiguous blocks it mapped, so a
//! sequential read walks the extent tree once per extent, and each run is
//! fetched with a single `read_at`.
//!
//! We never write, so the journal (ext3/ext4 `has_journal`) is ignored; an
//! image that still `needs_recovery` reads as of its last checkpoint.
//! Checksums (metadata_csum) are not verified.

mod bytes;
mod cache;
mod device;
pub mod dir;
mod error;
pub mod extent;
pub mod inode;
pub mod superblock;
pub mod vfs;
pub mod xattr;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub use device::BlockDevice;
pub use error::Ext4Error;

use bytes::le32;
use cache::Lru;
use dir::{DxNode, DxRootInfo};
use extent::{Extent, ExtentHeader, ExtentIdx};
use inode::{
    DiskInode, EXT4_EA_INODE_FL, EXT4_EXTENTS_FL, EXT4_HUGE_FILE_FL, EXT4_INDEX_FL,
    EXT4_INLINE_DATA_FL,
};
use superblock::{Geometry, GroupDesc, SuperBlock};

/// An inode number.
pub type Ino = u32;
/// The root directory's inode (`EXT4_ROOT_INO`).
pub const ROOT_INO: Ino = 2;

/// The longest symlink target we will return (PATH_MAX).
const MAX_SYMLINK_LEN: u64 = 4096;
/// The largest xattr value Linux allows (XATTR_SIZE_MAX).
const MAX_XATTR_VALUE: usize = 65536;
const INODE_CACHE_SIZE: usize = 1024;
const BLOCK_CACHE_SIZE: usize = 256;
/// Largest directory name (`EXT4_NAME_LEN`).
const EXT4_NAME_LEN: usize = 255;
/// i_block of an inline_data inode: the first 4 bytes hold the parent's inode
/// number (for a directory), entries follow (`EXT4_INLINE_DOTDOT_SIZE`).
const INLINE_DOTDOT_SIZE: usize = 4;

/// What `stat` needs to know about an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeAttr {
    pub ino: Ino,
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u32,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub crtime: Option<(i64, u32)>,
    /// In 512-byte units, as `st_blocks`.
    pub blocks: u64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// `i_flags` (`EXT4_*_FL`).
    pub flags: u32,
    pub generation: u32,
}

/// One directory entry, as `getdents` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub ino: Ino,
    pub name: &'a [u8],
    /// `DT_*`: 1 fifo, 2 chr, 4 dir, 6 blk, 8 reg, 10 lnk, 12 sock, 0 unknown.
    pub file_type: u8,
}

/// What `statfs` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsStats {
    pub block_size: u32,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u64,
    pub free_inodes: u64,
    pub uuid: [u8; 16],
    pub volume_name: Vec<u8>,
}

/// A piece of a file's block mapping: logical blocks `lblk .. lblk + len`
/// are at physical blocks `pblk ..` (or read as zeros when `pblk` is None:
/// a hole or an uninitialized extent). Always contains the block asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    lblk: u64,
    len: u64,
    pblk: Option<u64>,
}

impl Run {
    fn contains(&self, lblk: u64) -> bool {
        lblk >= self.lblk && lblk - self.lblk < self.len
    }
}

/// A parsed inode, cached.
#[derive(Debug)]
struct Inode {
    ino: Ino,
    disk: DiskInode,
    attr: InodeAttr,
    /// The run found by the last mapping lookup, so sequential reads do not
    /// walk the extent tree or block map again for every call.
    last_run: Cell<Option<Run>>,
}

impl Inode {
    fn has_flag(&self, fl: u32) -> bool {
        self.disk.has_flag(fl)
    }
}

/// A mounted (read-only) ext2/3/4 image.
pub struct Ext4 {
    dev: Box<dyn BlockDevice>,
    sb: SuperBlock,
    geo: Geometry,
    inodes: RefCell<Lru<Ino, Rc<Inode>>>,
    /// Metadata blocks (descriptors, inode table, index, directory and
    /// xattr blocks) by physical block number. File data bypasses it.
    blocks: RefCell<Lru<u64, Rc<[u8]>>>,
}

impl std::fmt::Debug for Ext4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ext4").field("sb", &self.sb).field("geo", &self.geo).finish()
    }
}

impl Ext4 {
    /// Read and check the superblock. Fails with a clear error for images
    /// that are not ext2/3/4, are truncated, or use an incompat feature this
    /// driver cannot read.
    pub fn open(dev: Box<dyn BlockDevice>) -> Result<Ext4, Ext4Error> {
        let have = dev.size();
        let need = superblock::SUPERBLOCK_OFFSET + superblock::SUPERBLOCK_SIZE as u64;
        if have < need {
            return Err(Ext4Error::Truncated { need, have });
        }
        let mut raw = vec![0u8; superblock::SUPERBLOCK_SIZE];
        dev.read_at(superblock::SUPERBLOCK_OFFSET, &mut raw)?;
        let sb = SuperBlock::parse(&raw)?;
        let geo = sb.validate(have)?;
        let fs = Ext4 {
            dev,
            sb,
            geo,
            inodes: RefCell::new(Lru::new(INODE_CACHE_SIZE)),
            blocks: RefCell::new(Lru::new(BLOCK_CACHE_SIZE)),
        };
        // The root must be a directory, or nothing else will work.
        if !fs.get_inode(ROOT_INO)?.disk.is_dir() {
            return Err(Ext4Error::NotDir(ROOT_INO));
        }
        Ok(fs)
    }

    pub fn stats(&self) -> FsStats {
        let name = &self.sb.s_volume_name;
        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        FsStats {
            block_size: self.geo.block_size,
            blocks: self.sb.s_blocks_count,
            free_blocks: self.sb.s_free_blocks_count,
            inodes: u64::from(self.sb.s_inodes_count),
            free_inodes: u64::from(self.sb.s_free_inodes_count),
            uuid: self.sb.s_uuid,
            volume_name: name[..len].to_vec(),
        }
    }

    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    fn bs(&self) -> u64 {
        u64::from(self.geo.block_size)
    }

    // ---- blocks and group descriptors ----

    /// Read metadata block `pblk` through the cache. `ino` and `what` name
    /// the owner for the error if the block number is out of range.
    fn meta_block(&self, ino: Ino, pblk: u64, what: &str) -> Result<Rc<[u8]>, Ext4Error> {
        if pblk == 0 || pblk >= self.sb.s_blocks_count {
            return Err(Ext4Error::corrupt(
                ino,
                format!(
                    "{what} block {pblk} is outside the filesystem ({} blocks)",
                    self.sb.s_blocks_count
                ),
            ));
        }
        if let Some(b) = self.blocks.borrow_mut().get(&pblk) {
            return Ok(b);
        }
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.dev.read_at(pblk * self.bs(), &mut buf)?;
        let b: Rc<[u8]> = buf.into();
        self.blocks.borrow_mut().insert(pblk, b.clone());
        Ok(b)
    }

    /// The descriptor of block group `group`.
    fn group_desc(&self, group: u64) -> Result<GroupDesc, Ext4Error> {
        let bad = |what: String| Ext4Error::BadGroupDesc { group, what };
        if group >= self.geo.groups {
            return Err(bad(format!("only {} groups", self.geo.groups)));
        }
        let dpb = u64::from(self.geo.descs_per_block);
        let desc_block = group / dpb;
        let first = u64::from(self.sb.s_first_data_block);
        // With meta_bg the table is split: the descriptors for each "meta
        // group" of `dpb` groups sit in the first group of that meta group,
        // after its superblock backup if it has one (`descriptor_loc` in
        // fs/ext4/super.c). Otherwise they follow the primary superblock.
        let pblk = if self.sb.has_incompat(superblock::INCOMPAT_META_BG)
            && desc_block >= u64::from(self.sb.s_first_meta_bg)
        {
            let g = desc_block * dpb;
            first
                + g * u64::from(self.sb.s_blocks_per_group)
                + u64::from(self.sb.group_has_super(g))
        } else {
            first + 1 + desc_block
        };
        if pblk >= self.sb.s_blocks_count {
            return Err(bad(format!("descriptor block {pblk} is outside the filesystem")));
        }
        let block = self.meta_block(0, pblk, "group descriptor").map_err(|e| match e {
            Ext4Error::Io(e) => Ext4Error::Io(e),
            other => bad(other.to_string()),
        })?;
        let off = ((group % dpb) * u64::from(self.geo.desc_size)) as usize;
        let raw = block
            .get(off..off + self.geo.desc_size as usize)
            .ok_or_else(|| bad("descriptor past block end".into()))?;
        let gd = GroupDesc::parse(raw, self.geo.desc_size);
        let table_blocks = (u64::from(self.sb.s_inodes_per_group)
            * u64::from(self.sb.s_inode_size))
        .div_ceil(self.bs());
        if gd.bg_inode_table == 0
            || gd.bg_inode_table.saturating_add(table_blocks) > self.sb.s_blocks_count
        {
            return Err(bad(format!(
                "inode table at block {} is outside the filesystem",
                gd.bg_inode_table
            )));
        }
        Ok(gd)
    }

    // ---- inodes ----

    fn get_inode(&self, ino: Ino) -> Result<Rc<Inode>, Ext4Error> {
        if let Some(i) = self.inodes.borrow_mut().get(&ino) {
            return Ok(i);
        }
        let inode = Rc::new(self.load_inode(ino)?);
        self.inodes.borrow_mut().insert(ino, inode.clone());
        Ok(inode)
    }

    fn load_inode(&self, ino: Ino) -> Result<Inode, Ext4Error> {
        if ino == 0 || ino > self.sb.s_inodes_count {
            return Err(Ext4Error::InodeOutOfRange { ino, count: self.sb.s_inodes_count });
        }
        let ipg = self.sb.s_inodes_per_group;
        let group = u64::from((ino - 1) / ipg);
        let index = (ino - 1) % ipg;
        let gd = self.group_desc(group)?;
        // With group descriptor checksums, the tail of an inode table (or the
        // whole of it) may never have been written; its bytes are garbage.
        if self
            .sb
            .has_ro_compat(superblock::RO_COMPAT_GDT_CSUM | superblock::RO_COMPAT_METADATA_CSUM)
            && (gd.bg_flags & superblock::EXT4_BG_INODE_UNINIT != 0
                || index >= ipg.saturating_sub(gd.bg_itable_unused))
        {
            return Err(Ext4Error::InodeNotInUse(ino));
        }
        let isz = u64::from(self.sb.s_inode_size);
        let byte = gd.bg_inode_table * self.bs() + u64::from(index) * isz;
        let block = self.meta_block(ino, byte / self.bs(), "inode table")?;
        let off = (byte % self.bs()) as usize;
        let raw = block
            .get(off..off + isz as usize)
            .ok_or_else(|| Ext4Error::corrupt(ino, "inode record crosses a block boundary"))?;
        let disk = DiskInode::parse(
            ino,
            raw,
            self.sb.has_incompat(superblock::INCOMPAT_LARGEDIR),
            self.sb.has_ro_compat(superblock::RO_COMPAT_HUGE_FILE),
        )?;
        // A free inode has mode 0; a deleted one has no links and a dtime.
        if disk.i_mode == 0 || (disk.i_links_count == 0 && disk.i_dtime != 0) {
            return Err(Ext4Error::InodeNotInUse(ino));
        }
        if disk.is_dir() && disk.i_size > self.sb.s_blocks_count.saturating_mul(self.bs()) {
            return Err(Ext4Error::corrupt(
                ino,
                format!("directory size {} exceeds the filesystem", disk.i_size),
            ));
        }
        let blocks = if disk.has_flag(EXT4_HUGE_FILE_FL)
            && self.sb.has_ro_compat(superblock::RO_COMPAT_HUGE_FILE)
        {
            disk.i_blocks.saturating_mul(self.bs() / 512)
        } else {
            disk.i_blocks
        };
        let ft = disk.file_type();
        let (rdev_major, rdev_minor) =
            if ft == inode::S_IFCHR || ft == inode::S_IFBLK { disk.rdev() } else { (0, 0) };
        let attr = InodeAttr {
            ino,
            mode: disk.mode(),
            uid: disk.i_uid,
            gid: disk.i_gid,
            size: disk.i_size,
            nlink: u32::from(disk.i_links_count),
            atime: disk.atime,
            mtime: disk.mtime,
            ctime: disk.ctime,
            crtime: disk.crtime,
            blocks,
            rdev_major,
            rdev_minor,
            flags: disk.i_flags,
            generation: disk.i_generation,
        };
        Ok(Inode { ino, disk, attr, last_run: Cell::new(None) })
    }

    /// Attributes of inode `ino` (cached).
    pub fn inode(&self, ino: Ino) -> Result<InodeAttr, Ext4Error> {
        Ok(self.get_inode(ino)?.attr.clone())
    }

    // ---- mapping file blocks to image blocks ----

    /// The run of blocks around logical block `lblk` of `inode`.
    fn map_run(&self, inode: &Inode, lblk: u64) -> Result<Run, Ext4Error> {
        if let Some(run) = inode.last_run.get() {
            if run.contains(lblk) {
                return Ok(run);
            }
        }
        if inode.has_flag(EXT4_INLINE_DATA_FL) {
            return Err(Ext4Error::NotBlockMapped(inode.ino));
        }
        let run = if inode.has_flag(EXT4_EXTENTS_FL) {
            self.map_extents(inode, lblk)?
        } else {
            self.map_indirect(inode, lblk)?
        };
        if !run.contains(lblk) {
            // Cannot happen by construction; an error beats a wrong answer.
            return Err(Ext4Error::corrupt(
                inode.ino,
                format!("block map lookup of logical block {lblk} went astray"),
            ));
        }
        if let Some(p) = run.pblk {
            if p == 0 || p.checked_add(run.len).is_none_or(|end| end > self.sb.s_blocks_count) {
                return Err(Ext4Error::corrupt(
                    inode.ino,
                    format!(
                        "logical block {lblk} maps to blocks {p}+{} outside the filesystem",
                        run.len
                    ),
                ));
            }
        }
        inode.last_run.set(Some(run));
        Ok(run)
    }

    /// Look `lblk` up in the extent tree (`ext4_find_extent` in
    /// fs/ext4/extents.c, minus the path bookkeeping writers need).
    fn map_extents(&self, inode: &Inode, lblk: u64) -> Result<Run, Ext4Error> {
        let ino = inode.ino;
        // Extent trees address 2^32 logical blocks; beyond that, a hole.
        let Ok(target) = u32::try_from(lblk) else {
            return Ok(Run { lblk, len: 1, pblk: None });
        };
        let corrupt = |what: String| Ext4Error::corrupt(ino, what);
        // First block past the subtree we are in: a hole found at the end
        // of a node ends where the next subtree of an ancestor begins.
        let mut subtree_end: u64 = 1 << 32;
        let mut node: Rc<[u8]> = Rc::from(&inode.disk.i_block[..]);
        let mut want_depth = None;
        // Each level must be exactly one shallower than its parent and the
        // root at most EXT4_MAX_EXTENT_DEPTH deep, so this loop ends.
        for _ in 0..=extent::EXT4_MAX_EXTENT_DEPTH {
            let hdr = ExtentHeader::parse(&node);
            hdr.check(node.len(), want_depth).map_err(corrupt)?;
            let n = usize::from(hdr.eh_entries);
            if hdr.eh_depth == 0 {
                let extents: Vec<Extent> = (0..n).map(|i| Extent::parse(&node, i)).collect();
                let i = extents.partition_point(|e| e.ee_block <= target);
                if let Some(e) = i.checked_sub(1).and_then(|j| extents.get(j)) {
                    if lblk < u64::from(e.ee_block) + u64::from(e.len) {
                        return Ok(Run {
                            lblk: u64::from(e.ee_block),
                            len: u64::from(e.len),
                            pblk: if e.uninit { None } else { Some(e.ee_start) },
                        });
                    }
                }
                let next =
                    extents.get(i).map_or(subtree_end, |e| u64::from(e.ee_block).min(subtree_end));
                return Ok(Run { lblk, len: next.saturating_sub(lblk).max(1), pblk: None });
            }
            if n == 0 {
                return Err(corrupt(format!("empty extent index node at depth {}", hdr.eh_depth)));
            }
            let idxs: Vec<ExtentIdx> = (0..n).map(|i| ExtentIdx::parse(&node, i)).collect();
            let i = idxs.partition_point(|x| x.ei_block <= target);
            if let Some(next) = idxs.get(i) {
                subtree_end = subtree_end.min(u64::from(next.ei_block));
            }
            let Some(child) = i.checked_sub(1).and_then(|j| idxs.get(j)) else {
                // Before the first index entry: a hole up to it.
                return Ok(Run { lblk, len: subtree_end.saturating_sub(lblk).max(1), pblk: None });
            };
            node = self.meta_block(ino, child.ei_leaf, "extent tree")?;
            want_depth = Some(hdr.eh_depth - 1);
        }
        Err(corrupt("extent tree deeper than its header says".into()))
    }

    /// Look `lblk` up in an ext2/ext3 block map: 12 direct pointers, then
    /// single, double and triple indirect blocks (`ext4_block_to_path` in
    /// fs/ext4/indirect.c).
    fn map_indirect(&self, inode: &Inode, lblk: u64) -> Result<Run, Ext4Error> {
        const NDIR: u64 = 12;
        let ino = inode.ino;
        let apb = self.bs() / 4; // block numbers per indirect block
        let i_block = &inode.disk.i_block;
        if lblk < NDIR {
            return Ok(run_in_table(i_block, lblk as usize, NDIR as usize, lblk));
        }
        let mut rel = lblk - NDIR;
        let mut span = 1u64;
        for level in 1..=3u32 {
            span *= apb; // blocks covered by this level's pointer
            if rel >= span {
                rel -= span;
                continue;
            }
            let mut ptr = u64::from(inode.disk.block_word(NDIR as usize + level as usize - 1));
            let mut sub_span = span;
            for depth in (0..level).rev() {
                if ptr == 0 {
                    // A missing indirect block: the rest of its subtree is a hole.
                    return Ok(Run { lblk, len: sub_span - rel, pblk: None });
                }
                let block = self.meta_block(ino, ptr, "indirect")?;
                let unit = apb.pow(depth);
                let idx = (rel / unit) as usize;
                rel %= unit;
                sub_span = unit;
                if depth == 0 {
                    return Ok(run_in_table(&block, idx, apb as usize, lblk));
                }
                ptr = u64::from(le32(&block, idx * 4));
            }
        }
        // Past what a triple-indirect map can address.
        Ok(Run { lblk, len: 1, pblk: None })
    }

    // ---- file data ----

    /// The bytes of an inline_data inode: the 60 bytes of `i_block`
    /// followed by the value of the "system.data" xattr (fs/ext4/inline.c).
    fn inline_data(&self, inode: &Inode) -> Result<Vec<u8>, Ext4Error> {
        let mut data = inode.disk.i_block.to_vec();
        let area = &inode.disk.xattr_area;
        if area.len() >= 4 && le32(area, 0) == xattr::EXT4_XATTR_MAGIC {
            let entries =
                xattr::parse_entries(area, 4).map_err(|e| Ext4Error::corrupt(inode.ino, e))?;
            // Index 7 (EXT4_XATTR_INDEX_SYSTEM) + "data".
            if let Some(e) = entries.iter().find(|e| e.e_name_index == 7 && e.name == b"data") {
                let v = xattr::inline_value(area, 4, e)
                    .map_err(|e| Ext4Error::corrupt(inode.ino, e))?;
                data.extend_from_slice(v);
            }
        }
        Ok(data)
    }

    /// Read from byte `offset` of the file into `buf`; returns the bytes
    /// read, short only at end of file. Holes and uninitialized extents read
    /// as zeros; each physically contiguous run is one device read.
    pub fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize, Ext4Error> {
        let inode = self.get_inode(ino)?;
        let size = inode.disk.i_size;
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let want = (size - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..want];
        if inode.has_flag(EXT4_INLINE_DATA_FL) {
            let data = self.inline_data(&inode)?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = usize::try_from(offset)
                    .ok()
                    .and_then(|o| data.get(o.checked_add(i)?))
                    .copied()
                    .unwrap_or(0);
            }
            return Ok(want);
        }
        let bs = self.bs();
        let mut done = 0usize;
        while done < want {
            let pos = offset + done as u64;
            let run = self.map_run(&inode, pos / bs)?;
            let run_start = run.lblk * bs;
            let run_end = run.lblk.saturating_add(run.len).saturating_mul(bs);
            let n = (run_end - pos).min((want - done) as u64) as usize;
            let dst = &mut buf[done..done + n];
            match run.pblk {
                None => dst.fill(0),
                Some(p) => self.dev.read_at(p * bs + (pos - run_start), dst)?,
            }
            done += n;
        }
        Ok(want)
    }

    /// Where in the image file byte `offset` lives: `(byte offset in the
    /// image, bytes contiguous from there that belong to the file)`, or None
    /// for a hole, an uninitialized extent, or an offset at or past EOF.
    pub fn map_extent(&self, ino: Ino, offset: u64) -> Result<Option<(u64, u64)>, Ext4Error> {
        let inode = self.get_inode(ino)?;
        let size = inode.disk.i_size;
        if offset >= size {
            return Ok(None);
        }
        let bs = self.bs();
        let run = self.map_run(&inode, offset / bs)?;
        Ok(run.pblk.map(|p| {
            let into = offset - run.lblk * bs;
            let end = run.lblk.saturating_add(run.len).saturating_mul(bs).min(size);
            (p * bs + into, end - offset)
        }))
    }

    // ---- symlinks ----

    /// The target of symlink `ino`.
    pub fn readlink(&self, ino: Ino) -> Result<Vec<u8>, Ext4Error> {
        let inode = self.get_inode(ino)?;
        if inode.disk.file_type() != inode::S_IFLNK {
            return Err(Ext4Error::NotSymlink(ino));
        }
        let size = inode.disk.i_size;
        if size == 0 || size > MAX_SYMLINK_LEN {
            return Err(Ext4Error::corrupt(ino, format!("symlink target length {size}")));
        }
        let len = size as usize;
        if inode.has_flag(EXT4_INLINE_DATA_FL) {
            let mut data = self.inline_data(&inode)?;
            data.resize(len, 0);
            return Ok(data);
        }
        // A fast symlink keeps its target in i_block and owns no blocks
        // besides an xattr block (`ext4_inode_is_fast_symlink`).
        let ea_blocks = if inode.disk.i_file_acl != 0 { self.geo.cluster_size / 512 } else { 0 };
        if !inode.has_flag(EXT4_EXTENTS_FL) && inode.attr.blocks.saturating_sub(ea_blocks) == 0 {
            return inode.disk.i_block.get(..len).map(<[u8]>::to_vec).ok_or_else(|| {
                Ext4Error::corrupt(ino, format!("fast symlink of length {len} exceeds i_block"))
            });
        }
        let mut buf = vec![0u8; len];
        let n = self.read(ino, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    // ---- extended attributes ----

    /// All extended attributes of `ino` as (full name, value), in-inode ones
    /// first. POSIX ACLs are converted to the format getxattr returns.
    #[allow(clippy::type_complexity)] // the agreed API: (name, value) pairs
    pub fn xattrs(&self, ino: Ino) -> Result<Vec<(Vec<u8>, Vec<u8>)>, Ext4Error> {
        let inode = self.get_inode(ino)?;
        let corrupt = |e: String| Ext4Error::corrupt(ino, e);
        let mut out = Vec::new();
        let area = &inode.disk.xattr_area;
        if area.len() >= 4 && le32(area, 0) == xattr::EXT4_XATTR_MAGIC {
            // In-inode value offsets count from the first entry, after the magic.
            let entries = xattr::parse_entries(area, 4).map_err(corrupt)?;
            self.collect_xattrs(ino, area, 4, &entries, &mut out)?;
        }
        if inode.disk.i_file_acl != 0 {
            let block = self.meta_block(ino, inode.disk.i_file_acl, "xattr")?;
            if le32(&block, 0) != xattr::EXT4_XATTR_MAGIC || le32(&block, 8) != 1 {
                return Err(corrupt(format!(
                    "xattr block {} has a bad header",
                    inode.disk.i_file_acl
                )));
            }
            let entries =
                xattr::parse_entries(&block, xattr::XATTR_BLOCK_HEADER_LEN).map_err(corrupt)?;
            self.collect_xattrs(ino, &block, 0, &entries, &mut out)?;
        }
        Ok(out)
    }

    fn collect_xattrs(
        &self,
        ino: Ino,
        region: &[u8],
        base: usize,
        entries: &[xattr::XattrEntry],
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), Ext4Error> {
        let corrupt = |e: String| Ext4Error::corrupt(ino, e);
        for e in entries {
            let Some(name) = e.full_name() else { continue };
            if e.e_value_size > MAX_XATTR_VALUE {
                return Err(corrupt(format!("xattr value of {} bytes", e.e_value_size)));
            }
            let value = if e.e_value_inum != 0 {
                // ea_inode: the value is the content of another inode.
                let ea = self.get_inode(e.e_value_inum)?;
                if !ea.has_flag(EXT4_EA_INODE_FL) || ea.disk.i_size != e.e_value_size as u64 {
                    return Err(corrupt(format!(
                        "xattr value inode {} is not a matching EA inode",
                        e.e_value_inum
                    )));
                }
                let mut v = vec![0u8; e.e_value_size];
                let n = self.read(e.e_value_inum, 0, &mut v)?;
                v.truncate(n);
                v
            } else {
                xattr::inline_value(region, base, e).map_err(corrupt)?.to_vec()
            };
            let value = if e.e_name_index == 2 || e.e_name_index == 3 {
                xattr::acl_to_xattr(&value).map_err(corrupt)?
            } else {
                value
            };
            out.push((name, value));
        }
        Ok(())
    }

    // ---- directories ----

    fn dir_inode(&self, ino: Ino) -> Result<Rc<Inode>, Ext4Error> {
        let inode = self.get_inode(ino)?;
        if !inode.disk.is_dir() {
            return Err(Ext4Error::NotDir(ino));
        }
        Ok(inode)
    }

    fn has_filetype(&self) -> bool {
        self.sb.has_incompat(superblock::INCOMPAT_FILETYPE)
    }

    /// Directory block `lblk` of `inode`, or None for a hole.
    fn dir_block(&self, inode: &Inode, lblk: u64) -> Result<Option<Rc<[u8]>>, Ext4Error> {
        let run = self.map_run(inode, lblk)?;
        match run.pblk {
            None => Ok(None),
            Some(p) => Ok(Some(self.meta_block(inode.ino, p + (lblk - run.lblk), "directory")?)),
        }
    }

    /// Find `name` in directory `dir`.
    pub fn lookup(&self, dir: Ino, name: &[u8]) -> Result<Option<Ino>, Ext4Error> {
        let inode = self.dir_inode(dir)?;
        if name.is_empty() || name.len() > EXT4_NAME_LEN {
            return Ok(None);
        }
        if inode.has_flag(EXT4_INLINE_DATA_FL) {
            let mut found = None;
            self.read_inline_dir(&inode, 0, &mut |e, _| {
                if e.name == name {
                    found = Some(e.ino);
                }
                found.is_none()
            })?;
            return Ok(found);
        }
        let is_dot = name == b"." || name == b"..";
        if !is_dot
            && self.sb.has_compat(superblock::COMPAT_DIR_INDEX)
            && inode.has_flag(EXT4_INDEX_FL)
        {
            // Like ext4_find_entry: if the index is unusable, fall back to
            // a linear scan (the entries themselves are still all there).
            if let Some(found) = self.dx_lookup(&inode, name)? {
                return Ok(found);
            }
        }
        let nblocks = inode.disk.i_size.div_ceil(self.bs());
        for lblk in 0..nblocks {
            // "." and ".." are always the first two entries of block 0.
            if is_dot && lblk > 0 {
                break;
            }
            if let Some(block) = self.dir_block(&inode, lblk)? {
                if let Some(ino) = self.search_block(&inode, lblk, &block, name)? {
                    return Ok(Some(ino));
                }
            }
        }
        Ok(None)
    }

    /// Look for `name` among the entries of one directory block.
    fn search_block(
        &self,
        inode: &Inode,
        lblk: u64,
        block: &[u8],
        name: &[u8],
    ) -> Result<Option<Ino>, Ext4Error> {
        let mut off = 0;
        while off < block.len() {
            let e = dir::parse_dirent(block, off, self.has_filetype()).map_err(|e| {
                Ext4Error::corrupt(inode.ino, format!("directory block {lblk}: {e}"))
            })?;
            if e.inode != 0 && e.name == name {
                return Ok(Some(e.inode));
            }
            off += e.rec_len;
        }
        Ok(None)
    }

    /// Hashed lookup through the htree (`dx_probe` and `ext4_dx_find_entry`
    /// in fs/ext4/namei.c). Outer None: the index is unusable, scan
    /// linearly instead; inner: the answer.
    fn dx_lookup(&self, inode: &Inode, name: &[u8]) -> Result<Option<Option<Ino>>, Ext4Error> {
        let Some(root) = self.dir_block(inode, 0)? else {
            return Ok(None);
        };
        let info = DxRootInfo::parse(&root);
        let max_levels = if self.sb.has_incompat(superblock::INCOMPAT_LARGEDIR) { 3 } else { 2 };
        if info.info_length < 8 || usize::from(info.indirect_levels) >= max_levels {
            return Ok(None);
        }
        let mut version = info.hash_version;
        if version <= dir::DX_HASH_TEA
            && self.sb.s_flags & superblock::EXT2_FLAGS_UNSIGNED_HASH != 0
        {
            version += 3;
        }
        let Some(hash) = dir::dx_hash(name, version, &self.sb.s_hash_seed) else {
            return Ok(None);
        };
        let Ok(root_node) =
            DxNode::parse(&root, dir::DX_ROOT_INFO_OFF + usize::from(info.info_length))
        else {
            return Ok(None);
        };
        let levels = usize::from(info.indirect_levels);
        let nblocks = inode.disk.i_size.div_ceil(self.bs());
        // The path from the root to the current leaf: one (node, chosen
        // entry) per index level, `levels + 1` in all.
        let mut frames: Vec<(DxNode, usize)> = Vec::new();
        let mut node = root_node;
        loop {
            let i = node.child_for(hash);
            frames.push((node, i));
            if frames.len() > levels {
                break;
            }
            let Some(n) = self.dx_interior(inode, &frames, nblocks)? else {
                return Ok(None);
            };
            node = n;
        }
        // Every iteration reads one leaf; a directory has at most `nblocks`.
        for _ in 0..nblocks {
            let Some(&(ref n, i)) = frames.last() else {
                return Ok(None);
            };
            let leaf = u64::from(n.entries.get(i).map_or(0, |e| e.1));
            if leaf >= nblocks {
                return Ok(None);
            }
            if let Some(block) = self.dir_block(inode, leaf)? {
                if let Some(ino) = self.search_block(inode, leaf, &block, name)? {
                    return Ok(Some(Some(ino)));
                }
            }
            // Names whose hashes collide may spill into following leaves;
            // the next leaf continues ours iff its starting hash, less the
            // low "continued" bit, equals our hash (`ext4_htree_next_block`).
            // Advance the deepest frame that has a next entry...
            let Some(d) = frames.iter().rposition(|(n, i)| i + 1 < n.entries.len()) else {
                return Ok(Some(None));
            };
            frames.truncate(d + 1);
            let Some((n, i)) = frames.last_mut() else {
                return Ok(Some(None));
            };
            *i += 1;
            if n.entries.get(*i).map_or(0, |e| e.0) & !1 != hash {
                return Ok(Some(None));
            }
            // ...and descend along first entries back to leaf level.
            while frames.len() <= levels {
                let Some(n) = self.dx_interior(inode, &frames, nblocks)? else {
                    return Ok(None);
                };
                frames.push((n, 0));
            }
        }
        Ok(None)
    }

    /// Read the interior htree node the last frame points at; None if it is
    /// not a valid one.
    fn dx_interior(
        &self,
        inode: &Inode,
        frames: &[(DxNode, usize)],
        nblocks: u64,
    ) -> Result<Option<DxNode>, Ext4Error> {
        let Some(&(ref n, i)) = frames.last() else {
            return Ok(None);
        };
        let child = u64::from(n.entries.get(i).map_or(0, |e| e.1));
        if child == 0 || child >= nblocks {
            return Ok(None);
        }
        let Some(b) = self.dir_block(inode, child)? else {
            return Ok(None);
        };
        // An interior node hides behind one empty entry spanning the block.
        if le32(&b, 0) != 0 {
            return Ok(None);
        }
        Ok(DxNode::parse(&b, 8).ok())
    }

    /// Call `f` for each entry from byte `cursor` of directory `dir` on
    /// ("." and ".." included); `f` returns false to stop. Returns the
    /// cursor after the last entry `f` accepted (where a later call should
    /// resume), or the directory size when the end was reached.
    pub fn read_dir(
        &self,
        dir: Ino,
        cursor: u64,
        f: &mut dyn FnMut(&DirEntry<'_>, u64) -> bool,
    ) -> Result<u64, Ext4Error> {
        let inode = self.dir_inode(dir)?;
        if inode.has_flag(EXT4_INLINE_DATA_FL) {
            return self.read_inline_dir(&inode, cursor, f);
        }
        let size = inode.disk.i_size;
        let bs = self.bs();
        let filetype = self.has_filetype();
        let mut pos = cursor;
        while pos < size {
            let lblk = pos / bs;
            let run = self.map_run(&inode, lblk)?;
            let Some(p) = run.pblk else {
                // A hole in a directory holds no entries.
                pos = run.lblk.saturating_add(run.len).saturating_mul(bs);
                continue;
            };
            let block = self.meta_block(dir, p + (lblk - run.lblk), "directory")?;
            let block_start = lblk * bs;
            // The cursor may point into the middle of an entry (a stale
            // telldir value); like ext4_readdir, resync by walking the block
            // from its start and skipping entries before it.
            let skip_to = (pos - block_start) as usize;
            let mut off = 0usize;
            while off < block.len() {
                let e = dir::parse_dirent(&block, off, filetype)
                    .map_err(|e| Ext4Error::corrupt(dir, format!("directory block {lblk}: {e}")))?;
                let next = off + e.rec_len;
                if off >= skip_to && e.inode != 0 {
                    let de = DirEntry {
                        ino: e.inode,
                        name: e.name,
                        file_type: dir::ft_to_dt(e.file_type),
                    };
                    if !f(&de, block_start + next as u64) {
                        return Ok(block_start + off as u64);
                    }
                }
                off = next;
            }
            pos = block_start + bs;
        }
        Ok(size.max(cursor))
    }

    /// `read_dir` for an inline_data directory. Its cursor space: 0 is ".",
    /// 1 is "..", and an entry at byte `p` of the inline data (i_block
    /// followed by "system.data", entries from byte 4 on) is at `p`.
    fn read_inline_dir(
        &self,
        inode: &Inode,
        cursor: u64,
        f: &mut dyn FnMut(&DirEntry<'_>, u64) -> bool,
    ) -> Result<u64, Ext4Error> {
        let data = self.inline_data(inode)?;
        let parent = le32(&data, 0);
        let dotdot_end = INLINE_DOTDOT_SIZE as u64;
        if cursor == 0 && !f(&DirEntry { ino: inode.ino, name: b".", file_type: 4 }, 1) {
            return Ok(0);
        }
        if cursor <= 1 && !f(&DirEntry { ino: parent, name: b"..", file_type: 4 }, dotdot_end) {
            return Ok(1);
        }
        // The entries in i_block and those in the xattr are two separate
        // chains; neither may run into the other.
        let regions = [(INLINE_DOTDOT_SIZE, inode::I_BLOCK_LEN), (inode::I_BLOCK_LEN, data.len())];
        for (start, end) in regions {
            let Some(chunk) = data.get(start..end) else {
                continue;
            };
            let mut off = 0usize;
            while off < chunk.len() {
                let e = dir::parse_dirent(chunk, off, self.has_filetype())
                    .map_err(|e| Ext4Error::corrupt(inode.ino, format!("inline directory: {e}")))?;
                let here = (start + off) as u64;
                let next = (start + off + e.rec_len) as u64;
                if here >= cursor && e.inode != 0 {
                    let de = DirEntry {
                        ino: e.inode,
                        name: e.name,
                        file_type: dir::ft_to_dt(e.file_type),
                    };
                    if !f(&de, next) {
                        return Ok(here);
                    }
                }
                off += e.rec_len;
            }
        }
        Ok(inode.disk.i_size.max(data.len() as u64).max(cursor))
    }
}

/// A run from a table of 32-bit block numbers (`i_block` or an indirect
/// block): entry `idx` maps logical block `lblk`; extend it over following
/// entries that are physically consecutive (or, for a hole, also zero).
fn run_in_table(table: &[u8], idx: usize, n: usize, lblk: u64) -> Run {
    let first = u64::from(le32(table, idx * 4));
    let mut len = 1u64;
    for j in idx + 1..n {
        let p = u64::from(le32(table, j * 4));
        let contiguous = if first == 0 { p == 0 } else { p == first + (j - idx) as u64 };
        if !contiguous {
            break;
        }
        len += 1;
    }
    Run { lblk, len, pblk: (first != 0).then_some(first) }
}
