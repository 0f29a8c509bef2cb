//! File pages into guest memory.
//!
//! A guest process gets file data in its address space in two ways: umk
//! copies the bytes into anonymous memory, or — for files whose data lies
//! unchanged in the base image, page-aligned — it maps those pages of the
//! image file itself (MAP_PRIVATE: writes copy the page, as with any
//! private file mapping). Mapping shares page cache across every guest
//! and costs no copy, which is what makes exec of busybox or bash and
//! ld.so's loading of libc cheap.
//!
//! MAP_SHARED mappings of files whose filesystem keeps their data in a
//! host memfd (tmpfs, see [`map_shared`]) map that memfd: stores through
//! the mapping are the file's data, seen by every process and by umk.

use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::InodeRef;
use crate::kernel::mm::GuestMem;
use crate::kernel::Kernel;
use crate::platform::hostmem::HostMem;
use crate::platform::HostTid;
use guest_abi::fcntl::{AT_FDCWD, O_CLOEXEC, O_RDONLY, O_RDWR};
use guest_abi::mman::*;
use guest_abi::sysno::{SYS_CLOSE, SYS_MMAP, SYS_MPROTECT, SYS_MUNMAP, SYS_OPENAT};

fn inject(k: &mut Kernel, host: HostTid, nr: usize, args: [u64; 5]) -> KResult<u64> {
    let r = k.platform.inject_syscall(host, nr, args).map_err(|_| Errno::EFAULT)?;
    if (-4095..0).contains(&r) {
        if k.debug_trace {
            eprintln!(
                "umk: mapping file pages: syscall {nr}{args:x?} failed: {}",
                Errno(-r as i32).name()
            );
        }
        return Err(Errno(-r as i32));
    }
    Ok(r as u64)
}

/// Fills the page-aligned region [addr, addr + len) of thread `host` with
/// the first `valid` bytes of `inode` from `file_off` (page aligned); the
/// rest is zero; the final protection is `prot`. `bytes`, when given, is
/// the file's content (exec has it already), else data is read from the
/// inode where it has to be copied.
pub fn map_file(
    k: &mut Kernel,
    host: HostTid,
    inode: &InodeRef,
    bytes: Option<&[u8]>,
    file_off: u64,
    addr: u64,
    len: u64,
    valid: u64,
    prot: u64,
) -> KResult<()> {
    let image_fd = k.platform.stub().image_fd;
    let valid = valid.min(len);
    let file_pages = page_up(valid).ok_or(Errno::ENOMEM)?.min(len);
    let rw = PROT_READ | PROT_WRITE;
    // Zeroing a partial last page needs it writable until the end.
    let partial_tail = valid % PAGE_SIZE != 0;
    let map_prot = if partial_tail { rw } else { prot };
    let mut done = 0u64;
    let mut wrote = false;
    while done < file_pages {
        let at = file_off.checked_add(done).ok_or(Errno::EOVERFLOW)?;
        let extent = if image_fd >= 0 { inode.image_extent(at) } else { None };
        match extent {
            Some((phys, contig)) if phys % PAGE_SIZE == 0 && contig > 0 => {
                let want = file_pages - done;
                let n = if contig >= valid - done { want } else { page_down(contig).min(want) };
                if n == 0 {
                    copy_pages(
                        k,
                        host,
                        inode,
                        bytes,
                        at,
                        addr + done,
                        PAGE_SIZE,
                        valid - done,
                        rw,
                    )?;
                    wrote = true;
                    done += PAGE_SIZE;
                    continue;
                }
                let r = k
                    .platform
                    .inject_syscall6(
                        host,
                        SYS_MMAP,
                        [addr + done, n, map_prot, MAP_PRIVATE | MAP_FIXED, image_fd as u64, phys],
                    )
                    .map_err(|_| Errno::EFAULT)?;
                if (-4095..0).contains(&r) {
                    return Err(Errno(-r as i32));
                }
                done += n;
            }
            _ => {
                // Not in the image (written by the guest, a hole, an
                // unaligned block): copy up to the next page boundary run.
                let n = PAGE_SIZE.min(file_pages - done);
                copy_pages(k, host, inode, bytes, at, addr + done, n, valid - done, rw)?;
                wrote = true;
                done += n;
            }
        }
    }
    if partial_tail {
        // Bytes after the data in its last page read as zero (the image
        // block may hold anything there).
        let zeros = vec![0u8; (file_pages - valid) as usize];
        GuestMem::new(k.platform.as_mut(), host).write(addr + valid, &zeros)?;
    }
    if file_pages < len {
        inject(
            k,
            host,
            SYS_MMAP,
            [
                addr + file_pages,
                len - file_pages,
                prot,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                u64::MAX,
            ],
        )?;
    }
    if (partial_tail || wrote) && prot != rw {
        inject(k, host, SYS_MPROTECT, [addr, file_pages, prot, 0, 0])?;
    }
    Ok(())
}

