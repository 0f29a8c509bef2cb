//! How guest threads run and trap.
//!
//! The kernel sees guest threads only through the [`Platform`] trait: it is
//! told about *events* (a thread trapped into a system call, a thread
//! exited, a signal is about to be delivered) and it answers with
//! *actions* (resume with this result, inject this signal). The platform
//! knows nothing of Linux semantics above the raw x86_64 ABI.
//!
//! Today there is one real platform, [`ptrace`]: every guest thread is a
//! host thread traced by umk's event-loop thread, running under a seccomp
//! filter that traps every system call except a short reviewed list.
//! The contract, which a second platform (seccomp user notification, an
//! in-process SIGSYS stub) must keep as well:
//!
//! * `next_event` blocks until something happens to a guest thread, or the
//!   doorbell rings (another thread of umk has news for the kernel).
//! * A thread that produced an event stays stopped until the kernel resumes
//!   it; while it is stopped its registers and memory may be read and
//!   written, and system calls may be injected into it.
//! * Memory access faults are reported as [`Fault`], never as a panic.
#![allow(unsafe_code)]

pub mod fake;
pub mod hostmem;
pub mod ptrace;

use std::fmt;

/// A host thread id. The kernel uses it only as an opaque handle: it never
/// shows it to the guest.
pub type HostTid = i32;

/// The x86_64 general registers of a stopped thread (the host's
/// `struct user_regs_struct`, field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl Regs {
    /// The system call number and arguments, in the x86_64 syscall ABI
    /// order (rdi, rsi, rdx, r10, r8, r9).
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
    pub fn set_syscall_args(&mut self, a: [u64; 6]) {
        self.rdi = a[0];
        self.rsi = a[1];
        self.rdx = a[2];
        self.r10 = a[3];
        self.r8 = a[4];
        self.r9 = a[5];
    }
}

/// What happened to a guest thread.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// The thread trapped into a system call; `regs.orig_rax` is its number.
    Syscall {
        tid: HostTid,
        regs: Regs,
    },
    /// A system call the kernel let run natively has returned
    /// (only after [`Platform::resume_syscall_native`] asked to see it).
    SyscallExit {
        tid: HostTid,
        regs: Regs,
    },
    /// A new thread or process was created by clone/fork/vfork in `parent`.
    /// The child is stopped and will report `Started` (or already has).
    Cloned {
        parent: HostTid,
        child: HostTid,
    },
    /// A new thread reached its first stop and waits to be resumed.
    Started {
        tid: HostTid,
    },
    /// The thread completed a host execve of the stub (its former tid is
    /// `old_tid` if a non-leader thread exec'd). Its address space is empty
    /// but for the stub: the kernel must load the guest program now.
    Exec {
        tid: HostTid,
        old_tid: HostTid,
        regs: Regs,
    },
    /// A signal is about to be delivered to the thread (signal-delivery-stop).
    Signal {
        tid: HostTid,
        sig: i32,
    },
    /// The thread entered a group-stop (SIGSTOP, SIGTSTP...).
    GroupStop {
        tid: HostTid,
        sig: i32,
    },
    /// The thread is about to exit and its memory is still mapped (only
    /// for threads [`Platform::set_exit_stop`] turned this on for). The
    /// host's own exit work (the robust futex list, clear_child_tid) runs
    /// once it is resumed. ptrace(2) lets a kernel skip this stop for a
    /// thread killed by SIGKILL (Linux 6.18 does stop it).
    Exiting {
        tid: HostTid,
    },
    /// The thread is gone: exited with `code`, or killed by `sig`.
    Exited {
        tid: HostTid,
        code: i32,
    },
    Killed {
        tid: HostTid,
        sig: i32,
        core: bool,
    },
    /// Another umk thread rang the doorbell: check the channels.
    Doorbell,
}

