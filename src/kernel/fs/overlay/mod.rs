//! The per-VM writable overlay: a filesystem layered over the read-only
//! base image that keeps the VM's changes in its own append-only,
//! checksummed log.
//!
//! # Model
//!
//! The lower layer is the image (any [`Inode`] tree, read-only). The upper
//! layer is a table of *upper nodes* keyed by inode number, rebuilt at boot
//! by replaying the log:
//!
//! * An inode of the image keeps the image's inode number. It gets an upper
//!   node the first time it changes (copy-up): metadata is copied, data is
//!   *not*: a copied-up file records only the extents written since, and
//!   reads the rest from the lower file (up to `lower_len`, which a
//!   truncation can only lower). The node records its **origin**, a path in
//!   the image, so that after a reboot the lower file can be found again
//!   even if the guest renamed it (paths in a read-only image never change).
//! * A new inode gets a number above the image's inode count, recorded in
//!   the log, so inode numbers are stable across reboots.
//! * A directory's view merges its upper entries (name → inode, or a
//!   whiteout hiding the lower name) with the entries of its origin
//!   directory in the image, unless it is *opaque*. Merging follows the
//!   directory *inode*, not its name: a new directory made where the image
//!   had one has no origin and shows nothing of it; a renamed image
//!   directory keeps its origin and shows its image entries at its new name
//!   (the choice for "rename of a lower directory": no copy of its entries,
//!   one whiteout at the old name and one entry at the new one).
//! * Every operation is expressed as log records; the same `apply` builds
//!   the state live and at replay, so what is replayed is what was seen.
//!   A guest operation that needs several records (rename: whiteout, entry,
//!   link counts, times) is one Batch frame: after a crash it is all there
//!   or not at all.
//! * An inode unlinked while open keeps its upper node (nlink 0) until its
//!   last [`InodeRef`] is dropped, then a Forget record frees it. After a
//!   crash, nodes left with nlink 0 are dropped at replay.
//! * atime is not updated by reads (as with the `noatime` mount option):
//!   a log record per read would be absurd.
//!
//! * The `Opaque` record type is part of the format and honoured at
//!   replay, but nothing emits it yet: a directory made where the image had
//!   one is a new inode without origin, which is opaque by construction.
//! * Extended attributes: [`OvInode::set_xattr`] and
//!   [`OvInode::remove_xattr`] (XATTR_CREATE / XATTR_REPLACE are the
//!   caller's checks); they are not on the [`Inode`] trait yet.
//!
//! * O_TMPFILE makes an inode with nlink 0 and no entry; linkat names it,
//!   and if it is dropped (or the VM crashes) first it is forgotten like
//!   any unlinked file.
//!
//! Not done yet: upper file data is held in memory as well as in the log
//! (a later step can read extents back from the log by offset instead);
//! the log's space is not limited (statfs reports the image's figures
//! plus 16 GiB and 2^20 inodes); suid/sgid bits are not cleared on write.
//!
//! # Log format
//!
//! All integers little-endian. The header, then frames until the end:
//!
//! ```text
//!  header
//! +----------+---------+-----------+---------------+-----------------+
//! | "UMKOVL01"| version | id length | base id       | CRC32C of all   |
//! | 8 bytes  | u32 = 1 | u32 = N   | N bytes       | before, u32     |
//! +----------+---------+-----------+---------------+-----------------+
//!  frame (one record)
//! +-------------+--------+-----------------------+--------------------+
//! | len: u32    | type:u8| payload (len-1 bytes) | CRC32C(type ‖      |
//! | = 1+payload |        |                       | payload): u32      |
//! +-------------+--------+-----------------------+--------------------+
//! ```
//!
//! | type | record | payload |
//! |---|---|---|
//! | 1 | Inode (create / copy-up) | ino u64, parent u64, origin flag u8 [+ path], meta, size u64, symlink target |
//! | 2 | Attr | ino, meta |
//! | 3 | Write | ino, offset u64, mtime, data |
//! | 4 | Truncate | ino, length u64, mtime |
//! | 5 | Entry | dir ino, name, child ino |
//! | 6 | Whiteout | dir ino, name |
//! | 7 | Unentry (remove an upper-only name) | dir ino, name |
//! | 8 | Opaque | dir ino |
//! | 9 / 10 | Xattr set / remove | ino, name [, value] |
//! | 11 | Forget (inode gone) | ino |
//! | 16 | Batch (atomic group) | count u32, then per record: type u8, payload as bytes |
//!
//! `meta` is mode, uid, gid, nlink (u32 each), rdev u64 and atime, mtime,
//! ctime, btime (i64 seconds + u32 nanoseconds each); byte strings are a
//! u32 length then the bytes. Writes are cut into records of at most 1 MiB.
//!
//! The base id (opaque bytes from the caller, see [`base_id`]) names the
//! image the overlay was made for: another image is refused
//! ([`OverlayError::WrongBase`]).
//!
//! **Replay** applies frames in order and stops at the first frame whose
//! length runs past the end, whose CRC does not match or which does not
//! decode; the log is truncated there. A torn tail left by a crash is thus
//! discarded and everything before it is intact. A frame that checks out
//! but cannot be applied means a bug or a forged log: open fails with
//! [`OverlayError::Corrupt`] and the log is left alone.
//!
//! **Durability**: records are buffered in memory and appended to the
//! store when 256 KiB are pending or at [`Overlay::sync`], which also
//! fsyncs the store (the kernel calls it for fsync, fdatasync, sync and
//! syncfs).
//!
//! **Compaction**: when the log is over 1 MiB and more than twice the size
//! of the live state, [`Overlay::maybe_compact`] writes the live state as a
//! fresh log (header, then per node: Inode, Truncate and Write records for
//! its data, xattrs, Attr; then all directory entries) and swaps it in
//! atomically with [`LogStore::replace`].

mod log;
mod store;
#[cfg(test)]
mod tests;

pub use store::{FileStore, LogStore, MemStore};

use self::log::{Meta, Rec, Time};
use super::file::FileOps;
use super::pipe::{fifo_open, Pipe};
use super::{now, Attr, DirEntryOut, Inode, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::Creds;
use crate::kernel::wait::Waker;
use guest_abi::stat::*;
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::{Rc, Weak};

/// Largest file the overlay accepts (as tmpfs).
pub const MAX_FILE: u64 = 1 << 34;
/// Pending bytes that trigger an append to the store.
const PENDING_MAX: usize = 256 << 10;
/// No compaction below this log size.
const COMPACT_MIN: u64 = 1 << 20;
/// Space statfs reports for the upper layer on top of the image's.
const UPPER_SPACE: u64 = 16 << 30;
/// Free inodes statfs reports for the upper layer.
const UPPER_FILES: u64 = 1 << 20;
/// OVERLAYFS_SUPER_MAGIC.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
/// readdir cursors at and above this are in the lower phase.
const LOWER_BASE: u64 = 1 << 62;

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("the overlay was made for a different base image (overlay's base id {overlay}, this image's {image}); use the image it was made for, or a new overlay file")]
    WrongBase { overlay: String, image: String },
    #[error("the overlay log's header is corrupt: {0}")]
    CorruptHeader(String),
    #[error("the overlay {} is in use by another VM (it is locked)", .0.display())]
    Locked(PathBuf),
    #[error("the overlay log is corrupt at byte {offset}: {why}")]
    Corrupt { offset: u64, why: String },
    #[error("overlay log I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Figures for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverlayStats {
    /// Frames in the log (including pending ones).
    pub records: u64,
    /// Bytes of the log (including pending ones).
    pub bytes: u64,
    /// Bytes a compacted log would take now.
    pub live_bytes: u64,
    /// Upper nodes.
    pub inodes: usize,
    pub compactions: u64,
}

