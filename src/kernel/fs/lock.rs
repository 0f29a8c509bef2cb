//! File locks: flock(2) whole-file locks and POSIX record locks
//! (fcntl F_GETLK/F_SETLK/F_SETLKW), as fs/locks.c keeps them.
//!
//! flock locks belong to an open file description: dup'd and inherited
//! fds share them, and they go away when the last fd of that description
//! closes. POSIX locks belong to a process and a byte range, and go away
//! when the process closes *any* fd of the file, or exits. Both are
//! advisory. A waiter parks on the file's wait queue and retries when a
//! lock on the file is released.

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::task::Pid;
use crate::kernel::wait::{WaitId, Waker};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A file, as locks see it.
pub type FileKey = (u64, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLock {
    pub pid: Pid,
    pub start: u64,
    /// Exclusive end; u64::MAX means "to end of file, however it grows".
    pub end: u64,
    pub kind: LockKind,
}

#[derive(Default)]
struct FileLocks {
    /// flock holders: open-file-description id -> kind.
    flocks: Vec<(usize, LockKind)>,
    records: Vec<RecordLock>,
    wait: WaitId,
}

/// All the locks of a VM.
#[derive(Clone)]
pub struct LockTable {
    inner: Rc<RefCell<HashMap<FileKey, FileLocks>>>,
    waker: Waker,
}

fn conflicts(a: LockKind, b: LockKind) -> bool {
    a == LockKind::Exclusive || b == LockKind::Exclusive
}

impl LockTable {
    pub fn new(waker: &Waker) -> LockTable {
        LockTable { inner: Default::default(), waker: waker.clone() }
    }

    fn entry<R>(&self, key: FileKey, f: impl FnOnce(&mut FileLocks) -> R) -> R {
        let mut m = self.inner.borrow_mut();
        let waker = &self.waker;
        let e = m
            .entry(key)
            .or_insert_with(|| FileLocks { wait: waker.new_id(), ..Default::default() });
        f(e)
    }

    /// The queue a blocked locker waits on.
    pub fn wait_id(&self, key: FileKey) -> WaitId {
        self.entry(key, |e| e.wait)
    }

    fn changed(&self, key: FileKey) {
        let mut m = self.inner.borrow_mut();
        if let Some(e) = m.get(&key) {
            self.waker.wake(e.wait);
            if e.flocks.is_empty() && e.records.is_empty() {
                m.remove(&key);
            }
        }
    }

    /// flock: take (or convert to) `kind` for open file `ofd`; Err(EAGAIN)
    /// when another description holds a conflicting lock.
    pub fn flock(&self, key: FileKey, ofd: usize, kind: LockKind) -> KResult<()> {
        let r = self.entry(key, |e| {
            if e.flocks.iter().any(|(o, k)| *o != ofd && conflicts(*k, kind)) {
                return Err(Errno::EAGAIN);
            }
            e.flocks.retain(|(o, _)| *o != ofd);
            e.flocks.push((ofd, kind));
            Ok(())
        });
        // A conversion may have released a stronger lock.
        self.changed(key);
        r
    }

    pub fn funlock(&self, key: FileKey, ofd: usize) {
        self.entry(key, |e| e.flocks.retain(|(o, _)| *o != ofd));
        self.changed(key);
    }

    /// The first lock of another process that conflicts with `want`.
    pub fn test(&self, key: FileKey, want: RecordLock) -> Option<RecordLock> {
        self.entry(key, |e| {
            e.records
                .iter()
                .find(|l| {
                    l.pid != want.pid
                        && l.start < want.end
                        && want.start < l.end
                        && conflicts(l.kind, want.kind)
                })
                .copied()
        })
    }

    /// Sets (`kind` Some) or clears (None) `pid`'s lock on [start, end).
    pub fn set(
        &self,
        key: FileKey,
        pid: Pid,
        start: u64,
        end: u64,
        kind: Option<LockKind>,
    ) -> KResult<()> {
        if let Some(k) = kind {
            if self.test(key, RecordLock { pid, start, end, kind: k }).is_some() {
                return Err(Errno::EAGAIN);
            }
        }
        self.entry(key, |e| {
            // Cut the range out of this process's locks, keeping the parts
            // outside it, then add the new lock.
            let mut kept = Vec::with_capacity(e.records.len() + 2);
            for l in e.records.drain(..) {
                if l.pid != pid || l.end <= start || end <= l.start {
                    kept.push(l);
                    continue;
                }
                if l.start < start {
                    kept.push(RecordLock { end: start, ..l });
                }
                if end < l.end {
                    kept.push(RecordLock { start: end, ..l });
                }
            }
            if let Some(k) = kind {
                kept.push(RecordLock { pid, start, end, kind: k });
            }
            e.records = kept;
        });
        self.changed(key);
        Ok(())
    }

    /// A process closed an fd of the file: all its record locks on it go.
    pub fn release_process_file(&self, key: FileKey, pid: Pid) {
        let had =
            self.inner.borrow().get(&key).is_some_and(|e| e.records.iter().any(|l| l.pid == pid));
        if had {
            self.entry(key, |e| e.records.retain(|l| l.pid != pid));
            self.changed(key);
        }
    }

    /// A process ended: all its record locks go.
    pub fn release_process(&self, pid: Pid) {
        let keys: Vec<FileKey> = self
            .inner
            .borrow()
            .iter()
            .filter(|(_, e)| e.records.iter().any(|l| l.pid == pid))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.release_process_file(k, pid);
        }
    }
}

