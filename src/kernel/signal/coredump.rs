//! Core dumps (fs/coredump.c, fs/binfmt_elf.c elf_core_dump).
//!
//! The host never writes a guest's core: guest processes run with a host
//! RLIMIT_CORE of 1, and the host's core_pattern would name host paths.
//! When a signal whose default action is to dump core is about to kill a
//! guest process, umk writes the core itself, into the guest's own file
//! system where Linux's default core_pattern puts it (`core` in the
//! working directory), and the parent's wait then reports the core flag.
//!
//! The file is an ELF core as Linux writes it: a PT_NOTE segment (for each
//! thread its registers, NT_PRSTATUS and NT_PRFPREG; once NT_PRPSINFO,
//! NT_SIGINFO and NT_AUXV) and a PT_LOAD per mapping, with the bytes that
//! coredump_filter's default (0x33) selects: anonymous and written private
//! memory, anonymous shared memory, the first page of mapped ELF files.
//! `gdb PROGRAM core` reads it.
//!
//! Threads running on the host when the signal arrives are interrupted to
//! give their registers, and stay stopped until the process's death ends
//! them, as Linux's zap_threads stops them before dumping.

use crate::kernel::fs::file::OpenFile;
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use crate::platform::{HostTid, Regs, Vma};
use bytemuck::{bytes_of, Zeroable};
use guest_abi::elf::*;
use guest_abi::fcntl::*;
use guest_abi::misc::{Timeval, RLIMIT_CORE};
use guest_abi::signal::*;
use std::rc::Rc;

/// The signals whose default action dumps core (signal(7)).
const SIG_KERNEL_COREDUMP_MASK: u64 = sigmask(SIGQUIT)
    | sigmask(SIGILL)
    | sigmask(SIGTRAP)
    | sigmask(SIGABRT)
    | sigmask(SIGBUS)
    | sigmask(SIGFPE)
    | sigmask(SIGSEGV)
    | sigmask(SIGXCPU)
    | sigmask(SIGXFSZ)
    | sigmask(SIGSYS);

/// Whether `sig` taking its default action dumps core.
pub fn sig_kernel_coredump(sig: i32) -> bool {
    (1..=64).contains(&sig) && SIG_KERNEL_COREDUMP_MASK & sigmask(sig) != 0
}

/// The thread `host` is about to die of `sig` (siginfo `info`, as the
/// guest sees it): writes the core if the process may dump one. Returns
/// whether a complete core was written.
pub fn do_coredump(k: &mut Kernel, host: HostTid, sig: i32, info: &[u8; 128]) -> bool {
    let Some(pid) = k.table.borrow().task_by_host(host).map(|t| t.pid) else { return false };
    let limit = {
        let mut t = k.table.borrow_mut();
        let Some(p) = t.procs.get_mut(&pid) else { return false };
        // Another thread of the group got there first.
        if p.core_dumped || !p.dumpable {
            return false;
        }
        p.rlimits[RLIMIT_CORE as usize].rlim_cur
    };
    if limit < ELF_EXEC_PAGESIZE {
        return false;
    }
    let Some(file) = open_core_file(k, pid) else { return false };
    let dumped = match build(k, pid, host, sig, info) {
        Some(core) => core.write(k, host, &file, limit),
        None => false,
    };
    if let Some(p) = k.table.borrow_mut().procs.get_mut(&pid) {
        p.core_dumped = dumped;
    }
    dumped
}

/// Creates `core` in the process's working directory as the process
/// itself would, with its credentials and umask, replacing an old one
/// (fs/coredump.c: unlink, then O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600);
/// it must be a regular file with one link that the dumper owns.
fn open_core_file(k: &mut Kernel, pid: Pid) -> Option<Rc<OpenFile>> {
    const CORENAME: &[u8] = b"core";
    let _ = k.unlink_at(pid, AT_FDCWD, CORENAME, false);
    let flags = O_CREAT | O_WRONLY | O_NOFOLLOW | O_LARGEFILE | O_EXCL;
    let file = k.open_at(pid, AT_FDCWD, CORENAME, flags, 0o600).ok()?;
    let a = file.attr().ok()?;
    (a.is_reg() && a.nlink == 1 && a.uid == k.creds_of(pid).uid).then_some(file)
}

/// A core file laid out: headers and notes in memory, then the memory of
/// each PT_LOAD, read from the guest while writing.
struct Core {
    head: Vec<u8>,
    /// (address, bytes to dump) per PT_LOAD, in file order.
    loads: Vec<(u64, u64)>,
}

