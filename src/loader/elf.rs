//! ELF executables, after Linux `fs/binfmt_elf.c` (`load_elf_binary()`,
//! `load_elf_interp()`, `elf_load()`, `elf_map()`).
//!
//! An ELF file is a 64-byte header pointing at a table of *program headers*.
//! The loader only needs three kinds:
//!
//! * `PT_LOAD`: "map file bytes `[p_offset, +p_filesz)` at `p_vaddr`, in
//!   `p_memsz` bytes of memory, with permissions `p_flags`". Memory past
//!   `p_filesz` is zero: that is where `.bss` lives.
//! * `PT_INTERP`: the path of the program interpreter (dynamic linker) that
//!   should run first and then load the shared libraries.
//! * `PT_PHDR`/the header table itself, so `AT_PHDR` can tell the program
//!   where its own program headers are in memory.
//!
//! `ET_EXEC` files are linked for fixed addresses. `ET_DYN` files (PIEs,
//! static-PIEs and the dynamic linker itself) can go anywhere: every address
//! gets the same *load bias* added.
//!
//! Linux maps segments with `mmap`, which works in whole pages. That is why
//! a segment starts at `p_vaddr` rounded down to a page and takes file bytes
//! from `p_offset` rounded down by the same amount (so `p_offset` and
//! `p_vaddr` must agree modulo the page size, or `mmap` fails with EINVAL).
//! The page-rounding is visible to the program: the bytes of the first page
//! before `p_vaddr`, and of the last page after `p_filesz` when there is no
//! bss, are whatever the file holds there. When there is bss, Linux zeroes the
//! rest of the last file page (`padzero()`). [`Segment::file_len`] encodes
//! exactly that.

use std::sync::Arc;

use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD};
use guest_abi::errno::{EACCES, EINVAL, EIO, ELIBBAD, ENOEXEC, ENOMEM, EPERM};
use guest_abi::mman::{page_down, page_up, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE};

use super::{read, ExecError, ExecSource, Segment, TASK_SIZE};

/// `sizeof(Elf64_Ehdr)`.
pub const EHDR_SIZE: usize = 64;
/// `sizeof(Elf64_Phdr)`: the only `e_phentsize` Linux accepts (AT_PHENT).
pub const PHDR_SIZE: u64 = 56;
/// Linux refuses program header tables larger than this (`load_elf_phdrs()`).
pub const MAX_PHDRS_BYTES: u64 = 65536;
/// Longest `PT_INTERP` path, with its NUL (`PATH_MAX`).
pub const PATH_MAX: u64 = 4096;
/// `vm.mmap_min_addr`'s usual default: nothing may be mapped below it.
pub const MMAP_MIN_ADDR: u64 = 0x10000;

/// Does the file start with the ELF magic `\x7fELF`?
pub fn is_elf(file: &[u8]) -> bool {
    file.starts_with(b"\x7fELF")
}

/// The fields of `Elf64_Ehdr` the loader uses.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub class: u8,
    pub data: u8,
    pub e_type: u16,
    pub e_machine: u16,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_phentsize: u16,
    pub e_phnum: u16,
}

/// One `Elf64_Phdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

impl Header {
    /// Decodes a header. Linux reads the executable's header out of
    /// `bprm->buf` (the file's first 256 bytes, NUL padded), so a short file
    /// simply has zero fields, which later checks reject.
    pub fn parse(file: &[u8]) -> Header {
        let mut b = [0u8; EHDR_SIZE];
        let n = file.len().min(EHDR_SIZE);
        b[..n].copy_from_slice(&file[..n]);
        Header {
            class: b[EI_CLASS],
            data: b[EI_DATA],
            e_type: le16(&b, 16),
            e_machine: le16(&b, 18),
            e_entry: le64(&b, 24),
            e_phoff: le64(&b, 32),
            e_phentsize: le16(&b, 54),
            e_phnum: le16(&b, 56),
        }
    }

    /// `elf_check_arch()`: x86_64 only. Linux checks only `e_machine` here;
    /// we also insist on 64-bit little-endian, since an ELF32 file with
    /// EM_X86_64 (x32) would otherwise be misread as a 64-bit header.
    fn arch_ok(&self) -> bool {
        self.e_machine == EM_X86_64 && self.class == ELFCLASS64 && self.data == ELFDATA2LSB
    }
}

