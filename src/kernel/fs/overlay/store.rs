//! Where an overlay's log lives: [`LogStore`], with [`MemStore`] (for
//! `--ephemeral` and tests) and [`FileStore`] (a host file; the only code of
//! the overlay that touches the host, through `std::fs`).

use super::OverlayError;
use std::cell::RefCell;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// An append-only byte log with a durability barrier, read back by
/// position (the overlay reads file data from it where it was logged).
pub trait LogStore {
    /// Appends `bytes` at the end.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
    /// Bytes in the log.
    fn size(&mut self) -> io::Result<u64>;
    /// Fills `buf` from byte `offset`; running past the end is an error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Cuts the log to `len` bytes (discarding a torn tail), durably.
    fn truncate_to(&mut self, len: u64) -> io::Result<()>;
    /// Starts a new log that [`replace_commit`](Self::replace_commit) will
    /// put in place of this one. Until then the current log is the log:
    /// it stays readable (a compaction copies data from it).
    fn replace_begin(&mut self) -> io::Result<()>;
    /// Appends to the new log.
    fn replace_append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Atomically replaces the log with the new one, durably: after a
    /// crash the log is either the old one or the new one. On error the
    /// old log is still the log and the new one is gone.
    fn replace_commit(&mut self) -> io::Result<()>;
    /// Throws the new log away.
    fn replace_abort(&mut self);
    /// Bytes of the log held in this process's memory.
    fn bytes_in_memory(&self) -> u64;

    /// Replaces the whole log with `new_contents` (see `replace_commit`).
    fn replace(&mut self, new_contents: &[u8]) -> io::Result<()> {
        let r = self
            .replace_begin()
            .and_then(|()| self.replace_append(new_contents))
            .and_then(|()| self.replace_commit());
        if r.is_err() {
            self.replace_abort();
        }
        r
    }
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
    /// A new log being written by a compaction.
    staged: Option<Vec<u8>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }
    /// A store holding `bytes` (all of them durable).
    pub fn with_bytes(bytes: Vec<u8>) -> MemStore {
        let synced = bytes.len();
        MemStore { inner: Rc::new(RefCell::new(MemInner { bytes, synced })), staged: None }
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
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.inner.borrow().bytes.len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let i = self.inner.borrow();
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| i.bytes.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        let mut i = self.inner.borrow_mut();
        let len = (len as usize).min(i.bytes.len());
        i.bytes.truncate(len);
        i.synced = i.synced.min(len);
        Ok(())
    }
    fn replace_begin(&mut self) -> io::Result<()> {
        self.staged = Some(Vec::new());
        Ok(())
    }
    fn replace_append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.staged.as_mut().ok_or_else(no_new_log)?.extend_from_slice(bytes);
        Ok(())
    }
    fn replace_commit(&mut self) -> io::Result<()> {
        let new = self.staged.take().ok_or_else(no_new_log)?;
        let mut i = self.inner.borrow_mut();
        i.bytes = new;
        i.synced = i.bytes.len();
        Ok(())
    }
    fn replace_abort(&mut self) {
        self.staged = None;
    }
    fn bytes_in_memory(&self) -> u64 {
        let staged = self.staged.as_ref().map_or(0, |s| s.len());
        (self.inner.borrow().bytes.len() + staged) as u64
    }
}

fn no_new_log() -> io::Error {
    io::Error::other("no new log was begun")
}

/// A log in a host file, locked (flock, exclusive) for as long as the
/// store lives so that a second VM on the same overlay fails cleanly.
pub struct FileStore {
    path: PathBuf,
    file: File,
    /// The new log a compaction is writing, under `tmp_path()`.
    staged: Option<File>,
    /// A replace renamed the new log in but could not fsync the directory:
    /// until that succeeds a crash may bring back the old name, so `sync`
    /// must retry it rather than claim durability.
    dir_unsynced: bool,
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
        Ok(FileStore { path: path.to_path_buf(), file, staged: None, dir_unsynced: false })
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".compact-tmp");
        self.path.with_file_name(name)
    }

    fn sync_dir(&self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl LogStore for FileStore {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        if self.dir_unsynced {
            self.sync_dir()?;
            self.dir_unsynced = false;
        }
        self.file.sync_data()
    }
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()
    }
    fn replace_begin(&mut self) -> io::Result<()> {
        self.replace_abort();
        let tmp = self.tmp_path();
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
        // Lock the new file before it takes the name, so there is no moment
        // when the overlay's path names an unlocked log.
        lock(&f, &tmp).map_err(|e| io::Error::other(e.to_string()))?;
        self.staged = Some(f);
        Ok(())
    }
    fn replace_append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.staged.as_mut().ok_or_else(no_new_log)?.write_all(bytes)
    }
    fn replace_commit(&mut self) -> io::Result<()> {
        let f = self.staged.take().ok_or_else(no_new_log)?;
        let tmp = self.tmp_path();
        if let Err(e) = f.sync_all().and_then(|()| std::fs::rename(&tmp, &self.path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // The name is the new log's now: use it whatever happens next.
        let old = std::mem::replace(&mut self.file, f);
        let _ = old.unlock();
        if self.sync_dir().is_err() {
            self.dir_unsynced = true;
        }
        Ok(())
    }
    fn replace_abort(&mut self) {
        if self.staged.take().is_some() {
            let _ = std::fs::remove_file(self.tmp_path());
        }
    }
    fn bytes_in_memory(&self) -> u64 {
        0
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
