//! The tree to put into the image, and how it is staged on the host.
//!
//! mke2fs -d copies a host directory. The host directory cannot carry
//! everything an image needs when we are not root (foreign owners, device
//! nodes, setgid on a group we are not in), so we keep the *true* metadata
//! beside it, keyed by the staged inode, and fix the image up afterwards
//! (see `mkfs`). A tarball is unpacked into a staging directory by
//! [`Stager`]; a directory source is used in place and its own `lstat`
//! is the truth.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use umk::kernel::fs::ext4::inode::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};

#[derive(Debug, Error)]
pub enum StageError {
    #[error("cannot create staging directory {0}: {1}")]
    CreateRoot(PathBuf, io::Error),
    #[error("cannot stage '{path}': {source}")]
    Io { path: String, source: io::Error },
    #[error("entry '{0}' escapes the root directory (contains '..')")]
    Escapes(String),
    #[error("hard link '{0}' points to '{1}', which is not in the archive before it")]
    DanglingHardLink(String, String),
    #[error("hard link '{0}' points to directory '{1}'")]
    HardLinkToDir(String, String),
    #[error("'{0}' is inside '{1}', which is not a directory")]
    NotADirectory(String, String),
    #[error("cannot read source directory '{path}': {source}")]
    Walk { path: String, source: io::Error },
}

fn io_err(path: &[u8]) -> impl FnOnce(io::Error) -> StageError + '_ {
    move |source| StageError::Io { path: show(path), source }
}

/// A path for messages: lossy UTF-8 with a leading '/'.
pub fn show(path: &[u8]) -> String {
    if path.first() == Some(&b'/') {
        String::from_utf8_lossy(path).into_owned()
    } else {
        format!("/{}", String::from_utf8_lossy(path))
    }
}

/// The metadata an inode must have in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Full st_mode: file type bits and permission bits (incl. suid/sgid/sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch; sub-second precision is not kept.
    pub mtime: i64,
    /// (major, minor) for character and block devices.
    pub rdev: (u32, u32),
    /// Extended attributes the image must carry that the staging copy may not
    /// (e.g. security.capability, which an unprivileged user cannot set).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
    pub fn is_special(&self) -> bool {
        matches!(self.file_type(), S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK)
    }
}

/// One inode of the final tree with all its names.
#[derive(Debug)]
pub struct Node {
    /// Absolute image paths ("/", "/etc/shadow"); the first is the one we use
    /// to address the inode, the rest are further hard links.
    pub paths: Vec<Vec<u8>>,
    pub meta: Meta,
    /// Staged as an empty regular file; the image must get the real device /
    /// fifo (mke2fs copies the placeholder, debugfs replaces it).
    pub placeholder: bool,
    /// File size, symlink target length, or bytes of directory entries.
    pub size: u64,
}

/// Everything `mkfs` needs: the host directory for `mke2fs -d` and the true
/// metadata of every inode, in sorted depth-first order.
#[derive(Debug)]
pub struct Manifest {
    pub root: PathBuf,
    pub nodes: Vec<Node>,
}

impl Manifest {
    /// The newest mtime in the tree; a deterministic "now" for the image.
    pub fn newest_mtime(&self) -> i64 {
        self.nodes.iter().map(|n| n.meta.mtime).max().unwrap_or(0)
    }
}

/// What a tar entry (or any other source) wants at a path.
#[derive(Debug)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(Vec<u8>),
    /// Another name for the entry at this (relative) path.
    HardLink(Vec<u8>),
    /// Device or fifo; the type and rdev are in the Meta.
    Special,
}

/// Unpacks entries into a staging directory and remembers their metadata.
pub struct Stager {
    root: PathBuf,
    /// True metadata by staged inode number. Every object we create inserts
    /// its record, so an inode number reused by the host after a removal can
    /// never pick up a stale record.
    records: HashMap<u64, (Meta, bool)>,
    default_mtime: i64,
}

/// Split "a/./b//c/" into normalized components, refusing "..".
pub fn normalize(path: &[u8]) -> Result<Vec<u8>, StageError> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err(StageError::Escapes(String::from_utf8_lossy(path).into_owned())),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