fn build(k: &mut Kernel, pid: Pid, host: HostTid, sig: i32, info: &[u8; 128]) -> Option<Core> {
    let vmas = k.platform.vmas(host).ok()?;
    let mut vmas: Vec<(Vma, u64)> =
        vmas.into_iter().filter(|v| !v.dontdump || v.always_dump).map(|v| (v, 0)).collect();
    for (v, size) in vmas.iter_mut() {
        *size = vma_dump_size(k, host, v);
    }

    let mut notes = Vec::new();
    let threads = thread_notes(k, pid, host, sig);
    for (i, (prstatus, fpregs)) in threads.iter().enumerate() {
        note(&mut notes, NT_PRSTATUS, bytes_of(prstatus));
        if i == 0 {
            // The dumping thread comes first, and with it the process.
            note(&mut notes, NT_PRPSINFO, bytes_of(&prpsinfo(k, pid)));
            note(&mut notes, NT_SIGINFO, info);
            let auxv = k.table.borrow().procs.get(&pid).map(|p| p.mm.borrow().saved_auxv.clone());
            note(&mut notes, NT_AUXV, &auxv.unwrap_or_default());
        }
        if let Some(fp) = fpregs {
            note(&mut notes, NT_PRFPREG, fp);
        }
    }

    let phnum = 1 + vmas.len();
    let phoff = std::mem::size_of::<Elf64Ehdr>() as u64;
    let notes_off = phoff + (phnum * std::mem::size_of::<Elf64Phdr>()) as u64;
    let data_off = (notes_off + notes.len() as u64).next_multiple_of(ELF_EXEC_PAGESIZE);

    let mut e_ident = [0u8; 16];
    e_ident[..4].copy_from_slice(&ELFMAG);
    e_ident[4] = ELFCLASS64;
    e_ident[5] = ELFDATA2LSB;
    e_ident[6] = EV_CURRENT;
    let ehdr = Elf64Ehdr {
        e_ident,
        e_type: ET_CORE,
        e_machine: EM_X86_64,
        e_version: EV_CURRENT as u32,
        e_phoff: phoff,
        e_ehsize: phoff as u16,
        e_phentsize: std::mem::size_of::<Elf64Phdr>() as u16,
        e_phnum: u16::try_from(phnum).ok()?,
        e_shentsize: 64,
        ..Default::default()
    };
    let mut head = bytes_of(&ehdr).to_vec();
    let note_phdr = Elf64Phdr {
        p_type: PT_NOTE,
        p_offset: notes_off,
        p_filesz: notes.len() as u64,
        p_align: 4,
        ..Default::default()
    };
    head.extend_from_slice(bytes_of(&note_phdr));
    let mut off = data_off;
    let mut loads = Vec::with_capacity(vmas.len());
    for (v, size) in &vmas {
        let flags = if v.read { PF_R } else { 0 }
            | if v.write { PF_W } else { 0 }
            | if v.exec { PF_X } else { 0 };
        let ph = Elf64Phdr {
            p_type: PT_LOAD,
            p_flags: flags,
            p_offset: off,
            p_vaddr: v.start,
            p_filesz: *size,
            p_memsz: v.end - v.start,
            p_align: ELF_EXEC_PAGESIZE,
            ..Default::default()
        };
        head.extend_from_slice(bytes_of(&ph));
        loads.push((v.start, *size));
        off += size;
    }
    head.extend_from_slice(&notes);
    head.resize(data_off as usize, 0);
    Some(Core { head, loads })
}

/// How much of a mapping goes into the core (binfmt_elf's vma_dump_size
/// under the default coredump_filter).
fn vma_dump_size(k: &mut Kernel, host: HostTid, v: &Vma) -> u64 {
    let whole = v.end - v.start;
    if v.always_dump {
        return whole;
    }
    if !v.read {
        return 0;
    }
    if v.shared {
        // Anonymous shared memory (MMF_DUMP_ANON_SHARED); shared file
        // mappings (MMF_DUMP_MAPPED_SHARED) are off by default.
        return if v.file { 0 } else { whole };
    }
    // Private memory with pages of its own (MMF_DUMP_ANON_PRIVATE).
    if v.anon_bytes > 0 {
        return whole;
    }
    // An untouched file mapping: only an ELF header, so a debugger can
    // find the build id (MMF_DUMP_ELF_HEADERS).
    let mut magic = [0u8; 4];
    if v.file && k.platform.read_memory(host, v.start, &mut magic).is_ok() && magic == ELFMAG {
        return ELF_EXEC_PAGESIZE.min(whole);
    }
    0
}

/// NT_PRSTATUS and NT_PRFPREG for each thread that can give its registers,
/// the dumping thread first.
fn thread_notes(
    k: &mut Kernel,
    pid: Pid,
    host: HostTid,
    sig: i32,
) -> Vec<(ElfPrstatus, Option<[u8; 512]>)> {
    let (threads, ids, cusage) = {
        let t = k.table.borrow();
        let Some(p) = t.procs.get(&pid) else { return Vec::new() };
        let mut threads: Vec<(Pid, HostTid)> =
            p.threads.iter().filter_map(|th| t.tasks.get(th)).map(|th| (th.tid, th.host)).collect();
        threads.sort_by_key(|&(_, h)| h != host);
        (threads, (p.ppid, p.pgid, p.sid), (p.cusage.ru_utime, p.cusage.ru_stime))
    };
    let mut out = Vec::with_capacity(threads.len());
    for (i, (tid, th)) in threads.into_iter().enumerate() {
        let Some(regs) = k.platform.stop_for_dump(th) else { continue };
        let fp = k.platform.get_fpregs(th).ok();
        let mut s = ElfPrstatus::zeroed();
        s.si_signo = sig;
        s.pr_cursig = sig as i16;
        s.pr_sigpend = k.platform.signal_state(th).map(|(p, _, _)| p).unwrap_or(0);
        s.pr_sighold = k.platform.blocked_signals(th).unwrap_or(0);
        (s.pr_pid, s.pr_ppid, s.pr_pgrp, s.pr_sid) = (tid, ids.0, ids.1, ids.2);
        if i == 0 {
            // Linux gives the group's times for the leader, a thread's own
            // for the others; umk has the group's only.
            if let Some((u, sys)) = k.platform.cpu_times(th) {
                s.pr_utime = timeval(u);
                s.pr_stime = timeval(sys);
            }
            (s.pr_cutime, s.pr_cstime) = cusage;
        }
        s.pr_reg = user_regs(&regs);
        s.pr_fpvalid = fp.is_some() as i32;
        out.push((s, fp));
    }
    out
}