impl Event {
    /// The guest thread the event is about, if any.
    pub fn tid(&self) -> Option<HostTid> {
        match *self {
            Event::Syscall { tid, .. }
            | Event::SyscallExit { tid, .. }
            | Event::Started { tid }
            | Event::Exec { tid, .. }
            | Event::Signal { tid, .. }
            | Event::GroupStop { tid, .. }
            | Event::Exiting { tid }
            | Event::Exited { tid, .. }
            | Event::Killed { tid, .. } => Some(tid),
            Event::Cloned { parent, .. } => Some(parent),
            Event::Doorbell => None,
        }
    }
}

/// One mapping of a guest address space, as the host keeps it: what a core
/// dump needs. Host paths never leave the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    /// Backed by a file (the image, a memfd) rather than anonymous memory.
    pub file: bool,
    /// Bytes of the mapping that are private copies (written pages of a
    /// file mapping, or touched anonymous memory).
    pub anon_bytes: u64,
    /// Excluded from core dumps: the stub (umk's, not the guest's) and
    /// mappings with VM_DONTDUMP ([vvar], madvise(MADV_DONTDUMP)).
    pub dontdump: bool,
    /// Always dumped whole: the vDSO, which a debugger needs to unwind
    /// through signal frames.
    pub always_dump: bool,
}

/// A guest memory access touched an unmapped or forbidden page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

/// Why the platform could not start or control a guest.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// ptrace is not permitted here.
    #[error("ptrace is not permitted ({0}); in a container, add the SYS_PTRACE capability or allow ptrace in the seccomp profile; with Yama, set kernel.yama.ptrace_scope to 1 or lower")]
    PtraceDenied(std::io::Error),
    /// seccomp filters cannot be installed.
    #[error("seccomp filters are not permitted ({0}); umk needs a Linux kernel with CONFIG_SECCOMP_FILTER")]
    SeccompDenied(String),
    #[error("{what}: {err}")]
    Host { what: &'static str, err: std::io::Error },
    #[error("guest thread {0} vanished while umk was controlling it")]
    Vanished(HostTid),
    #[error("the stub of guest thread {0} is unusable")]
    StubBroken(HostTid),
}

impl PlatformError {
    pub fn host(what: &'static str) -> PlatformError {
        PlatformError::Host { what, err: std::io::Error::last_os_error() }
    }
}

/// Where the stub lives in every guest address space, and what it offers.
#[derive(Debug, Clone, Copy)]
pub struct StubLayout {
    /// Address of a NUL byte (an empty path for execveat), also a NULL envp.
    pub empty_string: u64,
    /// Address of argv = { "", NULL }.
    pub empty_argv: u64,
    /// The host fd (in every guest process) of the stub executable.
    pub exec_fd: i32,
    /// The host fd (in every guest process) of the base image, opened
    /// read-only, for mapping file pages straight from it; -1 if none.
    /// Only umk's injected calls can use it: guest fds are umk's objects.
    pub image_fd: i32,
}

/// What the initial stub left on its stack: where the guest stack goes.
#[derive(Debug, Clone, Copy)]
pub struct StartState {
    /// Highest usable stack address (exclusive): the guest's initial stack
    /// image is written just below it.
    pub stack_top: u64,
    /// The host vDSO (AT_SYSINFO_EHDR), left mapped so clock_gettime runs
    /// natively.
    pub vdso: Option<u64>,
}

/// The operations the kernel needs from a platform.
pub trait Platform {
    /// Blocks until the next event.
    fn next_event(&mut self) -> Event;
    /// A handle other threads use to wake `next_event` with `Event::Doorbell`.
    fn doorbell(&self) -> Doorbell;

    fn get_regs(&mut self, tid: HostTid) -> Result<Regs, PlatformError>;
    fn set_regs(&mut self, tid: HostTid, regs: &Regs) -> Result<(), PlatformError>;
    /// The stopped thread's x87/SSE state (`struct user_fpregs_struct`,
    /// the fxsave image).
    fn get_fpregs(&mut self, tid: HostTid) -> Result<[u8; 512], PlatformError>;
    /// The registers of a thread of a process about to die, for its core:
    /// a running thread is interrupted and left stopped (the process's
    /// death ends it). A stop or exit it reports first is kept for
    /// `next_event`.
    fn stop_for_dump(&mut self, tid: HostTid) -> Option<Regs>;
    /// The mappings of the stopped thread's address space, lowest first.
    fn vmas(&mut self, tid: HostTid) -> Result<Vec<Vma>, PlatformError>;

