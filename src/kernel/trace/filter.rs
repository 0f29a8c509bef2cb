//! `--trace-filter=SPEC`: which syscalls are traced, strace `-e trace=` style.
//!
//! SPEC is a comma-separated list of class names (`file`, `process`,
//! `signal`, `network`, `memory`, `desc`, `ipc`, optionally written `%file`
//! as strace does), syscall names (`openat`), `all` or `none`. A leading
//! `!` negates the whole list (`!memory,read`). An optional `trace=` prefix
//! is accepted so strace habits work. The classes follow strace's
//! definitions (TRACE_FILE: takes a file name; TRACE_DESC: takes or returns
//! a descriptor; ...), listed below.

use guest_abi::sysno;

/// Syscall numbers the bitset covers; numbers beyond it (there are none on
/// x86_64 today) follow the filter's "everything else" answer.
const BITS: usize = 512;
const WORDS: usize = BITS / 64;

const FILE: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "execve",
    "execveat",
    "truncate",
    "chdir",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmodat",
    "chown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "mknod",
    "mknodat",
    "uselib",
    "statfs",
    "pivot_root",
    "chroot",
    "acct",
    "mount",
    "umount2",
    "swapon",
    "swapoff",
    "quotactl",
    "setxattr",
    "lsetxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "removexattr",
    "lremovexattr",
    "inotify_add_watch",
    "fanotify_mark",
    "name_to_handle_at",
    "open_tree",
    "move_mount",
    "fspick",
    "mount_setattr",
];

const PROCESS: &[&str] = &[
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "unshare",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
];

const SIGNAL: &[&str] = &[
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "kill",
    "tkill",
    "tgkill",
    "pause",
    "signalfd",
    "signalfd4",
    "pidfd_send_signal",
];

const NETWORK: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
];

const MEMORY: &[&str] = &[
    "mmap",
    "munmap",
    "mprotect",
    "pkey_mprotect",
    "brk",
    "mremap",
    "msync",
    "mincore",
    "madvise",
    "process_madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "migrate_pages",
    "move_pages",
    "remap_file_pages",
    "shmat",
    "shmdt",
    "memfd_secret",
];

const DESC: &[&str] = &[
    "read",
    "write",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "fstat",
    "newfstatat",
    "statx",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "lseek",
    "mmap",
    "ioctl",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "pipe",
    "pipe2",
    "dup",
    "dup2",
    "dup3",
    "sendfile",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "fallocate",
    "getdents",
    "getdents64",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fstatfs",
    "readahead",
    "fadvise64",
    "fsetxattr",
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_init",
    "fanotify_mark",
    "memfd_create",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    "sync_file_range",
    "syncfs",
    "faccessat",
    "faccessat2",
    "mkdirat",
    "mknodat",
    "unlinkat",
    "renameat",
    "renameat2",
    "linkat",
    "symlinkat",
    "readlinkat",
    "utimensat",
    "futimesat",
    "execveat",
    "name_to_handle_at",
    "open_by_handle_at",
    "pidfd_open",
    "pidfd_getfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "perf_event_open",
    "bpf",
];

const IPC: &[&str] = &[
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
];

/// The classes `parse` knows, with their members. Like strace's, %desc
/// also takes every socket call, since each one takes or returns an fd.
pub const CLASSES: &[(&str, &[&[&str]])] = &[
    ("file", &[FILE]),
    ("process", &[PROCESS]),
    ("signal", &[SIGNAL]),
    ("network", &[NETWORK]),
    ("memory", &[MEMORY]),
    ("desc", &[DESC, NETWORK]),
    ("ipc", &[IPC]),
];

/// The syscall number of `name`, if x86_64 has it.
pub fn number(name: &str) -> Option<usize> {
    (0..sysno::NR_SYSCALLS).find(|&nr| sysno::name(nr) == Some(name))
}

/// Which syscalls to trace: a bitset over syscall numbers, so [`wants`]
/// is one shift and mask on the hot path.
///
/// [`wants`]: TraceFilter::wants
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFilter {
    bits: [u64; WORDS],
    /// The answer for numbers beyond the bitset.
    others: bool,
}

impl TraceFilter {
    /// Every syscall.
    pub fn all() -> Self {
        TraceFilter { bits: [!0; WORDS], others: true }
    }

    /// No syscall (signals and exits are still shown by the tracer).
    pub fn none() -> Self {
        TraceFilter { bits: [0; WORDS], others: false }
    }

