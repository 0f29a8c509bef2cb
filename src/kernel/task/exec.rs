//! execve: plan in the old image, load into the new one.
//!
//! Everything that can fail with an error the caller sees (the file, its
//! format, the interpreter, argument sizes) is checked while the old
//! program still exists: that is the loader's plan. Then the guest thread
//! does a real host execve of the stub — the host resets signal handlers,
//! kills the other threads and releases a vfork parent — and at the exec
//! event umk maps the planned segments in with injected mmap/mprotect
//! calls, writes the initial stack and starts the program.

use super::Pid;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::path::Follow;
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::{Ctx, SysResult};
use crate::kernel::Kernel;
use crate::loader::{self, ExecParams, ExecSource, LoadPlan};
use crate::platform::{HostTid, Regs};
use guest_abi::fcntl::*;
use guest_abi::mman::*;
use guest_abi::sysno::*;
use std::sync::Arc;

/// Where an interpreter (ld.so) is loaded: below where Linux's stack can
/// be, above where its mmap area usually reaches.
pub const INTERP_BASE: u64 = 0x7fc0_0000_0000;

pub struct PreparedExec {
    pub plan: LoadPlan,
    pub envp: Vec<Vec<u8>>,
    pub execfn: Vec<u8>,
}

/// The VFS as the loader sees it: reads executables for one process.
struct VfsExecSource<'a> {
    k: &'a mut Kernel,
    pid: Pid,
    dirfd: i32,
    empty_path: bool,
    first: bool,
}

impl ExecSource for VfsExecSource<'_> {
    fn read_exec(&mut self, path: &[u8]) -> Result<(Arc<Vec<u8>>, Vec<u8>), i32> {
        let dirfd = if self.first { self.dirfd } else { AT_FDCWD };
        let empty_ok = self.first && self.empty_path;
        self.first = false;
        read_executable(self.k, self.pid, dirfd, path, empty_ok).map_err(|e| e.0)
    }
}

/// How much of an image-backed executable is read up front.
const HEADER_READ: usize = 64 * 1024;