/// Copies file bytes into fresh anonymous pages.
#[allow(clippy::too_many_arguments)]
fn copy_pages(
    k: &mut Kernel,
    host: HostTid,
    inode: &InodeRef,
    bytes: Option<&[u8]>,
    off: u64,
    addr: u64,
    n: u64,
    valid_left: u64,
    prot: u64,
) -> KResult<()> {
    inject(k, host, SYS_MMAP, [addr, n, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, u64::MAX])?;
    let take = n.min(valid_left) as usize;
    let data = match bytes {
        Some(b) => b.get(off as usize..).map(|s| &s[..take.min(s.len())]).unwrap_or(&[]).to_vec(),
        None => {
            let mut buf = vec![0u8; take];
            let mut got = 0;
            while got < take {
                let r = inode.read_at(off + got as u64, &mut buf[got..])?;
                if r == 0 {
                    break;
                }
                got += r;
            }
            buf.truncate(got);
            buf
        }
    };
    GuestMem::new(k.platform.as_mut(), host).write(addr, &data)
}

/// Maps `len` bytes (page-rounded) of the host memory file `mem` from
/// `file_off` into the guest process of thread `host`, shared: the
/// guest's stores land in the file's own pages, which every other mapping
/// and umk's read(2) and write(2) use too. `flags` are the guest's mmap
/// flags (MAP_SHARED or MAP_SHARED_VALIDATE and modifiers); `writable`
/// whether the guest's open file may write (a later mprotect(PROT_WRITE)
/// of the mapping then works, as on Linux). Returns the address.
///
/// The guest process gets the memfd only for the span of three injected
/// calls: openat of `/proc/<umk>/fd/<n>` (the path written into the
/// mapping's own reserved pages), mmap, close. The guest itself cannot
/// name that path: its openat is served by umk's VFS.
#[allow(clippy::too_many_arguments)]
pub fn map_shared(
    k: &mut Kernel,
    host: HostTid,
    mem: &HostMem,
    addr: u64,
    len: u64,
    prot: u64,
    flags: u64,
    file_off: u64,
    writable: bool,
) -> KResult<u64> {
    let path = mem.proc_path();
    // The reservation picks the address as the guest asked (hint, fixed or
    // fixed-noreplace) and holds the path string meanwhile.
    let fixed = flags & MAP_FIXED != 0;
    let placement = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    let rw = PROT_READ | PROT_WRITE;
    let at = inject(
        k,
        host,
        SYS_MMAP,
        [addr, len, rw, placement | MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX],
    )?;
    let undo = |k: &mut Kernel| {
        if !fixed {
            let _ = inject(k, host, SYS_MUNMAP, [at, len, 0, 0, 0]);
        }
    };
    if (path.len() as u64) > len
        || GuestMem::new(k.platform.as_mut(), host).write(at, &path).is_err()
    {
        undo(k);
        return Err(Errno::ENOMEM);
    }
    let mode = if writable { O_RDWR } else { O_RDONLY };
    let open = [AT_FDCWD as u64, at, (mode | O_CLOEXEC) as u64, 0, 0];
    let fd = match inject(k, host, SYS_OPENAT, open) {
        Ok(fd) => fd,
        Err(e) => {
            undo(k);
            // Only a host that denies umk's children access to it (no
            // /proc, a hardened ptrace policy) refuses this.
            return Err(if e == Errno::EMFILE || e == Errno::ENFILE { e } else { Errno::ENODEV });
        }
    };
    let mflags = (flags & !MAP_FIXED_NOREPLACE) | MAP_FIXED;
    let r = k
        .platform
        .inject_syscall6(host, SYS_MMAP, [at, len, prot, mflags, fd, file_off])
        .map_err(|_| Errno::EFAULT);
    // Closed whatever happened: the mapping holds the memfd from now on.
    let _ = inject(k, host, SYS_CLOSE, [fd, 0, 0, 0, 0]);
    match r {
        Ok(v) if (-4095..0).contains(&v) => {
            undo(k);
            Err(Errno(-v as i32))
        }
        Ok(_) => Ok(at),
        Err(e) => Err(e),
    }
}
