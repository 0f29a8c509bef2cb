//! `umk-rootfs commit`: base image + overlay → a new standard ext4 image
//! holding exactly the tree the guest saw.
//!
//! The merged tree is read through umk's own overlay and ext4 code (the
//! VFS [`Inode`](umk::kernel::fs::Inode) trait, see [`crate::merged`]) and
//! staged like a tarball: every entry goes through the [`Stager`] with its
//! true metadata (type, mode including setuid/setgid/sticky, owner, mtime,
//! device numbers, xattrs), names with the same inode number in the merged
//! view become hard links. The rest is `build`'s pipeline: `mke2fs -d`,
//! one debugfs fix-up run, `e2fsck -fn`, atomic rename into place.
//!
//! The overlay is read without its lock, so committing the overlay of a
//! running VM works and yields a snapshot of what that VM has written to
//! its log (everything it synced); see [`crate::merged`].
//!
//! What an ext4 image cannot keep or does not need: sub-second timestamps
//! (mtime is kept to the second; atime, ctime and crtime are set to it, as
//! `build` does), sockets (skipped with a warning, as tar does), and the
//! absence of `/lost+found` (mke2fs always makes one).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use umk::kernel::errno::Errno;
use umk::kernel::fs::InodeRef;

use crate::build::{make_image, source_date_epoch, uuid_from, BuildError, Scratch};
use crate::merged::{self, MergedError};
use crate::mkfs::{self, Identity};
use crate::size::parse_size;
use crate::stage::{
    dev_major, dev_minor, show, EntryKind, Meta, StageError, Stager, S_IFBLK, S_IFCHR, S_IFDIR,
    S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};

#[derive(Debug, Error)]
pub enum CommitError {
    #[error("'{0}' already exists; pass --force to overwrite it")]
    OutputExists(PathBuf),
    #[error("'{0}' is a directory; give a file name for the image")]
    OutputIsDir(PathBuf),
    #[error("'{0}' is the {1} being committed; write the new image elsewhere")]
    OutputIsInput(PathBuf, &'static str),
    #[error("image {0} does not exist")]
    ImageMissing(PathBuf),
    #[error("{path}: cannot read it from the overlay: {errno}")]
    Read { path: String, errno: &'static str },
    #[error("{0}: directory reachable by two names (a directory hard link)")]
    DirectoryTwice(String),
    #[error("cannot move the image into place at '{0}': {1}")]
    Rename(PathBuf, io::Error),
    #[error(transparent)]
    Merged(#[from] MergedError),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl From<crate::size::SizeError> for CommitError {
    fn from(e: crate::size::SizeError) -> Self {
        CommitError::Build(e.into())
    }
}
impl From<crate::mkfs::MkfsError> for CommitError {
    fn from(e: crate::mkfs::MkfsError) -> Self {
        CommitError::Build(e.into())
    }
}

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    pub image: PathBuf,
    pub overlay: PathBuf,
    pub output: PathBuf,
    pub force: bool,
    /// As the user wrote it ("64M"); None = automatic.
    pub size: Option<String>,
}

#[derive(Debug)]
pub struct CommitReport {
    pub image: PathBuf,
    pub size: u64,
    pub content: u64,
    pub inodes: usize,
    /// Paths left out because ext4 images made by e2fsprogs cannot hold them.
    pub skipped: Vec<String>,
}

fn read_err(path: &[u8]) -> impl FnOnce(Errno) -> CommitError + '_ {
    move |e| CommitError::Read { path: show(path), errno: e.name() }
}

/// Same file (device and inode) as an existing `other`?
fn same_file(a: &fs::Metadata, other: &Path) -> bool {
    fs::metadata(other).map(|b| a.dev() == b.dev() && a.ino() == b.ino()).unwrap_or(false)
}

pub fn commit(opts: &CommitOptions) -> Result<CommitReport, CommitError> {
    // Cheap checks first, so a typo costs nothing.
    if !opts.image.exists() {
        return Err(CommitError::ImageMissing(opts.image.clone()));
    }
    if !opts.overlay.exists() {
        return Err(MergedError::OverlayMissing(opts.overlay.clone()).into());
    }
    match fs::metadata(&opts.output) {
        Ok(md) if md.is_dir() => return Err(CommitError::OutputIsDir(opts.output.clone())),
        Ok(md) if same_file(&md, &opts.image) => {
            return Err(CommitError::OutputIsInput(opts.output.clone(), "base image"))
        }
        Ok(md) if same_file(&md, &opts.overlay) => {
            return Err(CommitError::OutputIsInput(opts.output.clone(), "overlay"))
        }
        Ok(_) if !opts.force => return Err(CommitError::OutputExists(opts.output.clone())),
        _ => {}
    }
    if fs::symlink_metadata(&opts.output).is_ok() && !opts.force {
        // A dangling symlink is still something we would overwrite.
        return Err(CommitError::OutputExists(opts.output.clone()));
    }
    let size_request = opts.size.as_deref().map(parse_size).transpose()?;
    mkfs::find_tool("mke2fs")?;
    mkfs::find_tool("debugfs")?;
    let epoch_override = source_date_epoch()?;

    let merged = merged::open(&opts.image, &opts.overlay)?;
    let scratch = Scratch::create(&opts.output)?;
    let mut stager = Stager::new(scratch.work.join("staging"), 0)?;
    let xattr_dir = scratch.work.join("xattrs");
    fs::create_dir(&xattr_dir).map_err(|e| BuildError::OutputDir(scratch.work.clone(), e))?;
    let skipped = stage_tree(&merged.root, &mut stager)?;
    for path in &skipped {
        eprintln!("umk-rootfs: warning: skipping socket '{path}': ext4 images made by e2fsprogs cannot hold sockets");
    }
    let manifest = stager.finish()?;

    let label = merged.label.clone();
    let id = Identity {
        // Derived from the tree (committing the same state twice gives the
        // same image), with a seed of its own so it never equals the UUID
        // `build` would give the same tree.
        uuid: Some(uuid_from(3, &manifest)),
        hash_seed: uuid_from(2, &manifest),
        label: if label.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(&label).into_owned())
        },
        epoch: epoch_override.unwrap_or_else(|| manifest.newest_mtime()),
    };
    let request = size_request.zip(opts.size.as_deref());
    let (size, estimate) = make_image(&manifest, Some(&xattr_dir), &scratch, request, &id, false)?;
    drop(merged);
    fs::rename(&scratch.image, &opts.output)
        .map_err(|e| CommitError::Rename(opts.output.clone(), e))?;
    Ok(CommitReport {
        image: opts.output.clone(),
        size,
        content: estimate.content,
        inodes: manifest.nodes.len(),
        skipped,
    })
}