/// Held by an open file description that took an flock: dropping the
/// description (its last fd closed) releases the lock.
pub struct FlockGuard {
    pub table: LockTable,
    pub key: FileKey,
    pub ofd: usize,
}

impl Drop for FlockGuard {
    fn drop(&mut self) {
        self.table.funlock(self.key, self.ofd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: FileKey = (1, 2);

    #[test]
    fn flock_shared_then_exclusive_conflicts() {
        let t = LockTable::new(&Waker::new());
        t.flock(K, 1, LockKind::Shared).unwrap();
        t.flock(K, 2, LockKind::Shared).unwrap();
        assert_eq!(t.flock(K, 3, LockKind::Exclusive), Err(Errno::EAGAIN));
        t.funlock(K, 1);
        t.funlock(K, 2);
        t.flock(K, 3, LockKind::Exclusive).unwrap();
    }

    #[test]
    fn record_locks_split_and_conflict_by_range() {
        let t = LockTable::new(&Waker::new());
        t.set(K, 10, 0, 100, Some(LockKind::Exclusive)).unwrap();
        t.set(K, 10, 40, 60, None).unwrap();
        // Pid 20 may lock the hole but not the kept parts.
        t.set(K, 20, 40, 60, Some(LockKind::Exclusive)).unwrap();
        assert_eq!(t.set(K, 20, 30, 41, Some(LockKind::Shared)), Err(Errno::EAGAIN));
        let c =
            t.test(K, RecordLock { pid: 20, start: 90, end: 95, kind: LockKind::Shared }).unwrap();
        assert_eq!((c.pid, c.start, c.end), (10, 60, 100));
        t.release_process(10);
        assert!(t
            .test(K, RecordLock { pid: 20, start: 0, end: u64::MAX, kind: LockKind::Exclusive })
            .is_none());
    }

    #[test]
    fn shared_record_locks_coexist() {
        let t = LockTable::new(&Waker::new());
        t.set(K, 1, 0, u64::MAX, Some(LockKind::Shared)).unwrap();
        t.set(K, 2, 0, u64::MAX, Some(LockKind::Shared)).unwrap();
        assert_eq!(t.set(K, 3, 5, 6, Some(LockKind::Exclusive)), Err(Errno::EAGAIN));
    }
}