/// A base id for an ext4 image: its UUID, its size, and a CRC32C of its
/// superblock bytes (which change whenever the image is modified).
pub fn base_id(uuid: &[u8; 16], image_size: u64, superblock: &[u8]) -> Vec<u8> {
    let mut v = uuid.to_vec();
    v.extend_from_slice(&image_size.to_le_bytes());
    v.extend_from_slice(&log::crc32c(superblock).to_le_bytes());
    v
}

// ---- upper state ----

/// A regular file's upper data: written extents over the lower data.
#[derive(Default, Clone, Debug, PartialEq)]
struct FileData {
    ext: BTreeMap<u64, Vec<u8>>,
    /// Bytes below this offset not covered by an extent read from lower.
    lower_len: u64,
}

impl FileData {
    fn write(&mut self, off: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // Grow the extent that contains or ends at `off`, else start one.
        let prev = self.ext.range(..=off).next_back().map(|(&s, v)| (s, s + v.len() as u64));
        let (base, mut buf) = match prev {
            Some((s, e)) if e >= off => (s, self.ext.remove(&s).unwrap_or_default()),
            _ => (off, Vec::new()),
        };
        let rel = (off - base) as usize;
        if buf.len() < rel + data.len() {
            buf.resize(rel + data.len(), 0);
        }
        buf[rel..rel + data.len()].copy_from_slice(data);
        // Absorb the extents that start inside or right after it.
        let end = base + buf.len() as u64;
        let next: Vec<u64> = self.ext.range(base + 1..=end).map(|(&s, _)| s).collect();
        for s in next {
            let v = self.ext.remove(&s).unwrap_or_default();
            let vend = s + v.len() as u64;
            let cur_end = base + buf.len() as u64;
            if vend > cur_end {
                buf.extend_from_slice(&v[(cur_end - s) as usize..]);
            }
        }
        self.ext.insert(base, buf);
    }

    fn truncate(&mut self, len: u64) {
        self.lower_len = self.lower_len.min(len);
        let drop: Vec<u64> = self.ext.range(len..).map(|(&s, _)| s).collect();
        for s in drop {
            self.ext.remove(&s);
        }
        if let Some((&s, v)) = self.ext.range_mut(..len).next_back() {
            if s + v.len() as u64 > len {
                v.truncate((len - s) as usize);
            }
        }
    }

