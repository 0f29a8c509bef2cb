//! The seccomp filter every guest process runs under.
//!
//! A classic BPF program over `struct seccomp_data` (include/uapi/linux/
//! seccomp.h): nr at 0, arch at 4, instruction_pointer at 8, args at 16.
//! Verdicts:
//!
//! * a foreign architecture (i386 `int 0x80`, x32) is killed outright:
//!   umk only speaks the x86_64 ABI, and a second ABI is a second way in;
//! * a call made from the stub's injection site *and* carrying the VM's
//!   secret in its sixth argument register is allowed: that is umk itself
//!   running mmap/mprotect inside the guest while it loads a program. The
//!   guest can jump to the stub too, but cannot know the secret;
//! * the reviewed list below runs natively: each call only touches the
//!   calling process's own memory, signal state or time;
//! * getpid and gettid go to umk's listener (`SECCOMP_RET_USER_NOTIF`,
//!   see unotify.rs) unless every call must stop for --trace or --stats;
//! * everything else traps to umk (`SECCOMP_RET_TRACE`). With no tracer
//!   attached a traced call fails with ENOSYS: the filter fails closed.

use guest_abi::mman::{MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE};
use guest_abi::signal::SIGCHLD;
use guest_abi::sysno::*;

const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_JMP: u16 = 0x05;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;
const BPF_ALU: u16 = 0x04;
const BPF_AND: u16 = 0x50;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP: u32 = 8;
const fn off_arg(i: u32) -> u32 {
    16 + 8 * i
}

/// System calls that run natively, without a stop. Each is safe because
/// it acts only on the caller's own memory, signal state or clocks, and
/// takes no pid, fd or path. Anything added here must keep that true.
pub const NATIVE: &[(usize, &str)] = &[
    (SYS_MUNMAP, "own memory"),
    (SYS_MPROTECT, "own memory"),
    (SYS_MADVISE, "own memory"),
    (SYS_MREMAP, "own memory"),
    (SYS_MINCORE, "own memory"),
    (SYS_MLOCK, "own memory"),
    (SYS_MUNLOCK, "own memory"),
    (SYS_MSYNC, "own memory (shared file mappings are of host memfds, already the file's data)"),
    (SYS_RT_SIGACTION, "own signal dispositions, kept by the host kernel"),
    (SYS_RT_SIGPROCMASK, "own signal mask"),
    (SYS_RT_SIGRETURN, "returns from a native signal frame"),
    (SYS_RT_SIGPENDING, "own pending set"),
    (SYS_RT_SIGSUSPEND, "waits for a signal; umk delivers guest signals as host signals"),
    (SYS_SIGALTSTACK, "own signal stack"),
    (SYS_PAUSE, "waits for a signal"),
    (SYS_FUTEX, "futex words in own memory; the PI operations, whose words hold tids, stop"),
    (SYS_RSEQ, "own memory"),
    (SYS_ARCH_PRCTL, "own thread's FS/GS base"),
    (SYS_SCHED_YIELD, "no state"),
    (SYS_NANOSLEEP, "sleeps; interrupted by host signals like Linux"),
    (SYS_CLOCK_NANOSLEEP, "sleeps"),
    (SYS_CLOCK_GETTIME, "guest time is host time"),
    (SYS_CLOCK_GETRES, "guest time is host time"),
    (SYS_GETTIMEOFDAY, "guest time is host time"),
    (SYS_TIME, "guest time is host time"),
    (SYS_RESTART_SYSCALL, "restarts a native sleep"),
    (SYS_GETRANDOM, "writes own memory"),
    (SYS_EXIT, "ends the calling thread; umk sees the exit"),
    (SYS_EXIT_GROUP, "ends the calling process; umk sees the exit"),
];

/// Native calls the filter still stops for some arguments (see
/// `build_filter`); their handlers let the host run them.
pub const STOPS_FOR_SOME_ARGS: &[usize] =
    &[SYS_RT_SIGACTION, SYS_CLOCK_GETTIME, SYS_CLOCK_GETRES, SYS_CLOCK_NANOSLEEP, SYS_FUTEX];

