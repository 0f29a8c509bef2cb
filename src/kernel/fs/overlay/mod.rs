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
//! * Upper file data lives only in the log. A file's extents say where
//!   their bytes are in it (a position and a length, trimmed or split by
//!   later writes over them), and reads fetch them from the store, or from
//!   the records not yet appended. Replay reads the log a window at a time
//!   and keeps positions, never the data; a compaction copies the live
//!   data into the new log a record at a time and moves the extents to it
//!   once it is in place. umk's memory thus grows with the number of
//!   extents, not with the bytes written (a MemStore is memory, of course).
//!
//! Not done yet: the log's space is not limited (statfs reports the
//! image's figures plus 16 GiB and 2^20 inodes).
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
//! its data, extents that touch joined into records of up to 1 MiB,
//! xattrs, Attr; then all directory entries) and swaps it in atomically
//! ([`LogStore::replace_commit`]).

mod log;
mod store;
#[cfg(test)]
mod tests;

pub use store::{FileStore, LogStore, MemStore};

use self::log::{Meta, Rec, Span, Time};
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
    /// Bytes of the log held in umk's memory: records not yet appended to
    /// the store, and all of a MemStore. File data is read back from the
    /// log, never kept beside it.
    pub mem_bytes: u64,
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

/// A regular file's upper data: written extents over the lower data. An
/// extent is not the bytes but where they are in the log (in the store,
/// or in the records not yet appended to it): the log has them anyway, and
/// a guest that writes gigabytes must not make umk hold them.
#[derive(Default, Clone, Debug, PartialEq)]
struct FileData {
    /// File offset → where that extent's bytes are in the log. Extents do
    /// not overlap; a write over part of one splits or trims it.
    ext: BTreeMap<u64, Span>,
    /// Bytes below this offset not covered by an extent read from lower.
    lower_len: u64,
}

impl FileData {
    fn write(&mut self, off: u64, data: Span) {
        if data.len == 0 {
            return;
        }
        self.punch(off, off.saturating_add(data.len));
        self.ext.insert(off, data);
    }

    fn truncate(&mut self, len: u64) {
        self.lower_len = self.lower_len.min(len);
        self.punch(len, u64::MAX);
    }

    /// Drops the upper bytes in `start..end`; what extents had outside the
    /// range stays, pointing at the same bytes of the log.
    fn punch(&mut self, start: u64, end: u64) {
        // Bytes of `sp` (an extent at `s`) from file offset `from` on.
        let tail =
            |s: u64, sp: Span, from: u64| Span { pos: sp.pos + (from - s), len: s + sp.len - from };
        if let Some((&s, &sp)) = self.ext.range(..start).next_back() {
            if s + sp.len > start {
                self.ext.insert(s, Span { pos: sp.pos, len: start - s });
                if s + sp.len > end {
                    self.ext.insert(end, tail(s, sp, end));
                }
            }
        }
        while let Some((&s, &sp)) = self.ext.range(start..end).next() {
            self.ext.remove(&s);
            if s + sp.len > end {
                self.ext.insert(end, tail(s, sp, end));
            }
        }
    }

