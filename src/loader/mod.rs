//! The program loader: what `execve(2)` does between "open the file" and
//! "jump to the entry point", as pure logic.
//!
//! # The model (after Linux `fs/exec.c`, `fs/binfmt_script.c`, `fs/binfmt_elf.c`)
//!
//! 1. **binprm.** `execve(path, argv, envp)` opens `path` and looks at its
//!    first bytes. Linux keeps everything about the exec in progress in a
//!    `struct linux_binprm`: the file, the argument strings, the "filename"
//!    the caller passed. Here that is the local state of [`plan_exec`].
//! 2. **Format handlers.** Each handler either claims the file or says
//!    `ENOEXEC`. A `#!` script ([`script`]) does not run by itself: it
//!    rewrites argv (`interp [arg] script-path argv[1..]`) and restarts the
//!    search with the interpreter file. That may be a script too, up to a
//!    depth limit (`ELOOP`). An ELF file ([`elf`]) ends the search.
//! 3. **Load plan.** For the ELF file the loader decides where each
//!    `PT_LOAD` segment goes (fixed for `ET_EXEC`, at a chosen base for
//!    `ET_DYN`), which bytes come from the file and which are zero (bss),
//!    and, when the ELF names a `PT_INTERP` (the dynamic linker, e.g.
//!    `/lib64/ld-linux-x86-64.so.2`), loads that too and starts execution
//!    in it. Nothing is mapped here: the [`LoadPlan`] is a description that
//!    the platform carries out in the stub process.
//! 4. **Stack.** [`build_stack`] lays out argc, argv, envp and the auxiliary
//!    vector exactly as `create_elf_tables()` does, so libc start-up code
//!    (glibc's `_dl_start`, musl's `__libc_start_main`) finds what it expects.
//!
//! # Point of no return
//!
//! Linux checks some things before it destroys the old process image
//! (`begin_new_exec()`), and reports those as an errno from `execve`. Errors
//! found later (a segment that cannot be mapped, say) cannot be returned: the
//! old image is gone, so the kernel kills the process with `SIGSEGV`.
//! [`plan_exec_detailed`] says which kind each error is ([`ExecError::fatal`]);
//! the caller should turn a fatal one into a `SIGSEGV` kill, not an errno.
//!
//! # Errors, and where Linux produces them
//!
//! | errno     | when                                                                   | fatal |
//! |-----------|------------------------------------------------------------------------|-------|
//! | from VFS  | the file, a `#!` interpreter or PT_INTERP cannot be opened (ENOENT, EACCES, ...); a missing PT_INTERP is ENOENT | no |
//! | EACCES    | an empty interpreter name (looked up as "", i.e. the cwd directory)    | no    |
//! | E2BIG     | a string ≥ `MAX_ARG_STRLEN`, or all strings over [`ARG_SPACE_LIMIT`]   | no    |
//! | ENOEXEC   | neither ELF nor `#!`; bad ELF header/class/machine/type; bad phdr table; bad PT_INTERP size or no NUL; `#!` without interpreter | no |
//! | ELOOP     | more than [`MAX_REWRITE_DEPTH`] `#!` levels                            | no    |
//! | EIO       | PT_INTERP string outside the file; interpreter shorter than an ELF header | no |
//! | ELIBBAD   | interpreter not ELF, wrong machine, or bad phdr table                  | no    |
//! | EINVAL    | bad `PT_LOAD` (filesz > memsz, beyond TASK_SIZE, offset/vaddr not congruent, bytes past EOF), no `PT_LOAD`, entry out of range | yes |
//! | ENOMEM, EPERM | a biased segment beyond TASK_SIZE / below `mmap_min_addr`; interpreter overlapping the executable | yes |

use std::sync::Arc;

use guest_abi::auxv::*;
use guest_abi::errno::{E2BIG, EACCES, ELOOP, ENOENT, ENOEXEC};
use guest_abi::mman::PAGE_SIZE;

pub mod elf;
pub mod script;
pub mod stack;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use stack::build_stack;