    fn read(
        &self,
        lower: Option<&InodeRef>,
        size: u64,
        off: u64,
        buf: &mut [u8],
    ) -> KResult<usize> {
        if off >= size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - off) as usize;
        let mut done = 0usize;
        while done < n {
            let p = off + done as u64;
            if let Some((&s, v)) = self.ext.range(..=p).next_back() {
                let e = s + v.len() as u64;
                if e > p {
                    let k = ((e - p) as usize).min(n - done);
                    let r = (p - s) as usize;
                    buf[done..done + k].copy_from_slice(&v[r..r + k]);
                    done += k;
                    continue;
                }
            }
            let next = self.ext.range(p + 1..).next().map(|(&s, _)| s).unwrap_or(u64::MAX);
            let gap_end = next.min(off + n as u64);
            let lower_end = gap_end.min(self.lower_len);
            if p < lower_end {
                let want = (lower_end - p) as usize;
                let dst = &mut buf[done..done + want];
                let mut got = 0;
                if let Some(l) = lower {
                    while got < want {
                        let k = l.read_at(p + got as u64, &mut dst[got..])?;
                        if k == 0 {
                            break;
                        }
                        got += k;
                    }
                }
                dst[got..].fill(0);
                done += want;
            } else {
                let k = (gap_end - p) as usize;
                buf[done..done + k].fill(0);
                done += k;
            }
        }
        Ok(n)
    }

    fn upper_bytes(&self) -> u64 {
        self.ext.values().map(|v| v.len() as u64).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DEnt {
    Child(u64),
    Whiteout,
}

#[derive(Default, Debug)]
struct DirData {
    /// name → (slot, entry). Slots order readdir and make its cursors
    /// stable: an entry keeps its slot until it changes.
    entries: BTreeMap<Vec<u8>, (u64, DEnt)>,
    by_slot: BTreeMap<u64, Vec<u8>>,
    next_slot: u64,
    opaque: bool,
}

impl DirData {
    fn set(&mut self, name: &[u8], e: DEnt) {
        if let Some((slot, _)) = self.entries.remove(name) {
            self.by_slot.remove(&slot);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.entries.insert(name.to_vec(), (slot, e));
        self.by_slot.insert(slot, name.to_vec());
    }
    fn remove(&mut self, name: &[u8]) {
        if let Some((slot, _)) = self.entries.remove(name) {
            self.by_slot.remove(&slot);
        }
    }
}

#[derive(Debug)]
enum Content {
    Reg(FileData),
    Dir(DirData),
    Symlink(Vec<u8>),
    Special,
}

#[derive(Debug)]
struct Node {
    meta: Meta,
    size: u64,
    /// The parent directory (directories only).
    parent: u64,
    /// Path in the lower image, for copied-up inodes.
    origin: Option<Vec<u8>>,
    content: Content,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

#[derive(Default)]
struct State {
    nodes: crate::kernel::hash::FastMap<u64, Node>,
    next_ino: u64,
}

impl State {
    fn node(&mut self, ino: u64) -> Result<&mut Node, String> {
        self.nodes.get_mut(&ino).ok_or_else(|| format!("inode {ino} has no upper node"))
    }

    fn dir(&mut self, ino: u64) -> Result<&mut DirData, String> {
        match &mut self.node(ino)?.content {
            Content::Dir(d) => Ok(d),
            _ => Err(format!("inode {ino} is not a directory")),
        }
    }

    fn apply(&mut self, rec: &Rec, first_new: u64) -> Result<(), String> {
        match rec {
            Rec::Inode { ino, parent, origin, meta, size, target } => {
                let content = match meta.mode & S_IFMT {
                    S_IFREG => Content::Reg(FileData {
                        ext: BTreeMap::new(),
                        lower_len: if origin.is_some() { *size } else { 0 },
                    }),
                    S_IFDIR => Content::Dir(DirData::default()),
                    S_IFLNK => Content::Symlink(target.clone()),
                    S_IFIFO | S_IFCHR | S_IFBLK | S_IFSOCK => Content::Special,
                    t => return Err(format!("inode {ino} has unknown file type {t:o}")),
                };
                if *ino >= first_new {
                    self.next_ino = self.next_ino.max(ino + 1);
                }
                self.nodes.insert(
                    *ino,
                    Node {
                        meta: *meta,
                        size: *size,
                        parent: *parent,
                        origin: origin.clone(),
                        content,
                        xattrs: BTreeMap::new(),
                    },
                );
            }
            Rec::Attr { ino, meta } => {
                let n = self.node(*ino)?;
                if n.meta.mode & S_IFMT != meta.mode & S_IFMT {
                    return Err(format!("Attr would change the file type of inode {ino}"));
                }
                n.meta = *meta;
            }
            Rec::Write { ino, off, t, data } => {
                let n = self.node(*ino)?;
                let end = off
                    .checked_add(data.len() as u64)
                    .filter(|&e| e <= MAX_FILE)
                    .ok_or("write past the largest file")?;
                match &mut n.content {
                    Content::Reg(f) => f.write(*off, data),
                    _ => return Err(format!("write to inode {ino}, not a regular file")),
                }
                n.size = n.size.max(end);
                n.meta.mtime = *t;
                n.meta.ctime = *t;
            }
            Rec::Truncate { ino, len, t } => {
                let n = self.node(*ino)?;
                if *len > MAX_FILE {
                    return Err("truncate past the largest file".into());
                }
                match &mut n.content {
                    Content::Reg(f) => f.truncate(*len),
                    _ => return Err(format!("truncate of inode {ino}, not a regular file")),
                }
                n.size = *len;
                n.meta.mtime = *t;
                n.meta.ctime = *t;
            }
            Rec::Entry { dir, name, child } => {
                let child_is_dir = self.node(*child)?.meta.mode & S_IFMT == S_IFDIR;
                validate_name(name)?;
                self.dir(*dir)?.set(name, DEnt::Child(*child));
                if child_is_dir {
                    self.node(*child)?.parent = *dir;
                }
            }
            Rec::Whiteout { dir, name } => {
                validate_name(name)?;
                self.dir(*dir)?.set(name, DEnt::Whiteout);
            }
            Rec::Unentry { dir, name } => self.dir(*dir)?.remove(name),
            Rec::Opaque { dir } => self.dir(*dir)?.opaque = true,
            Rec::XattrSet { ino, name, value } => {
                self.node(*ino)?.xattrs.insert(name.clone(), value.clone());
            }
            Rec::XattrRemove { ino, name } => {
                self.node(*ino)?.xattrs.remove(name);
            }
            Rec::Forget { ino } => {
                self.nodes.remove(ino);
            }
            Rec::Batch(recs) => {
                for r in recs {
                    self.apply(r, first_new)?;
                }
            }
        }
        Ok(())
    }
}

fn validate_name(name: &[u8]) -> Result<(), String> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(format!("bad entry name {:?}", String::from_utf8_lossy(name)));
    }
    Ok(())
}

fn join(dir: &[u8], name: &[u8]) -> Rc<[u8]> {
    if dir.is_empty() {
        return name.into();
    }
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p.into()
}

fn dirname(p: &[u8]) -> Rc<[u8]> {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => p[..i].into(),
        None => Rc::from(&b""[..]),
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    if e.raw_os_error() == Some(guest_abi::errno::ENOSPC) {
        Errno::ENOSPC
    } else {
        Errno::EIO
    }
}

// ---- the log ----

struct Log {
    store: Box<dyn LogStore>,
    /// Framed records not yet appended to the store.
    pending: Vec<u8>,
    /// Bytes in the store.
    len: u64,
    records: u64,
    /// Set when an append failed and the store could not be cut back to
    /// its last good length: nothing more can be logged safely.
    broken: bool,
    /// Log size at which `maybe_compact` looks again.
    next_check: u64,
    compactions: u64,
}

// ---- the filesystem ----

pub struct Overlay {
    me: Weak<Overlay>,
    dev: u64,
    waker: Waker,
    lower_root: InodeRef,
    root_ino: u64,
    /// New inodes are numbered from here (above the image's inode count).
    first_new: u64,
    base_id: Vec<u8>,
    st: RefCell<State>,
    log: RefCell<Log>,
    /// The live inode object of each inode number (one per number, so that
    /// all opens and names of an inode share it).
    handles: RefCell<crate::kernel::hash::FastMap<u64, Weak<OvInode>>>,
    /// Inode numbers whose inode object was dropped since the last reap.
    dropped: RefCell<Vec<u64>>,
    fifos: RefCell<HashMap<u64, Rc<Pipe>>>,
}

pub struct OvInode {
    ov: Rc<Overlay>,
    me: Weak<OvInode>,
    ino: u64,
    /// The lower inode, once known (found by a lookup in a lower directory
    /// or resolved from the node's origin).
    lower: RefCell<Option<InodeRef>>,
    lower_path: RefCell<Option<Rc<[u8]>>>,
}

impl Drop for OvInode {
    fn drop(&mut self) {
        if let Ok(mut d) = self.ov.dropped.try_borrow_mut() {
            d.push(self.ino);
        }
    }
}

impl Overlay {
    /// Opens (replaying the log) or creates an overlay over `lower` (the
    /// image root inode).
    pub fn open(
        lower: InodeRef,
        base_id: &[u8],
        mut store: Box<dyn LogStore>,
        waker: &Waker,
        dev: u64,
    ) -> Result<Rc<Overlay>, OverlayError> {
        let la = lower.attr().map_err(|e| {
            OverlayError::Io(std::io::Error::other(format!("the base image's root: {}", e.name())))
        })?;
        let root_ino = la.ino;
        let first_new = lower.statfs().4.max(root_ino) + 1;
        let bytes = store.read_all()?;
        let header = log::encode_header(base_id);
        let hlen = if bytes.is_empty() || (bytes.len() < header.len() && header.starts_with(&bytes))
        {
            // New, or a crash while the header was written.
            store.replace(&header)?;
            header.len()
        } else {
            log::check_header(&bytes, base_id)?
        };
        let mut st = State { nodes: Default::default(), next_ino: first_new };
        let mut pos = hlen;
        let mut records = 0;
        while pos < bytes.len() {
            match log::parse_frame(&bytes, pos) {
                Ok((rec, next)) => {
                    st.apply(&rec, first_new)
                        .map_err(|why| OverlayError::Corrupt { offset: pos as u64, why })?;
                    records += 1;
                    pos = next;
                }
                Err(_) => break,
            }
        }
        if pos < bytes.len() {
            store.truncate_to(pos as u64)?;
        }
        // Inodes unlinked while open when the VM stopped.
        st.nodes.retain(|&ino, n| n.meta.nlink > 0 || ino == root_ino);
        let log = Log {
            store,
            pending: Vec::new(),
            len: pos as u64,
            records,
            broken: false,
            next_check: COMPACT_MIN,
            compactions: 0,
        };
        Ok(Rc::new_cyclic(|me| Overlay {
            me: me.clone(),
            dev,
            waker: waker.clone(),
            lower_root: lower,
            root_ino,
            first_new,
            base_id: base_id.to_vec(),
            st: RefCell::new(st),
            log: RefCell::new(log),
            handles: RefCell::new(Default::default()),
            dropped: RefCell::new(Vec::new()),
            fifos: RefCell::new(HashMap::new()),
        }))
    }

    pub fn root(self: &Rc<Self>) -> InodeRef {
        self.root_handle()
    }

    fn root_handle(&self) -> Rc<OvInode> {
        self.handle(self.root_ino, Some(self.lower_root.clone()), Some(Rc::from(&b""[..])))
    }

    /// Durability: appends pending records and fsyncs the log.
    pub fn sync(&self) -> KResult<()> {
        self.reap();
        self.flush()?;
        self.maybe_compact()?;
        let mut log = self.log.borrow_mut();
        log.store.sync().map_err(|e| io_errno(&e))
    }

    /// Rewrites the log with only the live state when it is over 1 MiB and
    /// more than twice that state's size.
    pub fn maybe_compact(&self) -> KResult<()> {
        self.flush()?;
        {
            let log = self.log.borrow();
            if log.len < log.next_check {
                return Ok(());
            }
        }
        self.compact(false)
    }

    /// Compacts now if `force`, else when worth it.
    fn compact(&self, force: bool) -> KResult<()> {
        self.flush()?;
        let (snap, count) = self.snapshot();
        let live = snap.len() as u64;
        let mut log = self.log.borrow_mut();
        if force || log.len > 2 * live {
            log.store.replace(&snap).map_err(|e| io_errno(&e))?;
            log.len = live;
            log.records = count;
            log.compactions += 1;
        }
        log.next_check = (2 * live).max(log.len) + COMPACT_MIN;
        Ok(())
    }

    pub fn stats(&self) -> OverlayStats {
        let (snap, _) = self.snapshot();
        let log = self.log.borrow();
        OverlayStats {
            records: log.records,
            bytes: log.len + log.pending.len() as u64,
            live_bytes: snap.len() as u64,
            inodes: self.st.borrow().nodes.len(),
            compactions: log.compactions,
        }
    }

    /// The live state as a fresh log (header included) and its frame count.
    fn snapshot(&self) -> (Vec<u8>, u64) {
        let st = self.st.borrow();
        let mut out = log::encode_header(&self.base_id);
        let mut n = 0u64;
        let mut put = |r: Rec, out: &mut Vec<u8>| {
            r.frame_into(out);
            n += 1;
        };
        let mut inos: Vec<u64> = st.nodes.keys().copied().collect();
        inos.sort_unstable();
        for &ino in &inos {
            let node = &st.nodes[&ino];
            let (size, target) = match &node.content {
                Content::Reg(f) => (f.lower_len, Vec::new()),
                Content::Symlink(t) => (node.size, t.clone()),
                _ => (node.size, Vec::new()),
            };
            put(
                Rec::Inode {
                    ino,
                    parent: node.parent,
                    origin: node.origin.clone(),
                    meta: node.meta,
                    size,
                    target,
                },
                &mut out,
            );
            if let Content::Reg(f) = &node.content {
                if node.size != f.lower_len {
                    put(Rec::Truncate { ino, len: node.size, t: node.meta.mtime }, &mut out);
                }
                for (&off, data) in &f.ext {
                    for (i, chunk) in data.chunks(log::WRITE_CHUNK).enumerate() {
                        put(
                            Rec::Write {
                                ino,
                                off: off + (i * log::WRITE_CHUNK) as u64,
                                t: node.meta.mtime,
                                data: chunk.to_vec(),
                            },
                            &mut out,
                        );
                    }
                }
            }
            for (name, value) in &node.xattrs {
                put(Rec::XattrSet { ino, name: name.clone(), value: value.clone() }, &mut out);
            }
            put(Rec::Attr { ino, meta: node.meta }, &mut out);
        }
        for &ino in &inos {
            if let Content::Dir(d) = &st.nodes[&ino].content {
                for name in d.by_slot.values() {
                    let rec = match d.entries[name].1 {
                        DEnt::Child(child) => Rec::Entry { dir: ino, name: name.clone(), child },
                        DEnt::Whiteout => Rec::Whiteout { dir: ino, name: name.clone() },
                    };
                    put(rec, &mut out);
                }
                if d.opaque {
                    put(Rec::Opaque { dir: ino }, &mut out);
                }
            }
        }
        (out, n)
    }

    /// Appends pending records to the store.
    fn flush(&self) -> KResult<()> {
        let mut log = self.log.borrow_mut();
        if log.broken {
            return Err(Errno::EIO);
        }
        if log.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut log.pending);
        match log.store.append(&pending) {
            Ok(()) => {
                log.len += pending.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A partial append would hide every later record at replay:
                // cut it off, keep the records to retry.
                let good = log.len;
                if log.store.truncate_to(good).is_err() {
                    log.broken = true;
                }
                log.pending = pending;
                Err(io_errno(&e))
            }
        }
    }

    /// Applies records to the state and logs them (several records as one
    /// atomic Batch frame).
    fn commit(&self, mut recs: Vec<Rec>) -> KResult<()> {
        if recs.is_empty() {
            return Ok(());
        }
        if self.log.borrow().broken {
            return Err(Errno::EIO);
        }
        let rec = if recs.len() == 1 {
            recs.pop().unwrap_or(Rec::Batch(Vec::new()))
        } else {
            Rec::Batch(recs)
        };
        self.st.borrow_mut().apply(&rec, self.first_new).map_err(|_| Errno::EIO)?;
        let full = {
            let mut log = self.log.borrow_mut();
            rec.frame_into(&mut log.pending);
            log.records += 1;
            log.pending.len() >= PENDING_MAX
        };
        if full {
            self.flush()?;
            self.maybe_compact()?;
        }
        Ok(())
    }

    /// Forgets the inodes that have no links left and are no longer open.
    fn reap(&self) {
        let dropped = std::mem::take(&mut *self.dropped.borrow_mut());
        if dropped.is_empty() {
            return;
        }
        let mut gone = BTreeSet::new();
        {
            let mut h = self.handles.borrow_mut();
            let st = self.st.borrow();
            for ino in dropped {
                if h.get(&ino).is_some_and(|w| w.strong_count() > 0) {
                    continue;
                }
                h.remove(&ino);
                if st.nodes.get(&ino).is_some_and(|n| n.meta.nlink == 0) && ino != self.root_ino {
                    gone.insert(ino);
                }
            }
        }
        for ino in gone {
            self.fifos.borrow_mut().remove(&ino);
            let _ = self.commit(vec![Rec::Forget { ino }]);
        }
    }

    /// The inode object for `ino`, made if none is live.
    fn handle(
        &self,
        ino: u64,
        lower: Option<InodeRef>,
        lower_path: Option<Rc<[u8]>>,
    ) -> Rc<OvInode> {
        // Lookups alone (a `find` over the image) drop many inode objects:
        // clear their entries now and then, not only at the next change.
        if self.dropped.borrow().len() > 4096 {
            self.reap();
        }
        let live = self.handles.borrow().get(&ino).and_then(|w| w.upgrade());
        if let Some(h) = live {
            if h.lower.borrow().is_none() && lower.is_some() {
                *h.lower.borrow_mut() = lower;
                *h.lower_path.borrow_mut() = lower_path;
            }
            return h;
        }
        let ov = self.me.upgrade().expect("overlay is alive while its methods run");
        let h = Rc::new_cyclic(|me| OvInode {
            ov,
            me: me.clone(),
            ino,
            lower: RefCell::new(lower),
            lower_path: RefCell::new(lower_path),
        });
        self.handles.borrow_mut().insert(ino, Rc::downgrade(&h));
        h
    }

    /// The inode object of an inode that is live or has an upper node.
    fn handle_known(&self, ino: u64) -> Option<Rc<OvInode>> {
        let live = self.handles.borrow().get(&ino).and_then(|w| w.upgrade());
        if live.is_some() {
            return live;
        }
        if ino == self.root_ino {
            return Some(self.root_handle());
        }
        if self.st.borrow().nodes.contains_key(&ino) {
            return Some(self.handle(ino, None, None));
        }
        None
    }

    /// The lower inode behind `h`, resolving the node's origin path in the
    /// image when needed.
    fn lower_of(&self, h: &OvInode) -> KResult<Option<InodeRef>> {
        if let Some(l) = h.lower.borrow().clone() {
            return Ok(Some(l));
        }
        let origin = self.st.borrow().nodes.get(&h.ino).and_then(|n| n.origin.clone());
        let Some(p) = origin else { return Ok(None) };
        let mut cur = self.lower_root.clone();
        for comp in p.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            // The image is read-only: a path recorded once resolves forever.
            cur = cur.lookup(comp).map_err(|_| Errno::EIO)?;
        }
        *h.lower.borrow_mut() = Some(cur.clone());
        *h.lower_path.borrow_mut() = Some(p.into());
        Ok(Some(cur))
    }

    fn lower_path_of(&self, h: &OvInode) -> Option<Rc<[u8]>> {
        if let Some(p) = h.lower_path.borrow().clone() {
            return Some(p);
        }
        self.st.borrow().nodes.get(&h.ino).and_then(|n| n.origin.as_deref().map(Rc::from))
    }

    /// The parent directory of directory `h`.
    fn parent_of(&self, h: &OvInode) -> KResult<Rc<OvInode>> {
        if h.ino == self.root_ino {
            return h.me.upgrade().ok_or(Errno::ENOENT);
        }
        let up = self.st.borrow().nodes.get(&h.ino).map(|n| n.parent);
        if let Some(p) = up {
            if let Some(hp) = self.handle_known(p) {
                return Ok(hp);
            }
            // The parent is an image directory that nothing holds and that
            // was never copied up. A directory gaining or losing entries is
            // copied up, so `h` still sits where the image has it: the
            // image's ".." is the parent.
            if let Some(l) = self.lower_of(h)? {
                let lp = l.lookup(b"..")?;
                if lp.attr()?.ino == p {
                    let path = self.lower_path_of(h).map(|x| dirname(&x));
                    return Ok(self.handle(p, Some(lp), path));
                }
            }
            return Err(Errno::EIO);
        }
        // An image directory still where the image has it.
        let l = self.lower_of(h)?.ok_or(Errno::EIO)?;
        let lp = l.lookup(b"..")?;
        let pino = lp.attr()?.ino;
        if let Some(p) = self.handle_known(pino) {
            return Ok(p);
        }
        let path = self.lower_path_of(h).map(|p| dirname(&p));
        Ok(self.handle(pino, Some(lp), path))
    }

    /// Copies `h` up: gives it an upper node (metadata, xattrs; data stays
    /// in lower).
    fn copy_up(&self, h: &OvInode) -> KResult<()> {
        if self.st.borrow().nodes.contains_key(&h.ino) {
            return Ok(());
        }
        let l = self.lower_of(h)?.ok_or(Errno::EIO)?;
        let path = self.lower_path_of(h).ok_or(Errno::EIO)?;
        let a = l.attr()?;
        let parent = if !a.is_dir() {
            0
        } else if h.ino == self.root_ino {
            h.ino
        } else {
            l.lookup(b"..")?.attr()?.ino
        };
        let target = if a.is_symlink() { l.readlink()? } else { Vec::new() };
        let meta = Meta {
            mode: a.mode,
            uid: a.uid,
            gid: a.gid,
            nlink: a.nlink,
            rdev: a.rdev,
            atime: a.atime,
            mtime: a.mtime,
            ctime: a.ctime,
            btime: a.btime.unwrap_or(a.ctime),
        };
        let mut recs = vec![Rec::Inode {
            ino: h.ino,
            parent,
            origin: Some(path.to_vec()),
            meta,
            size: a.size,
            target,
        }];
        for (name, value) in l.xattrs()? {
            recs.push(Rec::XattrSet { ino: h.ino, name, value });
        }
        self.commit(recs)
    }

    fn meta(&self, ino: u64) -> KResult<Meta> {
        self.st.borrow().nodes.get(&ino).map(|n| n.meta).ok_or(Errno::EIO)
    }

    fn downcast(&self, i: &InodeRef) -> KResult<Rc<OvInode>> {
        let o = i
            .as_any()
            .downcast_ref::<OvInode>()
            .and_then(|o| o.me.upgrade())
            .ok_or(Errno::EXDEV)?;
        if !std::ptr::eq(Rc::as_ptr(&o.ov), self) {
            return Err(Errno::EXDEV);
        }
        Ok(o)
    }

    /// Whether `h` needs an upper node to record a lost link: it has one,
    /// or it has other links, or it is open somewhere.
    fn tracks_links(&self, h: &Rc<OvInode>, a: &Attr) -> bool {
        self.st.borrow().nodes.contains_key(&h.ino)
            || (!a.is_dir() && a.nlink > 1)
            || Rc::strong_count(h) > 1
    }
}