    fn read(
        &self,
        log: &Log,
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
            if let Some((&s, &sp)) = self.ext.range(..=p).next_back() {
                let e = s + sp.len;
                if e > p {
                    let k = ((e - p) as usize).min(n - done);
                    log.read_data(sp.pos + (p - s), &mut buf[done..done + k])
                        .map_err(|e| io_errno(&e))?;
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
        self.ext.values().map(|sp| sp.len).sum()
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

    /// Applies a decoded record: Write data stays in the log, where the
    /// record's span says it is.
    fn apply(&mut self, rec: &Rec<Span>, first_new: u64) -> Result<(), String> {
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
                    .checked_add(data.len)
                    .filter(|&e| e <= MAX_FILE)
                    .ok_or("write past the largest file")?;
                match &mut n.content {
                    Content::Reg(f) => f.write(*off, *data),
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

impl State {
    /// The live state as the records of a fresh log: per node (by inode
    /// number) its Inode, Truncate and Write records, xattrs and Attr; then
    /// every directory's entries.
    fn emit_live(&self, sink: &mut dyn LiveSink) -> std::io::Result<()> {
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for &ino in &inos {
            let Some(node) = self.nodes.get(&ino) else { continue };
            let (size, target) = match &node.content {
                Content::Reg(f) => (f.lower_len, Vec::new()),
                Content::Symlink(t) => (node.size, t.clone()),
                _ => (node.size, Vec::new()),
            };
            sink.rec(&Rec::Inode {
                ino,
                parent: node.parent,
                origin: node.origin.clone(),
                meta: node.meta,
                size,
                target,
            })?;
            if let Content::Reg(f) = &node.content {
                if node.size != f.lower_len {
                    sink.rec(&Rec::Truncate { ino, len: node.size, t: node.meta.mtime })?;
                }
                emit_data(ino, node.meta.mtime, f, sink)?;
            }
            for (name, value) in &node.xattrs {
                sink.rec(&Rec::XattrSet { ino, name: name.clone(), value: value.clone() })?;
            }
            sink.rec(&Rec::Attr { ino, meta: node.meta })?;
        }
        for &ino in &inos {
            let Some(Node { content: Content::Dir(d), .. }) = self.nodes.get(&ino) else {
                continue;
            };
            for (name, (_, e)) in d.by_slot.values().filter_map(|n| Some((n, d.entries.get(n)?))) {
                let rec = match *e {
                    DEnt::Child(child) => Rec::Entry { dir: ino, name: name.clone(), child },
                    DEnt::Whiteout => Rec::Whiteout { dir: ino, name: name.clone() },
                };
                sink.rec(&rec)?;
            }
            if d.opaque {
                sink.rec(&Rec::Opaque { dir: ino })?;
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

impl Log {
    /// Fills `buf` with the log's bytes from `pos`.
    fn read_data(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
        // Bytes past the store's end are in records not yet appended, at
        // the same positions in `pending` (a flush appends it whole, or
        // not at all). Reading them there rather than flushing first keeps
        // a read from writing the log, and from failing when the store
        // does.
        let in_store = self.len.saturating_sub(pos).min(buf.len() as u64) as usize;
        let (stored, pending) = buf.split_at_mut(in_store);
        if !stored.is_empty() {
            self.store.read_at(pos, stored)?;
        }
        if !pending.is_empty() {
            let src = usize::try_from(pos + in_store as u64 - self.len)
                .ok()
                .and_then(|p| self.pending.get(p..p.checked_add(pending.len())?))
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
            pending.copy_from_slice(src);
        }
        Ok(())
    }
}

/// How much of the log replay reads at a time.
const REPLAY_WINDOW: usize = 1 << 20;

/// Reads a store's frames in order through a window, so that replaying a
/// large log holds a window of it (at most one frame), not all of it.
struct FrameReader<'a> {
    store: &'a dyn LogStore,
    end: u64,
    win: Vec<u8>,
    /// Log position of `win[0]`.
    at: u64,
}

impl FrameReader<'_> {
    /// `n` bytes from `pos`, or None when the log ends first.
    fn get(&mut self, pos: u64, n: usize) -> std::io::Result<Option<&[u8]>> {
        let Some(stop) = pos.checked_add(n as u64).filter(|&s| s <= self.end) else {
            return Ok(None);
        };
        if pos < self.at || stop > self.at + self.win.len() as u64 {
            let want = (n.max(REPLAY_WINDOW) as u64).min(self.end - pos) as usize;
            self.win.resize(want, 0);
            self.store.read_at(pos, &mut self.win)?;
            self.at = pos;
        }
        let o = (pos - self.at) as usize;
        Ok(self.win.get(o..o + n))
    }

    /// The frame at `pos` and the position after it, or why replay stops
    /// there.
    fn frame(&mut self, pos: u64) -> std::io::Result<Result<(Rec<Span>, u64), log::Stop>> {
        let n = match self.get(pos, 4)?.map(log::frame_len) {
            Some(Ok(n)) => n,
            Some(Err(stop)) => return Ok(Err(stop)),
            None => return Ok(Err(log::Stop::Torn)),
        };
        let Some(frame) = self.get(pos, n)? else { return Ok(Err(log::Stop::Torn)) };
        Ok(log::parse_frame(frame, pos).map(|rec| (rec, pos + n as u64)))
    }
}

/// Reads and checks the log's header (writing a fresh one into a new log,
/// or over one torn by a crash at creation); returns where records start
/// and where the log ends.
fn open_header(store: &mut dyn LogStore, base_id: &[u8]) -> Result<(u64, u64), OverlayError> {
    let end = store.size()?;
    let header = log::encode_header(base_id);
    let mut head = vec![0u8; end.min(16) as usize];
    store.read_at(0, &mut head)?;
    if let Some(n) = head.get(12..16) {
        // Enough for the whole header whatever base id it names (its
        // length is bounded by check_header), and for ours.
        let n = u32::from_le_bytes(n.try_into().unwrap_or_default()).min(1 << 20) as u64;
        head.resize((20 + n).max(header.len() as u64).min(end) as usize, 0);
        store.read_at(0, &mut head)?;
    }
    if end == 0 || (end < header.len() as u64 && header.starts_with(&head)) {
        // New, or a crash while the header was written.
        store.replace(&header)?;
        let h = header.len() as u64;
        return Ok((h, h));
    }
    Ok((log::check_header(&head, base_id)? as u64, end))
}

/// Where [`State::emit_live`] puts the live state's records.
trait LiveSink {
    fn rec(&mut self, rec: &Rec) -> std::io::Result<()>;
    /// A Write record of `ino` at `off` whose data is the bytes of
    /// `pieces` of the current log, in order.
    fn write(&mut self, ino: u64, off: u64, t: Time, pieces: &[Span]) -> std::io::Result<()>;
}

/// Counts the bytes and frames of the log the live state would make,
/// without reading any file data.
#[derive(Default)]
struct LiveCount {
    bytes: u64,
    records: u64,
    scratch: Vec<u8>,
}

impl LiveSink for LiveCount {
    fn rec(&mut self, rec: &Rec) -> std::io::Result<()> {
        self.scratch.clear();
        rec.frame_into(&mut self.scratch);
        self.bytes += self.scratch.len() as u64;
        self.records += 1;
        Ok(())
    }
    fn write(&mut self, _: u64, _: u64, _: Time, pieces: &[Span]) -> std::io::Result<()> {
        self.bytes += log::write_frame_len(pieces.iter().map(|p| p.len).sum());
        self.records += 1;
        Ok(())
    }
}

/// Writes the live state as the store's new log, copying file data from
/// the current log one record at a time (memory stays bounded), and notes
/// where each extent lands in the new log: the state points there once
/// the new log is in place, not before.
struct Rewrite<'a> {
    log: &'a mut Log,
    /// Frames not yet appended to the new log.
    out: Vec<u8>,
    /// Bytes of the new log, `out` included.
    len: u64,
    records: u64,
    /// One Write record's data.
    data: Vec<u8>,
    ext: HashMap<u64, BTreeMap<u64, Span>>,
}

impl Rewrite<'_> {
    fn framed(&mut self, start: usize) -> std::io::Result<()> {
        self.len += (self.out.len() - start) as u64;
        self.records += 1;
        if self.out.len() >= PENDING_MAX {
            self.log.store.replace_append(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

impl LiveSink for Rewrite<'_> {
    fn rec(&mut self, rec: &Rec) -> std::io::Result<()> {
        let start = self.out.len();
        rec.frame_into(&mut self.out);
        self.framed(start)
    }
    fn write(&mut self, ino: u64, off: u64, t: Time, pieces: &[Span]) -> std::io::Result<()> {
        self.data.clear();
        for sp in pieces {
            let at = self.data.len();
            self.data.resize(at + sp.len as usize, 0);
            self.log.read_data(sp.pos, &mut self.data[at..])?;
        }
        let start = self.out.len();
        let at = self.len;
        Rec::Write { ino, off, t, data: &self.data[..] }.frame_into(&mut self.out);
        match log::decode_frame(&self.out[start..], at) {
            Ok(Rec::Write { data, .. }) => {
                self.ext.entry(ino).or_default().insert(off, data);
            }
            _ => return Err(std::io::Error::other("a Write frame just made does not decode")),
        }
        self.framed(start)
    }
}

/// Emits a file's extents as Write records, joining extents that touch
/// into records of up to WRITE_CHUNK: a file written a little at a time
/// comes out of a compaction as a few large extents.
fn emit_data(ino: u64, t: Time, f: &FileData, sink: &mut dyn LiveSink) -> std::io::Result<()> {
    let chunk = log::WRITE_CHUNK as u64;
    let mut run: Vec<Span> = Vec::new();
    let (mut run_off, mut run_len) = (0u64, 0u64);
    for (&s, &sp) in &f.ext {
        let (mut s, mut sp) = (s, sp);
        while sp.len > 0 {
            if run_len > 0 && (run_off + run_len != s || run_len == chunk) {
                sink.write(ino, run_off, t, &run)?;
                run.clear();
                run_len = 0;
            }
            if run_len == 0 {
                run_off = s;
            }
            let k = sp.len.min(chunk - run_len);
            run.push(Span { pos: sp.pos, len: k });
            run_len += k;
            s += k;
            sp = Span { pos: sp.pos + k, len: sp.len - k };
        }
    }
    if run_len > 0 {
        sink.write(ino, run_off, t, &run)?;
    }
    Ok(())
}

/// A log written by [`rewrite`] and now in place.
struct NewLog {
    len: u64,
    records: u64,
    /// Where each file's extents are in it.
    ext: HashMap<u64, BTreeMap<u64, Span>>,
}

/// Writes the live state as the store's new log and swaps it in.
fn rewrite(st: &State, log: &mut Log, base_id: &[u8]) -> std::io::Result<NewLog> {
    log.store.replace_begin()?;
    let out = log::encode_header(base_id);
    let mut w = Rewrite {
        len: out.len() as u64,
        out,
        records: 0,
        data: Vec::new(),
        ext: HashMap::new(),
        log,
    };
    let done = st.emit_live(&mut w).and_then(|()| {
        w.log.store.replace_append(&w.out)?;
        w.log.store.replace_commit()
    });
    match done {
        Ok(()) => Ok(NewLog { len: w.len, records: w.records, ext: w.ext }),
        Err(e) => {
            w.log.store.replace_abort();
            Err(e)
        }
    }
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
        let (mut pos, end) = open_header(&mut *store, base_id)?;
        let mut st = State { nodes: Default::default(), next_ino: first_new };
        let mut records = 0;
        let mut frames = FrameReader { store: &*store, end, win: Vec::new(), at: 0 };
        while pos < end {
            match frames.frame(pos)? {
                Ok((rec, next)) => {
                    st.apply(&rec, first_new)
                        .map_err(|why| OverlayError::Corrupt { offset: pos, why })?;
                    records += 1;
                    pos = next;
                }
                Err(_) => break,
            }
        }
        drop(frames);
        if pos < end {
            store.truncate_to(pos)?;
        }
        // Inodes unlinked while open when the VM stopped.
        st.nodes.retain(|&ino, n| n.meta.nlink > 0 || ino == root_ino);
        let log = Log {
            store,
            pending: Vec::new(),
            len: pos,
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
        let live = self.live().bytes;
        let mut log = self.log.borrow_mut();
        if force || log.len > 2 * live {
            let new = {
                let st = self.st.borrow();
                rewrite(&st, &mut log, &self.base_id)
            };
            let new = new.map_err(|e| io_errno(&e))?;
            // The new log is in place: extents now point into it.
            let mut st = self.st.borrow_mut();
            for (ino, map) in new.ext {
                if let Some(Node { content: Content::Reg(f), .. }) = st.nodes.get_mut(&ino) {
                    f.ext = map;
                }
            }
            log.len = new.len;
            log.records = new.records;
            log.compactions += 1;
        }
        log.next_check = (2 * live).max(log.len) + COMPACT_MIN;
        Ok(())
    }

    pub fn stats(&self) -> OverlayStats {
        let live = self.live();
        let log = self.log.borrow();
        OverlayStats {
            records: log.records,
            bytes: log.len + log.pending.len() as u64,
            live_bytes: live.bytes,
            inodes: self.st.borrow().nodes.len(),
            compactions: log.compactions,
            mem_bytes: log.pending.len() as u64 + log.store.bytes_in_memory(),
        }
    }

    /// The size of the log a compaction would write now.
    fn live(&self) -> LiveCount {
        let mut c = LiveCount {
            bytes: log::encode_header(&self.base_id).len() as u64,
            ..LiveCount::default()
        };
        // Counting reads nothing and cannot fail.
        let _ = self.st.borrow().emit_live(&mut c);
        c
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
        self.log_rec(&rec)
    }

    /// Logs one record (framed into the pending buffer) and applies it.
    /// The state is built from the frame decoded back, as at replay: that
    /// is also how a Write's extent learns where its data is in the log.
    fn log_rec<D: AsRef<[u8]>>(&self, rec: &Rec<D>) -> KResult<()> {
        let full = {
            let mut log = self.log.borrow_mut();
            if log.broken {
                return Err(Errno::EIO);
            }
            let start = log.pending.len();
            rec.frame_into(&mut log.pending);
            let applied = match log::decode_frame(&log.pending[start..], log.len + start as u64) {
                Ok(r) => self.st.borrow_mut().apply(&r, self.first_new).is_ok(),
                Err(_) => false,
            };
            if !applied {
                log.pending.truncate(start);
                return Err(Errno::EIO);
            }
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
                    f.read(&self.ov.log.borrow(), lower.as_ref(), n.size, off, buf)
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
                self.ov.log_rec(&Rec::Write { ino: self.ino, off: o, t, data: chunk })?;
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