impl Stager {
    /// `root` must not exist yet; it is created private to us.
    pub fn new(root: PathBuf, default_mtime: i64) -> Result<Stager, StageError> {
        fs::create_dir(&root).map_err(|e| StageError::CreateRoot(root.clone(), e))?;
        let mut stager = Stager { root, records: HashMap::new(), default_mtime };
        let root_meta = stager.default_dir_meta();
        stager.record(b"", root_meta, false)?;
        Ok(stager)
    }

    fn default_dir_meta(&self) -> Meta {
        Meta {
            mode: S_IFDIR | 0o755,
            uid: 0,
            gid: 0,
            mtime: self.default_mtime,
            rdev: (0, 0),
            xattrs: Vec::new(),
        }
    }

    fn host(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(OsStr::from_bytes(rel))
        }
    }

    fn record(&mut self, rel: &[u8], meta: Meta, placeholder: bool) -> Result<(), StageError> {
        let ino = fs::symlink_metadata(self.host(rel)).map_err(io_err(rel))?.ino();
        self.records.insert(ino, (meta, placeholder));
        Ok(())
    }

    /// Make sure every parent of `rel` is a staged directory, creating
    /// missing ones with default metadata (tarballs may omit them).
    fn ensure_parents(&mut self, rel: &[u8]) -> Result<(), StageError> {
        let mut end = 0;
        while let Some(pos) = rel[end..].iter().position(|&b| b == b'/') {
            let parent = &rel[..end + pos];
            end += pos + 1;
            match fs::symlink_metadata(self.host(parent)) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(StageError::NotADirectory(show(rel), show(parent))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(self.host(parent)).map_err(io_err(parent))?;
                    let meta = self.default_dir_meta();
                    self.record(parent, meta, false)?;
                }
                Err(e) => return Err(io_err(parent)(e)),
            }
        }
        Ok(())
    }

    /// Add one entry. `path` may be un-normalized (as found in a tarball).
    /// A later entry for the same path replaces the earlier one, as tar does.
    pub fn add(
        &mut self,
        path: &[u8],
        kind: EntryKind,
        meta: Meta,
        data: &mut dyn Read,
    ) -> Result<(), StageError> {
        let rel = normalize(path)?;
        if rel.is_empty() {
            // "./" itself: only its metadata matters.
            if matches!(kind, EntryKind::Dir) {
                return self.record(b"", meta, false);
            }
            return Err(StageError::NotADirectory(show(path), "/".into()));
        }
        self.ensure_parents(&rel)?;
        let host = self.host(&rel);
        let existing = fs::symlink_metadata(&host).ok();
        if let Some(old) = &existing {
            if old.is_dir() && matches!(kind, EntryKind::Dir) {
                return self.record(&rel, meta, false);
            }
            let removed =
                if old.is_dir() { fs::remove_dir_all(&host) } else { fs::remove_file(&host) };
            removed.map_err(io_err(&rel))?;
        }
        match kind {
            EntryKind::File => {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_private()
                    .open(&host)
                    .map_err(io_err(&rel))?;
                io::copy(data, &mut file).map_err(io_err(&rel))?;
                self.record(&rel, meta, false)
            }
            EntryKind::Dir => {
                fs::create_dir(&host).map_err(io_err(&rel))?;
                // Keep it writable for us whatever the archive says; the
                // real mode is applied to the image, not to the staging copy.
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                    .map_err(io_err(&rel))?;
                self.record(&rel, meta, false)
            }
            EntryKind::Symlink(target) => {
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &host)
                    .map_err(io_err(&rel))?;
                self.record(&rel, meta, false)
            }
            EntryKind::Special => {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode_private()
                    .open(&host)
                    .map_err(io_err(&rel))?;
                self.record(&rel, meta, true)
            }
            EntryKind::HardLink(target) => {
                let target_rel = normalize(&target)?;
                let target_host = self.host(&target_rel);
                match fs::symlink_metadata(&target_host) {
                    Ok(m) if m.is_dir() => {
                        return Err(StageError::HardLinkToDir(show(&rel), show(&target_rel)))
                    }
                    Ok(_) if target_rel == rel => {
                        return Err(StageError::DanglingHardLink(show(&rel), show(&target_rel)))
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(StageError::DanglingHardLink(show(&rel), show(&target_rel)))
                    }
                }
                // The link shares the target's inode and therefore its record.
                fs::hard_link(&target_host, &host).map_err(io_err(&rel))
            }
        }
    }

    pub fn finish(self) -> Result<Manifest, StageError> {
        let Stager { root, records, .. } = self;
        walk(&root, &mut |_, md| {
            Ok(match records.get(&md.ino()) {
                Some((meta, placeholder)) => (meta.clone(), *placeholder),
                // Not created by us: cannot happen, but fall back to the
                // staged object's own type rather than fail.
                None => (meta_from_lstat(md), false),
            })
        })
    }
}