/// `load_elf_phdrs()`: validates the table's shape and reads it. Any problem
/// is reported as `bad` (Linux returns NULL and the caller picks the errno:
/// ENOEXEC for the executable, ELIBBAD for the interpreter).
fn read_phdrs(file: &[u8], h: &Header, bad: i32) -> Result<Vec<Phdr>, i32> {
    if h.e_phentsize as u64 != PHDR_SIZE {
        return Err(bad);
    }
    let size = PHDR_SIZE * h.e_phnum as u64;
    if size == 0 || size > MAX_PHDRS_BYTES {
        return Err(bad);
    }
    // A short read (table past the end of the file) fails too.
    let table = h
        .e_phoff
        .checked_add(size)
        .filter(|&end| end <= file.len() as u64)
        .map(|end| &file[h.e_phoff as usize..end as usize])
        .ok_or(bad)?;
    Ok(table
        .chunks_exact(PHDR_SIZE as usize)
        .map(|p| Phdr {
            p_type: le32(p, 0),
            p_flags: le32(p, 4),
            p_offset: le64(p, 8),
            p_vaddr: le64(p, 16),
            p_filesz: le64(p, 32),
            p_memsz: le64(p, 40),
            p_align: le64(p, 48),
        })
        .collect())
}

/// `make_prot()`: ELF segment flags to mmap protections.
pub fn prot_of(p_flags: u32) -> u64 {
    let mut prot = 0;
    if p_flags & PF_R != 0 {
        prot |= PROT_READ;
    }
    if p_flags & PF_W != 0 {
        prot |= PROT_WRITE;
    }
    if p_flags & PF_X != 0 {
        prot |= PROT_EXEC;
    }
    prot
}

/// The result of planning the ELF part of an exec.
#[derive(Debug)]
pub(crate) struct ElfPlan {
    pub segments: Vec<Segment>,
    /// Where the CPU starts (interpreter's entry, if any).
    pub entry: u64,
    /// The executable's own entry (AT_ENTRY).
    pub exec_entry: u64,
    /// AT_PHDR.
    pub phdr_addr: u64,
    /// AT_PHNUM.
    pub phnum: u64,
    /// AT_BASE: the interpreter's load bias, 0 without one.
    pub interp_bias: u64,
    pub brk_start: u64,
    pub span: (u64, u64),
}