#[repr(C)]
#[derive(Clone, Copy)]
pub struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Builds the filter. `inject_ip` is the address right after the stub's
/// `syscall` instruction; `secret` the per-VM value in r9 that marks
/// umk's own injected calls.
pub fn build_filter(inject_ip: u64, secret: u64, trap_all: bool, notify: bool) -> Vec<SockFilter> {
    let mut p = Vec::new();
    let ld = |off| stmt(BPF_LD | BPF_W | BPF_ABS, off);
    let ret = |v| stmt(BPF_RET | BPF_K, v);

    // Foreign ABIs die.
    p.push(ld(OFF_ARCH));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    p.push(ret(SECCOMP_RET_KILL_PROCESS));
    p.push(ld(OFF_NR));
    p.push(jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
    p.push(ret(SECCOMP_RET_KILL_PROCESS));

    // umk's own injected calls: ip == inject_ip && r9 == secret. Each
    // mismatch jumps past the ALLOW (the count of remaining checks).
    let parts = [
        (OFF_IP, inject_ip as u32),
        (OFF_IP + 4, (inject_ip >> 32) as u32),
        (off_arg(5), secret as u32),
        (off_arg(5) + 4, (secret >> 32) as u32),
    ];
    for (i, (off, val)) in parts.iter().enumerate() {
        let remaining = (parts.len() - i - 1) as u8;
        p.push(ld(*off));
        // on mismatch skip the remaining (ld, jeq) pairs and the ALLOW
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *val, 0, remaining * 2 + 1));
    }
    p.push(ret(SECCOMP_RET_ALLOW));

    if trap_all {
        // --trace: every call stops, so the trace is complete.
        p.push(ret(SECCOMP_RET_TRACE));
        return p;
    }

    // getpid and gettid go to umk's listener, without a stop (unotify.rs).
    if notify {
        let calls = super::unotify::NOTIFIED;
        p.push(ld(OFF_NR));
        for (i, nr) in calls.iter().enumerate() {
            // on match jump to the USER_NOTIF after the list
            p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *nr as u32, (calls.len() - i - 1) as u8 + 1, 0));
        }
        p.push(stmt(BPF_JMP | BPF_JA, 1)); // none of them: past the return
        p.push(ret(super::unotify::SECCOMP_RET_USER_NOTIF));
    }

    // Anonymous, non-fixed mmap runs natively: the host picks a free
    // address, so it cannot replace anything. File-backed and fixed
    // mappings trap (guest fds are umk's objects; fixed mappings are
    // checked by umk).
    p.push(ld(OFF_NR));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_MMAP as u32, 0, 5));
    p.push(ld(off_arg(3)));
    p.push(jump(BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS as u32, 0, 2));
    p.push(jump(BPF_JMP | BPF_JSET | BPF_K, (MAP_FIXED | MAP_FIXED_NOREPLACE) as u32, 1, 0));
    p.push(ret(SECCOMP_RET_ALLOW));
    p.push(ret(SECCOMP_RET_TRACE));

    // rt_sigaction(SIGCHLD) stops: SA_NOCLDWAIT and SA_NOCLDSTOP are acted
    // on by the parent's kernel, which is umk. Other signals run natively.
    p.push(ld(OFF_NR));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_RT_SIGACTION as u32, 0, 3));
    p.push(ld(off_arg(0)));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SIGCHLD as u32, 0, 1));
    p.push(ret(SECCOMP_RET_TRACE));

    // Clock calls on a negative clock id stop: it names a process's or
    // thread's CPU clock by pid (or a clock device by fd), which umk
    // translates; the host's pids are not the guest's.
    p.push(ld(OFF_NR));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_CLOCK_GETTIME as u32, 2, 0));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_CLOCK_GETRES as u32, 1, 0));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_CLOCK_NANOSLEEP as u32, 0, 3));
    p.push(ld(off_arg(0)));
    p.push(jump(BPF_JMP | BPF_JSET | BPF_K, 0x8000_0000, 0, 1));
    p.push(ret(SECCOMP_RET_TRACE));

    // PI futex operations stop: the host would look the owner up by the
    // tid in the word, a virtual tid that may name an unrelated host task.
    // umk emulates them (kernel/futex/pi.rs). The others run natively.
    use guest_abi::futex::*;
    let pi_ops = [
        FUTEX_LOCK_PI,
        FUTEX_UNLOCK_PI,
        FUTEX_TRYLOCK_PI,
        FUTEX_WAIT_REQUEUE_PI,
        FUTEX_CMP_REQUEUE_PI,
        FUTEX_LOCK_PI2,
    ];
    let n = pi_ops.len() as u8;
    p.push(ld(OFF_NR));
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_FUTEX as u32, 0, n + 4));
    p.push(ld(off_arg(1)));
    p.push(stmt(BPF_ALU | BPF_AND | BPF_K, FUTEX_CMD_MASK));
    for (i, op) in pi_ops.iter().enumerate() {
        // on match jump to the TRACE after the ALLOW
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *op, n - i as u8, 0));
    }
    p.push(ret(SECCOMP_RET_ALLOW));
    p.push(ret(SECCOMP_RET_TRACE));

    // The reviewed list.
    p.push(ld(OFF_NR));
    let n = NATIVE.len();
    for (i, (nr, _)) in NATIVE.iter().enumerate() {
        // on match jump to the ALLOW after the list
        let to_allow = (n - i - 1 + 1) as u8;
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *nr as u32, to_allow, 0));
    }
    p.push(ret(SECCOMP_RET_TRACE));
    p.push(ret(SECCOMP_RET_ALLOW));
    p
}