/// How the loader reads the guest's files: implemented by the kernel's VFS.
pub trait ExecSource {
    /// Reads the whole file at guest path `path` resolved from the caller's
    /// cwd/root, checking exec permission; returns (bytes, resolved absolute
    /// path) or an errno (ENOENT, EACCES, ENOEXEC, ELOOP, ENOTDIR...). Used for
    /// the executable, a #! interpreter and PT_INTERP.
    fn read_exec(&mut self, path: &[u8]) -> Result<(Arc<Vec<u8>>, Vec<u8>), i32>;
}

/// One region of the new address space.
///
/// To carry it out: replace whatever is mapped at `[vaddr, vaddr + mem_len)`
/// with zeroed pages, copy `file[file_off + (copy_to - vaddr) ..][..file_len]`
/// to `copy_to`, then apply `prot`. Apply segments in order: like Linux's
/// `MAP_FIXED` mappings, a later segment replaces pages of an earlier one.
///
/// `vaddr` and `file_off` are page aligned and correspond to each other, so
/// a platform that prefers `mmap` can map `file_off` at `vaddr` directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Page-aligned start, absolute (load bias applied).
    pub vaddr: u64,
    /// Page-rounded length of the whole region (file part + bss).
    pub mem_len: u64,
    /// `PROT_*` bits from `p_flags`.
    pub prot: u64,
    /// The whole file the bytes come from.
    pub file: Arc<Vec<u8>>,
    /// Page-aligned file offset that corresponds to `vaddr`.
    pub file_off: u64,
    /// Number of file bytes to copy to `copy_to`; everything else is zero.
    pub file_len: u64,
    /// Exact address the first file byte goes to (see [`elf`] for why this is
    /// the page start: `mmap` brings in whole pages).
    pub copy_to: u64,
}

/// Everything the platform needs to start the new program.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Executable's segments, then the interpreter's, in `PT_LOAD` order.
    pub segments: Vec<Segment>,
    /// Where execution starts: the interpreter's entry if `PT_INTERP`, else the executable's.
    pub entry: u64,
    /// Page-rounded end of the executable's highest segment (Linux's
    /// `mm->start_brk` without randomization).
    pub brk_start: u64,
    /// The auxv entries known at plan time, in Linux's order. [`build_stack`]
    /// adds AT_SYSINFO_EHDR, AT_RANDOM, AT_EXECFN, AT_PLATFORM and AT_NULL. The
    /// kernel may edit this (for example push AT_MINSIGSTKSZ at the front, as
    /// Linux ≥ 5.14 does) before building the stack.
    pub auxv: Vec<(u64, u64)>,
    /// Final argv after `#!` rewriting.
    pub argv: Vec<Vec<u8>>,
    /// What `/proc/self/exe` shows: the resolved path of the ELF file that was
    /// loaded (for a script, the interpreter named on the `#!` line; never the
    /// `PT_INTERP` dynamic linker).
    pub exec_path: Vec<u8>,
    /// Lowest address and highest address (exclusive) the segments touch.
    pub total_span: (u64, u64),
}

/// The arguments of `execve(2)` plus the credentials the new image runs with.
#[derive(Clone, Debug)]
pub struct ExecParams<'a> {
    pub path: &'a [u8],
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

/// An exec failure: the errno, and whether Linux would find it only after the
/// point of no return (then the process is killed with SIGSEGV instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("exec failed with errno {errno} (fatal: {fatal})")]
pub struct ExecError {
    pub errno: i32,
    /// True if Linux would already have discarded the old image.
    pub fatal: bool,
}

impl ExecError {
    /// An error `execve` returns to its caller.
    pub(crate) fn early(errno: i32) -> Self {
        ExecError { errno, fatal: false }
    }
    /// An error found after `begin_new_exec()`: the process dies.
    pub(crate) fn late(errno: i32) -> Self {
        ExecError { errno, fatal: true }
    }
}

/// Highest user address + 1 on x86_64 with 4-level paging (`TASK_SIZE_MAX`,
/// arch/x86/include/asm/page_64_types.h): one guard page below 2^47.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// Linux's `ELF_ET_DYN_BASE` for 64-bit tasks: 2/3 of TASK_SIZE, page aligned
/// (arch/x86/include/asm/elf.h). A sensible `base_hint` for a PIE.
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;

