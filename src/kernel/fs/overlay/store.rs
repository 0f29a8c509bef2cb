//! Where an overlay's log lives: [`LogStore`], with [`MemStore`] (for
//! `--ephemeral` and tests) and [`FileStore`] (a host file; the only code of
//! the overlay that touches the host, through `std::fs`).

use super::OverlayError;
use std::cell::RefCell;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// An append-only byte log with a durability barrier.
pub trait LogStore {
    /// Appends `bytes` at the end.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
    /// The whole log.
    fn read_all(&mut self) -> io::Result<Vec<u8>>;
    /// Cuts the log to `len` bytes (discarding a torn tail), durably.
    fn truncate_to(&mut self, len: u64) -> io::Result<()>;
    /// Atomically replaces the whole log with `new_contents`, durably: after
    /// a crash the log is either the old one or the new one.
    fn replace(&mut self, new_contents: &[u8]) -> io::Result<()>;
}

#[derive(Default)]
struct MemInner {
    bytes: Vec<u8>,
    /// How much of `bytes` a `sync` has made "durable": what a simulated
    /// crash keeps.
    synced: usize,
}

/// A log in memory. Clones share the same bytes, so a test can drop an
/// overlay and open another on the same log.
#[derive(Clone, Default)]
pub struct MemStore {
    inner: Rc<RefCell<MemInner>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }
    /// A store holding `bytes` (all of them durable).
    pub fn with_bytes(bytes: Vec<u8>) -> MemStore {
        let synced = bytes.len();
        MemStore { inner: Rc::new(RefCell::new(MemInner { bytes, synced })) }
    }
    /// Everything appended, synced or not.
    pub fn bytes(&self) -> Vec<u8> {
        self.inner.borrow().bytes.clone()
    }
    /// What would survive a power loss now: the bytes up to the last sync.
    pub fn durable_bytes(&self) -> Vec<u8> {
        let i = self.inner.borrow();
        i.bytes[..i.synced].to_vec()
    }
}

impl LogStore for MemStore {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.borrow_mut().bytes.extend_from_slice(bytes);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut i = self.inner.borrow_mut();
        i.synced = i.bytes.len();
        Ok(())
    }
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        Ok(self.bytes())
    }
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        let mut i = self.inner.borrow_mut();
        let len = (len as usize).min(i.bytes.len());
        i.bytes.truncate(len);
        i.synced = i.synced.min(len);
        Ok(())
    }
    fn replace(&mut self, new_contents: &[u8]) -> io::Result<()> {
        let mut i = self.inner.borrow_mut();
        i.bytes = new_contents.to_vec();
        i.synced = i.bytes.len();
        Ok(())
    }
}

/// A log in a host file, locked (flock, exclusive) for as long as the
/// store lives so that a second VM on the same overlay fails cleanly.
pub struct FileStore {
    path: PathBuf,
    file: File,
}

fn lock(file: &File, path: &Path) -> Result<(), OverlayError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(OverlayError::Locked(path.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(OverlayError::Io(e)),
    }
}

impl FileStore {
    /// Opens (creating if missing) the log at `path` and locks it.
    pub fn open(path: &Path) -> Result<FileStore, OverlayError> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        lock(&file, path)?;
        Ok(FileStore { path: path.to_path_buf(), file })
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".compact-tmp");
        self.path.with_file_name(name)
    }
}

impl LogStore for FileStore {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut v)?;
        Ok(v)
    }
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()
    }
    fn replace(&mut self, new_contents: &[u8]) -> io::Result<()> {
        let tmp = self.tmp_path();
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
        // Lock the new file before it takes the name, so there is no moment
        // when the overlay's path names an unlocked log.
        lock(&f, &tmp).map_err(|e| io::Error::other(e.to_string()))?;
        let mut f = f;
        f.write_all(new_contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            File::open(dir)?.sync_all()?;
        }
        let old = std::mem::replace(&mut self.file, f);
        let _ = old.unlock();
        Ok(())
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Unlock explicitly: a process forked meanwhile may still share the
        // open file description until it execs, and closing our descriptor
        // alone would leave the overlay locked for that moment.
        let _ = self.file.unlock();
    }
}