    /// Parses an strace `-e trace=` style list; see the module doc.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let s = spec.trim();
        let s = s.strip_prefix("trace=").unwrap_or(s);
        let (negate, list) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if list.trim().is_empty() {
            return Err(format!("empty trace filter '{spec}': expected syscall names or classes (file, process, signal, network, memory, desc, ipc)"));
        }
        let mut f = TraceFilter::none();
        for item in list.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("empty item in trace filter '{spec}'"));
            }
            let class = item.strip_prefix('%').unwrap_or(item);
            if item == "all" {
                f = TraceFilter::all();
            } else if item == "none" {
                // Adds nothing.
            } else if let Some((_, lists)) = CLASSES.iter().find(|(c, _)| *c == class) {
                for name in lists.iter().flat_map(|l| l.iter()) {
                    if let Some(nr) = number(name) {
                        f.set(nr);
                    }
                }
            } else if let Some(nr) = number(item) {
                f.set(nr);
            } else if item.starts_with('%') {
                return Err(format!(
                    "unknown syscall class '{item}' in trace filter: known classes are {}",
                    CLASSES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                ));
            } else {
                return Err(format!(
                    "unknown syscall or class '{item}' in trace filter (classes: {}; or x86_64 syscall names like openat)",
                    CLASSES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if negate {
            for w in &mut f.bits {
                *w = !*w;
            }
            f.others = !f.others;
        }
        Ok(f)
    }

    fn set(&mut self, nr: usize) {
        if nr < BITS {
            self.bits[nr / 64] |= 1 << (nr % 64);
        }
    }

    /// Whether syscall `nr` is traced: O(1).
    #[inline]
    pub fn wants(&self, nr: usize) -> bool {
        if nr < BITS {
            self.bits[nr / 64] & (1 << (nr % 64)) != 0
        } else {
            self.others
        }
    }
}

impl Default for TraceFilter {
    fn default() -> Self {
        TraceFilter::all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guest_abi::sysno::*;

    #[test]
    fn every_class_member_is_a_real_syscall_name() {
        for (class, lists) in CLASSES {
            for name in lists.iter().flat_map(|l| l.iter()) {
                assert!(number(name).is_some(), "{class}: {name} is not an x86_64 syscall");
            }
        }
    }

    #[test]
    fn all_wants_everything_including_unknown_numbers() {
        let f = TraceFilter::all();
        assert!(f.wants(SYS_READ) && f.wants(SYS_SET_MEMPOLICY_HOME_NODE) && f.wants(100_000));
    }

    #[test]
    fn names_select_only_those_syscalls() {
        let f = TraceFilter::parse("openat,close").unwrap();
        assert!(f.wants(SYS_OPENAT) && f.wants(SYS_CLOSE));
        assert!(!f.wants(SYS_READ) && !f.wants(SYS_OPEN) && !f.wants(100_000));
    }

    #[test]
    fn classes_select_their_members() {
        let f = TraceFilter::parse("file").unwrap();
        assert!(f.wants(SYS_OPENAT) && f.wants(SYS_STAT) && f.wants(SYS_EXECVE));
        assert!(!f.wants(SYS_READ) && !f.wants(SYS_CLOSE) && !f.wants(SYS_MMAP));
        let f = TraceFilter::parse("%process,%memory").unwrap();
        assert!(f.wants(SYS_CLONE) && f.wants(SYS_WAIT4) && f.wants(SYS_MMAP) && f.wants(SYS_BRK));
        assert!(!f.wants(SYS_OPENAT));
        let f = TraceFilter::parse("desc").unwrap();
        assert!(
            f.wants(SYS_READ) && f.wants(SYS_CLOSE) && f.wants(SYS_OPENAT) && !f.wants(SYS_STAT)
        );
        assert!(f.wants(SYS_SOCKET) && f.wants(SYS_RECVMSG) && !f.wants(SYS_KILL));
        let f = TraceFilter::parse("signal,network,ipc").unwrap();
        assert!(
            f.wants(SYS_RT_SIGACTION)
                && f.wants(SYS_KILL)
                && f.wants(SYS_SOCKET)
                && f.wants(SYS_SHMGET)
        );
        assert!(!f.wants(SYS_READ));
    }

    #[test]
    fn negation_inverts_the_whole_list() {
        let f = TraceFilter::parse("!memory,read").unwrap();
        assert!(!f.wants(SYS_MMAP) && !f.wants(SYS_READ) && !f.wants(SYS_BRK));
        assert!(f.wants(SYS_OPENAT) && f.wants(SYS_WRITE) && f.wants(100_000));
    }

    #[test]
    fn strace_prefix_spaces_all_and_none_are_accepted() {
        let f = TraceFilter::parse("trace=openat, read").unwrap();
        assert!(f.wants(SYS_OPENAT) && f.wants(SYS_READ) && !f.wants(SYS_WRITE));
        assert_eq!(TraceFilter::parse("all").unwrap(), TraceFilter::all());
        assert_eq!(TraceFilter::parse("none").unwrap(), TraceFilter::none());
        assert_eq!(TraceFilter::parse("!none").unwrap(), TraceFilter::all());
    }

    #[test]
    fn unknown_names_and_empty_specs_are_clear_errors() {
        let e = TraceFilter::parse("openat,frobnicate").unwrap_err();
        assert!(e.contains("'frobnicate'"), "{e}");
        assert!(e.contains("file, process"), "{e}");
        let e = TraceFilter::parse("%bogus").unwrap_err();
        assert!(e.contains("unknown syscall class '%bogus'"), "{e}");
        assert!(TraceFilter::parse("").is_err());
        assert!(TraceFilter::parse("!").is_err());
        assert!(TraceFilter::parse("read,,write").is_err());
    }
}
