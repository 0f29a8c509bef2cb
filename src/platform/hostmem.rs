//! Host memory files: the storage of guest files that guest processes map
//! MAP_SHARED.
//!
//! Pages shared between guest processes must be the host's own shared
//! pages, so such a file's data lives in a host memfd held by umk. umk
//! reads and writes it with pread/pwrite like any file; a guest process
//! maps it after umk has briefly opened it in that process through
//! `/proc/<umk>/fd/<n>` (see `kernel::mm::filemap::map_shared`). Opening
//! that path needs ptrace-read access to umk, which a guest process, an
//! ordinary child of umk with the same credentials, has.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

/// A host memfd holding one guest file's data.
pub struct HostMem {
    file: File,
}

impl HostMem {
    /// An empty memory file (close-on-exec: guest processes are umk's
    /// children and must not inherit it).
    pub fn new() -> io::Result<HostMem> {
        // SAFETY: memfd_create with a static C string; it returns a new fd
        // or -1 and touches no memory of ours.
        let fd = unsafe { libc::memfd_create(c"umk-shm".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(HostMem { file: unsafe { File::from_raw_fd(fd) } })
    }

    /// Reads up to `buf.len()` bytes at `off`; fewer only at end of file.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    pub fn write_at(&self, off: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, off)
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// The path by which a child of umk opens this memfd: the path string
    /// with its NUL, ready to be written into guest memory.
    pub fn proc_path(&self) -> Vec<u8> {
        format!("/proc/{}/fd/{}\0", std::process::id(), self.file.as_raw_fd()).into_bytes()
    }
}

impl std::fmt::Debug for HostMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostMem(fd {})", self.file.as_raw_fd())
    }
}
