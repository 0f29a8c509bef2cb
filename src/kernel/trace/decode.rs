//! Per-syscall argument decoders.
//!
//! [`enter`] turns a call's raw arguments into [`Slot`]s at syscall entry:
//! input arguments are decoded at once (the handler may change the memory
//! they point to), output arguments are kept as [`Out`] and decoded by
//! [`output`] once the result is known. [`Ret`] says how the return value
//! prints. Syscalls without a decoder print their arguments in hex, as many
//! as [`arity`] says.

use super::fmt::{flags, hex, octal, ptr, quoted, signame, sigset, xlat, Reader};
use guest_abi::fcntl::*;
use guest_abi::mman::*;
use guest_abi::sched::*;
use guest_abi::signal::*;
use guest_abi::stat::*;
use guest_abi::sysno::*;
use guest_abi::termios::*;
use std::fmt::Write;

/// One printed argument.
pub(super) enum Slot {
    /// Decoded at entry.
    Text(String),
    /// Decoded at exit, from the result.
    Out(Out),
}

/// An output argument: where the kernel writes what is shown.
#[derive(Clone, Copy, Debug)]
pub(super) enum Out {
    /// A data buffer whose length is the return value (read, readlink).
    Buf(u64),
    /// A NUL-terminated string written on success (getcwd).
    CStr(u64),
    Stat(u64),
    Statx(u64),
    Pipe(u64),
    Uname(u64),
    /// getdents64's buffer: `0x... /* N entries */`.
    Dirents(u64),
    /// wait4's status, shown when a child was reaped (ret > 0).
    WaitStatus(u64),
    SigAction(u64),
    SigSet(u64),
    Siginfo(u64),
    Termios(u64),
    WinSize(u64),
    /// An `int *` result: `[42]`.
    Int(u64),
    Timespec(u64),
    Itimerspec(u64),
    Rlimit(u64),
    /// readv's iovecs, filled with `ret` bytes in order.
    Iov(u64, u64),
    /// A socket address the kernel fills and the `socklen_t *` holding
    /// its length (accept, getsockname, recvfrom).
    SockAddr(u64, u64),
    /// The `socklen_t *` itself, after the call: `[16]`.
    SockLen(u64),
}

/// How the return value prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ret {
    Dec,
    /// An address (mmap, brk): hex.
    Hex,
    /// The call does not return (exit, exit_group): `= ?`.
    NoReturn,
    /// poll: `= 1 ([{fd=4, revents=POLLOUT}])`, `= 0 (Timeout)`.
    Poll {
        addr: u64,
        n: u64,
    },
    /// fcntl F_GETFL: `= 2 (flags O_RDWR)`.
    GetFl,
    /// fcntl F_GETFD: `= 1 (flags FD_CLOEXEC)`.
    GetFd,
}

pub(super) struct Decoded {
    pub slots: Vec<Slot>,
    pub ret: Ret,
}

// Constants guest_abi lacks, each from the Linux UAPI header named.
/// include/uapi/asm-generic/mman-common.h
const PROT_SEM: u64 = 0x8;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;
/// arch/x86/include/uapi/asm/mman.h
const MAP_32BIT: u64 = 0x40;
/// include/uapi/asm-generic/mman-common.h
const MAP_SYNC: u64 = 0x80000;
const MAP_UNINITIALIZED: u64 = 0x400_0000;
/// include/uapi/linux/mman.h
const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;
/// include/uapi/linux/fcntl.h (AT_STATX_* sync types)
const AT_STATX_FORCE_SYNC: u64 = 0x2000;
const AT_STATX_DONT_SYNC: u64 = 0x4000;
/// include/uapi/linux/stat.h
const STATX_MNT_ID: u64 = 0x1000;
const STATX_DIOALIGN: u64 = 0x2000;
/// include/uapi/linux/fs.h
const RENAME_NOREPLACE: u64 = 1;
const RENAME_EXCHANGE: u64 = 2;
const RENAME_WHITEOUT: u64 = 4;
/// include/uapi/asm-generic/fcntl.h and include/uapi/linux/fcntl.h
const F_SETSIG: i64 = 10;
const F_GETSIG: i64 = 11;
const F_OFD_GETLK: i64 = 36;
const F_OFD_SETLK: i64 = 37;
const F_OFD_SETLKW: i64 = 38;
const F_SETLEASE: i64 = 1024;
const F_GETLEASE: i64 = 1025;
const F_NOTIFY: i64 = 1026;
const F_ADD_SEALS: i64 = 1033;
const F_GET_SEALS: i64 = 1034;
/// include/uapi/asm-generic/poll.h
const POLLRDBAND: u64 = 0x80;
const POLLWRBAND: u64 = 0x200;
const POLLMSG: u64 = 0x400;
const POLLRDHUP: u64 = 0x2000;
/// include/uapi/linux/signal.h / asm/signal.h (x86)
const SA_UNSUPPORTED: u64 = 0x400;
const SA_EXPOSE_TAGBITS: u64 = 0x800;
const SS_ONSTACK: u64 = 1;
/// include/uapi/asm-generic/termbits.h
const CSTOPB: u64 = 0o100;
const PARENB: u64 = 0o400;
const PARODD: u64 = 0o1000;
const CRTSCTS: u64 = 0o20000000000;
const ECHOPRT_: u64 = ECHOPRT as u64;
/// include/uapi/asm-generic/resource.h
const RLIMIT_LOCKS: i64 = 10;
const RLIMIT_SIGPENDING: i64 = 11;
const RLIMIT_MSGQUEUE: i64 = 12;
const RLIMIT_NICE: i64 = 13;
const RLIMIT_RTPRIO: i64 = 14;
const RLIMIT_RTTIME: i64 = 15;
/// include/uapi/linux/time.h
const CLOCK_PROCESS_CPUTIME_ID: i64 = 2;
const CLOCK_THREAD_CPUTIME_ID: i64 = 3;
const CLOCK_MONOTONIC_RAW: i64 = 4;
const CLOCK_REALTIME_COARSE: i64 = 5;
const CLOCK_MONOTONIC_COARSE: i64 = 6;
const CLOCK_BOOTTIME: i64 = 7;
/// include/uapi/asm-generic/siginfo.h
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const BUS_ADRALN: i32 = 1;
const BUS_ADRERR: i32 = 2;
const SI_TIMER: i32 = -2;
const SI_MESGQ: i32 = -3;
const SI_ASYNCIO: i32 = -4;
const SI_SIGIO: i32 = -5;
const SYS_SECCOMP: i32 = 1;
/// include/uapi/linux/random.h
const GRND_FLAGS: &[(u64, &str)] = &[
    (guest_abi::misc::GRND_NONBLOCK as u64, "GRND_NONBLOCK"),
    (guest_abi::misc::GRND_RANDOM as u64, "GRND_RANDOM"),
    (guest_abi::misc::GRND_INSECURE as u64, "GRND_INSECURE"),
];

