//! The typed guest-memory accessor.

use crate::kernel::errno::{Errno, KResult};
use crate::platform::{HostTid, Platform};
use bytemuck::Pod;

/// Guest memory of one stopped thread. All kernel reads and writes of
/// guest memory go through here.
pub struct GuestMem<'a> {
    pub platform: &'a mut dyn Platform,
    pub tid: HostTid,
}

/// The longest path the kernel accepts (PATH_MAX, include/uapi/linux/limits.h).
pub const PATH_MAX: usize = 4096;

impl<'a> GuestMem<'a> {
    pub fn new(platform: &'a mut dyn Platform, tid: HostTid) -> Self {
        GuestMem { platform, tid }
    }

    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> KResult<()> {
        if addr.checked_add(buf.len() as u64).is_none() {
            return Err(Errno::EFAULT);
        }
        self.platform.read_memory(self.tid, addr, buf).map_err(|_| Errno::EFAULT)
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) -> KResult<()> {
        if addr.checked_add(data.len() as u64).is_none() {
            return Err(Errno::EFAULT);
        }
        self.platform.write_memory(self.tid, addr, data).map_err(|_| Errno::EFAULT)
    }

    pub fn read_vec(&mut self, addr: u64, len: usize) -> KResult<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    pub fn read_obj<T: Pod>(&mut self, addr: u64) -> KResult<T> {
        let mut v = T::zeroed();
        self.read(addr, bytemuck::bytes_of_mut(&mut v))?;
        Ok(v)
    }

    pub fn write_obj<T: Pod>(&mut self, addr: u64, v: &T) -> KResult<()> {
        self.write(addr, bytemuck::bytes_of(v))
    }

    pub fn read_u64(&mut self, addr: u64) -> KResult<u64> {
        self.read_obj::<u64>(addr)
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the
    /// NUL). Longer: ENAMETOOLONG, like Linux's strncpy_from_user callers.
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> KResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 256];
        let mut at = addr;
        loop {
            // Read up to the next page boundary first, so a string that ends
            // just before an unmapped page is still readable.
            let to_page = (4096 - (at % 4096)) as usize;
            let n = to_page.min(chunk.len());
            self.read(at, &mut chunk[..n])?;
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// A path argument: non-empty unless `allow_empty` (AT_EMPTY_PATH).
    pub fn read_path(&mut self, addr: u64, allow_empty: bool) -> KResult<Vec<u8>> {
        let p = self.read_cstr(addr, PATH_MAX - 1)?;
        if p.is_empty() && !allow_empty {
            return Err(Errno::ENOENT);
        }
        Ok(p)
    }

    /// A NULL-terminated array of string pointers (argv, envp), with Linux's
    /// limits: at most `max_count` entries and `max_bytes` in all (E2BIG).
    pub fn read_string_array(
        &mut self,
        addr: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> KResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0usize;
        for i in 0.. {
            if i >= max_count {
                return Err(Errno::E2BIG);
            }
            let p = self.read_u64(addr.checked_add(8 * i as u64).ok_or(Errno::EFAULT)?)?;
            if p == 0 {
                break;
            }
            let s = self.read_cstr(p, 128 * 1024).map_err(|e| {
                if e == Errno::ENAMETOOLONG {
                    Errno::E2BIG
                } else {
                    e
                }
            })?;
            total += s.len() + 1;
            if total > max_bytes {
                return Err(Errno::E2BIG);
            }
            out.push(s);
        }
        Ok(out)
    }
}
