//! Helpers for the loader's tests: a tiny ELF writer and an in-memory VFS.

use std::collections::HashMap;
use std::sync::Arc;

use goblin::elf::header::{ELFCLASS64, ELFDATA2LSB, EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use guest_abi::errno::ENOENT;

use super::elf::Phdr;
use super::{ExecParams, ExecSource};

pub const RX: u32 = PF_R | PF_X;
pub const RW: u32 = PF_R | PF_W;
pub const R: u32 = PF_R;

pub fn load(vaddr: u64, off: u64, filesz: u64, memsz: u64, flags: u32) -> Phdr {
    Phdr {
        p_type: PT_LOAD,
        p_flags: flags,
        p_offset: off,
        p_vaddr: vaddr,
        p_filesz: filesz,
        p_memsz: memsz,
        p_align: 0x1000,
    }
}

pub fn phdr_seg(vaddr: u64, n: usize) -> Phdr {
    let size = 56 * n as u64;
    Phdr {
        p_type: PT_PHDR,
        p_flags: R,
        p_offset: 64,
        p_vaddr: vaddr + 64,
        p_filesz: size,
        p_memsz: size,
        p_align: 8,
    }
}

/// Writes an x86_64 ELF: header, program headers at offset 64, `len` bytes
/// in total (filled with a recognisable pattern), and an optional PT_INTERP
/// string placed at offset 0x200 (a PT_INTERP phdr is appended for it).
pub struct ElfSpec {
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phdrs: Vec<Phdr>,
    pub len: usize,
    pub interp: Option<Vec<u8>>,
}

impl ElfSpec {
    pub fn exec(entry: u64, phdrs: Vec<Phdr>, len: usize) -> Self {
        ElfSpec { e_type: ET_EXEC, machine: EM_X86_64, entry, phdrs, len, interp: None }
    }
    pub fn dyn_(entry: u64, phdrs: Vec<Phdr>, len: usize) -> Self {
        ElfSpec { e_type: ET_DYN, ..Self::exec(entry, phdrs, len) }
    }
    pub fn with_interp(mut self, path: &[u8]) -> Self {
        let mut p = path.to_vec();
        p.push(0);
        self.phdrs.insert(
            0,
            Phdr {
                p_type: PT_INTERP,
                p_flags: R,
                p_offset: 0x200,
                p_vaddr: 0x200,
                p_filesz: p.len() as u64,
                p_memsz: p.len() as u64,
                p_align: 1,
            },
        );
        self.interp = Some(p);
        self
    }
    pub fn build(&self) -> Vec<u8> {
        let mut f: Vec<u8> = (0..self.len).map(|i| (i % 251) as u8 | 1).collect();
        let need = 64 + 56 * self.phdrs.len();
        if f.len() < need {
            f.resize(need, 1);
        }
        f[..64].fill(0);
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = ELFCLASS64;
        f[5] = ELFDATA2LSB;
        f[6] = 1;
        f[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        f[18..20].copy_from_slice(&self.machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&self.entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
        for (i, p) in self.phdrs.iter().enumerate() {
            let b = &mut f[64 + 56 * i..64 + 56 * (i + 1)];
            b[0..4].copy_from_slice(&p.p_type.to_le_bytes());
            b[4..8].copy_from_slice(&p.p_flags.to_le_bytes());
            b[8..16].copy_from_slice(&p.p_offset.to_le_bytes());
            b[16..24].copy_from_slice(&p.p_vaddr.to_le_bytes());
            b[24..32].copy_from_slice(&p.p_vaddr.to_le_bytes());
            b[32..40].copy_from_slice(&p.p_filesz.to_le_bytes());
            b[40..48].copy_from_slice(&p.p_memsz.to_le_bytes());
            b[48..56].copy_from_slice(&p.p_align.to_le_bytes());
        }
        if let Some(s) = &self.interp {
            if f.len() < 0x200 + s.len() {
                f.resize(0x200 + s.len(), 1);
            }
            f[0x200..0x200 + s.len()].copy_from_slice(s);
        }
        f
    }
}

/// An in-memory VFS; optionally falls back to the host's files (read-only).
#[derive(Default)]
pub struct MemFs {
    pub files: HashMap<Vec<u8>, Arc<Vec<u8>>>,
    pub host: bool,
    /// Every path asked for, in order.
    pub opened: Vec<Vec<u8>>,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn host() -> Self {
        MemFs { host: true, ..Self::default() }
    }
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) -> &mut Self {
        self.files.insert(path.as_bytes().to_vec(), Arc::new(bytes));
        self
    }
}

impl ExecSource for MemFs {
    fn read_exec(&mut self, path: &[u8]) -> Result<(Arc<Vec<u8>>, Vec<u8>), i32> {
        self.opened.push(path.to_vec());
        // "Resolve" relative paths against a pretend cwd of /cwd.
        let abs = if path.starts_with(b"/") {
            path.to_vec()
        } else {
            [b"/cwd/".as_slice(), path].concat()
        };
        if let Some(f) = self.files.get(path).or_else(|| self.files.get(&abs)) {
            return Ok((Arc::clone(f), abs));
        }
        if self.host {
            let p = std::str::from_utf8(path).map_err(|_| ENOENT)?;
            let real = std::fs::canonicalize(p).map_err(|_| ENOENT)?;
            let bytes = std::fs::read(&real).map_err(|_| ENOENT)?;
            return Ok((Arc::new(bytes), real.to_string_lossy().as_bytes().to_vec()));
        }
        Err(ENOENT)
    }
}

pub fn params<'a>(path: &'a [u8], argv: &[&str]) -> ExecParams<'a> {
    ExecParams {
        path,
        argv: argv.iter().map(|s| s.as_bytes().to_vec()).collect(),
        envp: vec![b"A=1".to_vec()],
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
    }
}