/// Whether a syscall number runs natively (for the syscall table's notes).
pub fn is_native(nr: usize) -> bool {
    NATIVE.iter().any(|(n, _)| *n == nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a filter over one `struct seccomp_data` as the kernel would
    /// (only the instructions build_filter emits).
    fn run(f: &[SockFilter], nr: usize, ip: u64, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
        data[4..8].copy_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
        data[8..16].copy_from_slice(&ip.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let ins = f[pc];
            pc += 1;
            let cond = |taken: bool| if taken { ins.jt as usize } else { ins.jf as usize };
            match ins.code {
                c if c == BPF_LD | BPF_W | BPF_ABS => {
                    let k = ins.k as usize;
                    acc = u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]]);
                }
                c if c == BPF_JMP | BPF_JA => pc += ins.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += cond(acc == ins.k),
                c if c == BPF_JMP | BPF_JGE | BPF_K => pc += cond(acc >= ins.k),
                c if c == BPF_JMP | BPF_JSET | BPF_K => pc += cond(acc & ins.k != 0),
                c if c == BPF_ALU | BPF_AND | BPF_K => acc &= ins.k,
                c if c == BPF_RET | BPF_K => return ins.k,
                c => panic!("unexpected BPF instruction {c:#x}"),
            }
        }
    }

    #[test]
    fn verdicts() {
        use super::super::unotify::SECCOMP_RET_USER_NOTIF as NOTIF;
        let (ip, secret) = (0x7000_1000u64, 0x5678_1000u64);
        let fast = build_filter(ip, secret, false, true);
        let plain = build_filter(ip, secret, false, false);
        let all = build_filter(ip, secret, true, false);
        let none = [0u64; 6];
        assert_eq!(run(&fast, SYS_GETPID, 0x400000, none), NOTIF);
        assert_eq!(run(&fast, SYS_GETTID, 0x400000, none), NOTIF);
        assert_eq!(run(&plain, SYS_GETPID, 0x400000, none), SECCOMP_RET_TRACE);
        assert_eq!(run(&all, SYS_GETPID, 0x400000, none), SECCOMP_RET_TRACE);
        for f in [&fast, &plain] {
            // read is nr 0: no verdict may match it by accident.
            assert_eq!(run(f, SYS_READ, 0x400000, none), SECCOMP_RET_TRACE);
            assert_eq!(run(f, SYS_GETPPID, 0x400000, none), SECCOMP_RET_TRACE);
            assert_eq!(run(f, SYS_MUNMAP, 0x400000, none), SECCOMP_RET_ALLOW);
            let anon = [0, 4096, 3, (MAP_ANONYMOUS | 0x2) as u64, u64::MAX, 0];
            assert_eq!(run(f, SYS_MMAP, 0x400000, anon), SECCOMP_RET_ALLOW);
            let fixed = [0, 4096, 3, (MAP_ANONYMOUS | MAP_FIXED) as u64, u64::MAX, 0];
            assert_eq!(run(f, SYS_MMAP, 0x400000, fixed), SECCOMP_RET_TRACE);
            // umk's injected calls: the stub's address and the secret.
            let injected = [0, 0, 0, 0, 0, secret];
            assert_eq!(run(f, SYS_OPENAT, ip, injected), SECCOMP_RET_ALLOW);
            assert_eq!(run(f, SYS_OPENAT, ip, none), SECCOMP_RET_TRACE);
        }
        assert_eq!(run(&all, SYS_MUNMAP, 0x400000, none), SECCOMP_RET_TRACE);
    }

    #[test]
    fn filter_fits_in_a_jump_offset() {
        // Conditional jumps are 8-bit: the list must stay short.
        let f = build_filter(0x1234, 0x5678_0000, false, true);
        assert!(NATIVE.len() < 250);
        assert!(f.len() < 4096);
    }
}