    /// Finishes a trapped system call with `result` (a value or -errno)
    /// without running it, and resumes the thread.
    fn finish_syscall(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        result: i64,
    ) -> Result<(), PlatformError>;
    /// Lets the trapped call run natively on the host, possibly with
    /// rewritten registers (number and arguments). With `see_exit` the
    /// platform reports `SyscallExit` when it returns.
    fn resume_syscall_native(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        see_exit: bool,
    ) -> Result<(), PlatformError>;
    /// Resumes a thread stopped at a clone event so that its clone call's
    /// return is reported as `SyscallExit`.
    fn resume_to_syscall_exit(&mut self, tid: HostTid) -> Result<(), PlatformError>;
    /// Resumes a stopped thread, delivering `sig` if it is in a
    /// signal-delivery-stop (0 for none).
    fn resume(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError>;
    /// Resumes a thread in group-stop so that it stays stopped but reports
    /// the next event (PTRACE_LISTEN).
    fn listen(&mut self, tid: HostTid) -> Result<(), PlatformError>;

    /// Runs one system call inside a stopped thread and returns its raw
    /// result. The thread's registers are restored afterwards.
    fn inject_syscall(
        &mut self,
        tid: HostTid,
        nr: usize,
        args: [u64; 5],
    ) -> Result<i64, PlatformError>;
    /// The same for a call that needs all six argument registers (mmap of
    /// a file): it cannot carry the injection secret, so it takes the
    /// ordinary trapped path (one more stop).
    fn inject_syscall6(
        &mut self,
        tid: HostTid,
        nr: usize,
        args: [u64; 6],
    ) -> Result<i64, PlatformError>;

    fn read_memory(&mut self, tid: HostTid, addr: u64, buf: &mut [u8]) -> Result<(), Fault>;
    /// Atomically replaces the 32-bit word at `addr` with `new` if it
    /// holds `expected`, as an instruction of the stopped thread `tid`
    /// would (other threads may change the word concurrently). Returns
    /// the value found: the swap happened iff it equals `expected`. A
    /// word that is not mapped writable is a `Fault`.
    fn cmpxchg_u32(
        &mut self,
        tid: HostTid,
        addr: u64,
        expected: u32,
        new: u32,
    ) -> Result<u32, Fault>;
    /// Whether the stopped thread reports [`Event::Exiting`] before it
    /// exits. Off for new threads unless the thread that created them had
    /// it on (then they inherit it, as ptrace options are).
    fn set_exit_stop(&mut self, tid: HostTid, on: bool) -> Result<(), PlatformError>;
    /// What backs the page at `addr` if it is shared memory (a MAP_SHARED
    /// mapping): (device, inode, offset of `addr` in it), the same in
    /// every process that maps it. None for private memory.
    fn shared_backing(&mut self, tid: HostTid, addr: u64) -> Option<(u64, u64, u64)>;
    fn write_memory(&mut self, tid: HostTid, addr: u64, data: &[u8]) -> Result<(), Fault>;

    /// Sends a real host signal to one thread.
    fn signal_thread(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError>;
    /// Sets a resource limit the host enforces on a guest process itself
    /// (CPU time, memory, stack), clamped to the host's own hard limit:
    /// the guest's root is not the host's.
    fn set_rlimit(
        &mut self,
        tgid: HostTid,
        resource: u32,
        cur: u64,
        max: u64,
    ) -> Result<(), PlatformError>;
    /// What getpid and gettid answer for host thread `tid`: (pid, tid),
    /// virtual; None once it is gone. The platform may answer those two
    /// calls itself, without a stop; the kernel publishes a thread's
    /// identity before the thread first runs.
    fn set_identity(&mut self, tid: HostTid, ids: Option<(i32, i32)>);
    /// Applies a guest thread's nice value and policy to its host thread,
    /// never above umk's own standing: a nice value no lower than umk's,
    /// and SCHED_BATCH or SCHED_IDLE as asked but any other policy
    /// (real-time included) as SCHED_OTHER.
    fn set_sched(&mut self, tid: HostTid, nice: i32, policy: i32) -> Result<(), PlatformError>;
    /// Sends a real host signal to a whole thread group (kill): it waits in
    /// the group's shared queue for any thread that can take it.
    fn signal_process(&mut self, tgid: HostTid, sig: i32) -> Result<(), PlatformError>;
    /// The siginfo of the signal a thread in signal-delivery-stop is about
    /// to take (128 raw bytes), and its replacement.
    fn get_siginfo(&mut self, tid: HostTid) -> Result<[u8; 128], PlatformError>;
    fn set_siginfo(&mut self, tid: HostTid, info: &[u8; 128]) -> Result<(), PlatformError>;
    /// The thread's blocked-signal mask.
    fn blocked_signals(&mut self, tid: HostTid) -> Result<u64, PlatformError>;
    /// Host-side pending and ignored signals of a thread: (pending, ignored, caught).
    fn signal_state(&mut self, tid: HostTid) -> Result<(u64, u64, u64), PlatformError>;
    /// Kills a whole host thread group with SIGKILL.
    fn kill_process(&mut self, tid: HostTid);
    /// The resource usage the host reported when it reaped `tid`, if that
    /// was the last `Exited`/`Killed` event: for a thread group's last
    /// thread, the whole process's (its host children are none: every
    /// guest process is umk's host child).
    fn take_exit_usage(&mut self, tid: HostTid) -> Option<guest_abi::misc::Rusage>;
    /// CPU time used so far by the process of `tid`: (user, system).
    fn cpu_times(&mut self, tid: HostTid) -> Option<(std::time::Duration, std::time::Duration)>;

    fn stub(&self) -> StubLayout;
    /// For tests that inspect a platform through the kernel.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    /// After an `Exec` event: where the guest's stack goes.
    fn start_state(&mut self, tid: HostTid, regs: &Regs) -> Result<StartState, PlatformError>;
}

/// Wakes the event loop from another thread.
#[derive(Clone)]
pub struct Doorbell {
    pub(crate) pid: i32,
}

impl Doorbell {
    pub fn ring(&self) {
        if self.pid <= 0 {
            return;
        }
        // SAFETY: kill(2) on a pid we created; it has no memory effects.
        unsafe {
            libc::kill(self.pid, libc::SIGUSR1);
        }
    }
}

impl fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Doorbell({})", self.pid)
    }
}