/// OpenOptions helper: staged files are private to us (0600).
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}
impl PrivateMode for fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Metadata of a host object, as the image should record it.
pub fn meta_from_lstat(md: &fs::Metadata) -> Meta {
    let rdev = md.rdev();
    Meta {
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        mtime: md.mtime(),
        rdev: (dev_major(rdev), dev_minor(rdev)),
        xattrs: Vec::new(),
    }
}

/// glibc's encoding of dev_t.
pub fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}
pub fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

/// A directory source: the directory itself is handed to mke2fs, and its
/// lstat data is the truth.
pub fn manifest_of_dir(root: &Path) -> Result<Manifest, StageError> {
    walk(root, &mut |_, md| Ok((meta_from_lstat(md), false)))
}

type MetaFn<'a> = dyn FnMut(&Path, &fs::Metadata) -> Result<(Meta, bool), StageError> + 'a;

/// Depth-first walk in byte-sorted order (the order mke2fs populates in
/// under LC_ALL=C), grouping hard links by host inode.
fn walk_err(p: &[u8]) -> impl FnOnce(io::Error) -> StageError {
    let path = show(p);
    move |source| StageError::Walk { path, source }
}

fn walk(root: &Path, meta_of: &mut MetaFn<'_>) -> Result<Manifest, StageError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_ino: HashMap<(u64, u64), usize> = HashMap::new();
    let root_md = fs::symlink_metadata(root).map_err(walk_err(b"/"))?;
    if !root_md.is_dir() {
        return Err(StageError::Walk {
            path: root.display().to_string(),
            source: io::Error::new(io::ErrorKind::Other, "not a directory"),
        });
    }
    // Stack of (image path, host path, metadata); popped in reverse so
    // children come out in sorted order.
    let mut stack: Vec<(Vec<u8>, PathBuf, fs::Metadata)> =
        vec![(b"/".to_vec(), root.to_path_buf(), root_md)];
    while let Some((path, host, md)) = stack.pop() {
        let key = (md.dev(), md.ino());
        if !md.is_dir() && md.nlink() > 1 {
            if let Some(&idx) = by_ino.get(&key) {
                nodes[idx].paths.push(path);
                continue;
            }
        }
        let (meta, placeholder) = meta_of(&host, &md)?;
        let mut size = md.len();
        if md.is_dir() {
            let mut children: Vec<(Vec<u8>, PathBuf)> = Vec::new();
            for entry in fs::read_dir(&host).map_err(walk_err(&path))? {
                let entry = entry.map_err(walk_err(&path))?;
                children.push((entry.file_name().as_bytes().to_vec(), entry.path()));
            }
            children.sort();
            // Bytes of ext4 directory entries: 8-byte header + name, 4-aligned.
            size = 24 + children.iter().map(|(n, _)| 8 + (n.len() as u64 + 3) / 4 * 4).sum::<u64>();
            for (name, child) in children.into_iter().rev() {
                let mut child_path = path.clone();
                if child_path.len() > 1 {
                    child_path.push(b'/');
                }
                child_path.extend_from_slice(&name);
                let child_md = fs::symlink_metadata(&child).map_err(walk_err(&child_path))?;
                stack.push((child_path, child, child_md));
            }
        }
        by_ino.insert(key, nodes.len());
        nodes.push(Node { paths: vec![path], meta, placeholder, size });
    }
    Ok(Manifest { root: root.to_path_buf(), nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize(b"./a//b/./c/").unwrap(), b"a/b/c");
        assert_eq!(normalize(b"/").unwrap(), b"");
        assert!(normalize(b"a/../../etc").is_err());
    }

    #[test]
    fn dev_numbers() {
        // makedev(1, 3) and makedev(259, 65536) as glibc encodes them.
        assert_eq!((dev_major(0x103), dev_minor(0x103)), (1, 3));
        let dev: u64 = ((259u64 & 0xfff) << 8) | ((65536u64 & 0xff) | ((65536u64 & !0xff) << 12));
        assert_eq!((dev_major(dev), dev_minor(dev)), (259, 65536));
    }
}
