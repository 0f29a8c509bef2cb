//! The stub: the host program every guest process runs as.
//!
//! A guest binary is not a host file, so a guest process starts (and
//! re-starts, on every guest execve) as a host execve of this stub, a
//! one-page static ELF that umk writes into a sealed memfd. The host
//! execve does what only the host can do well — a fresh address space,
//! killing the other threads, releasing a vfork parent, resetting signal
//! handlers — and then umk maps the guest program in through injected
//! system calls. The page stays mapped in every guest at [`STUB_BASE`]:
//!
//! ```text
//! STUB_BASE + 0x78:  syscall ; int3     <- injection site
//! STUB_BASE + 0x7b:  int3 ; jmp .-1     <- ELF entry: stops at once
//! STUB_BASE + 0x80:  "\0" (8 zero bytes) <- empty path and envp for execveat
//! STUB_BASE + 0x88:  { STUB_BASE+0x80, 0 } <- argv = { "", NULL }
//! STUB_BASE + 0x98:  lock cmpxchg [rdi], esi ; int3  <- compare-and-swap site
//! ```
//!
//! The compare-and-swap site lets umk change a futex word in guest memory
//! atomically, as Linux's futex code does with cmpxchg on user memory:
//! guest threads change the same word with their own atomic instructions.
//!
//! The address sits between where Linux puts PIE executables
//! (0x55..) and where mmap allocations grow down from (0x7f..).

pub const STUB_BASE: u64 = 0x6b6d_0000_0000; // "km"
const CODE_OFF: u64 = 0x78;
/// Address of the `syscall` instruction used for injection.
pub const INJECT_SITE: u64 = STUB_BASE + CODE_OFF;
/// The instruction pointer seccomp sees for an injected call (after `syscall`).
pub const INJECT_IP: u64 = INJECT_SITE + 2;
pub const ENTRY: u64 = STUB_BASE + CODE_OFF + 3;
pub const EMPTY_STRING: u64 = STUB_BASE + 0x80;
/// argv = { "", NULL }: Linux warns about exec with an empty argv.
pub const EMPTY_ARGV: u64 = STUB_BASE + 0x88;
/// envp = { NULL }.
pub const EMPTY_ENVP: u64 = STUB_BASE + 0x80;
/// Address of the `lock cmpxchg [rdi], esi` (eax holds the expected value
/// and receives the old one); an int3 follows.
pub const CMPXCHG_SITE: u64 = STUB_BASE + 0x98;
const FILE_LEN: usize = 0xa0;
/// The fd number the stub executable has in every guest process.
pub const STUB_FD: i32 = 1021;
/// The fd number of the base image (read-only) in every guest process.
pub const IMAGE_FD: i32 = STUB_FD - 1;

/// The stub ELF image (ELF header, one program header, code).
pub fn image() -> Vec<u8> {
    let mut e = vec![0u8; FILE_LEN];
    // e_ident
    e[0..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // ELFCLASS64
    e[5] = 1; // little endian
    e[6] = 1; // EV_CURRENT
    let put16 =
        |e: &mut Vec<u8>, off: usize, v: u16| e[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |e: &mut Vec<u8>, off: usize, v: u32| e[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |e: &mut Vec<u8>, off: usize, v: u64| e[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put16(&mut e, 16, 2); // ET_EXEC
    put16(&mut e, 18, 62); // EM_X86_64
    put32(&mut e, 20, 1);
    put64(&mut e, 24, ENTRY);
    put64(&mut e, 32, 64); // e_phoff
    put64(&mut e, 40, 0); // e_shoff
    put32(&mut e, 48, 0);
    put16(&mut e, 52, 64); // e_ehsize
    put16(&mut e, 54, 56); // e_phentsize
    put16(&mut e, 56, 1); // e_phnum
                          // PT_LOAD, R+X, the whole file at STUB_BASE
    let ph = 64;
    put32(&mut e, ph, 1);
    put32(&mut e, ph + 4, 5);
    put64(&mut e, ph + 8, 0);
    put64(&mut e, ph + 16, STUB_BASE);
    put64(&mut e, ph + 24, STUB_BASE);
    put64(&mut e, ph + 32, FILE_LEN as u64);
    put64(&mut e, ph + 40, 0x1000);
    put64(&mut e, ph + 48, 0x1000);
    let c = CODE_OFF as usize;
    e[c..c + 3].copy_from_slice(&[0x0f, 0x05, 0xcc]); // syscall; int3
    e[c + 3..c + 6].copy_from_slice(&[0xcc, 0xeb, 0xfd]); // int3; jmp back to int3
    put64(&mut e, 0x88, EMPTY_STRING);
    put64(&mut e, 0x90, 0);
    e[0x98..0x9d].copy_from_slice(&[0xf0, 0x0f, 0xb1, 0x37, 0xcc]); // lock cmpxchg [rdi], esi; int3
    e
}
