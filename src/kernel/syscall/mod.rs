//! The x86_64 system call table and its dispatcher.
//!
//! [`TABLE`] is the documentation of umk's coverage: every syscall umk
//! handles, with its support status. Numbers not in the table return
//! ENOSYS (logged once by name). Calls the seccomp filter lets run natively
//! never reach here; they are listed with `Native` support so the table
//! tells the whole story (`umk syscalls` prints it).
//!
//! Handlers are thin, grouped by topic: [`fs`] (paths and metadata),
//! [`io`] (reading, writing, descriptors), [`task`] (processes and ids),
//! [`mm`] (memory), [`signal`], [`sched`] (priorities, policies, affinity),
//! [`misc`] (system information).

pub mod event;
pub mod fs;
pub mod futex;
pub mod inet;
pub mod io;
pub mod misc;
pub mod mm;
pub mod net;
pub mod sched;
pub mod signal;
pub mod task;

use super::errno::{Errno, KResult};
use super::wait::WaitId;
use super::Kernel;
use crate::kernel::time::posix_timers;
use crate::platform::{HostTid, Regs};
use guest_abi::sysno::*;
use std::time::Instant;

/// One trapped syscall.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// Virtual thread id and process id of the caller.
    pub tid: super::task::Pid,
    pub pid: super::task::Pid,
    pub host: HostTid,
    pub regs: Regs,
    pub args: [u64; 6],
    /// The deadline a blocked call set when it first ran (a re-run after a
    /// wake-up keeps it rather than starting its timeout again).
    pub deadline: Option<Instant>,
}

impl Ctx {
    /// The context of a parked call, to run it again or end it.
    pub fn of_parked(
        tid: super::task::Pid,
        pid: super::task::Pid,
        host: HostTid,
        p: &super::task::Parked,
    ) -> Ctx {
        Ctx { tid, pid, host, regs: p.regs, args: p.regs.syscall_args(), deadline: p.deadline }
    }

    pub fn nr(&self) -> usize {
        self.regs.orig_rax as usize
    }
    pub fn arg_i32(&self, i: usize) -> i32 {
        self.args[i] as i32
    }
}

/// What a handler decided.
pub enum SysResult {
    /// Return this value (or -errno) to the guest.
    Done(i64),
    /// Park the thread until a wait queue is woken or the deadline passes,
    /// then run the call again. `restart` is the code a signal interrupt
    /// returns (ERESTARTSYS for most calls).
    Block { waits: Vec<WaitId>, deadline: Option<Instant>, restart: i32 },
    /// Let the host run the call, with these registers.
    Native { regs: Regs, see_exit: bool },
    /// The handler already resumed, parked or killed the thread.
    Handled,
}

impl From<KResult<i64>> for SysResult {
    fn from(r: KResult<i64>) -> SysResult {
        match r {
            Ok(v) => SysResult::Done(v),
            Err(e) => SysResult::Done(-(e.0 as i64)),
        }
    }
}

impl SysResult {
    pub fn err(e: Errno) -> SysResult {
        SysResult::Done(-(e.0 as i64))
    }
    pub fn block(waits: Vec<WaitId>) -> SysResult {
        SysResult::Block { waits, deadline: None, restart: guest_abi::restart::ERESTARTSYS }
    }
}

pub type Handler = fn(&mut Kernel, &Ctx) -> SysResult;