/// Metas edited by one operation, logged as Attr records at the end.
struct Edits<'a> {
    ov: &'a Overlay,
    metas: BTreeMap<u64, Meta>,
}

impl<'a> Edits<'a> {
    fn new(ov: &'a Overlay) -> Self {
        Edits { ov, metas: BTreeMap::new() }
    }
    fn get(&mut self, ino: u64) -> KResult<&mut Meta> {
        if !self.metas.contains_key(&ino) {
            let m = self.ov.meta(ino)?;
            self.metas.insert(ino, m);
        }
        self.metas.get_mut(&ino).ok_or(Errno::EIO)
    }
    fn touch_dir(&mut self, ino: u64, t: Time) -> KResult<()> {
        let m = self.get(ino)?;
        m.mtime = t;
        m.ctime = t;
        Ok(())
    }
    fn nlink(&mut self, ino: u64, delta: i64) -> KResult<()> {
        let m = self.get(ino)?;
        m.nlink = (m.nlink as i64 + delta).max(0) as u32;
        Ok(())
    }
    fn into_recs(self, recs: &mut Vec<Rec>) {
        for (ino, meta) in self.metas {
            recs.push(Rec::Attr { ino, meta });
        }
    }
}

impl OvInode {
    fn me(&self) -> KResult<Rc<OvInode>> {
        self.me.upgrade().ok_or(Errno::ENOENT)
    }

