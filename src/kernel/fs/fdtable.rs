//! File descriptor tables (struct files_struct).

use super::file::OpenFile;
use crate::kernel::errno::{Errno, KResult};
use std::rc::Rc;

/// The default RLIMIT_NOFILE soft limit, as on most distributions.
pub const DEFAULT_NOFILE: usize = 1024;

#[derive(Clone)]
pub struct FdEntry {
    pub file: Rc<OpenFile>,
    pub cloexec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
}

impl FdTable {
    pub fn new() -> FdTable {
        FdTable { slots: Vec::new() }
    }

    pub fn get(&self, fd: i32) -> KResult<&FdEntry> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        self.slots.get(fd as usize).and_then(|s| s.as_ref()).ok_or(Errno::EBADF)
    }

    pub fn file(&self, fd: i32) -> KResult<Rc<OpenFile>> {
        Ok(self.get(fd)?.file.clone())
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> KResult<()> {
        let e = self.slots.get_mut(fd as usize).and_then(|s| s.as_mut()).ok_or(Errno::EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    /// Installs at the lowest free fd >= `min`, below `limit`.
    pub fn install_from(
        &mut self,
        min: usize,
        file: Rc<OpenFile>,
        cloexec: bool,
        limit: usize,
    ) -> KResult<i32> {
        let mut fd = min;
        while fd < self.slots.len() && self.slots[fd].is_some() {
            fd += 1;
        }
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(FdEntry { file, cloexec });
        Ok(fd as i32)
    }

    pub fn install(&mut self, file: Rc<OpenFile>, cloexec: bool, limit: usize) -> KResult<i32> {
        self.install_from(0, file, cloexec, limit)
    }

    /// Installs at exactly `fd`, closing what was there (dup2).
    pub fn install_at(
        &mut self,
        fd: i32,
        file: Rc<OpenFile>,
        cloexec: bool,
        limit: usize,
    ) -> KResult<Option<FdEntry>> {
        if fd < 0 || fd as usize >= limit {
            return Err(Errno::EBADF);
        }
        let fd = fd as usize;
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        Ok(self.slots[fd].replace(FdEntry { file, cloexec }))
    }

    pub fn remove(&mut self, fd: i32) -> KResult<FdEntry> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        self.slots.get_mut(fd as usize).and_then(|s| s.take()).ok_or(Errno::EBADF)
    }

    /// Closes every close-on-exec descriptor (at execve).
    pub fn close_on_exec(&mut self) -> Vec<FdEntry> {
        let mut closed = Vec::new();
        for s in self.slots.iter_mut() {
            if s.as_ref().is_some_and(|e| e.cloexec) {
                if let Some(e) = s.take() {
                    closed.push(e);
                }
            }
        }
        closed
    }

    pub fn iter(&self) -> impl Iterator<Item = (i32, &FdEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|e| (i as i32, e)))
    }

    pub fn clear(&mut self) -> Vec<FdEntry> {
        self.slots.drain(..).flatten().collect()
    }
}
