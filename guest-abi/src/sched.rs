//! clone(2) flags (include/uapi/linux/sched.h) and wait options
//! (include/uapi/linux/wait.h).

pub const CSIGNAL: u64 = 0x0000_00ff;
pub const CLONE_VM: u64 = 0x0000_0100;
pub const CLONE_FS: u64 = 0x0000_0200;
pub const CLONE_FILES: u64 = 0x0000_0400;
pub const CLONE_SIGHAND: u64 = 0x0000_0800;
pub const CLONE_PIDFD: u64 = 0x0000_1000;
pub const CLONE_PTRACE: u64 = 0x0000_2000;
pub const CLONE_VFORK: u64 = 0x0000_4000;
pub const CLONE_PARENT: u64 = 0x0000_8000;
pub const CLONE_THREAD: u64 = 0x0001_0000;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_SYSVSEM: u64 = 0x0004_0000;
pub const CLONE_SETTLS: u64 = 0x0008_0000;
pub const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
pub const CLONE_DETACHED: u64 = 0x0040_0000;
pub const CLONE_UNTRACED: u64 = 0x0080_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x0100_0000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
pub const CLONE_IO: u64 = 0x8000_0000;
/// Every namespace flag: umk has no namespaces yet.
pub const CLONE_NEW_ANY: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

pub const WNOHANG: i32 = 0x0000_0001;
pub const WUNTRACED: i32 = 0x0000_0002;
pub const WSTOPPED: i32 = WUNTRACED;
pub const WEXITED: i32 = 0x0000_0004;
pub const WCONTINUED: i32 = 0x0000_0008;
pub const WNOWAIT: i32 = 0x0100_0000;
pub const __WNOTHREAD: i32 = 0x2000_0000;
pub const __WALL: i32 = 0x4000_0000;
pub const __WCLONE: i32 = 0x8000_0000u32 as i32;

pub const P_ALL: i32 = 0;
pub const P_PID: i32 = 1;
pub const P_PGID: i32 = 2;
pub const P_PIDFD: i32 = 3;

/// clone3's flags beyond 32 bits.
pub const CLONE_CLEAR_SIGHAND: u64 = 1 << 32;
pub const CLONE_INTO_CGROUP: u64 = 1 << 33;
/// clone3 reuses CLONE_NEWTIME, which lies in the CSIGNAL byte for clone.
pub const CLONE_NEWTIME: u64 = 0x80;

/// `struct clone_args` (include/uapi/linux/sched.h), as of Linux 5.7.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}
/// The first version of the struct (Linux 5.3): up to `tls`.
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// Linux 5.5 added `set_tid` and `set_tid_size`.
pub const CLONE_ARGS_SIZE_VER1: usize = 80;
/// Linux 5.7 added `cgroup`.
pub const CLONE_ARGS_SIZE_VER2: usize = 88;
/// The deepest pid namespace nesting (include/linux/pid_namespace.h): the
/// longest `set_tid` array clone3 accepts before looking at namespaces.
pub const MAX_PID_NS_LEVEL: u64 = 32;

// Scheduling policies (include/uapi/linux/sched.h).
pub const SCHED_NORMAL: i32 = 0;
pub const SCHED_FIFO: i32 = 1;
pub const SCHED_RR: i32 = 2;
pub const SCHED_BATCH: i32 = 3;
pub const SCHED_IDLE: i32 = 5;
pub const SCHED_DEADLINE: i32 = 6;
/// Or'ed into a policy: children start with default scheduling.
pub const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;
/// Highest SCHED_FIFO/SCHED_RR priority (MAX_RT_PRIO - 1).
pub const MAX_USER_RT_PRIO: i32 = 100;

/// `struct sched_param`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SchedParam {
    pub sched_priority: i32,
}

// getpriority/setpriority targets (include/uapi/linux/resource.h).
pub const PRIO_PROCESS: i32 = 0;
pub const PRIO_PGRP: i32 = 1;
pub const PRIO_USER: i32 = 2;

/// pidfd_open's flags (include/uapi/linux/pidfd.h): PIDFD_NONBLOCK is
/// O_NONBLOCK, PIDFD_THREAD (Linux 6.9) is O_EXCL.
pub const PIDFD_NONBLOCK: u32 = 0o4000;
pub const PIDFD_THREAD: u32 = 0o200;
/// pidfd_send_signal's flags (Linux 6.9): whom the signal is for.
pub const PIDFD_SIGNAL_THREAD: u32 = 1 << 0;
pub const PIDFD_SIGNAL_THREAD_GROUP: u32 = 1 << 1;
pub const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 1 << 2;