/// strace's order (xlat/open_mode_flags.in); O_SYNC before O_DSYNC and
/// O_TMPFILE before O_DIRECTORY since each contains the other.
const OPEN_FLAGS: &[(u64, &str)] = &[
    (O_CREAT as u64, "O_CREAT"),
    (O_EXCL as u64, "O_EXCL"),
    (O_NOCTTY as u64, "O_NOCTTY"),
    (O_TRUNC as u64, "O_TRUNC"),
    (O_APPEND as u64, "O_APPEND"),
    (O_NONBLOCK as u64, "O_NONBLOCK"),
    (O_SYNC as u64, "O_SYNC"),
    (O_DSYNC as u64, "O_DSYNC"),
    (O_ASYNC as u64, "O_ASYNC"),
    (O_DIRECT as u64, "O_DIRECT"),
    (O_LARGEFILE as u64, "O_LARGEFILE"),
    (O_TMPFILE as u64, "O_TMPFILE"),
    (O_DIRECTORY as u64, "O_DIRECTORY"),
    (O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (O_NOATIME as u64, "O_NOATIME"),
    (O_CLOEXEC as u64, "O_CLOEXEC"),
    (O_PATH as u64, "O_PATH"),
];

/// `O_RDONLY|O_CLOEXEC`: the access mode always shows.
pub(super) fn open_flags(v: u64) -> String {
    let v = v & 0xffff_ffff;
    let acc = match v & O_ACCMODE as u64 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = v & !(O_ACCMODE as u64);
    if rest == 0 {
        acc.into()
    } else {
        format!("{acc}|{}", flags(rest, OPEN_FLAGS, ""))
    }
}

const PROT: &[(u64, &str)] = &[
    (PROT_READ, "PROT_READ"),
    (PROT_WRITE, "PROT_WRITE"),
    (PROT_EXEC, "PROT_EXEC"),
    (PROT_SEM, "PROT_SEM"),
    (PROT_GROWSDOWN, "PROT_GROWSDOWN"),
    (PROT_GROWSUP, "PROT_GROWSUP"),
];

const MAP: &[(u64, &str)] = &[
    (MAP_FIXED, "MAP_FIXED"),
    (MAP_ANONYMOUS, "MAP_ANONYMOUS"),
    (MAP_32BIT, "MAP_32BIT"),
    (MAP_GROWSDOWN, "MAP_GROWSDOWN"),
    (MAP_DENYWRITE, "MAP_DENYWRITE"),
    (MAP_EXECUTABLE, "MAP_EXECUTABLE"),
    (MAP_LOCKED, "MAP_LOCKED"),
    (MAP_NORESERVE, "MAP_NORESERVE"),
    (MAP_POPULATE, "MAP_POPULATE"),
    (MAP_NONBLOCK, "MAP_NONBLOCK"),
    (MAP_STACK, "MAP_STACK"),
    (MAP_HUGETLB, "MAP_HUGETLB"),
    (MAP_SYNC, "MAP_SYNC"),
    (MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"),
    (MAP_UNINITIALIZED, "MAP_UNINITIALIZED"),
];

/// `MAP_PRIVATE|MAP_ANONYMOUS`: the mapping type first.
pub(super) fn map_flags(v: u64) -> String {
    let ty = match v & MAP_TYPE {
        MAP_SHARED => "MAP_SHARED".to_string(),
        MAP_PRIVATE => "MAP_PRIVATE".to_string(),
        MAP_SHARED_VALIDATE => "MAP_SHARED_VALIDATE".to_string(),
        t => format!("{t:#x} /* MAP_??? */"),
    };
    let rest = v & !MAP_TYPE;
    if rest == 0 {
        ty
    } else {
        format!("{ty}|{}", flags(rest, MAP, ""))
    }
}

const CLONE: &[(u64, &str)] = &[
    (CLONE_VM, "CLONE_VM"),
    (CLONE_FS, "CLONE_FS"),
    (CLONE_FILES, "CLONE_FILES"),
    (CLONE_SIGHAND, "CLONE_SIGHAND"),
    (CLONE_PIDFD, "CLONE_PIDFD"),
    (CLONE_PTRACE, "CLONE_PTRACE"),
    (CLONE_VFORK, "CLONE_VFORK"),
    (CLONE_PARENT, "CLONE_PARENT"),
    (CLONE_THREAD, "CLONE_THREAD"),
    (CLONE_NEWNS, "CLONE_NEWNS"),
    (CLONE_SYSVSEM, "CLONE_SYSVSEM"),
    (CLONE_SETTLS, "CLONE_SETTLS"),
    (CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"),
    (CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"),
    (CLONE_DETACHED, "CLONE_DETACHED"),
    (CLONE_UNTRACED, "CLONE_UNTRACED"),
    (CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"),
    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (CLONE_NEWUTS, "CLONE_NEWUTS"),
    (CLONE_NEWIPC, "CLONE_NEWIPC"),
    (CLONE_NEWUSER, "CLONE_NEWUSER"),
    (CLONE_NEWPID, "CLONE_NEWPID"),
    (CLONE_NEWNET, "CLONE_NEWNET"),
    (CLONE_IO, "CLONE_IO"),
    (CLONE_CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"),
    (CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"),
];

/// clone's flags word: `CLONE_VM|CLONE_VFORK|SIGCHLD` (the low byte is the
/// exit signal).
pub(super) fn clone_flags(v: u64) -> String {
    let sig = v & CSIGNAL;
    let rest = v & !CSIGNAL;
    match (rest, sig) {
        (0, 0) => "0".into(),
        (0, s) => signame(s as i64),
        (r, 0) => flags(r, CLONE, "0"),
        (r, s) => format!("{}|{}", flags(r, CLONE, "0"), signame(s as i64)),
    }
}

const AT_FLAGS: &[(u64, &str)] = &[
    (AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
    (AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
    (AT_NO_AUTOMOUNT as u64, "AT_NO_AUTOMOUNT"),
    (AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
];

const ACCESS: &[(u64, &str)] =
    &[(R_OK as u64, "R_OK"), (W_OK as u64, "W_OK"), (X_OK as u64, "X_OK")];

const SEEK: &[(i64, &str)] = &[
    (SEEK_SET as i64, "SEEK_SET"),
    (SEEK_CUR as i64, "SEEK_CUR"),
    (SEEK_END as i64, "SEEK_END"),
    (SEEK_DATA as i64, "SEEK_DATA"),
    (SEEK_HOLE as i64, "SEEK_HOLE"),
];

const FCNTL: &[(i64, &str)] = &[
    (F_DUPFD as i64, "F_DUPFD"),
    (F_GETFD as i64, "F_GETFD"),
    (F_SETFD as i64, "F_SETFD"),
    (F_GETFL as i64, "F_GETFL"),
    (F_SETFL as i64, "F_SETFL"),
    (F_GETLK as i64, "F_GETLK"),
    (F_SETLK as i64, "F_SETLK"),
    (F_SETLKW as i64, "F_SETLKW"),
    (F_SETOWN as i64, "F_SETOWN"),
    (F_GETOWN as i64, "F_GETOWN"),
    (F_SETSIG, "F_SETSIG"),
    (F_GETSIG, "F_GETSIG"),
    (F_OFD_GETLK, "F_OFD_GETLK"),
    (F_OFD_SETLK, "F_OFD_SETLK"),
    (F_OFD_SETLKW, "F_OFD_SETLKW"),
    (F_SETLEASE, "F_SETLEASE"),
    (F_GETLEASE, "F_GETLEASE"),
    (F_NOTIFY, "F_NOTIFY"),
    (F_DUPFD_CLOEXEC as i64, "F_DUPFD_CLOEXEC"),
    (F_SETPIPE_SZ as i64, "F_SETPIPE_SZ"),
    (F_GETPIPE_SZ as i64, "F_GETPIPE_SZ"),
    (F_ADD_SEALS, "F_ADD_SEALS"),
    (F_GET_SEALS, "F_GET_SEALS"),
];

const FD_FLAGS: &[(u64, &str)] = &[(FD_CLOEXEC as u64, "FD_CLOEXEC")];

const IOCTLS: &[(u64, &str)] = &[
    (TCGETS, "TCGETS"),
    (TCSETS, "TCSETS"),
    (TCSETSW, "TCSETSW"),
    (TCSETSF, "TCSETSF"),
    (TCSBRK, "TCSBRK"),
    (TCXONC, "TCXONC"),
    (TCFLSH, "TCFLSH"),
    (TIOCEXCL, "TIOCEXCL"),
    (TIOCNXCL, "TIOCNXCL"),
    (TIOCSCTTY, "TIOCSCTTY"),
    (TIOCGPGRP, "TIOCGPGRP"),
    (TIOCSPGRP, "TIOCSPGRP"),
    (TIOCOUTQ, "TIOCOUTQ"),
    (TIOCSTI, "TIOCSTI"),
    (TIOCGWINSZ, "TIOCGWINSZ"),
    (TIOCSWINSZ, "TIOCSWINSZ"),
    (FIONREAD, "FIONREAD"),
    (TIOCNOTTY, "TIOCNOTTY"),
    (TIOCGSID, "TIOCGSID"),
    (TIOCGPTN, "TIOCGPTN"),
    (TIOCSPTLCK, "TIOCSPTLCK"),
    (TIOCGPTPEER, "TIOCGPTPEER"),
    (FIONBIO, "FIONBIO"),
    (FIOCLEX, "FIOCLEX"),
    (FIONCLEX, "FIONCLEX"),
];

/// An ioctl request: its name, else strace's `_IOC(dir, type, nr, size)`.
pub(super) fn ioctl_name(cmd: u64) -> String {
    let cmd = cmd & 0xffff_ffff;
    if let Some((_, n)) = IOCTLS.iter().find(|(c, _)| *c == cmd) {
        return (*n).into();
    }
    let dir = match cmd >> 30 {
        0 => "_IOC_NONE",
        1 => "_IOC_WRITE",
        2 => "_IOC_READ",
        _ => "_IOC_READ|_IOC_WRITE",
    };
    format!("_IOC({dir}, {:#x}, {:#x}, {:#x})", (cmd >> 8) & 0xff, cmd & 0xff, (cmd >> 16) & 0x3fff)
        .replace(", 0x0)", ", 0)")
}

const POLL: &[(u64, &str)] = &[
    (guest_abi::misc::POLLIN as u64, "POLLIN"),
    (guest_abi::misc::POLLPRI as u64, "POLLPRI"),
    (guest_abi::misc::POLLOUT as u64, "POLLOUT"),
    (guest_abi::misc::POLLERR as u64, "POLLERR"),
    (guest_abi::misc::POLLHUP as u64, "POLLHUP"),
    (guest_abi::misc::POLLNVAL as u64, "POLLNVAL"),
    (guest_abi::misc::POLLRDNORM as u64, "POLLRDNORM"),
    (POLLRDBAND, "POLLRDBAND"),
    (guest_abi::misc::POLLWRNORM as u64, "POLLWRNORM"),
    (POLLWRBAND, "POLLWRBAND"),
    (POLLMSG, "POLLMSG"),
    (POLLRDHUP, "POLLRDHUP"),
];

/// strace's order (xlat/sigact_flags.in) on x86_64.
const SA_FLAGS: &[(u64, &str)] = &[
    (SA_RESTORER, "SA_RESTORER"),
    (SA_ONSTACK, "SA_ONSTACK"),
    (SA_RESTART, "SA_RESTART"),
    (SA_NODEFER, "SA_NODEFER"),
    (SA_RESETHAND, "SA_RESETHAND"),
    (SA_SIGINFO, "SA_SIGINFO"),
    (SA_NOCLDSTOP, "SA_NOCLDSTOP"),
    (SA_NOCLDWAIT, "SA_NOCLDWAIT"),
    (SA_UNSUPPORTED, "SA_UNSUPPORTED"),
    (SA_EXPOSE_TAGBITS, "SA_EXPOSE_TAGBITS"),
];

const SIGPROCMASK_HOW: &[(i64, &str)] = &[
    (SIG_BLOCK as i64, "SIG_BLOCK"),
    (SIG_UNBLOCK as i64, "SIG_UNBLOCK"),
    (SIG_SETMASK as i64, "SIG_SETMASK"),
];

const WAIT4_OPTIONS: &[(u64, &str)] = &[
    (WNOHANG as u64, "WNOHANG"),
    (WUNTRACED as u64, "WUNTRACED"),
    (WCONTINUED as u64, "WCONTINUED"),
    (WNOWAIT as u64, "WNOWAIT"),
    (__WNOTHREAD as u32 as u64, "__WNOTHREAD"),
    (__WALL as u32 as u64, "__WALL"),
    (__WCLONE as u32 as u64, "__WCLONE"),
];

const WAITID_OPTIONS: &[(u64, &str)] = &[
    (WNOHANG as u64, "WNOHANG"),
    (WSTOPPED as u64, "WSTOPPED"),
    (WEXITED as u64, "WEXITED"),
    (WCONTINUED as u64, "WCONTINUED"),
    (WNOWAIT as u64, "WNOWAIT"),
    (__WNOTHREAD as u32 as u64, "__WNOTHREAD"),
    (__WALL as u32 as u64, "__WALL"),
    (__WCLONE as u32 as u64, "__WCLONE"),
];

const IDTYPES: &[(i64, &str)] = &[
    (P_ALL as i64, "P_ALL"),
    (P_PID as i64, "P_PID"),
    (P_PGID as i64, "P_PGID"),
    (P_PIDFD as i64, "P_PIDFD"),
];

const RLIMITS: &[(i64, &str)] = &[
    (guest_abi::misc::RLIMIT_CPU as i64, "RLIMIT_CPU"),
    (guest_abi::misc::RLIMIT_FSIZE as i64, "RLIMIT_FSIZE"),
    (guest_abi::misc::RLIMIT_DATA as i64, "RLIMIT_DATA"),
    (guest_abi::misc::RLIMIT_STACK as i64, "RLIMIT_STACK"),
    (guest_abi::misc::RLIMIT_CORE as i64, "RLIMIT_CORE"),
    (guest_abi::misc::RLIMIT_RSS as i64, "RLIMIT_RSS"),
    (guest_abi::misc::RLIMIT_NPROC as i64, "RLIMIT_NPROC"),
    (guest_abi::misc::RLIMIT_NOFILE as i64, "RLIMIT_NOFILE"),
    (guest_abi::misc::RLIMIT_MEMLOCK as i64, "RLIMIT_MEMLOCK"),
    (guest_abi::misc::RLIMIT_AS as i64, "RLIMIT_AS"),
    (RLIMIT_LOCKS, "RLIMIT_LOCKS"),
    (RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
    (RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
    (RLIMIT_NICE, "RLIMIT_NICE"),
    (RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
    (RLIMIT_RTTIME, "RLIMIT_RTTIME"),
];

const CLOCKS: &[(i64, &str)] = &[
    (guest_abi::misc::CLOCK_REALTIME as i64, "CLOCK_REALTIME"),
    (guest_abi::misc::CLOCK_MONOTONIC as i64, "CLOCK_MONOTONIC"),
    (CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID"),
    (CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID"),
    (CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW"),
    (CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE"),
    (CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE"),
    (CLOCK_BOOTTIME, "CLOCK_BOOTTIME"),
];

const ARCH_PRCTL: &[(i64, &str)] = &[
    (guest_abi::misc::ARCH_SET_GS as i64, "ARCH_SET_GS"),
    (guest_abi::misc::ARCH_SET_FS as i64, "ARCH_SET_FS"),
    (guest_abi::misc::ARCH_GET_FS as i64, "ARCH_GET_FS"),
    (guest_abi::misc::ARCH_GET_GS as i64, "ARCH_GET_GS"),
];

/// `S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777`.
pub(super) fn file_mode(mode: u32) -> String {
    let ty = match mode & S_IFMT {
        S_IFREG => Some("S_IFREG"),
        S_IFDIR => Some("S_IFDIR"),
        S_IFLNK => Some("S_IFLNK"),
        S_IFCHR => Some("S_IFCHR"),
        S_IFBLK => Some("S_IFBLK"),
        S_IFIFO => Some("S_IFIFO"),
        S_IFSOCK => Some("S_IFSOCK"),
        0 => None,
        _ => None,
    };
    let mut s = String::new();
    if let Some(t) = ty {
        s.push_str(t);
        s.push('|');
    } else if mode & S_IFMT != 0 {
        let _ = write!(s, "{:#o}|", mode & S_IFMT);
    }
    for (bit, n) in [(S_ISUID, "S_ISUID"), (S_ISGID, "S_ISGID"), (S_ISVTX, "S_ISVTX")] {
        if mode & bit != 0 {
            s.push_str(n);
            s.push('|');
        }
    }
    s.push_str(&octal((mode & 0o777) as u64));
    s
}

/// wait4's status word, strace's `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`.
pub(super) fn wait_status(s: i32) -> String {
    let u = s as u32;
    let (mut out, rest) = if u & 0x7f == 0 {
        (format!("{{WIFEXITED(s) && WEXITSTATUS(s) == {}}}", (u >> 8) & 0xff), u & !0xffff)
    } else if u & 0xff == 0x7f {
        (
            format!("{{WIFSTOPPED(s) && WSTOPSIG(s) == {}}}", signame(((u >> 8) & 0xff) as i64)),
            u & !0xffff,
        )
    } else if u == 0xffff {
        ("{WIFCONTINUED(s)}".to_string(), 0)
    } else {
        let core = if u & 0x80 != 0 { " && WCOREDUMP(s)" } else { "" };
        (
            format!("{{WIFSIGNALED(s) && WTERMSIG(s) == {}{core}}}", signame((u & 0x7f) as i64)),
            u & !0xffff,
        )
    };
    if rest != 0 {
        let _ = write!(out, " | {rest:#x}");
    }
    format!("[{out}]")
}

/// The siginfo of a signal or waitid: `{si_signo=SIGCHLD, si_code=CLD_EXITED, ...}`.
pub(super) fn siginfo(b: &[u8; 128]) -> String {
    let i32_at = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    let signo = i32_at(0);
    if signo == 0 {
        return "{}".into();
    }
    let errno = i32_at(4);
    let code = i32_at(8);
    let mut s = format!("{{si_signo={}", signame(signo as i64));
    if errno != 0 {
        let _ = write!(
            s,
            ", si_errno={}",
            guest_abi::errno::name(errno).map(String::from).unwrap_or(errno.to_string())
        );
    }
    let generic = match code {
        SI_USER => Some("SI_USER"),
        SI_KERNEL => Some("SI_KERNEL"),
        SI_QUEUE => Some("SI_QUEUE"),
        SI_TIMER => Some("SI_TIMER"),
        SI_MESGQ => Some("SI_MESGQ"),
        SI_ASYNCIO => Some("SI_ASYNCIO"),
        SI_SIGIO => Some("SI_SIGIO"),
        SI_TKILL => Some("SI_TKILL"),
        _ => None,
    };
    let specific = if code > 0 && code != SI_KERNEL {
        match (signo, code) {
            (SIGCHLD, CLD_EXITED) => Some("CLD_EXITED"),
            (SIGCHLD, CLD_KILLED) => Some("CLD_KILLED"),
            (SIGCHLD, CLD_DUMPED) => Some("CLD_DUMPED"),
            (SIGCHLD, CLD_TRAPPED) => Some("CLD_TRAPPED"),
            (SIGCHLD, CLD_STOPPED) => Some("CLD_STOPPED"),
            (SIGCHLD, CLD_CONTINUED) => Some("CLD_CONTINUED"),
            (SIGSEGV, SEGV_MAPERR) => Some("SEGV_MAPERR"),
            (SIGSEGV, SEGV_ACCERR) => Some("SEGV_ACCERR"),
            (SIGBUS, BUS_ADRALN) => Some("BUS_ADRALN"),
            (SIGBUS, BUS_ADRERR) => Some("BUS_ADRERR"),
            (SIGSYS, SYS_SECCOMP) => Some("SYS_SECCOMP"),
            _ => None,
        }
    } else {
        None
    };
    match generic.or(specific) {
        Some(n) => {
            let _ = write!(s, ", si_code={n}");
        }
        None => {
            let _ = write!(s, ", si_code={code}");
        }
    }
    if code <= 0 || code == SI_KERNEL {
        // Sent by a process (kill, tgkill, sigqueue) or the kernel.
        match code {
            SI_KERNEL => {}
            SI_TIMER => {
                let _ = write!(
                    s,
                    ", si_timerid={:#x}, si_overrun={}, si_int={}, si_ptr={}",
                    i32_at(16),
                    i32_at(20),
                    i32_at(24),
                    ptr(u64_at(24))
                );
            }
            SI_QUEUE | SI_MESGQ => {
                let _ = write!(
                    s,
                    ", si_pid={}, si_uid={}, si_int={}, si_ptr={}",
                    i32_at(16),
                    u32_at(20),
                    i32_at(24),
                    ptr(u64_at(24))
                );
            }
            _ => {
                let _ = write!(s, ", si_pid={}, si_uid={}", i32_at(16), u32_at(20));
            }
        }
    } else {
        match signo {
            SIGCHLD => {
                let st = i32_at(24);
                let status = if code == CLD_EXITED { st.to_string() } else { signame(st as i64) };
                let _ = write!(
                    s,
                    ", si_pid={}, si_uid={}, si_status={status}, si_utime={}, si_stime={}",
                    i32_at(16),
                    u32_at(20),
                    i64_at(32),
                    i64_at(40)
                );
            }
            SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP => {
                let _ = write!(s, ", si_addr={}", ptr(u64_at(16)));
            }
            SIGIO => {
                let _ = write!(s, ", si_band={}, si_fd={}", i64_at(16), i32_at(24));
            }
            SIGSYS => {
                let nr = i32_at(24);
                let call =
                    guest_abi::sysno::name(nr as usize).map(String::from).unwrap_or(nr.to_string());
                let _ = write!(
                    s,
                    ", si_call_addr={}, si_syscall=__NR_{call}, si_arch=AUDIT_ARCH_X86_64",
                    ptr(u64_at(16))
                );
            }
            _ => {}
        }
    }
    s.push('}');
    s
}

/// The decoder's state for one call.
struct D<'r, 'm> {
    r: &'r mut Reader<'m>,
    a: [u64; 6],
    limit: usize,
    slots: Vec<Slot>,
    ret: Ret,
}

impl D<'_, '_> {
    fn text(&mut self, s: String) {
        self.slots.push(Slot::Text(s));
    }
    fn out(&mut self, o: Out) {
        self.slots.push(Slot::Out(o));
    }
    fn int(&mut self, i: usize) {
        let v = self.a[i] as i32;
        self.text(v.to_string());
    }
    fn long(&mut self, i: usize) {
        let v = self.a[i] as i64;
        self.text(v.to_string());
    }
    fn ulong(&mut self, i: usize) {
        let v = self.a[i];
        self.text(v.to_string());
    }
    fn hex(&mut self, i: usize) {
        let v = self.a[i];
        self.text(hex(v));
    }
    fn ptr(&mut self, i: usize) {
        let v = self.a[i];
        self.text(ptr(v));
    }
    fn dirfd(&mut self, i: usize) {
        let v = self.a[i] as i32;
        self.text(if v == AT_FDCWD { "AT_FDCWD".into() } else { v.to_string() });
    }
    fn path(&mut self, i: usize) {
        let s = self.r.path(self.a[i]);
        self.text(s);
    }
    fn mode(&mut self, i: usize) {
        let v = self.a[i] & 0o7777;
        self.text(octal(v));
    }
    fn flags(&mut self, i: usize, table: &[(u64, &str)], zero: &str) {
        let s = flags(self.a[i] & 0xffff_ffff, table, zero);
        self.text(s);
    }
    fn xlat(&mut self, i: usize, table: &[(i64, &str)]) {
        let s = xlat(self.a[i] as i32 as i64, table);
        self.text(s);
    }
    fn sig(&mut self, i: usize) {
        let s = signame(self.a[i] as i32 as i64);
        self.text(s);
    }
    fn in_buf(&mut self, addr: usize, len: usize) {
        let s = self.r.buffer(self.a[addr], self.a[len], self.limit);
        self.text(s);
    }
    fn sigset_in(&mut self, i: usize) {
        let a = self.a[i];
        let s = match self.r.u64(a) {
            Some(set) if a != 0 => sigset(set),
            _ => ptr(a),
        };
        self.text(s);
    }
    /// An output pointer: NULL prints now, else at exit.
    fn out_ptr(&mut self, i: usize, o: Out) {
        if self.a[i] == 0 {
            self.text("NULL".into());
        } else {
            self.out(o);
        }
    }
    fn raw(&mut self, n: usize) {
        for i in 0..n {
            self.hex(i);
        }
    }
}

/// How many arguments a syscall without a decoder prints.
pub(super) fn arity(nr: usize) -> usize {
    match nr {
        SYS_SCHED_YIELD | SYS_PAUSE | SYS_GETPID | SYS_GETPPID | SYS_GETTID | SYS_GETUID
        | SYS_GETEUID | SYS_GETGID | SYS_GETEGID | SYS_GETPGRP | SYS_SETSID | SYS_FORK
        | SYS_VFORK | SYS_SYNC | SYS_RT_SIGRETURN | SYS_MUNLOCKALL | SYS_VHANGUP
        | SYS_INOTIFY_INIT => 0,
        SYS_ALARM
        | SYS_CLOSE
        | SYS_DUP
        | SYS_EXIT
        | SYS_EXIT_GROUP
        | SYS_UMASK
        | SYS_SETUID
        | SYS_SETGID
        | SYS_FSYNC
        | SYS_FDATASYNC
        | SYS_GETPGID
        | SYS_GETSID
        | SYS_SET_TID_ADDRESS
        | SYS_EPOLL_CREATE
        | SYS_EPOLL_CREATE1
        | SYS_BRK
        | SYS_PERSONALITY
        | SYS_MLOCKALL
        | SYS_INOTIFY_INIT1
        | SYS_SYNCFS
        | SYS_UNSHARE
        | SYS_SCHED_GET_PRIORITY_MAX
        | SYS_SCHED_GET_PRIORITY_MIN
        | SYS_SHMDT
        | SYS_EVENTFD
        | SYS_SCHED_GETSCHEDULER => 1,
        SYS_DUP2 | SYS_KILL | SYS_TKILL | SYS_SETPGID | SYS_SETREUID | SYS_SETREGID
        | SYS_GETGROUPS | SYS_SETGROUPS | SYS_SET_ROBUST_LIST | SYS_SIGALTSTACK | SYS_GETRLIMIT
        | SYS_SETRLIMIT | SYS_GETRUSAGE | SYS_GETTIMEOFDAY | SYS_SETTIMEOFDAY
        | SYS_CLOCK_GETTIME | SYS_CLOCK_GETRES | SYS_CLOCK_SETTIME | SYS_NANOSLEEP | SYS_MUNMAP
        | SYS_FTRUNCATE | SYS_FLOCK | SYS_LISTEN | SYS_SHUTDOWN | SYS_ARCH_PRCTL | SYS_EVENTFD2
        | SYS_PIPE2 | SYS_TIMERFD_GETTIME | SYS_GETITIMER | SYS_RT_SIGSUSPEND
        | SYS_RT_SIGPENDING | SYS_MEMFD_CREATE | SYS_FCHMOD | SYS_TIMERFD_CREATE
        | SYS_SCHED_GETPARAM | SYS_SCHED_SETPARAM | SYS_IOPRIO_GET | SYS_CAPGET | SYS_CAPSET
        | SYS_PIDFD_OPEN | SYS_INOTIFY_RM_WATCH | SYS_TIMER_GETTIME | SYS_GETPRIORITY
        | SYS_SETNS => 2,
        SYS_LSEEK
        | SYS_MPROTECT
        | SYS_MADVISE
        | SYS_IOCTL
        | SYS_FCNTL
        | SYS_DUP3
        | SYS_TGKILL
        | SYS_SOCKET
        | SYS_CONNECT
        | SYS_ACCEPT
        | SYS_BIND
        | SYS_GETSOCKNAME
        | SYS_GETPEERNAME
        | SYS_SENDMSG
        | SYS_RECVMSG
        | SYS_SETRESUID
        | SYS_SETRESGID
        | SYS_GETRESUID
        | SYS_GETRESGID
        | SYS_GETDENTS
        | SYS_GETDENTS64
        | SYS_READ
        | SYS_WRITE
        | SYS_READV
        | SYS_WRITEV
        | SYS_POLL
        | SYS_SETITIMER
        | SYS_GETRANDOM
        | SYS_SCHED_GETAFFINITY
        | SYS_SCHED_SETAFFINITY
        | SYS_GETCPU
        | SYS_MSYNC
        | SYS_MINCORE
        | SYS_SETPRIORITY
        | SYS_IOPRIO_SET
        | SYS_SHMGET
        | SYS_SHMAT
        | SYS_SHMCTL
        | SYS_SEMGET
        | SYS_SEMOP
        | SYS_MSGGET
        | SYS_MSGCTL
        | SYS_INOTIFY_ADD_WATCH
        | SYS_SIGNALFD
        | SYS_CLOSE_RANGE
        | SYS_TIMER_CREATE
        | SYS_MLOCK2
        | SYS_SCHED_SETSCHEDULER
        | SYS_SYSLOG => 3,
        SYS_RT_SIGACTION
        | SYS_RT_SIGPROCMASK
        | SYS_PREAD64
        | SYS_PWRITE64
        | SYS_SENDFILE
        | SYS_SOCKETPAIR
        | SYS_ACCEPT4
        | SYS_WAIT4
        | SYS_PRLIMIT64
        | SYS_EPOLL_CTL
        | SYS_EPOLL_WAIT
        | SYS_TIMERFD_SETTIME
        | SYS_SIGNALFD4
        | SYS_RT_SIGTIMEDWAIT
        | SYS_RT_SIGQUEUEINFO
        | SYS_SEMCTL
        | SYS_MSGSND
        | SYS_TIMER_SETTIME
        | SYS_FADVISE64
        | SYS_FALLOCATE
        | SYS_CLOCK_NANOSLEEP
        | SYS_SYNC_FILE_RANGE
        | SYS_TEE
        | SYS_RSEQ
        | SYS_PIDFD_SEND_SIGNAL
        | SYS_SEMTIMEDOP
        | SYS_IO_URING_REGISTER
        | SYS_VMSPLICE
        | SYS_PREADV
        | SYS_PWRITEV
        | SYS_RT_TGSIGQUEUEINFO => 4,
        SYS_MREMAP | SYS_SETSOCKOPT | SYS_GETSOCKOPT | SYS_WAITID | SYS_PRCTL | SYS_MSGRCV
        | SYS_PPOLL | SYS_RECVMMSG | SYS_SENDMMSG | SYS_EPOLL_PWAIT | SYS_PREADV2
        | SYS_PWRITEV2 | SYS_KCMP => 5,
        _ => 6,
    }
}

/// Decodes a call's arguments at entry.
pub(super) fn enter(nr: usize, a: [u64; 6], r: &mut Reader, limit: usize) -> Decoded {
    let mut d = D { r, a, limit, slots: Vec::with_capacity(6), ret: Ret::Dec };
    match nr {
        SYS_READ => {
            d.int(0);
            d.out(Out::Buf(a[1]));
            d.ulong(2);
        }
        SYS_WRITE => {
            d.int(0);
            d.in_buf(1, 2);
            d.ulong(2);
        }
        SYS_PREAD64 => {
            d.int(0);
            d.out(Out::Buf(a[1]));
            d.ulong(2);
            d.long(3);
        }
        SYS_PWRITE64 => {
            d.int(0);
            d.in_buf(1, 2);
            d.ulong(2);
            d.long(3);
        }
        SYS_READV | SYS_WRITEV | SYS_PREADV | SYS_PWRITEV => {
            d.int(0);
            if matches!(nr, SYS_READV | SYS_PREADV) {
                d.out(Out::Iov(a[1], a[2]));
            } else {
                let s = iovecs(d.r, a[1], a[2], None, limit);
                d.text(s);
            }
            d.int(2);
            if matches!(nr, SYS_PREADV | SYS_PWRITEV) {
                d.long(3);
            }
        }
        SYS_OPEN | SYS_OPENAT => {
            let base = if nr == SYS_OPENAT {
                d.dirfd(0);
                1
            } else {
                0
            };
            d.path(base);
            let f = a[base + 1];
            d.text(open_flags(f));
            if f & O_CREAT as u64 != 0 || f & O_TMPFILE as u64 == O_TMPFILE as u64 {
                d.mode(base + 2);
            }
        }
        SYS_CREAT => {
            d.path(0);
            d.mode(1);
        }
        SYS_CLOSE | SYS_DUP | SYS_FCHDIR | SYS_FSYNC | SYS_FDATASYNC | SYS_EXIT
        | SYS_EXIT_GROUP | SYS_GETPGID | SYS_GETSID | SYS_SETUID | SYS_SETGID => {
            d.int(0);
            if matches!(nr, SYS_EXIT | SYS_EXIT_GROUP) {
                d.ret = Ret::NoReturn;
            }
        }
        SYS_DUP2 | SYS_SETPGID => {
            d.int(0);
            d.int(1);
        }
        SYS_DUP3 => {
            d.int(0);
            d.int(1);
            d.flags(2, &[(O_CLOEXEC as u64, "O_CLOEXEC")], "0");
        }
        SYS_STAT | SYS_LSTAT => {
            d.path(0);
            d.out_ptr(1, Out::Stat(a[1]));
        }
        SYS_FSTAT => {
            d.int(0);
            d.out_ptr(1, Out::Stat(a[1]));
        }
        SYS_NEWFSTATAT => {
            d.dirfd(0);
            d.path(1);
            d.out_ptr(2, Out::Stat(a[2]));
            d.flags(3, AT_FLAGS, "0");
        }
        SYS_STATX => {
            d.dirfd(0);
            d.path(1);
            let f = a[2] & 0xffff_ffff;
            let sync = match f & AT_STATX_SYNC_TYPE as u64 {
                0 => "AT_STATX_SYNC_AS_STAT".to_string(),
                AT_STATX_FORCE_SYNC => "AT_STATX_FORCE_SYNC".into(),
                AT_STATX_DONT_SYNC => "AT_STATX_DONT_SYNC".into(),
                t => format!("{t:#x}"),
            };
            let rest = f & !(AT_STATX_SYNC_TYPE as u64);
            d.text(if rest == 0 { sync } else { format!("{sync}|{}", flags(rest, AT_FLAGS, "0")) });
            d.text(statx_mask(a[3] & 0xffff_ffff));
            d.out_ptr(4, Out::Statx(a[4]));
        }
        SYS_GETDENTS | SYS_GETDENTS64 => {
            d.int(0);
            d.out(Out::Dirents(a[1]));
            d.ulong(2);
        }
        SYS_MMAP => {
            d.ptr(0);
            d.ulong(1);
            d.flags(2, PROT, "PROT_NONE");
            d.text(map_flags(a[3] & 0xffff_ffff));
            d.int(4);
            d.hex(5);
            d.ret = Ret::Hex;
        }
        SYS_MPROTECT => {
            d.ptr(0);
            d.ulong(1);
            d.flags(2, PROT, "PROT_NONE");
        }
        SYS_MUNMAP => {
            d.ptr(0);
            d.ulong(1);
        }
        SYS_MREMAP => {
            d.ptr(0);
            d.ulong(1);
            d.ulong(2);
            d.flags(
                3,
                &[
                    (MREMAP_MAYMOVE, "MREMAP_MAYMOVE"),
                    (MREMAP_FIXED, "MREMAP_FIXED"),
                    (MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"),
                ],
                "0",
            );
            if a[3] & MREMAP_FIXED != 0 {
                d.ptr(4);
            }
            d.ret = Ret::Hex;
        }
        SYS_BRK => {
            d.ptr(0);
            d.ret = Ret::Hex;
        }
        SYS_CLONE => {
            // x86_64: clone(flags, stack, parent_tid, child_tid, tls).
            let f = a[0];
            d.text(format!("child_stack={}", ptr(a[1])));
            d.text(format!("flags={}", clone_flags(f)));
            if f & CLONE_PARENT_SETTID != 0 {
                d.text(format!("parent_tid={}", ptr(a[2])));
            }
            if f & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) != 0 {
                d.text(format!("child_tidptr={}", ptr(a[3])));
            }
            if f & CLONE_SETTLS != 0 {
                d.text(format!("tls={}", ptr(a[4])));
            }
        }
        SYS_CLONE3 => {
            // As much of the struct as the caller says it has (up to cgroup).
            let len = match a[1] {
                n if n >= CLONE_ARGS_SIZE_VER2 as u64 => CLONE_ARGS_SIZE_VER2,
                n if n >= CLONE_ARGS_SIZE_VER1 as u64 => CLONE_ARGS_SIZE_VER1,
                _ => CLONE_ARGS_SIZE_VER0,
            };
            let read = match d.r.bytes(a[0], len) {
                Some(b) => Some((b, len)),
                None => d.r.bytes(a[0], CLONE_ARGS_SIZE_VER0).map(|b| (b, CLONE_ARGS_SIZE_VER0)),
            };
            let s = match read {
                Some((b, len)) => {
                    let f = |i: usize| {
                        u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default())
                    };
                    let mut s = format!("{{flags={}", flags(f(0), CLONE, "0"));
                    for (i, n) in [(1, "pidfd"), (2, "child_tid"), (3, "parent_tid")] {
                        if f(i) != 0 {
                            let _ = write!(s, ", {n}={}", ptr(f(i)));
                        }
                    }
                    let _ = write!(
                        s,
                        ", exit_signal={}, stack={}, stack_size={}",
                        signame(f(4) as i64),
                        ptr(f(5)),
                        hex(f(6))
                    );
                    if f(7) != 0 {
                        let _ = write!(s, ", tls={}", ptr(f(7)));
                    }
                    if len >= CLONE_ARGS_SIZE_VER1 && (f(8) != 0 || f(9) != 0) {
                        let n = f(9).min(MAX_PID_NS_LEVEL) as usize;
                        let pids = d.r.bytes(f(8), n * 4).map(|b| {
                            let p: Vec<String> = b
                                .chunks_exact(4)
                                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string())
                                .collect();
                            format!("[{}]", p.join(", "))
                        });
                        let _ = write!(
                            s,
                            ", set_tid={}, set_tid_size={}",
                            pids.unwrap_or_else(|| ptr(f(8))),
                            f(9)
                        );
                    }
                    if len >= CLONE_ARGS_SIZE_VER2 && f(0) & CLONE_INTO_CGROUP != 0 {
                        let _ = write!(s, ", cgroup={}", f(10));
                    }
                    s.push('}');
                    s
                }
                None => ptr(a[0]),
            };
            d.text(s);
            d.ulong(1);
        }
        SYS_EXECVE | SYS_EXECVEAT => {
            let base = if nr == SYS_EXECVEAT {
                d.dirfd(0);
                1
            } else {
                0
            };
            d.path(base);
            let argv = string_array(d.r, a[base + 1], limit);
            d.text(argv);
            let envp = env_count(d.r, a[base + 2]);
            d.text(envp);
            if nr == SYS_EXECVEAT {
                d.flags(4, AT_FLAGS, "0");
            }
        }
        SYS_WAIT4 => {
            d.int(0);
            d.out_ptr(1, Out::WaitStatus(a[1]));
            d.flags(2, WAIT4_OPTIONS, "0");
            d.ptr(3);
        }
        SYS_WAITID => {
            d.xlat(0, IDTYPES);
            d.int(1);
            d.out_ptr(2, Out::Siginfo(a[2]));
            d.flags(3, WAITID_OPTIONS, "0");
            d.ptr(4);
        }
        SYS_KILL | SYS_TKILL => {
            d.int(0);
            d.sig(1);
        }
        SYS_TGKILL => {
            d.int(0);
            d.int(1);
            d.sig(2);
        }
        SYS_RT_SIGACTION => {
            d.sig(0);
            let s = match d.r.bytes(a[1], 32) {
                Some(b) if a[1] != 0 => sigaction(&b),
                _ => ptr(a[1]),
            };
            d.text(s);
            d.out_ptr(2, Out::SigAction(a[2]));
            d.ulong(3);
        }
        SYS_RT_SIGPROCMASK => {
            d.xlat(0, SIGPROCMASK_HOW);
            d.sigset_in(1);
            d.out_ptr(2, Out::SigSet(a[2]));
            d.ulong(3);
        }
        SYS_RT_SIGSUSPEND => {
            d.sigset_in(0);
            d.ulong(1);
        }
        SYS_RT_SIGPENDING => {
            d.out_ptr(0, Out::SigSet(a[0]));
            d.ulong(1);
        }
        SYS_SIGALTSTACK => {
            let s = match d.r.bytes(a[0], 24) {
                Some(b) if a[0] != 0 => {
                    let base = u64::from_le_bytes(b[0..8].try_into().unwrap_or_default());
                    let fl = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default()) as u64;
                    let size = u64::from_le_bytes(b[16..24].try_into().unwrap_or_default());
                    format!(
                        "{{ss_sp={}, ss_flags={}, ss_size={size}}}",
                        ptr(base),
                        flags(fl, &[(SS_ONSTACK, "SS_ONSTACK"), (2, "SS_DISABLE")], "0")
                    )
                }
                _ => ptr(a[0]),
            };
            d.text(s);
            d.ptr(1);
        }
        SYS_IOCTL => {
            d.int(0);
            let cmd = a[1] & 0xffff_ffff;
            d.text(ioctl_name(cmd));
            match cmd {
                TCGETS => d.out_ptr(2, Out::Termios(a[2])),
                TCSETS | TCSETSW | TCSETSF => {
                    let s = match d.r.bytes(a[2], 36) {
                        Some(b) if a[2] != 0 => termios(&b),
                        _ => ptr(a[2]),
                    };
                    d.text(s);
                }
                TIOCGWINSZ => d.out_ptr(2, Out::WinSize(a[2])),
                TIOCSWINSZ => {
                    let s = match d.r.bytes(a[2], 8) {
                        Some(b) if a[2] != 0 => winsize(&b),
                        _ => ptr(a[2]),
                    };
                    d.text(s);
                }
                TIOCGPGRP | TIOCGSID | FIONREAD | TIOCOUTQ | TIOCGPTN => {
                    d.out_ptr(2, Out::Int(a[2]))
                }
                TIOCSPGRP | FIONBIO | TIOCSPTLCK => {
                    let s = match d.r.i32(a[2]) {
                        Some(v) if a[2] != 0 => format!("[{v}]"),
                        _ => ptr(a[2]),
                    };
                    d.text(s);
                }
                TCSBRK | TCXONC | TCFLSH | TIOCSCTTY | TIOCGPTPEER => d.long(2),
                TIOCNOTTY | TIOCEXCL | TIOCNXCL | FIOCLEX | FIONCLEX => {}
                _ => d.hex(2),
            }
        }
        SYS_SOCKET | SYS_SOCKETPAIR => {
            d.xlat(0, ADDRESS_FAMILIES);
            d.text(socket_type(a[1]));
            d.int(2);
            if nr == SYS_SOCKETPAIR {
                d.out_ptr(3, Out::Pipe(a[3]));
            }
        }
        SYS_BIND | SYS_CONNECT => {
            d.int(0);
            let s = sockaddr(d.r, a[1], a[2] & 0xffff_ffff);
            d.text(s);
            d.int(2);
        }
        SYS_LISTEN => {
            d.int(0);
            d.int(1);
        }
        SYS_ACCEPT | SYS_ACCEPT4 | SYS_GETSOCKNAME | SYS_GETPEERNAME => {
            d.int(0);
            d.out_ptr(1, Out::SockAddr(a[1], a[2]));
            d.out_ptr(2, Out::SockLen(a[2]));
            if nr == SYS_ACCEPT4 {
                d.flags(3, SOCK_FLAGS, "0");
            }
        }
        SYS_SENDTO => {
            d.int(0);
            d.in_buf(1, 2);
            d.ulong(2);
            d.flags(3, MSG_FLAGS, "0");
            if a[4] == 0 {
                d.text("NULL".into());
            } else {
                let s = sockaddr(d.r, a[4], a[5] & 0xffff_ffff);
                d.text(s);
            }
            d.int(5);
        }
        SYS_RECVFROM => {
            d.int(0);
            d.out(Out::Buf(a[1]));
            d.ulong(2);
            d.flags(3, MSG_FLAGS, "0");
            d.out_ptr(4, Out::SockAddr(a[4], a[5]));
            d.out_ptr(5, Out::SockLen(a[5]));
        }
        SYS_SENDMSG | SYS_RECVMSG => {
            d.int(0);
            d.ptr(1);
            d.flags(2, MSG_FLAGS, "0");
        }
        SYS_SHUTDOWN => {
            d.int(0);
            d.xlat(1, &[(0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")]);
        }
        SYS_PIPE => d.out_ptr(0, Out::Pipe(a[0])),
        SYS_PIPE2 => {
            d.out_ptr(0, Out::Pipe(a[0]));
            d.text(open_flags(a[1]).trim_start_matches("O_RDONLY|").replace("O_RDONLY", "0"));
        }
        SYS_FCNTL => {
            d.int(0);
            let cmd = a[1] as i32 as i64;
            d.xlat(1, FCNTL);
            match cmd {
                c if c == F_DUPFD as i64 || c == F_DUPFD_CLOEXEC as i64 => d.int(2),
                c if c == F_SETFD as i64 => d.flags(2, FD_FLAGS, "0"),
                c if c == F_SETFL as i64 => d.text(open_flags(a[2])),
                c if c == F_GETFL as i64 => d.ret = Ret::GetFl,
                c if c == F_GETFD as i64 => d.ret = Ret::GetFd,
                c if c == F_GETOWN as i64
                    || c == F_GETSIG
                    || c == F_GETPIPE_SZ as i64
                    || c == F_GETLEASE
                    || c == F_GET_SEALS => {}
                c if c == F_SETOWN as i64
                    || c == F_SETPIPE_SZ as i64
                    || c == F_SETLEASE
                    || c == F_ADD_SEALS
                    || c == F_NOTIFY =>
                {
                    d.long(2)
                }
                F_SETSIG => d.sig(2),
                _ => d.ptr(2),
            }
        }
        SYS_LSEEK => {
            d.int(0);
            d.long(1);
            d.xlat(2, SEEK);
        }
        SYS_POLL | SYS_PPOLL => {
            let s = pollfds(d.r, a[0], a[1], limit, false);
            d.text(s);
            d.ulong(1);
            if nr == SYS_POLL {
                d.int(2);
            } else {
                let s = timespec_at(d.r, a[2]);
                d.text(s);
                d.sigset_in(3);
                d.ulong(4);
            }
            d.ret = Ret::Poll { addr: a[0], n: a[1] };
        }
        SYS_ACCESS => {
            d.path(0);
            d.flags(1, ACCESS, "F_OK");
        }
        SYS_FACCESSAT | SYS_FACCESSAT2 => {
            d.dirfd(0);
            d.path(1);
            d.flags(2, ACCESS, "F_OK");
            if nr == SYS_FACCESSAT2 {
                d.flags(
                    3,
                    &[
                        (AT_EACCESS as u64, "AT_EACCESS"),
                        (AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW"),
                        (AT_EMPTY_PATH as u64, "AT_EMPTY_PATH"),
                    ],
                    "0",
                );
            }
        }
        SYS_CHDIR | SYS_RMDIR | SYS_UNLINK | SYS_CHROOT | SYS_ACCT | SYS_SWAPOFF => d.path(0),
        SYS_GETCWD => {
            d.out(Out::CStr(a[0]));
            d.ulong(1);
        }
        SYS_UNLINKAT => {
            d.dirfd(0);
            d.path(1);
            d.flags(2, &[(AT_REMOVEDIR as u64, "AT_REMOVEDIR")], "0");
        }
        SYS_MKDIR | SYS_CHMOD => {
            d.path(0);
            d.mode(1);
        }
        SYS_MKDIRAT | SYS_FCHMODAT => {
            d.dirfd(0);
            d.path(1);
            d.mode(2);
        }
        SYS_FCHMOD => {
            d.int(0);
            d.mode(1);
        }
        SYS_UMASK => d.mode(0),
        SYS_RENAME | SYS_LINK | SYS_SYMLINK => {
            d.path(0);
            d.path(1);
        }
        SYS_RENAMEAT | SYS_RENAMEAT2 | SYS_LINKAT => {
            d.dirfd(0);
            d.path(1);
            d.dirfd(2);
            d.path(3);
            if nr == SYS_RENAMEAT2 {
                d.flags(
                    4,
                    &[
                        (RENAME_NOREPLACE, "RENAME_NOREPLACE"),
                        (RENAME_EXCHANGE, "RENAME_EXCHANGE"),
                        (RENAME_WHITEOUT, "RENAME_WHITEOUT"),
                    ],
                    "0",
                );
            } else if nr == SYS_LINKAT {
                d.flags(4, AT_FLAGS, "0");
            }
        }
        SYS_SYMLINKAT => {
            d.path(0);
            d.dirfd(1);
            d.path(2);
        }
        SYS_READLINK => {
            d.path(0);
            d.out(Out::Buf(a[1]));
            d.ulong(2);
        }
        SYS_READLINKAT => {
            d.dirfd(0);
            d.path(1);
            d.out(Out::Buf(a[2]));
            d.ulong(3);
        }
        SYS_CHOWN | SYS_LCHOWN => {
            d.path(0);
            d.int(1);
            d.int(2);
        }
        SYS_FCHOWN => {
            d.int(0);
            d.int(1);
            d.int(2);
        }
        SYS_FCHOWNAT => {
            d.dirfd(0);
            d.path(1);
            d.int(2);
            d.int(3);
            d.flags(4, AT_FLAGS, "0");
        }
        SYS_TRUNCATE => {
            d.path(0);
            d.long(1);
        }
        SYS_FTRUNCATE => {
            d.int(0);
            d.long(1);
        }
        SYS_STATFS => {
            d.path(0);
            d.ptr(1);
        }
        SYS_UTIMENSAT => {
            d.dirfd(0);
            if a[1] == 0 {
                d.text("NULL".into());
            } else {
                d.path(1);
            }
            d.ptr(2);
            d.flags(3, AT_FLAGS, "0");
        }
        SYS_UNAME => d.out_ptr(0, Out::Uname(a[0])),
        SYS_NANOSLEEP => {
            let s = timespec_at(d.r, a[0]);
            d.text(s);
            d.ptr(1);
        }
        SYS_CLOCK_NANOSLEEP => {
            d.xlat(0, CLOCKS);
            d.flags(1, &[(guest_abi::misc::TIMER_ABSTIME as u64, "TIMER_ABSTIME")], "0");
            let s = timespec_at(d.r, a[2]);
            d.text(s);
            d.ptr(3);
        }
        SYS_CLOCK_GETTIME | SYS_CLOCK_GETRES => {
            d.xlat(0, CLOCKS);
            d.out_ptr(1, Out::Timespec(a[1]));
        }
        SYS_TIMER_CREATE => {
            d.xlat(0, CLOCKS);
            let s = sigevent_at(d.r, a[1]);
            d.text(s);
            d.out_ptr(2, Out::Int(a[2]));
        }
        SYS_TIMER_SETTIME => {
            d.int(0);
            d.flags(1, &[(guest_abi::misc::TIMER_ABSTIME as u64, "TIMER_ABSTIME")], "0");
            let s = itimerspec_at(d.r, a[2]);
            d.text(s);
            d.out_ptr(3, Out::Itimerspec(a[3]));
        }
        SYS_TIMER_GETTIME => {
            d.int(0);
            d.out_ptr(1, Out::Itimerspec(a[1]));
        }
        SYS_TIMER_GETOVERRUN | SYS_TIMER_DELETE => d.int(0),
        SYS_GETRLIMIT => {
            d.xlat(0, RLIMITS);
            d.out_ptr(1, Out::Rlimit(a[1]));
        }
        SYS_SETRLIMIT => {
            d.xlat(0, RLIMITS);
            let s = rlimit_at(d.r, a[1]);
            d.text(s);
        }
        SYS_PRLIMIT64 => {
            d.int(0);
            d.xlat(1, RLIMITS);
            let s = rlimit_at(d.r, a[2]);
            d.text(s);
            d.out_ptr(3, Out::Rlimit(a[3]));
        }
        SYS_ARCH_PRCTL => {
            d.xlat(0, ARCH_PRCTL);
            d.ptr(1);
        }
        SYS_SET_TID_ADDRESS => d.ptr(0),
        SYS_SET_ROBUST_LIST => {
            d.ptr(0);
            d.ulong(1);
        }
        SYS_GETRANDOM => {
            d.out(Out::Buf(a[0]));
            d.ulong(1);
            d.flags(2, GRND_FLAGS, "0");
        }
        SYS_ALARM => d.ulong(0),
        _ => d.raw(arity(nr)),
    }
    Decoded { slots: d.slots, ret: d.ret }
}

/// Decodes an output argument once the call returned `ret`. On failure
/// the pointer shows, as strace does.
pub(super) fn output(o: Out, ret: i64, r: &mut Reader, limit: usize) -> String {
    let failed = (-4095..0).contains(&ret);
    let addr = match o {
        Out::Buf(a)
        | Out::CStr(a)
        | Out::Stat(a)
        | Out::Statx(a)
        | Out::Pipe(a)
        | Out::Uname(a)
        | Out::Dirents(a)
        | Out::WaitStatus(a)
        | Out::SigAction(a)
        | Out::SigSet(a)
        | Out::Siginfo(a)
        | Out::Termios(a)
        | Out::WinSize(a)
        | Out::Int(a)
        | Out::Timespec(a)
        | Out::Itimerspec(a)
        | Out::Rlimit(a)
        | Out::Iov(a, _)
        | Out::SockAddr(a, _)
        | Out::SockLen(a) => a,
    };
    if failed {
        return ptr(addr);
    }
    let s = match o {
        Out::Buf(a) => Some(r.buffer(a, ret as u64, limit)),
        Out::CStr(a) if ret > 0 => r.cstr(a, super::fmt::PATH_MAX).map(|(b, cut)| quoted(&b, cut)),
        Out::CStr(_) => None,
        Out::Stat(a) => r.bytes(a, std::mem::size_of::<Stat>()).map(|b| {
            let st: Stat = bytemuck::pod_read_unaligned(&b);
            let mut s = format!("{{st_mode={}, ", file_mode(st.st_mode));
            match st.st_mode & S_IFMT {
                S_IFCHR | S_IFBLK => {
                    let _ = write!(
                        s,
                        "st_rdev=makedev({:#x}, {:#x})",
                        major(st.st_rdev),
                        minor(st.st_rdev)
                    );
                }
                _ => {
                    let _ = write!(s, "st_size={}", st.st_size);
                }
            }
            s.push_str(", ...}");
            s
        }),
        Out::Statx(a) => r.bytes(a, std::mem::size_of::<Statx>()).map(|b| {
            let st: Statx = bytemuck::pod_read_unaligned(&b);
            format!(
                "{{stx_mask={}, stx_attributes={}, stx_mode={}, stx_size={}, ...}}",
                statx_mask(st.stx_mask as u64),
                hex(st.stx_attributes),
                file_mode(st.stx_mode as u32),
                st.stx_size
            )
        }),
        Out::Pipe(a) => r.bytes(a, 8).map(|b| {
            format!(
                "[{}, {}]",
                i32::from_le_bytes(b[0..4].try_into().unwrap_or_default()),
                i32::from_le_bytes(b[4..8].try_into().unwrap_or_default())
            )
        }),
        Out::Uname(a) => r.bytes(a, 65 * 2).map(|b| {
            let field = |f: &[u8]| {
                let end = f.iter().position(|&c| c == 0).unwrap_or(f.len());
                quoted(&f[..end], false)
            };
            format!("{{sysname={}, nodename={}, ...}}", field(&b[..65]), field(&b[65..]))
        }),
        Out::Dirents(a) => {
            let len = (ret as usize).min(1 << 20);
            r.bytes(a, len).map(|b| {
                let mut n = 0;
                let mut off = 0;
                while off + 18 <= b.len() {
                    let reclen = u16::from_le_bytes([b[off + 16], b[off + 17]]) as usize;
                    if reclen == 0 {
                        break;
                    }
                    n += 1;
                    off += reclen;
                }
                format!("{} /* {n} entries */", ptr(a))
            })
        }
        Out::WaitStatus(a) if ret > 0 => r.i32(a).map(wait_status),
        Out::WaitStatus(_) => None,
        Out::SigAction(a) => r.bytes(a, 32).map(|b| sigaction(&b)),
        Out::SigSet(a) => r.u64(a).map(sigset),
        Out::Siginfo(a) => r
            .bytes(a, 128)
            .and_then(|b| <[u8; 128]>::try_from(b.as_slice()).ok())
            .map(|b| siginfo(&b)),
        Out::Termios(a) => r.bytes(a, 36).map(|b| termios(&b)),
        Out::WinSize(a) => r.bytes(a, 8).map(|b| winsize(&b)),
        Out::Int(a) => r.i32(a).map(|v| format!("[{v}]")),
        Out::Timespec(a) => Some(timespec_at(r, a)),
        Out::Itimerspec(a) => Some(itimerspec_at(r, a)),
        Out::Rlimit(a) => Some(rlimit_at(r, a)),
        Out::Iov(a, n) => Some(iovecs(r, a, n, Some(ret as u64), limit)),
        Out::SockAddr(a, lenp) => r.i32(lenp).map(|len| sockaddr(r, a, len.max(0) as u64)),
        Out::SockLen(a) => r.i32(a).map(|v| format!("[{v}]")),
    };
    s.unwrap_or_else(|| ptr(addr))
}

fn statx_mask(v: u64) -> String {
    flags(
        v,
        &[
            (STATX_BASIC_STATS as u64, "STATX_BASIC_STATS"),
            (STATX_BTIME as u64, "STATX_BTIME"),
            (STATX_MNT_ID, "STATX_MNT_ID"),
            (STATX_DIOALIGN, "STATX_DIOALIGN"),
            (STATX_TYPE as u64, "STATX_TYPE"),
            (STATX_MODE as u64, "STATX_MODE"),
            (STATX_NLINK as u64, "STATX_NLINK"),
            (STATX_UID as u64, "STATX_UID"),
            (STATX_GID as u64, "STATX_GID"),
            (STATX_ATIME as u64, "STATX_ATIME"),
            (STATX_MTIME as u64, "STATX_MTIME"),
            (STATX_CTIME as u64, "STATX_CTIME"),
            (STATX_INO as u64, "STATX_INO"),
            (STATX_SIZE as u64, "STATX_SIZE"),
            (STATX_BLOCKS as u64, "STATX_BLOCKS"),
        ],
        "0",
    )
}

/// `struct sigaction` (kernel layout): `{sa_handler=SIG_IGN, sa_mask=[],
/// sa_flags=SA_RESTORER, sa_restorer=0x...}`.
fn sigaction(b: &[u8]) -> String {
    let act: KSigAction = bytemuck::pod_read_unaligned(&b[..32]);
    let handler = match act.handler {
        SIG_DFL => "SIG_DFL".to_string(),
        SIG_IGN => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    let mut s = format!(
        "{{sa_handler={handler}, sa_mask={}, sa_flags={}",
        sigset(act.mask),
        flags(act.flags, SA_FLAGS, "0")
    );
    if act.flags & SA_RESTORER != 0 {
        let _ = write!(s, ", sa_restorer={}", ptr(act.restorer));
    }
    s.push('}');
    s
}

/// TCGETS/TCSETS: the four flag words by name, then `...`. strace also
/// names the zero-valued delay fields (`NL0|CR0|TAB0...`) and orders some
/// c_lflag bits by its own table; we print set bits in ascending order.
fn termios(b: &[u8]) -> String {
    let t: Termios = bytemuck::pod_read_unaligned(&b[..36]);
    let iflag: &[(u64, &str)] = &[
        (IGNBRK as u64, "IGNBRK"),
        (BRKINT as u64, "BRKINT"),
        (IGNPAR as u64, "IGNPAR"),
        (PARMRK as u64, "PARMRK"),
        (INPCK as u64, "INPCK"),
        (ISTRIP as u64, "ISTRIP"),
        (INLCR as u64, "INLCR"),
        (IGNCR as u64, "IGNCR"),
        (ICRNL as u64, "ICRNL"),
        (IUCLC as u64, "IUCLC"),
        (IXON as u64, "IXON"),
        (IXANY as u64, "IXANY"),
        (IXOFF as u64, "IXOFF"),
        (IMAXBEL as u64, "IMAXBEL"),
        (IUTF8 as u64, "IUTF8"),
    ];
    let oflag: &[(u64, &str)] = &[
        (OPOST as u64, "OPOST"),
        (OLCUC as u64, "OLCUC"),
        (ONLCR as u64, "ONLCR"),
        (OCRNL as u64, "OCRNL"),
        (ONOCR as u64, "ONOCR"),
        (ONLRET as u64, "ONLRET"),
    ];
    let lflag: &[(u64, &str)] = &[
        (ISIG as u64, "ISIG"),
        (ICANON as u64, "ICANON"),
        (ECHO as u64, "ECHO"),
        (ECHOE as u64, "ECHOE"),
        (ECHOK as u64, "ECHOK"),
        (ECHONL as u64, "ECHONL"),
        (NOFLSH as u64, "NOFLSH"),
        (TOSTOP as u64, "TOSTOP"),
        (ECHOCTL as u64, "ECHOCTL"),
        (ECHOPRT_, "ECHOPRT"),
        (ECHOKE as u64, "ECHOKE"),
        (FLUSHO as u64, "FLUSHO"),
        (PENDIN as u64, "PENDIN"),
        (IEXTEN as u64, "IEXTEN"),
    ];
    let c = t.c_cflag as u64;
    let mut cflag = match c & CBAUD as u64 {
        b if b == B38400 as u64 => "B38400".to_string(),
        0 => "B0".to_string(),
        b => format!("{b:#o}"),
    };
    let _ = write!(cflag, "|CS{}", ((c & CSIZE as u64) >> 4) + 5);
    let rest = c & !(CBAUD as u64 | CSIZE as u64);
    if rest != 0 {
        cflag.push('|');
        cflag.push_str(&flags(
            rest,
            &[
                (CSTOPB, "CSTOPB"),
                (CREAD as u64, "CREAD"),
                (PARENB, "PARENB"),
                (PARODD, "PARODD"),
                (HUPCL as u64, "HUPCL"),
                (CLOCAL as u64, "CLOCAL"),
                (CRTSCTS, "CRTSCTS"),
            ],
            "0",
        ));
    }
    format!(
        "{{c_iflag={}, c_oflag={}, c_cflag={cflag}, c_lflag={}, ...}}",
        flags(t.c_iflag as u64, iflag, "0"),
        flags(t.c_oflag as u64, oflag, "0"),
        flags(t.c_lflag as u64, lflag, "0")
    )
}

fn winsize(b: &[u8]) -> String {
    let w: WinSize = bytemuck::pod_read_unaligned(&b[..8]);
    format!(
        "{{ws_row={}, ws_col={}, ws_xpixel={}, ws_ypixel={}}}",
        w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel
    )
}

fn timespec_at(r: &mut Reader, a: u64) -> String {
    match r.bytes(a, 16) {
        Some(b) if a != 0 => {
            let t: guest_abi::misc::Timespec = bytemuck::pod_read_unaligned(&b);
            format!("{{tv_sec={}, tv_nsec={}}}", t.tv_sec, t.tv_nsec)
        }
        _ => ptr(a),
    }
}

/// `{it_interval={tv_sec=0, tv_nsec=0}, it_value={tv_sec=1, tv_nsec=0}}`.
fn itimerspec_at(r: &mut Reader, a: u64) -> String {
    if a == 0 {
        return ptr(a);
    }
    let (i, v) = (timespec_at(r, a), timespec_at(r, a + 16));
    if i.starts_with('{') && v.starts_with('{') {
        format!("{{it_interval={i}, it_value={v}}}")
    } else {
        ptr(a)
    }
}

/// `{sigev_value={sival_int=42, sival_ptr=0x2a}, sigev_signo=SIGUSR1,
/// sigev_notify=SIGEV_SIGNAL}` (strace's form).
fn sigevent_at(r: &mut Reader, a: u64) -> String {
    use guest_abi::signal::*;
    let Some(b) = r.bytes(a, 64).filter(|_| a != 0) else { return ptr(a) };
    let ev: Sigevent = bytemuck::pod_read_unaligned(&b);
    let value = format!(
        "{{sival_int={}, sival_ptr={}}}",
        ev.sigev_value as u32 as i32,
        hex(ev.sigev_value)
    );
    let notify = match ev.sigev_notify {
        SIGEV_SIGNAL => "SIGEV_SIGNAL".to_string(),
        SIGEV_NONE => "SIGEV_NONE".to_string(),
        SIGEV_THREAD => "SIGEV_THREAD".to_string(),
        SIGEV_THREAD_ID => format!("SIGEV_THREAD_ID, sigev_notify_thread_id={}", ev.sigev_tid),
        n => n.to_string(),
    };
    format!(
        "{{sigev_value={value}, sigev_signo={}, sigev_notify={notify}}}",
        signame(ev.sigev_signo as i64)
    )
}

fn rlimit_at(r: &mut Reader, a: u64) -> String {
    let lim = |v: u64| {
        if v == u64::MAX {
            "RLIM64_INFINITY".to_string()
        } else if v > 1024 && v.is_multiple_of(1024) {
            format!("{}*1024", v / 1024)
        } else {
            v.to_string()
        }
    };
    match r.bytes(a, 16) {
        Some(b) if a != 0 => {
            let l: guest_abi::misc::Rlimit = bytemuck::pod_read_unaligned(&b);
            format!("{{rlim_cur={}, rlim_max={}}}", lim(l.rlim_cur), lim(l.rlim_max))
        }
        _ => ptr(a),
    }
}

/// `[{fd=3, events=POLLIN}, ...]` (at most `limit` entries, as strace),
/// or with `revents` only the entries that have some.
pub(super) fn pollfds(r: &mut Reader, a: u64, n: u64, limit: usize, revents: bool) -> String {
    let shown = (n as usize).min(limit).min(1 << 16);
    let Some(b) = r.bytes(a, shown * 8) else {
        return ptr(a);
    };
    let mut s = String::from("[");
    let mut first = true;
    for e in b.chunks_exact(8) {
        let fd = i32::from_le_bytes(e[0..4].try_into().unwrap_or_default());
        let ev = i16::from_le_bytes(e[4..6].try_into().unwrap_or_default()) as u16 as u64;
        let rev = i16::from_le_bytes(e[6..8].try_into().unwrap_or_default()) as u16 as u64;
        if revents && rev == 0 {
            continue;
        }
        if !first {
            s.push_str(", ");
        }
        first = false;
        if revents {
            let _ = write!(s, "{{fd={fd}, revents={}}}", flags(rev, POLL, "0"));
        } else {
            let _ = write!(s, "{{fd={fd}, events={}}}", flags(ev, POLL, "0"));
        }
    }
    if n as usize > shown {
        s.push_str(if first { "..." } else { ", ..." });
    }
    s.push(']');
    s
}

/// `[{iov_base="hello", iov_len=5}, ...]`; for readv, `filled` is the
/// byte count the call returned, spread over the buffers in order.
fn iovecs(r: &mut Reader, a: u64, n: u64, filled: Option<u64>, limit: usize) -> String {
    let shown = (n as usize).min(limit).min(1024);
    let Some(b) = r.bytes(a, shown * 16) else {
        return ptr(a);
    };
    let mut left = filled;
    let mut s = String::from("[");
    for (i, e) in b.chunks_exact(16).enumerate() {
        let base = u64::from_le_bytes(e[0..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(e[8..16].try_into().unwrap_or_default());
        if i > 0 {
            s.push_str(", ");
        }
        let data_len = match left {
            Some(l) => {
                let d = l.min(len);
                left = Some(l - d);
                d
            }
            None => len,
        };
        let _ = write!(s, "{{iov_base={}, iov_len={len}}}", r.buffer(base, data_len, limit));
    }
    if n as usize > shown {
        s.push_str(", ...");
    }
    s.push(']');
    s
}

/// execve's argv: `["ls", "-l"]`, each string cut at `limit` bytes and at
/// most `limit` strings, then `...` (strace's rule for both).
fn string_array(r: &mut Reader, a: u64, limit: usize) -> String {
    if a == 0 {
        return "NULL".into();
    }
    let mut s = String::from("[");
    let mut i = 0u64;
    loop {
        let Some(p) = r.u64(a.wrapping_add(i * 8)) else {
            return if i == 0 { ptr(a) } else { s + "...]" };
        };
        if p == 0 {
            break;
        }
        if i > 0 {
            s.push_str(", ");
        }
        if i as usize >= limit {
            s.push_str("...");
            break;
        }
        s.push_str(&r.string(p, limit));
        i += 1;
    }
    s.push(']');
    s
}

/// execve's envp: `0x7ffc... /* 35 vars */` (strace's default, non-verbose form).
fn env_count(r: &mut Reader, a: u64) -> String {
    if a == 0 {
        return "NULL".into();
    }
    let mut n = 0u64;
    while n < 1 << 20 {
        match r.u64(a.wrapping_add(n * 8)) {
            Some(0) => return format!("{a:#x} /* {n} vars */"),
            Some(_) => n += 1,
            None => break,
        }
    }
    ptr(a)
}

/// sockaddr_in and sockaddr_in6 as strace shows them:
/// `{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}`,
/// `{sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0),
/// inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}`. None when
/// too short to be one (the generic form is printed then).
fn sockaddr_inet(fam: i64, b: &[u8]) -> Option<String> {
    let port = || u16::from_be_bytes([b[2], b[3]]);
    match fam {
        2 if b.len() >= 8 => {
            let a = std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Some(format!(
                "{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{a}\")}}",
                port()
            ))
        }
        10 if b.len() >= 24 => {
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            let a = std::net::Ipv6Addr::from(o);
            let scope = match b.get(24..28) {
                Some(s) => {
                    format!(", sin6_scope_id={}", u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
                }
                None => String::new(),
            };
            Some(format!(
                "{{sa_family=AF_INET6, sin6_port=htons({}), sin6_flowinfo=htonl({flow}), inet_pton(AF_INET6, \"{a}\", &sin6_addr){scope}}}",
                port()
            ))
        }
        _ => None,
    }
}

/// include/linux/socket.h, the families a program is likely to name.
const ADDRESS_FAMILIES: &[(i64, &str)] = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
];

/// include/linux/net.h socket types and the SOCK_* flags.
const SOCK_FLAGS: &[(u64, &str)] = &[(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")];

/// include/linux/socket.h MSG_* flags.
const MSG_FLAGS: &[(u64, &str)] = &[
    (0x1, "MSG_OOB"),
    (0x2, "MSG_PEEK"),
    (0x4, "MSG_DONTROUTE"),
    (0x8, "MSG_CTRUNC"),
    (0x20, "MSG_TRUNC"),
    (0x40, "MSG_DONTWAIT"),
    (0x80, "MSG_EOR"),
    (0x100, "MSG_WAITALL"),
    (0x4000, "MSG_NOSIGNAL"),
    (0x8000, "MSG_MORE"),
    (0x4000_0000, "MSG_CMSG_CLOEXEC"),
];

/// `SOCK_STREAM|SOCK_CLOEXEC`, as strace prints a socket type.
fn socket_type(v: u64) -> String {
    let v = v & 0xffff_ffff;
    let ty = match v & 0xf {
        1 => "SOCK_STREAM".to_string(),
        2 => "SOCK_DGRAM".into(),
        3 => "SOCK_RAW".into(),
        4 => "SOCK_RDM".into(),
        5 => "SOCK_SEQPACKET".into(),
        t => format!("{t:#x}"),
    };
    let rest = v & !0xf;
    if rest == 0 {
        ty
    } else {
        format!("{ty}|{}", flags(rest, SOCK_FLAGS, "0"))
    }
}

/// A socket address of `len` bytes: `{sa_family=AF_UNIX,
/// sun_path="/run/x"}`, abstract names as strace shows them
/// (`sun_path=@"name"`).
pub(super) fn sockaddr(r: &mut Reader, a: u64, len: u64) -> String {
    if a == 0 {
        return "NULL".into();
    }
    let len = (len as usize).min(128);
    let Some(b) = r.bytes(a, len) else {
        return ptr(a);
    };
    if b.len() < 2 {
        return format!("{{sa_family=??}}");
    }
    let fam = u16::from_le_bytes([b[0], b[1]]) as i64;
    let fam_s = xlat(fam, ADDRESS_FAMILIES);
    if let Some(s) = sockaddr_inet(fam, &b) {
        return s;
    }
    if fam != 1 || b.len() == 2 {
        return format!("{{sa_family={fam_s}}}");
    }
    let path = &b[2..];
    if path[0] == 0 {
        return format!("{{sa_family=AF_UNIX, sun_path=@{}}}", quoted(&path[1..], false));
    }
    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    format!("{{sa_family=AF_UNIX, sun_path={}}}", quoted(&path[..end], false))
}

#[cfg(test)]
mod inet_sockaddr_tests {
    use super::sockaddr_inet;

    #[test]
    fn sockaddr_in_reads_like_strace() {
        let b = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            sockaddr_inet(2, &b).unwrap(),
            "{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}"
        );
    }

    #[test]
    fn sockaddr_in6_shows_mapped_addresses() {
        let mut b = vec![10, 0, 0, 80, 0, 0, 0, 0];
        b.extend_from_slice(&std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
        b.extend_from_slice(&[0, 0, 0, 0]);
        let s = sockaddr_inet(10, &b).unwrap();
        assert!(s.contains("htons(80)") && s.contains("\"::ffff:127.0.0.1\""), "{s}");
        assert!(sockaddr_inet(10, &b[..20]).is_none());
    }
}