/// Longest single argument or environment string including its NUL
/// (`MAX_ARG_STRLEN`, include/uapi/linux/binfmts.h).
pub const MAX_ARG_STRLEN: u64 = 32 * PAGE_SIZE;

/// Room for argument + environment strings and their pointers. Linux
/// (`bprm_stack_limits()` in fs/exec.c) allows min(RLIMIT_STACK / 4, 6 MiB),
/// but at least 128 KiB; this is the value for the default 8 MiB stack limit.
pub const ARG_SPACE_LIMIT: u64 = 8 * 1024 * 1024 / 4;

/// How many times a format handler may hand the exec on to another file
/// (`exec_binprm()` in fs/exec.c fails with ELOOP once `depth > 5`): a chain of
/// five `#!` scripts ending in an ELF works, six scripts do not. (The comment
/// there says "4 levels"; the code, and a real kernel, allow five scripts.)
pub const MAX_REWRITE_DEPTH: usize = 5;

/// `AT_CLKTCK`: `CLOCKS_PER_SEC`, i.e. USER_HZ, which is 100 on x86.
pub const CLOCKS_PER_SEC: u64 = 100;

/// Plans `execve(params.path, params.argv, params.envp)`; see [`plan_exec_detailed`].
pub fn plan_exec(
    src: &mut dyn ExecSource,
    params: &ExecParams,
    base_hint: u64,
    interp_base: u64,
) -> Result<LoadPlan, i32> {
    plan_exec_detailed(src, params, base_hint, interp_base).map_err(|e| e.errno)
}

/// Plans an exec, telling early errors (returned by `execve`) from fatal ones.
///
/// `base_hint` is where an `ET_DYN` executable's first page goes (Linux:
/// `ELF_ET_DYN_BASE` plus randomness), `interp_base` where an `ET_DYN`
/// interpreter's first page goes (Linux: wherever `mmap` finds room). Both
/// must be page aligned.
pub fn plan_exec_detailed(
    src: &mut dyn ExecSource,
    params: &ExecParams,
    base_hint: u64,
    interp_base: u64,
) -> Result<LoadPlan, ExecError> {
    // do_execveat_common(): the file is opened first (so ENOENT/EACCES win
    // over E2BIG), then the strings are copied and counted.
    let (mut bytes, mut resolved) = read(src, params.path, ENOENT)?;

    let mut args = ArgSpace::new(params.argv.len().max(1) + params.envp.len())?;
    args.push(params.path.len())?; // bprm->filename, shown as AT_EXECFN
    for s in &params.envp {
        args.push(s.len())?;
    }
    let mut argv = params.argv.clone();
    for s in &argv {
        args.push(s.len())?;
    }
    // Since Linux 5.18 an empty argv becomes { "" }, so argv[0] always exists.
    if argv.is_empty() {
        args.push(0)?;
        argv.push(Vec::new());
    }

    // exec_binprm(): find a handler; a script restarts the search with its
    // interpreter. bprm->interp starts as the filename and becomes each
    // interpreter's name in turn (bprm_change_interp()).
    let mut interp_name = params.path.to_vec();
    let mut depth = 0;
    loop {
        if depth > MAX_REWRITE_DEPTH {
            return Err(ExecError::early(ELOOP));
        }
        if elf::is_elf(&bytes) {
            break;
        }
        let line = match script::parse_shebang(&bytes) {
            Some(line) => line.map_err(ExecError::early)?,
            // No handler recognises the file (search_binary_handler()).
            None => return Err(ExecError::early(ENOEXEC)),
        };
        // remove_arg_zero(), then push script path, optional arg, interpreter
        // name: argv becomes  interp [arg] script argv[1..].
        args.pop(argv[0].len());
        let mut new_argv = Vec::with_capacity(argv.len() + 2);
        args.push(line.interp.len())?;
        new_argv.push(line.interp.clone());
        if let Some(arg) = &line.arg {
            args.push(arg.len())?;
            new_argv.push(arg.clone());
        }
        args.push(interp_name.len())?;
        new_argv.push(interp_name);
        new_argv.extend(argv.drain(1..));
        argv = new_argv;
        interp_name = line.interp.clone();
        (bytes, resolved) = read(src, &line.interp, EACCES)?;
        depth += 1;
    }

    let image = elf::plan_elf(src, &bytes, base_hint, interp_base)?;

    // The part of create_elf_tables() that is known now; the rest (pointers
    // into the stack itself) is added by build_stack().
    let (hwcap, hwcap2) = host_hwcaps();
    let secure = params.uid != params.euid || params.gid != params.egid;
    let auxv = vec![
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCKS_PER_SEC),
        (AT_PHDR, image.phdr_addr),
        (AT_PHENT, elf::PHDR_SIZE),
        (AT_PHNUM, image.phnum),
        (AT_BASE, image.interp_bias),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.exec_entry),
        (AT_UID, params.uid as u64),
        (AT_EUID, params.euid as u64),
        (AT_GID, params.gid as u64),
        (AT_EGID, params.egid as u64),
        (AT_SECURE, secure as u64),
        (AT_HWCAP2, hwcap2),
    ];

    Ok(LoadPlan {
        segments: image.segments,
        entry: image.entry,
        brk_start: image.brk_start,
        auxv,
        argv,
        exec_path: resolved,
        total_span: image.span,
    })
}