/// Reads a VFS regular file from the start.
struct InodeReader<'a> {
    inode: &'a InodeRef,
    offset: u64,
}

impl Read for InodeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inode.read_at(self.offset, buf).map_err(|e| {
            io::Error::other(format!("read at offset {}: {}", self.offset, e.name()))
        })?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Stages the tree under `root` into `stager` in sorted depth-first order
/// (parents before children, a hard link's first name before the others).
/// Returns the sockets it skipped.
pub fn stage_tree(root: &InodeRef, stager: &mut Stager) -> Result<Vec<String>, CommitError> {
    let mut skipped = Vec::new();
    // First staged path (relative) of every non-directory inode number.
    let mut first_name: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut dirs_seen: HashMap<u64, Vec<u8>> = HashMap::new();
    // Directories stay alive until the walk ends, as the dentries of a path
    // walk would keep them: the overlay answers ".." of a copied-up
    // directory under a not-copied-up one only while the parent's inode
    // object lives (and readdir needs "..").
    let mut keep: Vec<InodeRef> = Vec::new();
    let mut stack: Vec<(Vec<u8>, InodeRef)> = vec![(Vec::new(), root.clone())];
    while let Some((rel, node)) = stack.pop() {
        let shown = if rel.is_empty() { b"/".to_vec() } else { rel.clone() };
        let attr = node.attr().map_err(read_err(&shown))?;
        let ty = attr.mode & S_IFMT;
        if ty != S_IFDIR {
            if let Some(first) = first_name.get(&attr.ino) {
                stager.add(
                    &rel,
                    EntryKind::HardLink(first.clone()),
                    meta_of(&attr, Vec::new()),
                    &mut io::empty(),
                )?;
                continue;
            }
        } else if dirs_seen.insert(attr.ino, rel.clone()).is_some() {
            return Err(CommitError::DirectoryTwice(show(&shown)));
        }
        if ty == S_IFSOCK {
            skipped.push(show(&shown));
            continue;
        }
        let xattrs = node.xattrs().map_err(read_err(&shown))?;
        let meta = meta_of(&attr, xattrs);
        match ty {
            S_IFDIR => {
                stager.add(&rel, EntryKind::Dir, meta, &mut io::empty())?;
                let mut names: Vec<Vec<u8>> = Vec::new();
                node.readdir(0, &mut |e| {
                    if e.name != b"." && e.name != b".." {
                        names.push(e.name.to_vec());
                    }
                    true
                })
                .map_err(read_err(&shown))?;
                names.sort();
                for name in names.into_iter().rev() {
                    let mut child = rel.clone();
                    if !child.is_empty() {
                        child.push(b'/');
                    }
                    child.extend_from_slice(&name);
                    let inode = node.lookup(&name).map_err(read_err(&child))?;
                    stack.push((child, inode));
                }
                keep.push(node.clone());
            }
            S_IFREG => {
                let mut reader = InodeReader { inode: &node, offset: 0 };
                stager.add(&rel, EntryKind::File, meta, &mut reader)?;
            }
            S_IFLNK => {
                let target = node.readlink().map_err(read_err(&shown))?;
                stager.add(&rel, EntryKind::Symlink(target), meta, &mut io::empty())?;
            }
            S_IFCHR | S_IFBLK | S_IFIFO => {
                stager.add(&rel, EntryKind::Special, meta, &mut io::empty())?
            }
            other => {
                return Err(CommitError::Read {
                    path: show(&shown),
                    errno: if other == 0 { "no file type" } else { "unknown file type" },
                });
            }
        }
        if ty != S_IFDIR {
            first_name.insert(attr.ino, rel);
        }
    }
    Ok(skipped)
}

fn meta_of(attr: &umk::kernel::fs::Attr, xattrs: Vec<(Vec<u8>, Vec<u8>)>) -> Meta {
    Meta {
        mode: attr.mode,
        uid: attr.uid,
        gid: attr.gid,
        mtime: attr.mtime.0,
        rdev: (dev_major(attr.rdev), dev_minor(attr.rdev)),
        xattrs,
    }
}