/// How much of a syscall umk implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Implemented, with the limits the note names.
    Partial(&'static str),
    /// Runs natively on the host (seccomp allow list); the note says why that is safe.
    Native(&'static str),
}

pub struct Entry {
    pub nr: usize,
    pub name: &'static str,
    pub handler: Option<Handler>,
    pub support: Support,
}

macro_rules! table {
    ($( $nr:ident => $handler:expr, $support:expr; )*) => {
        /// Every syscall umk handles or lets run natively.
        pub static TABLE: &[Entry] = &[
            $( Entry { nr: $nr, name: stringify!($nr), handler: $handler, support: $support }, )*
        ];
    };
}

use Support::*;

table! {
    SYS_READ => Some(io::sys_read), Full;
    SYS_WRITE => Some(io::sys_write), Partial("a blocking write larger than the pipe's free space returns short");
    SYS_OPEN => Some(fs::sys_open), Full;
    SYS_CLOSE => Some(io::sys_close), Full;
    SYS_STAT => Some(fs::sys_stat), Full;
    SYS_FSTAT => Some(fs::sys_fstat), Full;
    SYS_LSTAT => Some(fs::sys_lstat), Full;
    SYS_POLL => Some(io::sys_poll), Full;
    SYS_LSEEK => Some(io::sys_lseek), Partial("SEEK_DATA/SEEK_HOLE treat the file as one data extent");
    SYS_MMAP => Some(mm::sys_mmap), Partial("private file mappings are copies; MAP_SHARED of tmpfs files (/tmp, /run, /dev/shm, memfd) maps a host memfd and is fully shared; shared writable mappings of image or overlay files fail with ENODEV, shared read-only ones are copies");
    SYS_MPROTECT => None, Native("own memory");
    SYS_MUNMAP => None, Native("own memory");
    SYS_BRK => Some(mm::sys_brk), Full;
    SYS_RT_SIGACTION => Some(signal::sys_rt_sigaction), Native("dispositions are kept by the host kernel; umk sends guest signals as host signals; SIGCHLD's calls stop so umk sees SA_NOCLDWAIT/SA_NOCLDSTOP");
    SYS_RT_SIGPROCMASK => None, Native("own signal mask");
    SYS_RT_SIGRETURN => None, Native("native signal frames");
    SYS_IOCTL => Some(io::sys_ioctl), Partial("terminal ioctls on the console, FIONREAD, FIONBIO, FIOCLEX");
    SYS_PREAD64 => Some(io::sys_pread64), Full;
    SYS_PWRITE64 => Some(io::sys_pwrite64), Full;
    SYS_READV => Some(io::sys_readv), Full;
    SYS_WRITEV => Some(io::sys_writev), Full;
    SYS_ACCESS => Some(fs::sys_access), Full;
    SYS_SENDFILE => Some(io::sys_sendfile), Partial("copies through umk; a pipe destination that fills up returns short");
    SYS_PIPE => Some(io::sys_pipe), Full;
    SYS_SELECT => Some(io::sys_select), Full;
    SYS_SCHED_YIELD => None, Native("no state");
    SYS_MREMAP => None, Native("own memory");
    SYS_MSYNC => None, Native("shared file mappings are of host memfds, already the file's data; private ones are copies");
    SYS_MINCORE => None, Native("own memory");
    SYS_MADVISE => None, Native("own memory");
    SYS_MLOCK => None, Native("own memory");
    SYS_MUNLOCK => None, Native("own memory");
    SYS_DUP => Some(io::sys_dup), Full;
    SYS_DUP2 => Some(io::sys_dup2), Full;
    SYS_PAUSE => None, Native("waits for a host signal");
    SYS_NANOSLEEP => None, Native("host sleep, interrupted by host signals");
    SYS_GETITIMER => Some(crate::kernel::time::sys_getitimer), Partial("ITIMER_REAL kept by umk; virtual and profiling timers run natively");
    SYS_ALARM => Some(crate::kernel::time::sys_alarm), Full;
    SYS_SETITIMER => Some(crate::kernel::time::sys_setitimer), Partial("ITIMER_REAL kept by umk; virtual and profiling timers run natively");
    // getpid and gettid are answered by the platform without a stop when
    // it can (platform/ptrace/unotify.rs); these handlers serve the rest.
    SYS_GETPID => Some(task::sys_getpid), Full;
    SYS_SOCKET => Some(net::sys_socket), Partial("AF_UNIX stream, datagram and seqpacket; AF_INET/AF_INET6 TCP and UDP on the VM's own loopback (lo: 127.0.0.0/8, ::1; no route elsewhere); SOCK_RAW is EPERM (no CAP_NET_RAW on a network without a wire), ping sockets EACCES, AF_NETLINK and others EAFNOSUPPORT");
    SYS_CONNECT => Some(net::sys_connect), Partial("AF_UNIX: paths through the guest VFS, abstract names; never a host socket. Inet: loopback only (else ENETUNREACH); TCP completes at once (non-blocking: EINPROGRESS, then writable); a full accept queue makes a non-blocking connect EAGAIN where Linux retries the SYN");
    SYS_ACCEPT => Some(net::sys_accept), Full;
    SYS_SENDTO => Some(net::sys_sendto), Partial("AF_UNIX, TCP, UDP; MSG_OOB (TCP urgent data) is EOPNOTSUPP; UDP broadcast and multicast have no route (ENETUNREACH)");
    SYS_RECVFROM => Some(net::sys_recvfrom), Partial("AF_UNIX, TCP, UDP; MSG_OOB is EOPNOTSUPP (TCP: EINVAL, no urgent data ever), MSG_ERRQUEUE ignored (inet: EAGAIN, nothing is queued)");
    SYS_SENDMSG => Some(net::sys_sendmsg), Partial("AF_UNIX with SCM_RIGHTS and SCM_CREDENTIALS; MSG_OOB is EOPNOTSUPP; fds in flight are not garbage-collected (a socket passed over itself stays open); inet: no control messages (EINVAL)");
    SYS_RECVMSG => Some(net::sys_recvmsg), Partial("AF_UNIX with SCM_RIGHTS, SCM_CREDENTIALS, MSG_CTRUNC, MSG_CMSG_CLOEXEC; MSG_OOB is EOPNOTSUPP; TCP and UDP with addresses and MSG_TRUNC, no control messages");
    SYS_SHUTDOWN => Some(net::sys_shutdown), Full;
    SYS_BIND => Some(net::sys_bind), Partial("AF_UNIX: socket files in the guest VFS, abstract names, autobind. Inet: lo's addresses and the wildcards only (else EADDRNOTAVAIL), ephemeral ports 32768-60999, Linux's EADDRINUSE rules with SO_REUSEADDR/SO_REUSEPORT/IPV6_V6ONLY; no TIME_WAIT, so a closed port is free at once");
    SYS_LISTEN => Some(net::sys_listen), Full;
    SYS_GETSOCKNAME => Some(net::sys_getsockname), Full;
    SYS_GETPEERNAME => Some(net::sys_getpeername), Full;
    SYS_SOCKETPAIR => Some(net::sys_socketpair), Partial("AF_UNIX stream, datagram and seqpacket pairs (inet: EOPNOTSUPP, as Linux)");
    SYS_SETSOCKOPT => Some(net::sys_setsockopt), Partial("SOL_SOCKET: SO_REUSEADDR, SO_PASSCRED, SO_SNDBUF, SO_RCVBUF (recorded; queues keep a fixed size); inet also SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_LINGER (zero timeout resets), TCP_NODELAY, TCP_CORK, TCP_KEEPIDLE/INTVL/CNT (recorded: loopback has no segments to delay or idle peers to probe), IPV6_V6ONLY; SO_RCVTIMEO/SO_SNDTIMEO and others ENOPROTOOPT");
    SYS_GETSOCKOPT => Some(net::sys_getsockopt), Partial("SOL_SOCKET: SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_ACCEPTCONN, SO_PASSCRED, SO_REUSEADDR, SO_PEERCRED (AF_UNIX); inet: the options setsockopt takes; others ENOPROTOOPT");
    SYS_CLONE => Some(task::sys_clone), Partial("namespace flags fail with EINVAL; CLONE_PIDFD gives process pidfds only (with CLONE_THREAD: EINVAL, logged, as before Linux 6.9)");
    SYS_FORK => Some(task::sys_fork), Full;
    SYS_VFORK => Some(task::sys_vfork), Full;
    SYS_EXECVE => Some(task::sys_execve), Full;
    SYS_EXIT => None, Native("ends the thread; umk sees the exit");
    SYS_WAIT4 => Some(task::sys_wait4), Full;
    SYS_KILL => Some(signal::sys_kill), Partial("si_pid seen by the handler is not translated yet");
    SYS_UNAME => Some(misc::sys_uname), Full;
    SYS_FCNTL => Some(io::sys_fcntl), Partial("no open-file-description locks (F_OFD_*), no leases, no F_SETSIG");
    SYS_FLOCK => Some(io::sys_flock), Full;
    SYS_FSYNC => Some(io::sys_fsync), Full;
    SYS_FDATASYNC => Some(io::sys_fsync), Full;
    SYS_TRUNCATE => Some(fs::sys_truncate), Full;
    SYS_FTRUNCATE => Some(io::sys_ftruncate), Full;
    SYS_GETCWD => Some(fs::sys_getcwd), Full;
    SYS_CHDIR => Some(fs::sys_chdir), Full;
    SYS_FCHDIR => Some(fs::sys_fchdir), Full;
    SYS_RENAME => Some(fs::sys_rename), Full;
    SYS_MKDIR => Some(fs::sys_mkdir), Full;
    SYS_RMDIR => Some(fs::sys_rmdir), Full;
    SYS_LINK => Some(fs::sys_link), Full;
    SYS_UNLINK => Some(fs::sys_unlink), Full;
    SYS_SYMLINK => Some(fs::sys_symlink), Full;
    SYS_READLINK => Some(fs::sys_readlink), Full;
    SYS_CHMOD => Some(fs::sys_chmod), Full;
    SYS_FCHMOD => Some(fs::sys_fchmod), Full;
    SYS_CHOWN => Some(fs::sys_chown), Full;
    SYS_FCHOWN => Some(fs::sys_fchown), Full;
    SYS_LCHOWN => Some(fs::sys_lchown), Full;
    SYS_UMASK => Some(fs::sys_umask), Full;
    SYS_GETTIMEOFDAY => None, Native("guest time is host time");
    SYS_GETRLIMIT => Some(misc::sys_getrlimit), Full;
    SYS_SETRLIMIT => Some(misc::sys_setrlimit), Partial("NOFILE and NPROC enforced by umk; CPU, DATA, STACK, RSS, MEMLOCK, AS by the host (clamped to its hard limit); FSIZE, CORE and the rest recorded only");
    SYS_CHROOT => Some(fs::sys_chroot), Full;
    SYS_SETHOSTNAME => Some(misc::sys_sethostname), Full;
    SYS_SETDOMAINNAME => Some(misc::sys_setdomainname), Full;
    SYS_GETRUSAGE => Some(misc::sys_getrusage), Full;
    SYS_SYSINFO => Some(misc::sys_sysinfo), Full;
    SYS_TIMES => Some(misc::sys_times), Full;
    SYS_GETUID => Some(task::sys_getuid), Full;
    SYS_GETGID => Some(task::sys_getgid), Full;
    SYS_SETUID => Some(task::sys_setuid), Partial("root may set any id; others EPERM unless unchanged");
    SYS_SETGID => Some(task::sys_setgid), Partial("as setuid");
    SYS_GETEUID => Some(task::sys_geteuid), Full;
    SYS_GETEGID => Some(task::sys_getegid), Full;
    SYS_SETPGID => Some(task::sys_setpgid), Full;
    SYS_GETPPID => Some(task::sys_getppid), Full;
    SYS_GETPGRP => Some(task::sys_getpgrp), Full;
    SYS_SETSID => Some(task::sys_setsid), Full;
    SYS_GETGROUPS => Some(task::sys_getgroups), Full;
    SYS_SETGROUPS => Some(task::sys_setgroups), Full;
    SYS_SETREUID => Some(task::sys_setreuid), Full;
    SYS_SETREGID => Some(task::sys_setregid), Full;
    SYS_SETRESUID => Some(task::sys_setresuid), Full;
    SYS_GETRESUID => Some(task::sys_getresuid), Full;
    SYS_SETRESGID => Some(task::sys_setresgid), Full;
    SYS_GETRESGID => Some(task::sys_getresgid), Full;
    SYS_GETPGID => Some(task::sys_getpgid), Full;
    SYS_GETSID => Some(task::sys_getsid), Full;
    SYS_RT_SIGPENDING => None, Native("own pending set");
    SYS_RT_SIGTIMEDWAIT => Some(signal::sys_rt_sigtimedwait), Full;
    SYS_RT_SIGSUSPEND => None, Native("waits for host signals");
    SYS_RT_SIGQUEUEINFO => Some(signal::sys_rt_sigqueueinfo), Full;
    SYS_SIGNALFD => Some(signal::sys_signalfd), Partial("signals umk sends (all but a thread's own faults); a process-directed signal is read by the thread it was sent to; a CPU-time timer's signal is read once pending, a blocking read or poll does not wait for it");
    SYS_SIGNALFD4 => Some(signal::sys_signalfd4), Partial("as signalfd");
    SYS_SIGALTSTACK => None, Native("own signal stack");
    SYS_MKNOD => Some(fs::sys_mknod), Full;
    SYS_STATFS => Some(fs::sys_statfs), Full;
    SYS_FSTATFS => Some(fs::sys_fstatfs), Full;
    SYS_PRCTL => Some(misc::sys_prctl), Partial("PR_SET/GET_NAME, PDEATHSIG (on parent process exit), CHILD_SUBREAPER, DUMPABLE, NO_NEW_PRIVS; others EINVAL");
    SYS_ARCH_PRCTL => None, Native("own FS/GS base");
    SYS_SETXATTR => Some(fs::sys_setxattr), Partial("on the root filesystem (the overlay); tmpfs has no xattrs");
    SYS_LSETXATTR => Some(fs::sys_lsetxattr), Partial("as setxattr");
    SYS_FSETXATTR => Some(fs::sys_fsetxattr), Partial("as setxattr");
    SYS_REMOVEXATTR => Some(fs::sys_removexattr), Partial("as setxattr");
    SYS_LREMOVEXATTR => Some(fs::sys_lremovexattr), Partial("as setxattr");
    SYS_FREMOVEXATTR => Some(fs::sys_fremovexattr), Partial("as setxattr");
    SYS_GETXATTR => Some(fs::sys_getxattr), Partial("tmpfs files have none");
    SYS_LGETXATTR => Some(fs::sys_lgetxattr), Partial("as getxattr");
    SYS_FGETXATTR => Some(fs::sys_fgetxattr), Partial("as getxattr");
    SYS_LISTXATTR => Some(fs::sys_listxattr), Partial("as getxattr");
    SYS_LLISTXATTR => Some(fs::sys_llistxattr), Partial("as getxattr");
    SYS_FLISTXATTR => Some(fs::sys_flistxattr), Partial("as getxattr");
    SYS_SYNC => Some(io::sys_sync), Full;
    SYS_SYNCFS => Some(io::sys_sync), Full;
    SYS_GETTID => Some(task::sys_gettid), Full;
    SYS_TIME => None, Native("guest time is host time");
    SYS_FUTEX => Some(futex::sys_futex), Native("futex words in own memory; the PI operations stop and are emulated (tids in their words are virtual), a LOCK_PI that would close a cycle of waiters fails with EDEADLK; no priority inheritance, which Linux applies only to real-time threads and umk never runs a guest real-time on the host; FUTEX_WAIT_REQUEUE_PI waiters park in umk, so a plain FUTEX_WAKE or FUTEX_REQUEUE of their word finds nobody where Linux fails with EINVAL; shared PI futexes meet across processes through MAP_SHARED memory");
    SYS_SCHED_GETAFFINITY => Some(sched::sys_sched_getaffinity), Full;
    SYS_SCHED_SETAFFINITY => Some(sched::sys_sched_setaffinity), Full;
    SYS_GETPRIORITY => Some(sched::sys_getpriority), Partial("per-thread nice values as Linux keeps and checks them; the host thread's nice never goes below umk's own");
    SYS_SETPRIORITY => Some(sched::sys_setpriority), Partial("per-thread nice values as Linux keeps and checks them; the host thread's nice never goes below umk's own");
    SYS_SCHED_SETSCHEDULER => Some(sched::sys_sched_setscheduler), Partial("policies and priorities kept and checked as Linux does; the host runs SCHED_FIFO/SCHED_RR threads as SCHED_OTHER (a guest's root is not the host's); SCHED_DEADLINE needs sched_setattr (ENOSYS)");
    SYS_SCHED_SETPARAM => Some(sched::sys_sched_setparam), Partial("as sched_setscheduler");
    SYS_SCHED_GETSCHEDULER => Some(sched::sys_sched_getscheduler), Full;
    SYS_SCHED_GETPARAM => Some(sched::sys_sched_getparam), Full;
    SYS_SCHED_GET_PRIORITY_MAX => Some(sched::sys_sched_get_priority_max), Full;
    SYS_SCHED_GET_PRIORITY_MIN => Some(sched::sys_sched_get_priority_min), Full;
    SYS_SCHED_RR_GET_INTERVAL => Some(sched::sys_sched_rr_get_interval), Full;
    SYS_GETDENTS64 => Some(fs::sys_getdents64), Full;
    SYS_FADVISE64 => Some(io::sys_fadvise64), Full;
    SYS_EPOLL_CREATE => Some(event::sys_epoll_create), Full;
    SYS_EPOLL_WAIT => Some(event::sys_epoll_wait), Full;
    SYS_EPOLL_CTL => Some(event::sys_epoll_ctl), Partial("EPOLLET is emulated over level-triggered readiness; EPOLLEXCLUSIVE is accepted as plain");
    SYS_SET_TID_ADDRESS => Some(task::sys_set_tid_address), Full;
    SYS_TIMER_CREATE => Some(posix_timers::sys_timer_create), Partial("kept by umk; timers on CPU-time clocks are the host's, created inside the guest process: their process-directed signal does not end a call umk has parked");
    SYS_TIMER_SETTIME => Some(posix_timers::sys_timer_settime), Full;
    SYS_TIMER_GETTIME => Some(posix_timers::sys_timer_gettime), Full;
    SYS_TIMER_GETOVERRUN => Some(posix_timers::sys_timer_getoverrun), Full;
    SYS_TIMER_DELETE => Some(posix_timers::sys_timer_delete), Full;
    SYS_CLOCK_GETTIME => Some(crate::kernel::time::sys_clock_cpu), Native("guest time is host time (vDSO); a CPU clock named by pid stops for umk to translate the pid");
    SYS_CLOCK_GETRES => Some(crate::kernel::time::sys_clock_cpu), Native("guest time is host time; CPU clocks by pid as clock_gettime");
    SYS_CLOCK_NANOSLEEP => Some(crate::kernel::time::sys_clock_cpu), Native("host sleep, interrupted by host signals; CPU clocks by pid as clock_gettime");
    SYS_EXIT_GROUP => None, Native("ends the process; umk sees the exits");
    SYS_TGKILL => Some(signal::sys_tgkill), Full;
    SYS_TKILL => Some(signal::sys_tkill), Full;
    SYS_WAITID => Some(task::sys_waitid), Full;
    SYS_OPENAT => Some(fs::sys_openat), Full;
    SYS_MKDIRAT => Some(fs::sys_mkdirat), Full;
    SYS_MKNODAT => Some(fs::sys_mknodat), Full;
    SYS_FCHOWNAT => Some(fs::sys_fchownat), Full;
    SYS_NEWFSTATAT => Some(fs::sys_newfstatat), Full;
    SYS_UNLINKAT => Some(fs::sys_unlinkat), Full;
    SYS_RENAMEAT => Some(fs::sys_renameat), Full;
    SYS_LINKAT => Some(fs::sys_linkat), Full;
    SYS_SYMLINKAT => Some(fs::sys_symlinkat), Full;
    SYS_READLINKAT => Some(fs::sys_readlinkat), Full;
    SYS_FCHMODAT => Some(fs::sys_fchmodat), Full;
    SYS_FACCESSAT => Some(fs::sys_faccessat), Full;
    SYS_PSELECT6 => Some(io::sys_pselect6), Partial("the temporary signal mask is not applied while waiting");
    SYS_PPOLL => Some(io::sys_ppoll), Partial("the temporary signal mask is not applied while waiting");
    SYS_SET_ROBUST_LIST => Some(futex::sys_set_robust_list), Partial("recorded and run natively; umk translates the tids of held locks at the thread's exit stop (the host then marks them as Linux); a kernel that skips the exit stop of a SIGKILLed thread leaves its shared-memory locks held; the word holds a host tid for the instant between umk's rewrite and the host's walk");
    SYS_GET_ROBUST_LIST => Some(futex::sys_get_robust_list), Partial("any guest thread's list can be read (no ptrace permission check)");
    SYS_UTIMENSAT => Some(fs::sys_utimensat), Full;
    SYS_FALLOCATE => Some(io::sys_fallocate), Partial("modes 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE; no COLLAPSE/INSERT_RANGE");
    SYS_ACCEPT4 => Some(net::sys_accept4), Full;
    SYS_EPOLL_PWAIT => Some(event::sys_epoll_pwait), Partial("the temporary signal mask is not applied while waiting");
    SYS_EVENTFD => Some(event::sys_eventfd), Full;
    SYS_EVENTFD2 => Some(event::sys_eventfd2), Full;
    SYS_DUP3 => Some(io::sys_dup3), Full;
    SYS_EPOLL_CREATE1 => Some(event::sys_epoll_create1), Full;
    SYS_PIPE2 => Some(io::sys_pipe2), Partial("O_DIRECT (packet mode) unsupported");
    SYS_PREADV => Some(io::sys_preadv), Full;
    SYS_RT_TGSIGQUEUEINFO => Some(signal::sys_rt_tgsigqueueinfo), Full;
    SYS_PWRITEV => Some(io::sys_pwritev), Full;
    SYS_PRLIMIT64 => Some(misc::sys_prlimit64), Partial("NOFILE and NPROC enforced by umk; CPU, DATA, STACK, RSS, MEMLOCK, AS by the host (clamped to its hard limit); FSIZE, CORE and the rest recorded only");
    SYS_RENAMEAT2 => Some(fs::sys_renameat2), Partial("RENAME_NOREPLACE only; RENAME_EXCHANGE and RENAME_WHITEOUT fail with EINVAL");
    SYS_GETRANDOM => None, Native("writes own memory");
    SYS_EXECVEAT => Some(task::sys_execveat), Full;
    SYS_MEMFD_CREATE => Some(fs::sys_memfd_create), Partial("no file seals (F_ADD_SEALS fails with EINVAL)");
    SYS_STATX => Some(fs::sys_statx), Full;
    SYS_RSEQ => None, Native("own memory");
    SYS_CLONE3 => Some(task::sys_clone3), Partial("run as the equivalent clone (with CLONE_CLEAR_SIGHAND, as the host's clone3); set_tid chooses a virtual pid (one pid namespace: at most one; root only); CLONE_INTO_CGROUP: EBADF (no cgroup filesystem, logged); namespace flags: EINVAL (logged); CLONE_PIDFD as clone's");
    SYS_PIDFD_SEND_SIGNAL => Some(signal::sys_pidfd_send_signal), Partial("pidfds only (a /proc/PID directory fd is EBADF); PIDFD_SIGNAL_* scopes as Linux 6.9");
    SYS_PIDFD_OPEN => Some(task::sys_pidfd_open), Partial("process pidfds; PIDFD_THREAD is EINVAL (logged); a non-leader thread's tid is ENOENT, as Linux 6.15");
    SYS_PIDFD_GETFD => Some(task::sys_pidfd_getfd), Partial("permission: the caller's real uid and gid equal the target's three ids and the target is dumpable, or the caller is root (PTRACE_MODE_ATTACH_REALCREDS without Yama's ptrace_scope)");
    SYS_CLOSE_RANGE => Some(io::sys_close_range), Full;
    SYS_FACCESSAT2 => Some(fs::sys_faccessat2), Full;
    SYS_EPOLL_PWAIT2 => Some(event::sys_epoll_pwait2), Partial("the temporary signal mask is not applied while waiting");
    SYS_RESTART_SYSCALL => None, Native("restarts a native sleep");
}

/// Handlers indexed by number, built once from [`TABLE`].
fn handlers() -> &'static [Option<Handler>] {
    use std::sync::OnceLock;
    static H: OnceLock<Vec<Option<Handler>>> = OnceLock::new();
    H.get_or_init(|| {
        let mut v: Vec<Option<Handler>> = vec![None; NR_SYSCALLS];
        for e in TABLE {
            if e.nr < v.len() {
                v[e.nr] = e.handler;
            }
        }
        v
    })
}