/// Opens an executable through the VFS. An empty path is answered here, not
/// by every ExecSource: `execve("")` fails with ENOENT (getname() refuses
/// empty user strings), but an empty *interpreter* name (`#!` with nothing
/// before a NUL, or a PT_INTERP of "\0") is looked up as a kernel string,
/// resolves to the cwd directory and fails with EACCES (not a regular file).
pub(crate) fn read(
    src: &mut dyn ExecSource,
    path: &[u8],
    empty_errno: i32,
) -> Result<(Arc<Vec<u8>>, Vec<u8>), ExecError> {
    if path.is_empty() {
        return Err(ExecError::early(empty_errno));
    }
    src.read_exec(path).map_err(ExecError::early)
}

/// The room argument strings take on the new stack, accounted like
/// `bprm->p` against `bprm->argmin` in fs/exec.c.
pub(crate) struct ArgSpace {
    left: u64,
}

impl ArgSpace {
    /// Reserves the pointer slots first, as bprm_stack_limits() does.
    pub(crate) fn new(pointers: usize) -> Result<Self, ExecError> {
        let ptr_size = (pointers as u64).saturating_mul(8);
        if ARG_SPACE_LIMIT <= ptr_size {
            return Err(ExecError::early(E2BIG));
        }
        Ok(ArgSpace { left: ARG_SPACE_LIMIT - ptr_size })
    }
    /// Accounts one string of `len` bytes plus its NUL.
    pub(crate) fn push(&mut self, len: usize) -> Result<(), ExecError> {
        let len = len as u64 + 1;
        if len > MAX_ARG_STRLEN || len > self.left {
            return Err(ExecError::early(E2BIG));
        }
        self.left -= len;
        Ok(())
    }
    /// Gives back a string's room (remove_arg_zero()).
    pub(crate) fn pop(&mut self, len: usize) {
        self.left += len as u64 + 1;
    }
}

/// AT_HWCAP and AT_HWCAP2 as the host kernel reports them. The guest runs on
/// the host CPU, so the host's values (CPUID.1:EDX and the x86 HWCAP2 bits,
/// filtered by what the host kernel enables) are the right ones. Read from
/// /proc/self/auxv once; (0, 0) if that is unavailable, which libc tolerates
/// (both glibc and musl use CPUID directly on x86).
pub fn host_hwcaps() -> (u64, u64) {
    static CACHE: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *CACHE.get_or_init(|| {
        let Ok(raw) = std::fs::read("/proc/self/auxv") else {
            return (0, 0);
        };
        let mut caps = (0, 0);
        for pair in raw.chunks_exact(16) {
            let key = u64::from_le_bytes(pair[..8].try_into().unwrap());
            let val = u64::from_le_bytes(pair[8..].try_into().unwrap());
            match key {
                AT_HWCAP => caps.0 = val,
                AT_HWCAP2 => caps.1 = val,
                _ => {}
            }
        }
        caps
    })
}