/// `struct user_regs_struct`, as ptrace and gdb order it.
fn user_regs(r: &Regs) -> [u64; 27] {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ]
}

fn timeval(d: std::time::Duration) -> Timeval {
    Timeval { tv_sec: d.as_secs() as i64, tv_usec: d.subsec_micros() as i64 }
}

/// NT_PRPSINFO (fill_psinfo).
fn prpsinfo(k: &Kernel, pid: Pid) -> ElfPrpsinfo {
    const PF_DUMPCORE: u64 = 0x200;
    const PF_SIGNALED: u64 = 0x400;
    let mut ps = ElfPrpsinfo::zeroed();
    let t = k.table.borrow();
    let Some(p) = t.procs.get(&pid) else { return ps };
    ps.pr_sname = b'R';
    ps.pr_flag = PF_DUMPCORE | PF_SIGNALED;
    (ps.pr_uid, ps.pr_gid) = (p.cred.uid, p.cred.gid);
    (ps.pr_pid, ps.pr_ppid, ps.pr_pgrp, ps.pr_sid) = (p.pid, p.ppid, p.pgid, p.sid);
    let n = p.comm.len().min(15);
    ps.pr_fname[..n].copy_from_slice(&p.comm[..n]);
    // The command line with its NULs as spaces, cut to ELF_PRARGSZ - 1.
    let args = p.cmdline.strip_suffix(&[0]).unwrap_or(&p.cmdline);
    for (d, s) in ps.pr_psargs.iter_mut().zip(args.iter().take(79)) {
        *d = if *s == 0 { b' ' } else { *s };
    }
    ps
}

/// Appends one "CORE" note.
fn note(out: &mut Vec<u8>, n_type: u32, desc: &[u8]) {
    const NAME: &[u8] = b"CORE\0";
    let h = Elf64Nhdr { n_namesz: NAME.len() as u32, n_descsz: desc.len() as u32, n_type };
    out.extend_from_slice(bytes_of(&h));
    out.extend_from_slice(NAME);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(4), 0);
}

impl Core {
    /// Writes the core, stopping at `limit` bytes (RLIMIT_CORE) as Linux's
    /// dump_emit does: a core cut short is left but does not count as
    /// dumped.
    fn write(&self, k: &mut Kernel, host: HostTid, file: &OpenFile, limit: u64) -> bool {
        let total = self.head.len() as u64 + self.loads.iter().map(|l| l.1).sum::<u64>();
        let mut out = Writer { file, off: 0, limit };
        if !out.emit(&self.head) {
            return false;
        }
        let mut buf = vec![0u8; 64 << 10];
        for &(start, len) in &self.loads {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(buf.len() as u64) as usize;
                read_or_zero(k, host, start + done, &mut buf[..n]);
                if !out.emit(&buf[..n]) {
                    return false;
                }
                done += n as u64;
            }
        }
        out.off == total
    }
}

/// Reads guest memory; pages that cannot be read (a file mapping beyond
/// its file's end) are zeros, as dump_user_range skips them.
fn read_or_zero(k: &mut Kernel, host: HostTid, addr: u64, buf: &mut [u8]) {
    if k.platform.read_memory(host, addr, buf).is_ok() {
        return;
    }
    for (i, page) in buf.chunks_mut(ELF_EXEC_PAGESIZE as usize).enumerate() {
        let at = addr + (i as u64) * ELF_EXEC_PAGESIZE;
        if k.platform.read_memory(host, at, page).is_err() {
            page.fill(0);
        }
    }
}

struct Writer<'a> {
    file: &'a OpenFile,
    off: u64,
    limit: u64,
}

impl Writer<'_> {
    fn emit(&mut self, data: &[u8]) -> bool {
        if self.off + data.len() as u64 > self.limit {
            let room = (self.limit - self.off) as usize;
            let _ = self.file.ops.pwrite(self.off, &data[..room]);
            return false;
        }
        let mut done = 0;
        while done < data.len() {
            match self.file.ops.pwrite(self.off + done as u64, &data[done..]) {
                Ok(n) if n > 0 => done += n,
                _ => return false,
            }
        }
        self.off += data.len() as u64;
        true
    }
}