/// Runs the handler for the trapped call.
pub fn dispatch(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let nr = ctx.nr();
    match handlers().get(nr).copied().flatten() {
        Some(h) => h(k, ctx),
        // Under --trace every call traps, also those that normally run
        // natively: let the host run them.
        None if crate::platform::ptrace::seccomp::is_native(nr) => {
            SysResult::Native { regs: ctx.regs, see_exit: true }
        }
        None => {
            k.note_enosys(nr);
            SysResult::err(Errno::ENOSYS)
        }
    }
}

/// The syscall table as text, for `umk syscalls`.
pub fn describe_table() -> String {
    let mut out = String::new();
    let mut seen = vec![false; NR_SYSCALLS];
    for e in TABLE {
        if e.nr < seen.len() {
            seen[e.nr] = true;
        }
    }
    for nr in 0..NR_SYSCALLS {
        let Some(name) = guest_abi::sysno::name(nr) else { continue };
        let line = match TABLE.iter().find(|e| e.nr == nr) {
            Some(e) => match e.support {
                Full => format!("{nr:4} {name:24} full\n"),
                Partial(n) => format!("{nr:4} {name:24} partial: {n}\n"),
                Native(n) => format!("{nr:4} {name:24} native: {n}\n"),
            },
            None => format!("{nr:4} {name:24} missing (ENOSYS)\n"),
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates_and_native_matches_the_filter() {
        let mut seen = std::collections::HashSet::new();
        for e in TABLE {
            assert!(seen.insert(e.nr), "{} listed twice", e.name);
            let native = crate::platform::ptrace::seccomp::is_native(e.nr);
            assert_eq!(
                native,
                matches!(e.support, Support::Native(_)),
                "{}: table and seccomp filter disagree",
                e.name
            );
            let stops_sometimes =
                crate::platform::ptrace::seccomp::STOPS_FOR_SOME_ARGS.contains(&e.nr);
            assert_eq!(
                e.handler.is_none(),
                native && !stops_sometimes,
                "{}: a native call has no handler (unless the filter stops it for some arguments), every other one has",
                e.name
            );
        }
    }
}