/// Plans an ELF executable and its interpreter, following the order of
/// checks in `load_elf_binary()`: everything up to and including reading the
/// interpreter's headers is checked before the point of no return (errors go
/// back to the `execve` caller); segment placement after it (fatal).
pub(crate) fn plan_elf(
    src: &mut dyn ExecSource,
    file: &Arc<Vec<u8>>,
    base_hint: u64,
    interp_base: u64,
) -> Result<ElfPlan, ExecError> {
    let early = ExecError::early;
    let h = Header::parse(file);
    if !is_elf(file) || !(h.e_type == ET_EXEC || h.e_type == ET_DYN) || !h.arch_ok() {
        return Err(early(ENOEXEC));
    }
    let phdrs = read_phdrs(file, &h, ENOEXEC).map_err(early)?;

    // The first PT_INTERP names the interpreter; later ones are ignored.
    let mut interp = None;
    if let Some(p) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        if p.p_filesz > PATH_MAX || p.p_filesz < 2 {
            return Err(early(ENOEXEC));
        }
        // elf_read(): a short read is EIO.
        let raw = p
            .p_offset
            .checked_add(p.p_filesz)
            .filter(|&end| end <= file.len() as u64)
            .map(|end| &file[p.p_offset as usize..end as usize])
            .ok_or(early(EIO))?;
        if raw.last() != Some(&0) {
            return Err(early(ENOEXEC));
        }
        // A C string: it ends at the first NUL.
        let name: Vec<u8> = raw.iter().take_while(|&&c| c != 0).copied().collect();
        // A missing interpreter is ENOENT, a directory EACCES, ... (open_exec()).
        let (ifile, _) = read(src, &name, EACCES)?;
        // The header is read with elf_read(): a file shorter than it is EIO.
        if ifile.len() < EHDR_SIZE {
            return Err(early(EIO));
        }
        // "Some simple consistency checks for the interpreter": ELIBBAD.
        let ih = Header::parse(&ifile);
        if !is_elf(&ifile) || !ih.arch_ok() {
            return Err(early(ELIBBAD));
        }
        let iphdrs = read_phdrs(&ifile, &ih, ELIBBAD).map_err(early)?;
        interp = Some((ifile, ih, iphdrs));
    }
    // PT_GNU_STACK only chooses between an executable and a non-executable
    // stack; on x86_64 neither changes how anything is mapped for a 64-bit
    // program (elf_read_implies_exec() is for 32-bit only), so it is ignored.

    // ---- point of no return (begin_new_exec()) ----
    let fatal = ExecError::late;
    let main = load_image(file, &h, &phdrs, base_hint, true).map_err(fatal)?;
    let exec_entry = h.e_entry.wrapping_add(main.bias as u64);
    let mut segments = main.segments;
    let mut span = main.span;

    let (entry, interp_bias) = match interp {
        None => {
            if !user_addr(h.e_entry as i128 + main.bias) {
                return Err(fatal(EINVAL));
            }
            (exec_entry, 0)
        }
        Some((ifile, ih, iphdrs)) => {
            // load_elf_interp() accepts ET_EXEC and ET_DYN. (For anything
            // else Linux returns ~0UL, which turns into the errno -1 = EPERM
            // by accident; the process is killed either way.)
            if !(ih.e_type == ET_EXEC || ih.e_type == ET_DYN) {
                return Err(fatal(ELIBBAD));
            }
            let img = load_image(&ifile, &ih, &iphdrs, interp_base, false).map_err(fatal)?;
            // Linux lets mmap choose a free spot for an ET_DYN interpreter,
            // so it never lands on the executable. Here the caller chose
            // `interp_base`; refuse rather than overwrite the executable.
            if img.span.0 < span.1 && span.0 < img.span.1 {
                return Err(fatal(ENOMEM));
            }
            let ientry = ih.e_entry as i128 + img.bias;
            if !user_addr(ientry) {
                return Err(fatal(EINVAL));
            }
            segments.extend(img.segments);
            span = (span.0.min(img.span.0), span.1.max(img.span.1));
            // AT_BASE is the interpreter's load bias: 0 for an ET_EXEC one.
            (ientry as u64, img.bias as u64)
        }
    };

    Ok(ElfPlan {
        segments,
        entry,
        exec_entry,
        phdr_addr: main.phdr_vaddr.wrapping_add(main.bias as u64),
        phnum: h.e_phnum as u64,
        interp_bias,
        brk_start: main.brk_start,
        span,
    })
}

/// Is `a` an address a user program may use (Linux's `!BAD_ADDR(a)`)?
fn user_addr(a: i128) -> bool {
    (0..TASK_SIZE as i128).contains(&a)
}

/// One loaded ELF image (executable or interpreter).
#[derive(Debug)]
struct Image {
    segments: Vec<Segment>,
    /// Load bias; signed because an `ET_DYN` linked at a high address and
    /// placed lower has a negative one.
    bias: i128,
    /// Unbiased address of the program headers (see below).
    phdr_vaddr: u64,
    brk_start: u64,
    span: (u64, u64),
}

/// `maximum_alignment()`: the largest power-of-two `p_align` of the
/// `PT_LOAD`s, at least a page. Linux aligns an `ET_DYN` executable's base
/// to it, so that a segment asking for 2 MiB alignment gets it.
fn maximum_alignment(phdrs: &[Phdr]) -> u64 {
    phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_align.is_power_of_two())
        .map(|p| p.p_align)
        .fold(PAGE_SIZE, u64::max)
}