/// Whether the ELF header, program headers and PT_INTERP string of `head`
/// lie within its first `len` bytes (always true for non-ELF files: a #!
/// line is within the first page).
fn headers_within(head: &[u8], len: usize) -> bool {
    let u16at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64at = |o: usize| {
        head.get(o..o + 8).and_then(|b| b.try_into().ok()).map(|b| u64::from_le_bytes(b) as usize)
    };
    if !head.starts_with(b"\x7fELF") {
        return true;
    }
    let (Some(phoff), Some(phent), Some(phnum)) = (u64at(32), u16at(54), u16at(56)) else {
        return false;
    };
    let Some(end) = phent.checked_mul(phnum).and_then(|n| n.checked_add(phoff)) else {
        return false;
    };
    if end > len {
        return false;
    }
    (0..phnum).all(|i| {
        let ph = phoff + i * phent;
        let kind = head.get(ph..ph + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if kind != Some(3) {
            return true; // only PT_INTERP's bytes are read from the file
        }
        match (u64at(ph + 8), u64at(ph + 32)) {
            (Some(off), Some(sz)) => off.checked_add(sz).is_some_and(|e| e <= len),
            _ => false,
        }
    })
}

/// Reads a whole executable file, checking it may be executed.
pub fn read_executable(
    k: &mut Kernel,
    pid: Pid,
    dirfd: i32,
    path: &[u8],
    empty_ok: bool,
) -> KResult<(Arc<Vec<u8>>, Vec<u8>)> {
    let d = k.lookup_at(pid, dirfd, path, Follow::Yes, empty_ok)?;
    let a = d.inode.attr()?;
    if a.is_dir() || !a.is_reg() {
        return Err(Errno::EACCES);
    }
    crate::kernel::fs::permission::permission(
        &a,
        &k.creds_of(pid),
        crate::kernel::fs::permission::MAY_EXEC,
    )?;
    let resolved = d.path();
    let key = (a.dev, a.ino);
    // A file whose data lies unchanged in the base image is read once per
    // VM, not per exec; its stamp catches a guest that rewrites it.
    let stamp = (a.mtime, a.ctime, a.size);
    if let Some((s, bytes)) = k.exec_cache.get(&key) {
        if *s == stamp {
            return Ok((bytes.clone(), resolved));
        }
    }
    let size = usize::try_from(a.size).map_err(|_| Errno::EFBIG)?;
    if size > 1 << 30 {
        return Err(Errno::EFBIG);
    }
    // The whole file as the loader sees it. For a file whose data is in
    // the image, segments are mapped from the image, so only the headers
    // are read: the rest of the buffer stays (lazily allocated) zeros.
    let image_backed = d.inode.image_extent(0).is_some();
    let mut buf = vec![0u8; size];
    let mut want = if image_backed { size.min(HEADER_READ) } else { size };
    let mut done = 0;
    loop {
        while done < want {
            let n = d.inode.read_at(done as u64, &mut buf[done..want])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        if want == size || headers_within(&buf[..done], want) {
            break;
        }
        want = size;
    }
    if !image_backed {
        buf.truncate(done);
    }
    let bytes = Arc::new(buf);
    if d.inode.image_extent(0).is_some() {
        if let Some((_, old)) = k.exec_cache.insert(key, (stamp, bytes.clone())) {
            k.exec_inodes.remove(&(Arc::as_ptr(&old) as usize));
        }
        // Segments of this file can then be mapped from the image.
        k.exec_inodes.insert(Arc::as_ptr(&bytes) as usize, d.inode.clone());
    }
    Ok((bytes, resolved))
}

/// execve/execveat: plan, then let the host exec the stub.
pub fn do_execve(
    k: &mut Kernel,
    ctx: &Ctx,
    dirfd: i32,
    path_addr: u64,
    argv_addr: u64,
    envp_addr: u64,
    flags: i32,
) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let r = (|| -> KResult<PreparedExec> {
        let mut m = GuestMem::new(k.platform.as_mut(), ctx.host);
        let path = m.read_path(path_addr, flags & AT_EMPTY_PATH != 0)?;
        let limit = loader::ARG_SPACE_LIMIT as usize;
        let argv = m.read_string_array(argv_addr, 1 << 20, limit)?;
        let envp = m.read_string_array(envp_addr, 1 << 20, limit)?;
        if flags & AT_SYMLINK_NOFOLLOW != 0 {
            let d = k.lookup_at(ctx.pid, dirfd, &path, Follow::No, flags & AT_EMPTY_PATH != 0)?;
            if d.inode.attr()?.is_symlink() {
                return Err(Errno::ELOOP);
            }
        }
        let cred =
            k.table.borrow().procs.get(&ctx.pid).map(|p| p.cred.clone()).ok_or(Errno::ESRCH)?;
        let params = ExecParams {
            path: &path,
            argv,
            envp: envp.clone(),
            uid: cred.uid,
            euid: cred.euid,
            gid: cred.gid,
            egid: cred.egid,
        };
        let mut src = VfsExecSource {
            k,
            pid: ctx.pid,
            dirfd,
            empty_path: flags & AT_EMPTY_PATH != 0,
            first: true,
        };
        let plan = loader::plan_exec(&mut src, &params, loader::ELF_ET_DYN_BASE, INTERP_BASE)
            .map_err(Errno)?;
        Ok(PreparedExec { plan, envp, execfn: path })
    })();
    let prepared = match r {
        Ok(p) => p,
        Err(e) => return SysResult::err(e),
    };
    {
        let mut t = k.table.borrow_mut();
        if let Some(task) = t.tasks.get_mut(&ctx.tid) {
            task.pending_exec = Some(Box::new(prepared));
        }
    }
    // Linux walks the robust list at exec as at exit (exec_mm_release),
    // comparing with the tid the thread has after exec: for the leader the
    // same one, so prepare its words for the host's walk. A non-leader
    // takes the leader's tid, which its own words do not hold.
    let robust = k.table.borrow().tasks.get(&ctx.tid).and_then(|t| t.robust_list);
    if let (Some(head), true) = (robust, ctx.tid == ctx.pid) {
        crate::kernel::futex::robust::release(k, ctx.host, ctx.tid, ctx.pid, head);
    }
    let stub = k.platform.stub();
    let mut regs = ctx.regs;
    regs.orig_rax = SYS_EXECVEAT as u64;
    regs.set_syscall_args([
        stub.exec_fd as u64,
        stub.empty_string,
        stub.empty_argv,
        stub.empty_string,
        AT_EMPTY_PATH as u64,
        0,
    ]);
    SysResult::Native { regs, see_exit: false }
}

/// The host exec of the stub is done: load the planned program.
pub fn on_exec(k: &mut Kernel, host: HostTid, old_host: HostTid, regs: Regs) {
    let found = {
        let mut t = k.table.borrow_mut();
        let tid = t.by_host.get(&old_host).copied().or_else(|| t.by_host.get(&host).copied());
        match tid {
            Some(tid) => {
                let pid = t.tasks.get(&tid).map(|x| x.pid).unwrap_or(tid);
                // The host killed the other threads; the exec'ing thread
                // takes over the thread-group leader's place.
                let others: Vec<Pid> = t
                    .procs
                    .get(&pid)
                    .map(|p| p.threads.iter().copied().filter(|x| *x != tid).collect())
                    .unwrap_or_default();
                for o in others {
                    if let Some(ot) = t.tasks.remove(&o) {
                        t.by_host.remove(&ot.host);
                    }
                }
                let mut task = t.tasks.remove(&tid);
                t.by_host.remove(&old_host);
                t.by_host.remove(&host);
                let prepared = task.as_mut().and_then(|x| x.pending_exec.take());
                if let Some(mut task) = task {
                    // The leader keeps the process's pid as its tid.
                    task.tid = pid;
                    task.host = host;
                    task.parked = None;
                    task.restart = None;
                    // exec leaves no robust list (futex_exec_release).
                    task.robust_list = None;
                    t.insert_task(task);
                }
                if let Some(p) = t.procs.get_mut(&pid) {
                    p.threads = vec![pid];
                    // exec resets every sa_flags (flush_signal_handlers).
                    p.sigchld_flags = 0;
                    p.timers = Default::default();
                }
                prepared.map(|pe| (pid, pe))
            }
            None => None,
        }
    };
    let Some((pid, prepared)) = found else {
        k.platform.kill_process(host);
        return;
    };
    // A thread other than the leader exec'd: it now has the leader's host
    // tid and the process's pid as its tid.
    if old_host != host {
        k.platform.set_identity(old_host, None);
    }
    k.platform.set_identity(host, Some((pid, pid)));
    let _ = k.platform.set_exit_stop(host, false);
    if k.trace.is_some() {
        k.trace_exit(pid, host, 0);
    }
    if load_into(k, host, pid, &prepared, regs).is_err() {
        // Past the point of no return, Linux kills the process too.
        k.platform.kill_process(host);
    }
}

/// Maps a planned program into a stub that stopped at its entry.
pub fn load_into(
    k: &mut Kernel,
    host: HostTid,
    pid: Pid,
    pe: &PreparedExec,
    regs: Regs,
) -> KResult<()> {
    let plan = &pe.plan;
    let inject = |k: &mut Kernel, nr: usize, args: [u64; 5]| -> KResult<u64> {
        let r = k.platform.inject_syscall(host, nr, args).map_err(|e| {
            if k.debug_trace {
                eprintln!("umk: exec load: injected syscall {nr} failed: {e}");
            }
            Errno::EFAULT
        })?;
        if (-4095..0).contains(&r) {
            return Err(Errno(-r as i32));
        }
        Ok(r as u64)
    };
    for seg in &plan.segments {
        if seg.mem_len == 0 {
            continue;
        }
        if let Some(inode) = k.exec_inodes.get(&(Arc::as_ptr(&seg.file) as usize)).cloned() {
            // Only the headers of this file were read: its pages come from
            // the image (or are read through the inode where they cannot).
            // copy_to is the segment's first page (see loader::Segment).
            let lead = seg.copy_to - seg.vaddr;
            crate::kernel::mm::filemap::map_file(
                k,
                host,
                &inode,
                None,
                seg.file_off,
                seg.vaddr,
                seg.mem_len,
                lead + seg.file_len,
                seg.prot,
            )?;
            continue;
        }
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        inject(k, SYS_MMAP, [seg.vaddr, seg.mem_len, PROT_READ | PROT_WRITE, flags, u64::MAX])?;
        if seg.file_len > 0 {
            let start = (seg.file_off + (seg.copy_to - seg.vaddr)) as usize;
            let end = start.checked_add(seg.file_len as usize).ok_or(Errno::ENOEXEC)?;
            let bytes = seg.file.get(start..end).ok_or(Errno::ENOEXEC)?;
            GuestMem::new(k.platform.as_mut(), host).write(seg.copy_to, bytes)?;
        }
        if seg.prot != PROT_READ | PROT_WRITE {
            inject(k, SYS_MPROTECT, [seg.vaddr, seg.mem_len, seg.prot, 0, 0])?;
        }
    }
    let start = k.platform.start_state(host, &regs).map_err(|e| {
        if k.debug_trace {
            eprintln!("umk: exec load: start state: {e}");
        }
        Errno::EFAULT
    })?;
    let mut random = [0u8; 16];
    (k.entropy)(&mut random);
    let (stack, rsp) =
        loader::build_stack(plan, &pe.envp, start.stack_top, random, start.vdso, &pe.execfn)
            .map_err(Errno)?;
    if let Err(e) =
        GuestMem::new(k.platform.as_mut(), host).write(start.stack_top - stack.len() as u64, &stack)
    {
        if k.debug_trace {
            eprintln!(
                "umk: exec load: writing {} bytes of stack below {:#x} failed",
                stack.len(),
                start.stack_top
            );
        }
        return Err(e);
    }

    // The process's view of itself.
    let closed = {
        let mut t = k.table.borrow_mut();
        let p = t.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let name = plan.argv.first().cloned().unwrap_or_default();
        let base = pe.execfn.rsplit(|b| *b == b'/').next().unwrap_or(&name).to_vec();
        p.comm = base.into_iter().take(15).collect();
        p.exe = plan.exec_path.clone();
        p.cmdline =
            plan.argv.iter().flat_map(|a| a.iter().copied().chain(std::iter::once(0))).collect();
        p.environ =
            pe.envp.iter().flat_map(|e| e.iter().copied().chain(std::iter::once(0))).collect();
        // A fresh address space: a vfork child stops sharing its parent's
        // bookkeeping here, and a shared fd table becomes private
        // (fs/exec.c unshare_files).
        let mm = crate::kernel::mm::Mm {
            brk_start: plan.brk_start,
            brk: plan.brk_start,
            brk_mapped: plan.brk_start,
            vdso: start.vdso,
            saved_auxv: saved_auxv(&stack, plan.argv.len() + pe.envp.len()),
            ..Default::default()
        };
        // A process whose ids differ from its real ones (a setuid program)
        // does not dump core (fs/exec.c begin_new_exec).
        p.dumpable = p.cred.euid == p.cred.uid && p.cred.egid == p.cred.gid;
        p.mm = std::rc::Rc::new(std::cell::RefCell::new(mm));
        let files = p.files.borrow().clone();
        p.files = std::rc::Rc::new(std::cell::RefCell::new(files));
        let closed = p.files.borrow_mut().close_on_exec();
        closed
    };
    drop(closed);

    let mut r = Regs {
        rip: plan.entry,
        rsp,
        cs: regs.cs,
        ss: regs.ss,
        eflags: 0x202,
        ..Default::default()
    };
    r.orig_rax = u64::MAX;
    k.platform.set_regs(host, &r).map_err(|_| Errno::EFAULT)?;
    k.platform.resume(host, 0).map_err(|_| Errno::EFAULT)?;
    Ok(())
}

/// The auxv in a built initial stack: after argc, argv and envp with their
/// NULLs, pairs up to AT_NULL's.
fn saved_auxv(stack: &[u8], strings: usize) -> Vec<u8> {
    let start = 8 * (3 + strings);
    let tail = stack.get(start..).unwrap_or(&[]);
    let pairs = tail.chunks_exact(16);
    let n = pairs.clone().position(|p| p[..8] == [0; 8]).map_or(0, |i| i + 1);
    tail[..16 * n].to_vec()
}
