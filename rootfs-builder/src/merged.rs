//! The merged view of a base image and a VM's overlay: exactly the tree the
//! guest sees as its root, read through umk's own overlay and ext4 code.
//!
//! The overlay file is read **without taking its lock**: its bytes are
//! copied into a [`MemStore`] and replayed there, so the file is never
//! written (not even to cut a torn tail) and a VM that is running on it is
//! not disturbed. What we see is a consistent snapshot of what that VM has
//! written to the file so far: everything it synced (fsync, fdatasync,
//! sync, syncfs in the guest, or a clean exit), possibly some later
//! complete records, and never half a record: a record still being appended
//! is a torn tail, which replay discards exactly as after a crash. A log
//! being compacted is replaced by an atomic rename, so we read either the
//! old log or the new one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use thiserror::Error;
use umk::kernel::fs::ext4::vfs::ImageFs;
use umk::kernel::fs::ext4::{Ext4, Ext4Error};
use umk::kernel::fs::overlay::{base_id, MemStore, Overlay, OverlayError};
use umk::kernel::fs::InodeRef;
use umk::kernel::wait::Waker;

#[derive(Debug, Error)]
pub enum MergedError {
    #[error("cannot open image {0}: {1}")]
    ImageOpen(PathBuf, io::Error),
    #[error("{0}: not an image umk can read: {1}")]
    ImageFormat(PathBuf, Ext4Error),
    #[error("overlay {0} does not exist")]
    OverlayMissing(PathBuf),
    #[error("cannot read overlay {0}: {1}")]
    OverlayRead(PathBuf, io::Error),
    #[error("overlay {0} was made for another image, not {1}")]
    WrongBase(PathBuf, PathBuf),
    #[error("overlay {0}: {1}")]
    Overlay(PathBuf, OverlayError),
}

/// An image with an overlay on top, opened read-only.
pub struct Merged {
    pub overlay: Rc<Overlay>,
    pub root: InodeRef,
    /// The base image's volume label.
    pub label: Vec<u8>,
}

/// Opens `image` (read-only) and replays a snapshot of `overlay` over it.
/// The base id is computed exactly as `umk run` does (src/vm.rs), so an
/// overlay is accepted here if and only if umk would boot it on `image`.
pub fn open(image: &Path, overlay: &Path) -> Result<Merged, MergedError> {
    let file = File::open(image).map_err(|e| MergedError::ImageOpen(image.to_path_buf(), e))?;
    let size = file
        .metadata()
        .map(|m| m.len())
        .map_err(|e| MergedError::ImageOpen(image.to_path_buf(), e))?;
    let mut superblock = vec![0u8; 1024];
    // A short image fails in Ext4::open below with a better message.
    let _ = file.read_exact_at(&mut superblock, 1024);
    let ext4 =
        Ext4::open(Box::new(file)).map_err(|e| MergedError::ImageFormat(image.to_path_buf(), e))?;
    let stats = ext4.stats();
    let id = base_id(&stats.uuid, size, &superblock);

    // The bytes of the log as they are now; no lock, no writes (see above).
    let bytes = match std::fs::read(overlay) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MergedError::OverlayMissing(overlay.to_path_buf()))
        }
        Err(e) => return Err(MergedError::OverlayRead(overlay.to_path_buf(), e)),
    };
    let waker = Waker::new();
    let imagefs =
        Rc::new(ImageFs { ext4, dev: 0, fifos: Default::default(), waker: waker.clone() });
    let store = Box::new(MemStore::with_bytes(bytes));
    let ov =
        Overlay::open(ImageFs::root(&imagefs), &id, store, &waker, 0).map_err(|e| match e {
            OverlayError::WrongBase { .. } => {
                MergedError::WrongBase(overlay.to_path_buf(), image.to_path_buf())
            }
            e => MergedError::Overlay(overlay.to_path_buf(), e),
        })?;
    let root = ov.root();
    Ok(Merged { overlay: ov, root, label: stats.volume_name })
}