/// Plans the `PT_LOAD` segments of one image, with the checks Linux makes in
/// the segment loop of `load_elf_binary()`/`load_elf_interp()` and those
/// `mmap` makes for it. `base` is where an `ET_DYN` image's first page goes;
/// `align` applies `maximum_alignment()` (Linux does so for the executable).
fn load_image(
    file: &Arc<Vec<u8>>,
    h: &Header,
    phdrs: &[Phdr],
    base: u64,
    align: bool,
) -> Result<Image, i32> {
    let loads: Vec<&Phdr> = phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    // An image with nothing to map: for ET_DYN Linux fails ("total_size"
    // is 0, EINVAL); an ET_EXEC would start with nothing at its entry point
    // and die of SIGSEGV at once. Either way the process is gone.
    let first = loads.first().ok_or(EINVAL)?;

    // The bias is fixed by the first PT_LOAD (the ELF spec requires them in
    // ascending p_vaddr order, so it is also the lowest). Linux computes
    // ELF_PAGESTART(base - p_vaddr); we put the *first page* exactly at
    // `base`, which differs only when that p_vaddr is not page aligned, where
    // Linux's mmap would also have picked its own spot.
    let bias: i128 = if h.e_type == ET_DYN {
        let base = if align { base & !(maximum_alignment(phdrs) - 1) } else { base };
        base as i128 - page_down(first.p_vaddr) as i128
    } else {
        0
    };

    let mut segments = Vec::new();
    let mut phdr_vaddr = 0;
    let mut brk_end: i128 = 0;
    for p in &loads {
        // "Check to see if the section's size will overflow the allowed task
        // size" (load_elf_binary()): on raw, unbiased values.
        if p.p_vaddr >= TASK_SIZE
            || p.p_filesz > p.p_memsz
            || p.p_memsz > TASK_SIZE
            || TASK_SIZE - p.p_memsz < p.p_vaddr
        {
            return Err(EINVAL);
        }
        let addr = p.p_vaddr as i128 + bias;
        let end = addr + p.p_memsz as i128;
        brk_end = brk_end.max(end);
        // Which segment holds the program header table? (Linux >= 5.18
        // uses the PT_LOAD whose file range contains e_phoff; older kernels
        // assumed the first PT_LOAD. For ordinary files both equal PT_PHDR.)
        if p.p_offset <= h.e_phoff && (h.e_phoff as u128) < p.p_offset as u128 + p.p_filesz as u128
        {
            phdr_vaddr = (h.e_phoff - p.p_offset).wrapping_add(p.p_vaddr);
        }
        if p.p_memsz == 0 {
            continue; // elf_load() maps nothing for an empty segment
        }
        // The mapping must fit in user space and above mmap_min_addr
        // (mmap fails with ENOMEM / EPERM).
        if end > TASK_SIZE as i128 {
            return Err(ENOMEM);
        }
        if addr < MMAP_MIN_ADDR as i128 {
            return Err(EPERM);
        }
        let addr = addr as u64;
        let pageoff = addr % PAGE_SIZE;
        let vaddr = addr - pageoff;
        let mem_len = page_up(end as u64).ok_or(ENOMEM)? - vaddr;

        let (file_off, file_len) = if p.p_filesz == 0 {
            // Pure bss: anonymous zero pages (vm_brk_flags()).
            (0, 0)
        } else {
            // mmap needs a page-aligned offset: p_offset and p_vaddr must
            // sit at the same place within their pages.
            if p.p_offset % PAGE_SIZE != pageoff {
                return Err(EINVAL);
            }
            // Linux would map pages past the end of the file and the program
            // would get SIGBUS on touching them; a segment whose file bytes
            // do not exist is refused here instead.
            let data_end = p.p_offset.checked_add(p.p_filesz).ok_or(EINVAL)?;
            if data_end > file.len() as u64 {
                return Err(EINVAL);
            }
            let file_off = p.p_offset - pageoff;
            // With bss, padzero() clears the last file page after p_filesz;
            // without, the whole last page is file content (zero past EOF).
            let want = if p.p_memsz > p.p_filesz {
                pageoff + p.p_filesz
            } else {
                page_up(pageoff + p.p_filesz).ok_or(EINVAL)?
            };
            (file_off, want.min(file.len() as u64 - file_off))
        };
        segments.push(Segment {
            vaddr,
            mem_len,
            prot: prot_of(p.p_flags),
            file: Arc::clone(file),
            file_off,
            file_len,
            copy_to: vaddr,
        });
    }
    if segments.is_empty() {
        return Err(EINVAL);
    }
    let lo = segments.iter().map(|s| s.vaddr).min().unwrap_or(0);
    let hi = segments.iter().map(|s| s.vaddr + s.mem_len).max().unwrap_or(0);
    // mm->start_brk = ELF_PAGEALIGN(elf_brk): just past the highest segment.
    let brk_start = page_up(brk_end.max(0) as u64).ok_or(ENOMEM)?;
    Ok(Image { segments, bias, phdr_vaddr, brk_start, span: (lo, hi) })
}
