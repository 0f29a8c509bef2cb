//! Address-space bookkeeping and guest memory access.
//!
//! The host kernel keeps the guest's page tables: umk only remembers what
//! Linux's `mm_struct` would say that the host cannot (the program break,
//! which umk emulates because the host's belongs to the stub) and provides
//! the one typed accessor through which the kernel reads and writes guest
//! memory. Every access is length-checked and a fault becomes EFAULT.

pub mod filemap;
pub mod memory;

pub use memory::GuestMem;

/// One guest address space (shared by CLONE_VM threads).
#[derive(Debug, Clone, Default)]
pub struct Mm {
    /// Start of the heap: page-rounded end of the executable's data.
    pub brk_start: u64,
    /// The current program break.
    pub brk: u64,
    /// Highest address the break's pages are mapped up to.
    pub brk_mapped: u64,
    /// The guest's argv/envp area, for /proc/PID/cmdline.
    pub arg_start: u64,
    pub arg_end: u64,
    /// Start address of the vDSO, if the host gave one.
    pub vdso: Option<u64>,
    /// The auxiliary vector exec gave the program, AT_NULL included (Linux's
    /// saved_auxv): a core dump's NT_AUXV, whatever the guest did to its
    /// stack since.
    pub saved_auxv: Vec<u8>,
}

/// The memory the VM reports having (sysinfo(2), /proc/meminfo): guest
/// memory is the host's, with no limit of its own, so these are nominal.
pub const RAM_TOTAL: u64 = 4 << 30;
pub const RAM_FREE: u64 = 3 << 30;

/// Largest heap umk lets brk reach (RLIMIT_DATA-like backstop).
pub const BRK_MAX: u64 = 1 << 40;