/// Pins the calling thread — and so everything it later starts: umk's
/// other threads, and every guest process, which inherit it — to the CPU
/// it runs on now. A trapped syscall is two context switches between a
/// guest thread and umk; on one CPU those are direct hand-offs, across CPUs
/// each is a cross-CPU wake-up, which on virtual machines costs several
/// times the switch itself. Returns the CPU, or None if pinning failed.
pub fn pin_to_current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no arguments; cpu_set_t is plain data that
    // CPU_ZERO/CPU_SET fill; sched_setaffinity(0, ...) affects this thread.
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return None;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu as usize, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return None;
        }
        Some(cpu as usize)
    }
}

/// The host clock `clockid` now (clock_gettime), as time since its epoch.
/// Guest time is host time, so this is also the guest's clock.
pub fn host_clock(clockid: i32) -> Option<std::time::Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    if unsafe { libc::clock_gettime(clockid, &mut ts) } != 0 || ts.tv_sec < 0 {
        return None;
    }
    Some(std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// How many CPUs umk — and so every guest process, which inherits its
/// affinity — may run on (sched_getaffinity's count).
pub fn online_cpus() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity(0, ...) fills the
    // one we pass with its size.
    let n = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 1;
        }
        libc::CPU_COUNT(&set)
    };
    n.max(1) as usize
}

/// The host's /proc/cpuinfo, from which the guest's shows the processor
/// model and features (the kernel filters it; empty if unreadable).
pub fn host_cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}