    fn is_dir(&self) -> KResult<bool> {
        Ok(self.attr()?.is_dir())
    }

    /// Runs a mutating operation, then frees what it left unreferenced.
    fn op<T>(&self, f: impl FnOnce() -> KResult<T>) -> KResult<T> {
        self.ov.reap();
        let r = f();
        self.ov.reap();
        r
    }

    /// The merged entry `name` of this directory.
    fn child(&self, name: &[u8]) -> KResult<Option<Rc<OvInode>>> {
        let (upper, opaque) = {
            let st = self.ov.st.borrow();
            match st.nodes.get(&self.ino) {
                Some(n) => match &n.content {
                    Content::Dir(d) => (d.entries.get(name).map(|e| e.1), d.opaque),
                    _ => return Err(Errno::ENOTDIR),
                },
                None => (None, false),
            }
        };
        match upper {
            Some(DEnt::Child(c)) => return self.ov.handle_known(c).map(Some).ok_or(Errno::EIO),
            Some(DEnt::Whiteout) => return Ok(None),
            None if opaque => return Ok(None),
            None => {}
        }
        let Some(l) = self.ov.lower_of(self)? else { return Ok(None) };
        match l.lookup(name) {
            Ok(lc) => {
                let ino = lc.attr()?.ino;
                let path = self.ov.lower_path_of(self).map(|p| join(&p, name));
                Ok(Some(self.ov.handle(ino, Some(lc), path)))
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the lower directory has `name` (and shows through).
    fn in_lower(&self, name: &[u8]) -> KResult<bool> {
        let opaque = matches!(self.ov.st.borrow().nodes.get(&self.ino).map(|n| &n.content), Some(Content::Dir(d)) if d.opaque);
        if opaque {
            return Ok(false);
        }
        match self.ov.lower_of(self)? {
            Some(l) => Ok(l.lookup(name).is_ok()),
            None => Ok(false),
        }
    }

    /// Whether the merged directory has entries besides `.` and `..`.
    fn has_entries(&self) -> KResult<bool> {
        let mut any = false;
        self.readdir(2, &mut |_| {
            any = true;
            false
        })?;
        Ok(any)
    }

    fn check_reg(&self) -> KResult<()> {
        let a = self.attr()?;
        match a.file_type() {
            S_IFREG => Ok(()),
            S_IFDIR => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Sets an extended attribute.
    pub fn ov_set_xattr(&self, name: &[u8], value: &[u8]) -> KResult<()> {
        self.op(|| {
            self.ov.copy_up(self)?;
            let mut m = self.ov.meta(self.ino)?;
            m.ctime = now();
            self.ov.commit(vec![
                Rec::XattrSet { ino: self.ino, name: name.to_vec(), value: value.to_vec() },
                Rec::Attr { ino: self.ino, meta: m },
            ])
        })
    }

    /// Removes an extended attribute; ENODATA when it is not set.
    pub fn ov_remove_xattr(&self, name: &[u8]) -> KResult<()> {
        self.op(|| {
            if !self.xattrs()?.iter().any(|(n, _)| n == name) {
                return Err(Errno::ENODATA);
            }
            self.ov.copy_up(self)?;
            let mut m = self.ov.meta(self.ino)?;
            m.ctime = now();
            self.ov.commit(vec![
                Rec::XattrRemove { ino: self.ino, name: name.to_vec() },
                Rec::Attr { ino: self.ino, meta: m },
            ])
        })
    }

    /// Whether `anc` is `self` or one of its ancestors.
    fn has_ancestor(&self, anc: u64) -> KResult<bool> {
        let mut cur = self.me()?;
        for _ in 0..4096 {
            if cur.ino == anc {
                return Ok(true);
            }
            let p = self.ov.parent_of(&cur)?;
            if p.ino == cur.ino {
                return Ok(false);
            }
            cur = p;
        }
        Err(Errno::ELOOP)
    }
}

impl Inode for OvInode {
    fn set_xattr(&self, name: &[u8], value: &[u8]) -> KResult<()> {
        self.ov_set_xattr(name, value)
    }
    fn remove_xattr(&self, name: &[u8]) -> KResult<()> {
        self.ov_remove_xattr(name)
    }

    fn attr(&self) -> KResult<Attr> {
        {
            let st = self.ov.st.borrow();
            if let Some(n) = st.nodes.get(&self.ino) {
                let m = &n.meta;
                let blocks = match &n.content {
                    Content::Reg(_) | Content::Dir(_) => n.size.div_ceil(4096) * 8,
                    _ => 0,
                };
                return Ok(Attr {
                    dev: self.ov.dev,
                    ino: self.ino,
                    mode: m.mode,
                    nlink: m.nlink,
                    uid: m.uid,
                    gid: m.gid,
                    rdev: m.rdev,
                    size: n.size,
                    blocks,
                    blksize: 4096,
                    atime: m.atime,
                    mtime: m.mtime,
                    ctime: m.ctime,
                    btime: Some(m.btime),
                });
            }
        }
        let l = self.ov.lower_of(self)?.ok_or(Errno::EIO)?;
        let mut a = l.attr()?;
        a.dev = self.ov.dev;
        a.ino = self.ino;
        Ok(a)
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        if !self.is_dir()? {
            return Err(Errno::ENOTDIR);
        }
        if name == b"." {
            return Ok(self.me()?);
        }
        if name == b".." {
            return Ok(self.ov.parent_of(self)?);
        }
        match self.child(name)? {
            Some(c) => Ok(c),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        if !self.is_dir()? {
            return Err(Errno::ENOTDIR);
        }
        let mut pos = cursor;
        if pos == 0 {
            if !emit(DirEntryOut { ino: self.ino, name: b".", dtype: DT_DIR, next: 1 }) {
                return Ok(());
            }
            pos = 1;
        }
        if pos == 1 {
            let parent = self.ov.parent_of(self)?.ino;
            if !emit(DirEntryOut { ino: parent, name: b"..", dtype: DT_DIR, next: 2 }) {
                return Ok(());
            }
            pos = 2;
        }
        // Upper entries, in slot order; then lower entries they do not name.
        let (upper, names, opaque) = {
            let st = self.ov.st.borrow();
            match st.nodes.get(&self.ino).map(|n| &n.content) {
                Some(Content::Dir(d)) => {
                    let mut v = Vec::new();
                    if pos < LOWER_BASE {
                        for (&slot, name) in d.by_slot.range(pos - 2..) {
                            if let DEnt::Child(c) = d.entries[name].1 {
                                let dtype = st
                                    .nodes
                                    .get(&c)
                                    .map(|n| dtype_of_mode(n.meta.mode))
                                    .unwrap_or(DT_UNKNOWN);
                                v.push((slot, name.clone(), c, dtype));
                            }
                        }
                    }
                    let names: BTreeSet<Vec<u8>> = d.entries.keys().cloned().collect();
                    (v, names, d.opaque)
                }
                _ => (Vec::new(), BTreeSet::new(), false),
            }
        };
        for (slot, name, ino, dtype) in &upper {
            if !emit(DirEntryOut { ino: *ino, name, dtype: *dtype, next: slot + 3 }) {
                return Ok(());
            }
        }
        if opaque {
            return Ok(());
        }
        let Some(l) = self.ov.lower_of(self)? else { return Ok(()) };
        let lc = pos.saturating_sub(LOWER_BASE);
        l.readdir(lc, &mut |e| {
            if e.name == b"." || e.name == b".." || names.contains(e.name) {
                return true;
            }
            emit(DirEntryOut {
                ino: e.ino,
                name: e.name,
                dtype: e.dtype,
                next: LOWER_BASE + e.next,
            })
        })
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        {
            let st = self.ov.st.borrow();
            if let Some(n) = st.nodes.get(&self.ino) {
                return match &n.content {
                    Content::Symlink(t) => Ok(t.clone()),
                    _ => Err(Errno::EINVAL),
                };
            }
        }
        self.ov.lower_of(self)?.ok_or(Errno::EIO)?.readlink()
    }

    fn image_extent(&self, off: u64) -> Option<(u64, u64)> {
        // Only a file the VM never touched is the image's bytes.
        if self.ov.st.borrow().nodes.contains_key(&self.ino) {
            return None;
        }
        self.ov.lower_of(self).ok().flatten()?.image_extent(off)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> KResult<usize> {
        let st = self.ov.st.borrow();
        if let Some(n) = st.nodes.get(&self.ino) {
            return match &n.content {
                Content::Reg(f) => {
                    let lower = if off < f.lower_len { self.ov.lower_of(self)? } else { None };
                    f.read(lower.as_ref(), n.size, off, buf)
                }
                Content::Dir(_) => Err(Errno::EISDIR),
                _ => Err(Errno::EINVAL),
            };
        }
        drop(st);
        self.ov.lower_of(self)?.ok_or(Errno::EIO)?.read_at(off, buf)
    }

    fn write_at(&self, off: u64, data: &[u8]) -> KResult<usize> {
        self.op(|| {
            self.check_reg()?;
            let end = off.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
            if end > MAX_FILE {
                return Err(Errno::EFBIG);
            }
            if data.is_empty() {
                return Ok(0);
            }
            self.ov.copy_up(self)?;
            let t = now();
            // Each chunk is its own frame: a write is not atomic across a
            // crash on Linux either, and frames stay small.
            for (i, chunk) in data.chunks(log::WRITE_CHUNK).enumerate() {
                let o = off + (i * log::WRITE_CHUNK) as u64;
                self.ov.commit(vec![Rec::Write {
                    ino: self.ino,
                    off: o,
                    t,
                    data: chunk.to_vec(),
                }])?;
            }
            Ok(data.len())
        })
    }

    fn truncate(&self, len: u64) -> KResult<()> {
        self.op(|| {
            self.check_reg()?;
            if len > MAX_FILE {
                return Err(Errno::EFBIG);
            }
            self.ov.copy_up(self)?;
            self.ov.commit(vec![Rec::Truncate { ino: self.ino, len, t: now() }])
        })
    }

    fn create(
        &self,
        name: &[u8],
        mode: u32,
        rdev: u64,
        target: Option<&[u8]>,
        creds: &Creds,
    ) -> KResult<InodeRef> {
        self.op(|| {
            if !self.is_dir()? {
                return Err(Errno::ENOTDIR);
            }
            if self.child(name)?.is_some() {
                return Err(Errno::EEXIST);
            }
            self.ov.copy_up(self)?;
            let ino = self.ov.st.borrow().next_ino;
            let t = now();
            let ty = mode & S_IFMT;
            let is_dir = ty == S_IFDIR;
            let dm = self.ov.meta(self.ino)?;
            // BSD group semantics under a setgid directory, as Linux.
            let (gid, mode) = if dm.mode & S_ISGID != 0 {
                (dm.gid, if is_dir { mode | S_ISGID } else { mode })
            } else {
                (creds.gid, mode)
            };
            let target = target.unwrap_or_default().to_vec();
            let size = match ty {
                S_IFDIR => 4096,
                S_IFLNK => target.len() as u64,
                _ => 0,
            };
            let meta = Meta {
                mode,
                uid: creds.uid,
                gid,
                nlink: if is_dir { 2 } else { 1 },
                rdev,
                atime: t,
                mtime: t,
                ctime: t,
                btime: t,
            };
            let mut recs = vec![
                Rec::Inode { ino, parent: self.ino, origin: None, meta, size, target },
                Rec::Entry { dir: self.ino, name: name.to_vec(), child: ino },
            ];
            let mut ed = Edits::new(&self.ov);
            ed.touch_dir(self.ino, t)?;
            if is_dir {
                ed.nlink(self.ino, 1)?;
            }
            ed.into_recs(&mut recs);
            self.ov.commit(recs)?;
            Ok(self.ov.handle(ino, None, None) as InodeRef)
        })
    }

    /// O_TMPFILE: a regular file with no name (nlink 0). Closed without a
    /// link it is forgotten; after a crash, replay drops it.
    fn create_tmpfile(&self, mode: u32, creds: &Creds) -> KResult<InodeRef> {
        self.op(|| {
            if !self.is_dir()? {
                return Err(Errno::ENOTDIR);
            }
            self.ov.copy_up(self)?;
            let ino = self.ov.st.borrow().next_ino;
            let t = now();
            let dm = self.ov.meta(self.ino)?;
            let gid = if dm.mode & S_ISGID != 0 { dm.gid } else { creds.gid };
            let meta = Meta {
                mode,
                uid: creds.uid,
                gid,
                nlink: 0,
                rdev: 0,
                atime: t,
                mtime: t,
                ctime: t,
                btime: t,
            };
            let rec = Rec::Inode {
                ino,
                parent: self.ino,
                origin: None,
                meta,
                size: 0,
                target: Vec::new(),
            };
            self.ov.commit(vec![rec])?;
            Ok(self.ov.handle(ino, None, None) as InodeRef)
        })
    }

    fn link(&self, name: &[u8], target: &InodeRef) -> KResult<()> {
        self.op(|| {
            let t = self.ov.downcast(target)?;
            if t.is_dir()? {
                return Err(Errno::EPERM);
            }
            if !self.is_dir()? {
                return Err(Errno::ENOTDIR);
            }
            if self.child(name)?.is_some() {
                return Err(Errno::EEXIST);
            }
            // (Whether a file with no links may get one is the VFS's call:
            // an O_TMPFILE file may.)
            self.ov.copy_up(&t)?;
            self.ov.copy_up(self)?;
            let now = now();
            let mut recs = vec![Rec::Entry { dir: self.ino, name: name.to_vec(), child: t.ino }];
            let mut ed = Edits::new(&self.ov);
            ed.nlink(t.ino, 1)?;
            ed.get(t.ino)?.ctime = now;
            ed.touch_dir(self.ino, now)?;
            ed.into_recs(&mut recs);
            self.ov.commit(recs)
        })
    }

    fn unlink(&self, name: &[u8], want_dir: bool) -> KResult<()> {
        self.op(|| {
            let child = self.child(name)?.ok_or(Errno::ENOENT)?;
            let ca = child.attr()?;
            let is_dir = ca.is_dir();
            if want_dir {
                if !is_dir {
                    return Err(Errno::ENOTDIR);
                }
                if child.has_entries()? {
                    return Err(Errno::ENOTEMPTY);
                }
            } else if is_dir {
                return Err(Errno::EISDIR);
            }
            self.ov.copy_up(self)?;
            let t = now();
            let mut recs = vec![if self.in_lower(name)? {
                Rec::Whiteout { dir: self.ino, name: name.to_vec() }
            } else {
                Rec::Unentry { dir: self.ino, name: name.to_vec() }
            }];
            let mut ed = Edits::new(&self.ov);
            if self.ov.tracks_links(&child, &ca) {
                self.ov.copy_up(&child)?;
                if is_dir {
                    ed.get(child.ino)?.nlink = 0;
                } else {
                    ed.nlink(child.ino, -1)?;
                }
                ed.get(child.ino)?.ctime = t;
            }
            ed.touch_dir(self.ino, t)?;
            if is_dir {
                ed.nlink(self.ino, -1)?;
            }
            ed.into_recs(&mut recs);
            self.ov.commit(recs)
        })
    }

    fn rename(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> KResult<()> {
        self.op(|| {
            let nd = self.ov.downcast(new_dir)?;
            if !self.is_dir()? || !nd.is_dir()? {
                return Err(Errno::ENOTDIR);
            }
            let src = self.child(name)?.ok_or(Errno::ENOENT)?;
            let src_dir = src.is_dir()?;
            // A directory cannot move into itself or below itself.
            if src_dir && nd.has_ancestor(src.ino)? {
                return Err(Errno::EINVAL);
            }
            let existing = nd.child(new_name)?;
            if let Some(ex) = &existing {
                if ex.ino == src.ino {
                    return Ok(());
                }
                let ex_dir = ex.is_dir()?;
                match (src_dir, ex_dir) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if ex.has_entries()? => return Err(Errno::ENOTEMPTY),
                    _ => {}
                }
            }
            self.ov.copy_up(&src)?;
            self.ov.copy_up(self)?;
            self.ov.copy_up(&nd)?;
            let t = now();
            let mut recs = vec![
                if self.in_lower(name)? {
                    Rec::Whiteout { dir: self.ino, name: name.to_vec() }
                } else {
                    Rec::Unentry { dir: self.ino, name: name.to_vec() }
                },
                Rec::Entry { dir: nd.ino, name: new_name.to_vec(), child: src.ino },
            ];
            let mut ed = Edits::new(&self.ov);
            if let Some(ex) = &existing {
                let ea = ex.attr()?;
                if self.ov.tracks_links(ex, &ea) {
                    self.ov.copy_up(ex)?;
                    if ea.is_dir() {
                        ed.get(ex.ino)?.nlink = 0;
                    } else {
                        ed.nlink(ex.ino, -1)?;
                    }
                    ed.get(ex.ino)?.ctime = t;
                }
                if ea.is_dir() {
                    ed.nlink(nd.ino, -1)?;
                }
            }
            if src_dir && self.ino != nd.ino {
                ed.nlink(self.ino, -1)?;
                ed.nlink(nd.ino, 1)?;
            }
            ed.get(src.ino)?.ctime = t;
            ed.touch_dir(self.ino, t)?;
            ed.touch_dir(nd.ino, t)?;
            ed.into_recs(&mut recs);
            self.ov.commit(recs)
        })
    }

    fn exchange(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> KResult<()> {
        self.op(|| {
            let nd = self.ov.downcast(new_dir)?;
            let a = self.child(name)?.ok_or(Errno::ENOENT)?;
            let b = nd.child(new_name)?.ok_or(Errno::ENOENT)?;
            if a.ino == b.ino {
                return Ok(());
            }
            let (a_dir, b_dir) = (a.is_dir()?, b.is_dir()?);
            if (a_dir && nd.has_ancestor(a.ino)?) || (b_dir && self.has_ancestor(b.ino)?) {
                return Err(Errno::EINVAL);
            }
            for h in [&a, &b] {
                self.ov.copy_up(h)?;
            }
            self.ov.copy_up(self)?;
            self.ov.copy_up(&nd)?;
            let t = now();
            let mut recs = vec![
                Rec::Entry { dir: self.ino, name: name.to_vec(), child: b.ino },
                Rec::Entry { dir: nd.ino, name: new_name.to_vec(), child: a.ino },
            ];
            let mut ed = Edits::new(&self.ov);
            if a_dir != b_dir && self.ino != nd.ino {
                let d = if a_dir { 1 } else { -1 };
                ed.nlink(nd.ino, d)?;
                ed.nlink(self.ino, -d)?;
            }
            ed.get(a.ino)?.ctime = t;
            ed.get(b.ino)?.ctime = t;
            ed.touch_dir(self.ino, t)?;
            ed.touch_dir(nd.ino, t)?;
            ed.into_recs(&mut recs);
            self.ov.commit(recs)
        })
    }

    fn xattrs(&self) -> KResult<Vec<(Vec<u8>, Vec<u8>)>> {
        {
            let st = self.ov.st.borrow();
            if let Some(n) = st.nodes.get(&self.ino) {
                return Ok(n.xattrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            }
        }
        self.ov.lower_of(self)?.ok_or(Errno::EIO)?.xattrs()
    }

    fn set_mode(&self, mode: u32) -> KResult<()> {
        self.op(|| {
            self.ov.copy_up(self)?;
            let mut m = self.ov.meta(self.ino)?;
            m.mode = (m.mode & S_IFMT) | (mode & 0o7777);
            m.ctime = now();
            self.ov.commit(vec![Rec::Attr { ino: self.ino, meta: m }])
        })
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        self.op(|| {
            self.ov.copy_up(self)?;
            let mut m = self.ov.meta(self.ino)?;
            if let Some(u) = uid {
                m.uid = u;
            }
            if let Some(g) = gid {
                m.gid = g;
            }
            m.ctime = now();
            self.ov.commit(vec![Rec::Attr { ino: self.ino, meta: m }])
        })
    }

    fn set_times(&self, atime: Option<(i64, u32)>, mtime: Option<(i64, u32)>) -> KResult<()> {
        self.op(|| {
            self.ov.copy_up(self)?;
            let mut m = self.ov.meta(self.ino)?;
            if let Some(t) = atime {
                m.atime = t;
            }
            if let Some(t) = mtime {
                m.mtime = t;
            }
            m.ctime = now();
            self.ov.commit(vec![Rec::Attr { ino: self.ino, meta: m }])
        })
    }

    fn open_special(&self, flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        let a = match self.attr() {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        match a.file_type() {
            S_IFIFO => {
                let pipe = self
                    .ov
                    .fifos
                    .borrow_mut()
                    .entry(self.ino)
                    .or_insert_with(|| Pipe::new(&self.ov.waker))
                    .clone();
                Some(fifo_open(&pipe, flags))
            }
            S_IFCHR | S_IFBLK => Some(super::devfs::open_device(a.mode, a.rdev)),
            S_IFSOCK => Some(Err(Errno::ENXIO)),
            _ => None,
        }
    }

    fn statfs(&self) -> (i64, u64, u64, u64, u64, u64) {
        let (_, bsize, blocks, bfree, files, ffree) = self.ov.lower_root.statfs();
        let bsize = if bsize == 0 { 4096 } else { bsize };
        let (upper_bytes, upper_inodes) = {
            let st = self.ov.st.borrow();
            let bytes: u64 = st
                .nodes
                .values()
                .map(|n| if let Content::Reg(f) = &n.content { f.upper_bytes() } else { 0 })
                .sum();
            (bytes, st.nodes.keys().filter(|&&i| i >= self.ov.first_new).count() as u64)
        };
        let total = blocks + UPPER_SPACE / bsize;
        let used = blocks.saturating_sub(bfree) + upper_bytes.div_ceil(bsize);
        let tfiles = files + UPPER_FILES;
        let ufiles = files.saturating_sub(ffree) + upper_inodes;
        (
            OVERLAYFS_MAGIC,
            bsize,
            total,
            total.saturating_sub(used),
            tfiles,
            tfiles.saturating_sub(ufiles),
        )
    }

    fn read_only(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
