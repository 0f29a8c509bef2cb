//! ELF core files (include/uapi/linux/elf.h, include/linux/elfcore.h,
//! arch/x86/include/asm/elf.h): the `core` a crashing guest process leaves
//! for its debugger.

use crate::misc::Timeval;
use bytemuck::{Pod, Zeroable};

pub const ELFMAG: [u8; 4] = *b"\x7fELF";
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const EV_CURRENT: u8 = 1;
pub const ET_CORE: u16 = 4;
pub const EM_X86_64: u16 = 62;

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// Note types, all under the name "CORE".
pub const NT_PRSTATUS: u32 = 1;
pub const NT_PRFPREG: u32 = 2;
pub const NT_PRPSINFO: u32 = 3;
pub const NT_AUXV: u32 = 6;
pub const NT_SIGINFO: u32 = 0x5349_4749;

/// ELF_EXEC_PAGESIZE: segment alignment, and the smallest RLIMIT_CORE
/// that lets a core be written (binfmt_elf's min_coredump).
pub const ELF_EXEC_PAGESIZE: u64 = 4096;

/// `Elf64_Ehdr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Elf64Ehdr {
    pub e_ident: [u8; 16],
    pub e_type: u16,
    pub e_machine: u16,
    pub e_version: u32,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_shoff: u64,
    pub e_flags: u32,
    pub e_ehsize: u16,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
    pub e_shstrndx: u16,
}

/// `Elf64_Phdr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Elf64Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

/// `Elf64_Nhdr`: each note is this, its name and its descriptor, both
/// padded to 4 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Elf64Nhdr {
    pub n_namesz: u32,
    pub n_descsz: u32,
    pub n_type: u32,
}

/// `struct elf_prstatus` (NT_PRSTATUS): one per thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ElfPrstatus {
    /// `struct elf_siginfo`: the signal that killed the process.
    pub si_signo: i32,
    pub si_code: i32,
    pub si_errno: i32,
    pub pr_cursig: i16,
    pub _pad0: [u8; 2],
    pub pr_sigpend: u64,
    pub pr_sighold: u64,
    pub pr_pid: i32,
    pub pr_ppid: i32,
    pub pr_pgrp: i32,
    pub pr_sid: i32,
    pub pr_utime: Timeval,
    pub pr_stime: Timeval,
    pub pr_cutime: Timeval,
    pub pr_cstime: Timeval,
    /// `struct user_regs_struct`, r15 first.
    pub pr_reg: [u64; 27],
    pub pr_fpvalid: i32,
    pub _pad1: [u8; 4],
}

/// `struct elf_prpsinfo` (NT_PRPSINFO): the process as ps would show it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ElfPrpsinfo {
    pub pr_state: i8,
    pub pr_sname: u8,
    pub pr_zomb: i8,
    pub pr_nice: i8,
    pub _pad0: [u8; 4],
    pub pr_flag: u64,
    pub pr_uid: u32,
    pub pr_gid: u32,
    pub pr_pid: i32,
    pub pr_ppid: i32,
    pub pr_pgrp: i32,
    pub pr_sid: i32,
    pub pr_fname: [u8; 16],
    /// The command line, arguments separated by spaces, truncated.
    pub pr_psargs: [u8; 80],
}

const _: () = assert!(core::mem::size_of::<ElfPrstatus>() == 336);
const _: () = assert!(core::mem::size_of::<ElfPrpsinfo>() == 136);
const _: () = assert!(core::mem::size_of::<Elf64Ehdr>() == 64);
const _: () = assert!(core::mem::size_of::<Elf64Phdr>() == 56);
