//! Golden-string tests of the tracer over a fake guest memory. Where a line
//! was checked against the host's strace 6.1 (`strace -f -T -s 32 ...`) the
//! test says so; our lines always carry `[pid N]` and `<time>`.

use super::*;
use guest_abi::sysno::*;

/// A fake guest memory: one contiguous mapped range starting at `BASE`.
struct Mem {
    data: Vec<u8>,
}

const BASE: u64 = 0x10000;

impl Mem {
    fn new() -> Self {
        Mem { data: Vec::new() }
    }
    /// Copies `b` into fresh memory (8-byte aligned) and returns its address.
    fn put(&mut self, b: &[u8]) -> u64 {
        while !self.data.len().is_multiple_of(8) {
            self.data.push(0xaa);
        }
        let a = BASE + self.data.len() as u64;
        self.data.extend_from_slice(b);
        a
    }
    fn cstr(&mut self, s: &str) -> u64 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(&b)
    }
    /// Reserves `n` bytes (what the kernel will write into).
    fn space(&mut self, n: usize) -> u64 {
        self.put(&vec![0xee; n])
    }
    fn write(&mut self, addr: u64, b: &[u8]) {
        let o = (addr - BASE) as usize;
        self.data[o..o + b.len()].copy_from_slice(b);
    }
    fn ptrs(&mut self, p: &[u64]) -> u64 {
        let b: Vec<u8> = p.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(&b)
    }
}

impl TraceMem for Mem {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(o) = addr.checked_sub(BASE) else {
            return false;
        };
        let o = o as usize;
        match self.data.get(o..o + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

const T12: Duration = Duration::from_micros(12);
/// An address nothing is mapped at.
const BAD: u64 = 0xdead0000;

fn tracer() -> Tracer {
    Tracer::new(TraceConfig::default())
}

fn json_tracer() -> Tracer {
    Tracer::new(TraceConfig { format: TraceFormat::Json, ..TraceConfig::default() })
}

fn args(a: &[u64]) -> [u64; 6] {
    let mut r = [0; 6];
    r[..a.len()].copy_from_slice(a);
    r
}

/// enter + exit of one call by pid/tid 1, the handler writing nothing.
fn call(m: &mut Mem, nr: usize, a: &[u64], ret: i64) -> String {
    let mut t = tracer();
    t.enter(1, 1, nr, args(a), m);
    t.exit(1, ret, T12, m).unwrap()
}

/// enter, then the "handler" writes `out` at `addr`, then exit.
fn call_writing(m: &mut Mem, nr: usize, a: &[u64], addr: u64, out: &[u8], ret: i64) -> String {
    let mut t = tracer();
    t.enter(1, 1, nr, args(a), m);
    m.write(addr, out);
    t.exit(1, ret, T12, m).unwrap()
}

/// The line without the alignment padding before ` = `, for `contains` checks.
fn squash(line: String) -> String {
    match line.find("  = ") {
        Some(i) => {
            let end = i + line[i..].find('=').unwrap();
            format!("{} {}", line[..i].trim_end(), &line[end..])
        }
        None => line,
    }
}

fn neg(e: i32) -> i64 {
    -(e as i64)
}

// ---------------------------------------------------------------- basics

#[test]
fn openat_line_has_strace_shape() {
    let mut m = Mem::new();
    let p = m.cstr("/etc/passwd");
    let flags = (guest_abi::fcntl::O_RDONLY | guest_abi::fcntl::O_CLOEXEC) as u64;
    assert_eq!(
        call(&mut m, SYS_OPENAT, &[-100i64 as u64, p, flags], 3),
        "[pid 1] openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3 <0.000012>\n"
    );
}

#[test]
fn errors_print_minus_one_errno_name_and_message() {
    let mut m = Mem::new();
    let p = m.cstr("/nonexist");
    assert_eq!(
        call(&mut m, SYS_OPENAT, &[-100i64 as u64, p, 0], neg(guest_abi::errno::ENOENT)),
        "[pid 1] openat(AT_FDCWD, \"/nonexist\", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_CLOSE, &[99], neg(guest_abi::errno::EBADF)),
        "[pid 1] close(99)                       = -1 EBADF (Bad file descriptor) <0.000012>\n"
    );
}

#[test]
fn short_lines_align_the_result_at_column_40() {
    let mut m = Mem::new();
    let line = call(&mut m, SYS_CLOSE, &[3], 0);
    // strace: `close(3)                                = 0` (with the prefix, as with -f)
    assert_eq!(line, "[pid 1] close(3)                        = 0 <0.000012>\n");
    assert_eq!(line.find('=').unwrap(), 40);
}

#[test]
fn open_creat_shows_octal_mode_and_openat_a_dirfd() {
    let mut m = Mem::new();
    let p = m.cstr("/tmp/newf");
    // strace: openat(AT_FDCWD, "/tmp/newf", O_WRONLY|O_CREAT|O_TRUNC, 0640) = 6
    assert_eq!(
        call(&mut m, SYS_OPENAT, &[-100i64 as u64, p, 0o1101, 0o640], 6),
        "[pid 1] openat(AT_FDCWD, \"/tmp/newf\", O_WRONLY|O_CREAT|O_TRUNC, 0640) = 6 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_OPENAT, &[5, p, 0o2200002], 4),
        "[pid 1] openat(5, \"/tmp/newf\", O_RDWR|O_DIRECTORY|O_CLOEXEC) = 4 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_OPEN, &[p, 0o100 | 0o4000, 0], 3),
        "[pid 1] open(\"/tmp/newf\", O_RDONLY|O_CREAT|O_NONBLOCK, 000) = 3 <0.000012>\n"
    );
    // O_TMPFILE contains O_DIRECTORY: shown once, with the mode.
    assert_eq!(
        call(&mut m, SYS_OPEN, &[p, 0o20200002, 0o600], 3),
        "[pid 1] open(\"/tmp/newf\", O_RDWR|O_TMPFILE, 0600) = 3 <0.000012>\n"
    );
}

#[test]
fn unreadable_path_prints_the_pointer() {
    let mut m = Mem::new();
    assert_eq!(
        call(&mut m, SYS_OPEN, &[BAD, 0], neg(guest_abi::errno::EFAULT)),
        "[pid 1] open(0xdead0000, O_RDONLY)      = -1 EFAULT (Bad address) <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_CHDIR, &[0], neg(guest_abi::errno::EFAULT)),
        "[pid 1] chdir(NULL)                     = -1 EFAULT (Bad address) <0.000012>\n"
    );
}

#[test]
fn paths_are_not_cut_at_the_string_limit() {
    let mut m = Mem::new();
    let long = "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache";
    let p = m.cstr(long);
    let line = call(&mut m, SYS_OPENAT, &[-100i64 as u64, p, 0], 3);
    assert!(line.contains(&format!("\"{long}\", O_RDONLY) = 3")), "{line}");
}

// ------------------------------------------------------------- buffers

#[test]
fn read_buffer_decodes_on_exit_only_the_returned_length() {
    let mut m = Mem::new();
    let buf = m.space(64);
    let line = call_writing(&mut m, SYS_READ, &[3, buf, 64], buf, b"hello\nworld", 6);
    assert_eq!(line, "[pid 1] read(3, \"hello\\n\", 64)          = 6 <0.000012>\n");
}

#[test]
fn read_of_zero_bytes_is_an_empty_string_and_failure_the_pointer() {
    let mut m = Mem::new();
    let buf = m.space(16);
    assert_eq!(
        call(&mut m, SYS_READ, &[0, buf, 16], 0),
        "[pid 1] read(0, \"\", 16)                 = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_READ, &[0, buf, 16], neg(guest_abi::errno::EAGAIN)),
        "[pid 1] read(0, 0x10000, 16)            = -1 EAGAIN (Resource temporarily unavailable) <0.000012>\n"
    );
}

#[test]
fn long_buffers_are_cut_at_string_limit_with_ellipsis() {
    let mut m = Mem::new();
    let data: Vec<u8> = (0..100u8).map(|i| b'a' + i % 26).collect();
    let buf = m.put(&data);
    let line = call(&mut m, SYS_WRITE, &[1, buf, 100], 100);
    assert_eq!(
        line,
        "[pid 1] write(1, \"abcdefghijklmnopqrstuvwxyzabcdef\"..., 100) = 100 <0.000012>\n"
    );
    // With a custom limit.
    let mut t = Tracer::new(TraceConfig { string_limit: 4, ..TraceConfig::default() });
    t.enter(1, 1, SYS_WRITE, args(&[1, buf, 100]), &mut m);
    assert_eq!(
        t.exit(1, 100, T12, &mut m).unwrap(),
        "[pid 1] write(1, \"abcd\"..., 100)        = 100 <0.000012>\n"
    );
}

#[test]
fn write_buffer_is_decoded_at_entry_before_the_handler_changes_it() {
    let mut m = Mem::new();
    let buf = m.put(b"before");
    let line = call_writing(&mut m, SYS_WRITE, &[1, buf, 6], buf, b"AFTER!", 6);
    assert!(line.contains("\"before\""), "{line}");
}

#[test]
fn pread_pwrite_show_offsets() {
    let mut m = Mem::new();
    let buf = m.space(10);
    // strace: pread64(6, "elxo", 10, 1) = 4
    assert_eq!(
        call_writing(&mut m, SYS_PREAD64, &[6, buf, 10, 1], buf, b"elxo", 4),
        "[pid 1] pread64(6, \"elxo\", 10, 1)       = 4 <0.000012>\n"
    );
    let x = m.put(b"x");
    // strace: pwrite64(6, "x", 1, 3) = 1
    assert_eq!(
        call(&mut m, SYS_PWRITE64, &[6, x, 1, 3], 1),
        "[pid 1] pwrite64(6, \"x\", 1, 3)          = 1 <0.000012>\n"
    );
}

#[test]
fn binary_read_matches_strace_escaping() {
    let mut m = Mem::new();
    let elf = b"\x7fELF\x02\x01\x01\x03\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0\x10t\x02\0\0\0\0\0MORE";
    let buf = m.space(832);
    // strace: read(3, "\177ELF\2\1\1\3\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0\20t\2\0\0\0\0\0"..., 832) = 832
    let line = call_writing(&mut m, SYS_READ, &[3, buf, 832], buf, elf, 832);
    assert_eq!(
        line,
        "[pid 1] read(3, \"\\177ELF\\2\\1\\1\\3\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0\\20t\\2\\0\\0\\0\\0\\0\"..., 832) = 832 <0.000012>\n"
    );
}

#[test]
fn writev_and_readv_show_iovecs() {
    let mut m = Mem::new();
    let h = m.put(b"hello");
    let nl = m.put(b"\n");
    let iov = m.ptrs(&[h, 5, nl, 1]);
    // strace: writev(1, [{iov_base="hello", iov_len=5}, {iov_base="\n", iov_len=1}], 2) = 6
    assert_eq!(
        call(&mut m, SYS_WRITEV, &[1, iov, 2], 6),
        "[pid 1] writev(1, [{iov_base=\"hello\", iov_len=5}, {iov_base=\"\\n\", iov_len=1}], 2) = 6 <0.000012>\n"
    );
    let a = m.space(4);
    let b = m.space(4);
    let iov = m.ptrs(&[a, 4, b, 4]);
    let mut t = tracer();
    t.enter(1, 1, SYS_READV, args(&[0, iov, 2]), &mut m);
    m.write(a, b"abcd");
    m.write(b, b"ef");
    assert_eq!(
        t.exit(1, 6, T12, &mut m).unwrap(),
        "[pid 1] readv(0, [{iov_base=\"abcd\", iov_len=4}, {iov_base=\"ef\", iov_len=4}], 2) = 6 <0.000012>\n"
    );
}

// ---------------------------------------------------------------- stat

fn stat_bytes(mode: u32, size: i64, rdev: u64) -> Vec<u8> {
    let st =
        guest_abi::stat::Stat { st_mode: mode, st_size: size, st_rdev: rdev, ..Default::default() };
    bytemuck::bytes_of(&st).to_vec()
}

#[test]
fn stat_family_shows_a_short_struct_on_success() {
    let mut m = Mem::new();
    let p = m.cstr("/etc/hostname");
    let st = m.space(144);
    assert_eq!(
        call_writing(&mut m, SYS_STAT, &[p, st], st, &stat_bytes(0o100644, 123, 0), 0),
        "[pid 1] stat(\"/etc/hostname\", {st_mode=S_IFREG|0644, st_size=123, ...}) = 0 <0.000012>\n"
    );
    let e = m.cstr("");
    // strace: newfstatat(3, "", {st_mode=S_IFREG|0644, st_size=33747, ...}, AT_EMPTY_PATH) = 0
    assert_eq!(
        call_writing(&mut m, SYS_NEWFSTATAT, &[3, e, st, 0x1000], st, &stat_bytes(0o100644, 33747, 0), 0),
        "[pid 1] newfstatat(3, \"\", {st_mode=S_IFREG|0644, st_size=33747, ...}, AT_EMPTY_PATH) = 0 <0.000012>\n"
    );
    // strace: newfstatat(AT_FDCWD, "/tmp", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0
    let tmp = m.cstr("/tmp");
    assert_eq!(
        call_writing(&mut m, SYS_NEWFSTATAT, &[-100i64 as u64, tmp, st, 0], st, &stat_bytes(0o41777, 4096, 0), 0),
        "[pid 1] newfstatat(AT_FDCWD, \"/tmp\", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0 <0.000012>\n"
    );
}

#[test]
fn stat_of_a_device_shows_makedev_and_failure_the_pointer() {
    let mut m = Mem::new();
    let st = m.space(144);
    // strace: newfstatat(0, "", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, AT_EMPTY_PATH) = 0
    let dev = guest_abi::stat::makedev(1, 3);
    assert_eq!(
        call_writing(&mut m, SYS_FSTAT, &[0, st], st, &stat_bytes(0o20666, 0, dev), 0),
        "[pid 1] fstat(0, {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}) = 0 <0.000012>\n"
    );
    let p = m.cstr("/nope");
    assert_eq!(
        call(&mut m, SYS_LSTAT, &[p, st], neg(guest_abi::errno::ENOENT)),
        format!("[pid 1] lstat(\"/nope\", {st:#x})         = -1 ENOENT (No such file or directory) <0.000012>\n")
    );
}

#[test]
fn statx_shows_flags_mask_and_struct() {
    let mut m = Mem::new();
    let p = m.cstr("/etc/hostname");
    let sx = m.space(256);
    let v = guest_abi::stat::Statx {
        stx_mask: 0x17ff,
        stx_mode: 0o100755,
        stx_size: 3,
        ..Default::default()
    };
    // strace: statx(AT_FDCWD, "/etc/hostname", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
    //         {stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0755, stx_size=3, ...}) = 0
    assert_eq!(
        call_writing(&mut m, SYS_STATX, &[-100i64 as u64, p, 0x100, 0x7ff, sx], sx, bytemuck::bytes_of(&v), 0),
        "[pid 1] statx(AT_FDCWD, \"/etc/hostname\", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, {stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0755, stx_size=3, ...}) = 0 <0.000012>\n"
    );
}

#[test]
fn getdents64_counts_entries_in_the_returned_bytes() {
    let mut m = Mem::new();
    let buf = m.space(100);
    let mut d = Vec::new();
    for (name, reclen) in [(".", 24u16), ("..", 24), ("etc", 40)] {
        let mut e = vec![0u8; reclen as usize];
        e[16..18].copy_from_slice(&reclen.to_le_bytes());
        e[19..19 + name.len()].copy_from_slice(name.as_bytes());
        d.extend(e);
    }
    // strace: getdents64(6, 0x7ffd5d5c6b00 /* 3 entries */, 100) = 88
    assert_eq!(
        call_writing(&mut m, SYS_GETDENTS64, &[6, buf, 100], buf, &d, 88),
        "[pid 1] getdents64(6, 0x10000 /* 3 entries */, 100) = 88 <0.000012>\n"
    );
}

// -------------------------------------------------------------- memory

#[test]
fn mmap_family_names_prot_and_map_flags_in_hex_addresses() {
    let mut m = Mem::new();
    // strace: mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f11905b4000
    assert_eq!(
        call(&mut m, SYS_MMAP, &[0, 8192, 3, 0x22, u64::MAX, 0], 0x7f11905b4000),
        "[pid 1] mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f11905b4000 <0.000012>\n"
    );
    // strace: mmap(0x7f11903ef000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x26000) = 0x7f11903ef000
    assert_eq!(
        call(&mut m, SYS_MMAP, &[0x7f11903ef000, 1400832, 5, 0x812, 3, 0x26000], 0x7f11903ef000),
        "[pid 1] mmap(0x7f11903ef000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x26000) = 0x7f11903ef000 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_MPROTECT, &[0x7fcd57426000, 4096, 0], 0),
        "[pid 1] mprotect(0x7fcd57426000, 4096, PROT_NONE) = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_MUNMAP, &[0x7f11905ab000, 33747], 0),
        "[pid 1] munmap(0x7f11905ab000, 33747)   = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_MMAP, &[0, 4096, 1, 0x22, u64::MAX, 0], neg(guest_abi::errno::ENOMEM)),
        "[pid 1] mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory) <0.000012>\n"
    );
}

#[test]
fn brk_shows_addresses_in_hex() {
    let mut m = Mem::new();
    assert_eq!(
        call(&mut m, SYS_BRK, &[0], 0x563376ff8000),
        "[pid 1] brk(NULL)                       = 0x563376ff8000 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_BRK, &[0x563377019000], 0x563377019000),
        "[pid 1] brk(0x563377019000)             = 0x563377019000 <0.000012>\n"
    );
}

// ------------------------------------------------------------- process

#[test]
fn clone_names_flags_and_the_exit_signal() {
    let mut m = Mem::new();
    // strace: clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fcd5723aa10) = 11336
    assert_eq!(
        call(&mut m, SYS_CLONE, &[0x01200011, 0, 0, 0x7fcd5723aa10, 0], 2),
        "[pid 1] clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fcd5723aa10) = 2 <0.000012>\n"
    );
    // strace: clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 11334
    assert_eq!(
        call(&mut m, SYS_CLONE, &[0x4111, 0, 0, 0, 0], 3),
        "[pid 1] clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD) = 3 <0.000012>\n"
    );
    let threads = 0x3d0f00u64; // glibc pthread_create's flags
    let line = call(&mut m, SYS_CLONE, &[threads, 0x7f0000, 0x7f1000, 0x7f1000, 0x7f2000], 4);
    assert_eq!(
        line,
        "[pid 1] clone(child_stack=0x7f0000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, parent_tid=0x7f1000, child_tidptr=0x7f1000, tls=0x7f2000) = 4 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_FORK, &[], 5),
        "[pid 1] fork()                          = 5 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_VFORK, &[], 6),
        "[pid 1] vfork()                         = 6 <0.000012>\n"
    );
}

#[test]
fn clone3_decodes_its_struct() {
    let mut m = Mem::new();
    let ca = m.ptrs(&[0x100, 0, 0, 0, 17, 0x7f0000, 0x2000, 0]);
    assert_eq!(
        call(&mut m, SYS_CLONE3, &[ca, 88], 2),
        "[pid 1] clone3({flags=CLONE_VM, exit_signal=SIGCHLD, stack=0x7f0000, stack_size=0x2000}, 88) = 2 <0.000012>\n"
    );
}

#[test]
fn clone3_shows_set_tid_and_the_flags_above_bit_31() {
    // strace: clone3({flags=CLONE_CLEAR_SIGHAND|CLONE_INTO_CGROUP, exit_signal=SIGCHLD,
    //   stack=NULL, stack_size=0, set_tid=[300], set_tid_size=1, cgroup=3}, 88)
    let mut m = Mem::new();
    let pids = m.put(&300i32.to_le_bytes());
    let flags = guest_abi::sched::CLONE_CLEAR_SIGHAND | guest_abi::sched::CLONE_INTO_CGROUP;
    let ca = m.ptrs(&[flags, 0, 0, 0, 17, 0, 0, 0, pids, 1, 3]);
    assert_eq!(
        call(&mut m, SYS_CLONE3, &[ca, 88], -9),
        "[pid 1] clone3({flags=CLONE_CLEAR_SIGHAND|CLONE_INTO_CGROUP, exit_signal=SIGCHLD, stack=NULL, stack_size=0, set_tid=[300], set_tid_size=1, cgroup=3}, 88) = -1 EBADF (Bad file descriptor) <0.000012>\n"
    );
}

#[test]
fn execve_shows_argv_and_counts_envp() {
    let mut m = Mem::new();
    let path = m.cstr("/usr/bin/cat");
    let a0 = m.cstr("cat");
    let a1 = m.cstr("/etc/hostname");
    let argv = m.ptrs(&[a0, a1, 0]);
    let e0 = m.cstr("PATH=/bin");
    let e1 = m.cstr("HOME=/root");
    let envp = m.ptrs(&[e0, e1, e0, 0]);
    assert_eq!(
        call(&mut m, SYS_EXECVE, &[path, argv, envp], 0),
        format!("[pid 1] execve(\"/usr/bin/cat\", [\"cat\", \"/etc/hostname\"], {envp:#x} /* 3 vars */) = 0 <0.000012>\n")
    );
}

#[test]
fn execve_argv_truncates_strings_and_elements_like_strace() {
    let mut m = Mem::new();
    let path = m.cstr("/bin/echo");
    let strs: Vec<u64> = ["/bin/echo", "a", "b", "c", "d", "e"].iter().map(|s| m.cstr(s)).collect();
    let mut v = strs.clone();
    v.push(0);
    let argv = m.ptrs(&v);
    let mut t = Tracer::new(TraceConfig { string_limit: 3, ..TraceConfig::default() });
    t.enter(1, 1, SYS_EXECVE, args(&[path, argv, 0]), &mut m);
    // strace -s 3: execve("/bin/echo", ["/bi"..., "a", "b", ...], 0x7fff84f1ae18 /* 35 vars */) = 0
    assert_eq!(
        t.exit(1, 0, T12, &mut m).unwrap(),
        "[pid 1] execve(\"/bin/echo\", [\"/bi\"..., \"a\", \"b\", ...], NULL) = 0 <0.000012>\n"
    );
}

fn wait4_with(status: i32, ret: i64) -> String {
    let mut m = Mem::new();
    let st = m.space(4);
    call_writing(&mut m, SYS_WAIT4, &[u64::MAX, st, 0, 0], st, &status.to_le_bytes(), ret)
}

#[test]
fn wait4_decodes_exit_statuses() {
    // strace: wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 10898
    assert_eq!(
        wait4_with(3 << 8, 2),
        "[pid 1] wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 2 <0.000012>\n"
    );
    // strace: wait4(11336, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}], 0, NULL) = 11336
    assert!(wait4_with(9, 2).contains("[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}], 0, NULL) = 2"));
    assert!(wait4_with(11 | 0x80, 2)
        .contains("[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}]"));
    assert!(wait4_with((20 << 8) | 0x7f, 2).contains("[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGTSTP}]"));
    assert!(wait4_with(0xffff, 2).contains("[{WIFCONTINUED(s)}]"));
}

#[test]
fn wait4_without_a_reaped_child_shows_the_pointer() {
    let mut m = Mem::new();
    let st = m.space(4);
    // strace: wait4(-1, 0x7fff55e3d9bc, WNOHANG, NULL) = 0
    assert_eq!(
        call(&mut m, SYS_WAIT4, &[u64::MAX, st, 1, 0], 0),
        format!("[pid 1] wait4(-1, {st:#x}, WNOHANG, NULL) = 0 <0.000012>\n")
    );
    assert!(squash(call(
        &mut m,
        SYS_WAIT4,
        &[u64::MAX, 0, 0x40000001, 0],
        neg(guest_abi::errno::ECHILD)
    ))
    .contains("wait4(-1, NULL, WNOHANG|__WALL, NULL) = -1 ECHILD (No child processes)"));
}

#[test]
fn kill_and_tgkill_name_signals() {
    let mut m = Mem::new();
    assert_eq!(
        call(&mut m, SYS_KILL, &[2, 10], 0),
        "[pid 1] kill(2, SIGUSR1)                = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_KILL, &[0, 0], 0),
        "[pid 1] kill(0, 0)                      = 0 <0.000012>\n"
    );
    // strace: kill(99999, SIGRT_18) = -1 ESRCH (No such process)
    assert!(squash(call(&mut m, SYS_KILL, &[99999, 50], -3))
        .contains("kill(99999, SIGRT_18) = -1 ESRCH (No such process)"));
    // strace: tgkill(11333, 11333, SIGWINCH) = 0
    assert_eq!(
        call(&mut m, SYS_TGKILL, &[1, 1, 28], 0),
        "[pid 1] tgkill(1, 1, SIGWINCH)          = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_KILL, &[u64::MAX, 9], 0),
        "[pid 1] kill(-1, SIGKILL)               = 0 <0.000012>\n"
    );
}

#[test]
fn exit_group_never_returns() {
    let mut m = Mem::new();
    // strace: exit_group(0) = ?
    assert_eq!(
        call(&mut m, SYS_EXIT_GROUP, &[0], 0),
        "[pid 1] exit_group(0)                   = ? <0.000012>\n"
    );
}

// -------------------------------------------------------------- signals

fn sigaction_bytes(handler: u64, flags: u64, restorer: u64, mask: u64) -> Vec<u8> {
    let a = guest_abi::signal::KSigAction { handler, flags, restorer, mask };
    bytemuck::bytes_of(&a).to_vec()
}

#[test]
fn rt_sigaction_decodes_new_action_at_entry_and_old_at_exit() {
    let mut m = Mem::new();
    let act = m.put(&sigaction_bytes(1, 0x0400_0000, 0x7fcd57279050, 0));
    // strace: rt_sigaction(SIGTERM, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7fcd57279050}, NULL, 8) = 0
    assert_eq!(
        call(&mut m, SYS_RT_SIGACTION, &[15, act, 0, 8], 0),
        "[pid 1] rt_sigaction(SIGTERM, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7fcd57279050}, NULL, 8) = 0 <0.000012>\n"
    );
    let old = m.space(32);
    // strace: rt_sigaction(SIGINT, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
    assert_eq!(
        call_writing(&mut m, SYS_RT_SIGACTION, &[2, 0, old, 8], old, &sigaction_bytes(0, 0, 0, 0), 0),
        "[pid 1] rt_sigaction(SIGINT, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0 <0.000012>\n"
    );
    // Flag order as strace 6.1 prints it.
    let act = m.put(&sigaction_bytes(0x401000, 0x5c00_0005, 0x7000, 1 << 1));
    assert!(squash(call(&mut m, SYS_RT_SIGACTION, &[17, act, 0, 8], 0)).contains(
        "{sa_handler=0x401000, sa_mask=[INT], sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|SA_NODEFER|SA_SIGINFO|SA_NOCLDSTOP, sa_restorer=0x7000}"
    ));
}

#[test]
fn rt_sigprocmask_shows_sets() {
    let mut m = Mem::new();
    let set = m.put(&(!((1u64 << 31) | (1u64 << 32))).to_le_bytes());
    // strace: rt_sigprocmask(SIG_SETMASK, ~[RTMIN RT_1], NULL, 8) = 0
    assert_eq!(
        call(&mut m, SYS_RT_SIGPROCMASK, &[2, set, 0, 8], 0),
        "[pid 1] rt_sigprocmask(SIG_SETMASK, ~[RTMIN RT_1], NULL, 8) = 0 <0.000012>\n"
    );
    let old = m.space(8);
    let empty = m.put(&0u64.to_le_bytes());
    let line = call_writing(
        &mut m,
        SYS_RT_SIGPROCMASK,
        &[0, empty, old, 8],
        old,
        &((1u64 << 8) | (1u64 << 18)).to_le_bytes(),
        0,
    );
    assert!(line.contains("rt_sigprocmask(SIG_BLOCK, [], [KILL STOP], 8) = 0"), "{line}");
}

fn siginfo_bytes(signo: i32, code: i32, words: &[(usize, i32)]) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[0..4].copy_from_slice(&signo.to_le_bytes());
    b[8..12].copy_from_slice(&code.to_le_bytes());
    for &(off, v) in words {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn signal_lines_decode_siginfo() {
    let mut t = tracer();
    let chld = siginfo_bytes(17, 1, &[(16, 2), (20, 0), (24, 0)]);
    // strace: --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=10899, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
    assert_eq!(
        t.signal(1, 1, 17, &chld),
        "[pid 1] --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=2, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---\n"
    );
    let killed = siginfo_bytes(17, 2, &[(16, 3), (24, 9)]);
    assert!(t
        .signal(1, 1, 17, &killed)
        .contains("si_code=CLD_KILLED, si_pid=3, si_uid=0, si_status=SIGKILL,"));
    // strace: --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=10897, si_uid=0} ---
    let usr = siginfo_bytes(10, 0, &[(16, 1)]);
    assert_eq!(
        t.signal(1, 1, 10, &usr),
        "[pid 1] --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=1, si_uid=0} ---\n"
    );
    // strace: --- SIGWINCH {si_signo=SIGWINCH, si_code=SI_TKILL, si_pid=11333, si_uid=0} ---
    let tk = siginfo_bytes(28, -6, &[(16, 4)]);
    assert_eq!(
        t.signal(4, 5, 28, &tk),
        "[pid 5] --- SIGWINCH {si_signo=SIGWINCH, si_code=SI_TKILL, si_pid=4, si_uid=0} ---\n"
    );
    let mut segv = siginfo_bytes(11, 1, &[]);
    segv[16..24].copy_from_slice(&0x10u64.to_le_bytes());
    assert_eq!(
        t.signal(1, 1, 11, &segv),
        "[pid 1] --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---\n"
    );
    let kern = siginfo_bytes(2, 0x80, &[]);
    assert_eq!(
        t.signal(1, 1, 2, &kern),
        "[pid 1] --- SIGINT {si_signo=SIGINT, si_code=SI_KERNEL} ---\n"
    );
}

#[test]
fn exits_print_status_or_killing_signal() {
    let mut t = tracer();
    assert_eq!(t.exited(1, Some(0), None), "[pid 1] +++ exited with 0 +++\n");
    assert_eq!(t.exited(2, Some(3), None), "[pid 2] +++ exited with 3 +++\n");
    assert_eq!(t.exited(3, None, Some((9, false))), "[pid 3] +++ killed by SIGKILL +++\n");
    assert_eq!(
        t.exited(4, None, Some((11, true))),
        "[pid 4] +++ killed by SIGSEGV (core dumped) +++\n"
    );
}

#[test]
fn exit_flushes_calls_that_never_returned() {
    let mut m = Mem::new();
    let mut t = tracer();
    t.enter(7, 7, SYS_EXIT_GROUP, args(&[3]), &mut m);
    let buf = m.space(8);
    t.enter(7, 8, SYS_READ, args(&[0, buf, 8]), &mut m);
    t.blocked(8).unwrap();
    t.enter(9, 9, SYS_GETPID, args(&[]), &mut m); // another process: untouched
    assert_eq!(
        t.exited(7, Some(3), None),
        format!(
            "[pid 7] exit_group(3)                   = ?\n[pid 8] <... read resumed>{buf:#x}, 8)   = ?\n[pid 7] +++ exited with 3 +++\n"
        )
    );
    assert!(t.exit(9, 9, T12, &mut m).is_some());
    assert!(t.exit(7, 0, T12, &mut m).is_none());
}

// -------------------------------------------------------- descriptors

#[test]
fn pipe2_shows_the_fds_on_exit() {
    let mut m = Mem::new();
    let fds = m.space(8);
    let out: Vec<u8> = [3i32, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    // strace: pipe2([3, 4], O_CLOEXEC) = 0
    assert_eq!(
        call_writing(&mut m, SYS_PIPE2, &[fds, 0o2000000], fds, &out, 0),
        "[pid 1] pipe2([3, 4], O_CLOEXEC)        = 0 <0.000012>\n"
    );
    assert_eq!(
        call_writing(&mut m, SYS_PIPE2, &[fds, 0], fds, &out, 0),
        "[pid 1] pipe2([3, 4], 0)                = 0 <0.000012>\n"
    );
    assert_eq!(
        call_writing(&mut m, SYS_PIPE, &[fds], fds, &out, 0),
        "[pid 1] pipe([3, 4])                    = 0 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_PIPE2, &[fds, 0o4000], -24))
        .contains(&format!("pipe2({fds:#x}, O_NONBLOCK) = -1 EMFILE")));
}

#[test]
fn dup_family() {
    let mut m = Mem::new();
    // strace: dup2(3, 10) = 10 ; dup3(3, 11, O_CLOEXEC) = 11 ; dup(4) = 5
    assert_eq!(
        call(&mut m, SYS_DUP2, &[3, 10], 10),
        "[pid 1] dup2(3, 10)                     = 10 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_DUP3, &[3, 11, 0o2000000], 11),
        "[pid 1] dup3(3, 11, O_CLOEXEC)          = 11 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_DUP, &[4], 5),
        "[pid 1] dup(4)                          = 5 <0.000012>\n"
    );
}

#[test]
fn fcntl_names_commands_and_annotates_flags() {
    let mut m = Mem::new();
    // strace: fcntl(3, F_GETFL) = 0 (flags O_RDONLY)
    assert_eq!(
        call(&mut m, SYS_FCNTL, &[3, 3], 0),
        "[pid 1] fcntl(3, F_GETFL)               = 0 (flags O_RDONLY) <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_FCNTL, &[3, 3], 0o4002))
        .contains("= 0x802 (flags O_RDWR|O_NONBLOCK)"));
    // strace: fcntl(3, F_SETFD, FD_CLOEXEC) = 0 ; fcntl(3, F_DUPFD_CLOEXEC, 20) = 20
    assert_eq!(
        call(&mut m, SYS_FCNTL, &[3, 2, 1], 0),
        "[pid 1] fcntl(3, F_SETFD, FD_CLOEXEC)   = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_FCNTL, &[3, 1030, 20], 20),
        "[pid 1] fcntl(3, F_DUPFD_CLOEXEC, 20)   = 20 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_FCNTL, &[3, 1], 1)).contains("fcntl(3, F_GETFD)"));
    assert!(squash(call(&mut m, SYS_FCNTL, &[3, 1], 1)).contains("= 0x1 (flags FD_CLOEXEC)"));
    assert!(squash(call(&mut m, SYS_FCNTL, &[3, 4, 0o4000], 0))
        .contains("fcntl(3, F_SETFL, O_RDONLY|O_NONBLOCK) = 0"));
    assert!(squash(call(&mut m, SYS_FCNTL, &[3, 999, 5], -22))
        .contains("fcntl(3, 999, 0x5) = -1 EINVAL (Invalid argument)"));
}

#[test]
fn lseek_names_whence() {
    let mut m = Mem::new();
    // strace: lseek(0, 10, SEEK_END) = 0
    assert_eq!(
        call(&mut m, SYS_LSEEK, &[0, 10, 2], 0),
        "[pid 1] lseek(0, 10, SEEK_END)          = 0 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_LSEEK, &[3, -5i64 as u64, 1], 95))
        .contains("lseek(3, -5, SEEK_CUR)"));
}

#[test]
fn poll_shows_fds_and_revents() {
    let mut m = Mem::new();
    let mut fds = Vec::new();
    for (fd, ev) in [(3i32, 1i16), (4, 4)] {
        fds.extend(fd.to_le_bytes());
        fds.extend(ev.to_le_bytes());
        fds.extend(0i16.to_le_bytes());
    }
    let a = m.put(&fds);
    let mut t = tracer();
    t.enter(1, 1, SYS_POLL, args(&[a, 2, 100]), &mut m);
    m.write(a + 8 + 6, &4i16.to_le_bytes());
    // strace: poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}], 2, 100) = 1 ([{fd=4, revents=POLLOUT}])
    assert_eq!(
        t.exit(1, 1, T12, &mut m).unwrap(),
        "[pid 1] poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}], 2, 100) = 1 ([{fd=4, revents=POLLOUT}]) <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_POLL, &[a, 2, 0], 0))
        .ends_with(", 2, 0) = 0 (Timeout) <0.000012>\n"));
}

#[test]
fn ioctl_names_tty_requests_and_decodes_structs() {
    let mut m = Mem::new();
    let tio = m.space(36);
    let t = guest_abi::termios::default_termios();
    let line = call_writing(&mut m, SYS_IOCTL, &[0, 0x5401, tio], tio, bytemuck::bytes_of(&t), 0);
    assert_eq!(
        line,
        "[pid 1] ioctl(0, TCGETS, {c_iflag=ICRNL|IXON|IUTF8, c_oflag=OPOST|ONLCR, c_cflag=B38400|CS8|CREAD|HUPCL, c_lflag=ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN, ...}) = 0 <0.000012>\n"
    );
    // strace: ioctl(1, TCGETS, 0x7ffd5d5c6d00) = -1 ENOTTY (Inappropriate ioctl for device)
    assert_eq!(
        call(&mut m, SYS_IOCTL, &[1, 0x5401, tio], -25),
        format!("[pid 1] ioctl(1, TCGETS, {tio:#x})       = -1 ENOTTY (Inappropriate ioctl for device) <0.000012>\n")
    );
    let ws = m.space(8);
    let w = guest_abi::termios::WinSize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
    // strace: ioctl(1, TIOCGWINSZ, {ws_row=0, ws_col=0, ws_xpixel=0, ws_ypixel=0}) = 0
    assert!(squash(call_writing(
        &mut m,
        SYS_IOCTL,
        &[1, 0x5413, ws],
        ws,
        bytemuck::bytes_of(&w),
        0
    ))
    .contains("ioctl(1, TIOCGWINSZ, {ws_row=24, ws_col=80, ws_xpixel=0, ws_ypixel=0}) = 0"));
    let pg = m.put(&7i32.to_le_bytes());
    assert!(squash(call(&mut m, SYS_IOCTL, &[0, 0x5410, pg], 0))
        .contains("ioctl(0, TIOCSPGRP, [7]) = 0"));
    // strace: ioctl(1, _IOC(_IOC_NONE, 0x12, 0x34, 0), 0) = -1 ENOTTY
    assert!(squash(call(&mut m, SYS_IOCTL, &[1, 0x1234, 0], -25))
        .contains("ioctl(1, _IOC(_IOC_NONE, 0x12, 0x34, 0), 0) = -1 ENOTTY"));
    assert!(squash(call(&mut m, SYS_IOCTL, &[1, 0x80085678, 0], -25))
        .contains("_IOC(_IOC_READ, 0x56, 0x78, 0x8)"));
}

// --------------------------------------------------------------- paths

#[test]
fn access_modes() {
    let mut m = Mem::new();
    let p = m.cstr("/etc/ld.so.preload");
    // strace: access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)
    assert_eq!(
        call(&mut m, SYS_ACCESS, &[p, 4], -2),
        "[pid 1] access(\"/etc/ld.so.preload\", R_OK) = -1 ENOENT (No such file or directory) <0.000012>\n"
    );
    let e = m.cstr("/etc");
    assert!(squash(call(&mut m, SYS_ACCESS, &[e, 7], 0))
        .contains("access(\"/etc\", R_OK|W_OK|X_OK) = 0"));
    assert!(squash(call(&mut m, SYS_ACCESS, &[e, 0], 0)).contains("access(\"/etc\", F_OK)"));
    assert!(squash(call(&mut m, SYS_FACCESSAT2, &[-100i64 as u64, e, 2, 0x200], 0))
        .contains("faccessat2(AT_FDCWD, \"/etc\", W_OK, AT_EACCESS)"));
}

#[test]
fn chdir_and_getcwd() {
    let mut m = Mem::new();
    let p = m.cstr("/tmp");
    assert_eq!(
        call(&mut m, SYS_CHDIR, &[p], 0),
        "[pid 1] chdir(\"/tmp\")                   = 0 <0.000012>\n"
    );
    let buf = m.space(100);
    // strace: getcwd("/tmp", 100) = 5
    assert_eq!(
        call_writing(&mut m, SYS_GETCWD, &[buf, 100], buf, b"/tmp\0", 5),
        "[pid 1] getcwd(\"/tmp\", 100)             = 5 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_GETCWD, &[buf, 2], -34))
        .contains(&format!("getcwd({buf:#x}, 2) = -1 ERANGE")));
}

#[test]
fn unlink_mkdir_rename_and_friends() {
    let mut m = Mem::new();
    let a = m.cstr("/tmp/newf");
    let b = m.cstr("/tmp/newg");
    // strace: rename("/tmp/newf", "/tmp/newg") = 0 ; unlink("/tmp/newg") = 0 ; mkdir("/tmp/dd", 0755) = 0
    assert_eq!(
        call(&mut m, SYS_RENAME, &[a, b], 0),
        "[pid 1] rename(\"/tmp/newf\", \"/tmp/newg\") = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_UNLINK, &[b], 0),
        "[pid 1] unlink(\"/tmp/newg\")             = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_MKDIR, &[a, 0o755], 0),
        "[pid 1] mkdir(\"/tmp/newf\", 0755)        = 0 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_UNLINKAT, &[-100i64 as u64, a, 0x200], 0))
        .contains("unlinkat(AT_FDCWD, \"/tmp/newf\", AT_REMOVEDIR) = 0"));
    assert!(squash(call(&mut m, SYS_MKDIRAT, &[3, a, 0o700], -17))
        .contains("mkdirat(3, \"/tmp/newf\", 0700) = -1 EEXIST (File exists)"));
    assert!(squash(call(&mut m, SYS_RENAMEAT2, &[-100i64 as u64, a, 4, b, 1], 0))
        .contains("renameat2(AT_FDCWD, \"/tmp/newf\", 4, \"/tmp/newg\", RENAME_NOREPLACE) = 0"));
    assert!(squash(call(&mut m, SYS_SYMLINK, &[a, b], 0))
        .contains("symlink(\"/tmp/newf\", \"/tmp/newg\") = 0"));
    assert!(squash(call(&mut m, SYS_CHMOD, &[a, 0o4755], 0))
        .contains("chmod(\"/tmp/newf\", 04755) = 0"));
}

#[test]
fn readlink_shows_the_returned_bytes() {
    let mut m = Mem::new();
    let p = m.cstr("/proc/self/exe");
    let buf = m.space(100);
    // strace: readlink("/proc/self/exe", "/tmp/t", 100) = 6
    assert_eq!(
        call_writing(&mut m, SYS_READLINK, &[p, buf, 100], buf, b"/tmp/tXXXX", 6),
        "[pid 1] readlink(\"/proc/self/exe\", \"/tmp/t\", 100) = 6 <0.000012>\n"
    );
    // strace: readlink("/nonexist", 0x7ffd5d5c6b00, 100) = -1 ENOENT (No such file or directory)
    assert!(squash(call(&mut m, SYS_READLINK, &[p, buf, 100], -2))
        .contains(&format!("\"/proc/self/exe\", {buf:#x}, 100) = -1 ENOENT")));
}

#[test]
fn uname_shows_sysname_and_nodename() {
    let mut m = Mem::new();
    let u = m.space(390);
    let mut out = vec![0u8; 390];
    out[..5].copy_from_slice(b"Linux");
    out[65..68].copy_from_slice(b"umk");
    // strace: uname({sysname="Linux", nodename="vm", ...}) = 0
    assert_eq!(
        call_writing(&mut m, SYS_UNAME, &[u], u, &out, 0),
        "[pid 1] uname({sysname=\"Linux\", nodename=\"umk\", ...}) = 0 <0.000012>\n"
    );
}

#[test]
fn id_calls_take_no_arguments() {
    let mut m = Mem::new();
    // strace: getpid() = 11333 ; getppid() = 11329 ; gettid() = 11333 ; getuid() = 0
    assert_eq!(
        call(&mut m, SYS_GETPID, &[], 1),
        "[pid 1] getpid()                        = 1 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_GETPPID, &[], 0),
        "[pid 1] getppid()                       = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_GETTID, &[], 1),
        "[pid 1] gettid()                        = 1 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_GETUID, &[], 0),
        "[pid 1] getuid()                        = 0 <0.000012>\n"
    );
}

#[test]
fn undecoded_syscalls_print_raw_hex_by_arity() {
    let mut m = Mem::new();
    assert_eq!(
        call(&mut m, SYS_FUTEX, &[0x7f00, 0x81, 1, 0, 0, 0], 0),
        "[pid 1] futex(0x7f00, 0x81, 0x1, 0, 0, 0) = 0 <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, SYS_SEMGET, &[2, 1, 0], -38),
        "[pid 1] semget(0x2, 0x1, 0)             = -1 ENOSYS (Function not implemented) <0.000012>\n"
    );
    // socket has a decoder now.
    assert_eq!(
        call(&mut m, SYS_SOCKET, &[2, 1, 0], -97),
        "[pid 1] socket(AF_INET, SOCK_STREAM, 0) = -1 EAFNOSUPPORT (Address family not supported by protocol) <0.000012>\n"
    );
    assert_eq!(
        call(&mut m, 460, &[1, 2, 3, 4, 5, 6], -38),
        "[pid 1] syscall_0x1cc(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented) <0.000012>\n"
    );
}

#[test]
fn misc_decoders() {
    let mut m = Mem::new();
    let ts = m.put(&[0u64.to_le_bytes(), 1000u64.to_le_bytes()].concat());
    assert!(squash(call(&mut m, SYS_NANOSLEEP, &[ts, 0], 0))
        .contains("nanosleep({tv_sec=0, tv_nsec=1000}, NULL) = 0"));
    // strace: clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0
    assert!(squash(call(&mut m, SYS_CLOCK_NANOSLEEP, &[0, 0, ts, 0], 0))
        .contains("clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0"));
    let rl = m.space(16);
    let lim = [(8192u64 * 1024).to_le_bytes(), u64::MAX.to_le_bytes()].concat();
    // strace: prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0
    assert!(squash(call_writing(&mut m, SYS_PRLIMIT64, &[0, 3, 0, rl], rl, &lim, 0)).contains(
        "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"
    ));
    // strace: arch_prctl(ARCH_SET_FS, 0x7f11903c6740) = 0
    assert!(squash(call(&mut m, SYS_ARCH_PRCTL, &[0x1002, 0x7f11903c6740], 0))
        .contains("arch_prctl(ARCH_SET_FS, 0x7f11903c6740) = 0"));
    // strace: set_tid_address(0x7f11903c6a10) = 10678
    assert!(squash(call(&mut m, SYS_SET_TID_ADDRESS, &[0x7f11903c6a10], 1))
        .contains("set_tid_address(0x7f11903c6a10) = 1"));
}

// --------------------------------------------- blocking and interleaving

#[test]
fn blocked_call_prints_unfinished_then_resumed() {
    let mut m = Mem::new();
    let st = m.space(4);
    let mut t = tracer();
    t.enter(1, 1, SYS_WAIT4, args(&[u64::MAX, st, 0, 0]), &mut m);
    // strace: [pid 10897] wait4(-1,  <unfinished ...>
    assert_eq!(t.blocked(1).unwrap(), "[pid 1] wait4(-1,  <unfinished ...>\n");
    assert_eq!(t.blocked(1), None, "reported once");
    t.enter(2, 2, SYS_EXIT_GROUP, args(&[3]), &mut m);
    let child_exit = t.exited(2, Some(3), None);
    assert_eq!(
        child_exit,
        "[pid 2] exit_group(3)                   = ?\n[pid 2] +++ exited with 3 +++\n"
    );
    m.write(st, &(3i32 << 8).to_le_bytes());
    // strace: <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 10898
    assert_eq!(
        t.exit(1, 2, Duration::from_millis(500), &mut m).unwrap(),
        "[pid 1] <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 2 <0.500000>\n"
    );
}

#[test]
fn unfinished_line_of_an_all_input_call_shows_every_argument() {
    let mut m = Mem::new();
    let mut t = tracer();
    // strace: clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>  ... <... clone resumed>) = 11334
    t.enter(1, 1, SYS_CLONE, args(&[0x4111, 0, 0, 0, 0]), &mut m);
    assert_eq!(
        t.blocked(1).unwrap(),
        "[pid 1] clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK|SIGCHLD <unfinished ...>\n"
    );
    assert_eq!(
        t.exit(1, 2, T12, &mut m).unwrap(),
        "[pid 1] <... clone resumed>)            = 2 <0.000012>\n"
    );
    t.enter(1, 1, SYS_VFORK, args(&[]), &mut m);
    assert_eq!(t.blocked(1).unwrap(), "[pid 1] vfork( <unfinished ...>\n");
    assert_eq!(
        t.exit(1, 3, T12, &mut m).unwrap(),
        "[pid 1] <... vfork resumed>)            = 3 <0.000012>\n"
    );
}

#[test]
fn blocked_read_resumes_with_data_and_the_count() {
    let mut m = Mem::new();
    let buf = m.space(1024);
    let mut t = tracer();
    t.enter(1, 1, SYS_READ, args(&[0, buf, 1024]), &mut m);
    assert_eq!(t.blocked(1).unwrap(), "[pid 1] read(0,  <unfinished ...>\n");
    // A wake-up re-runs the call: enter again must not reset the entry.
    t.enter(1, 1, SYS_READ, args(&[0, buf, 1024]), &mut m);
    assert_eq!(t.blocked(1), None);
    m.write(buf, b"ls\n");
    assert_eq!(
        t.exit(1, 3, T12, &mut m).unwrap(),
        "[pid 1] <... read resumed>\"ls\\n\", 1024) = 3 <0.000012>\n"
    );
}

#[test]
fn interleaved_threads_keep_separate_pending_calls() {
    let mut m = Mem::new();
    let mut t = tracer();
    let b1 = m.space(8);
    t.enter(1, 1, SYS_READ, args(&[0, b1, 8]), &mut m);
    t.blocked(1).unwrap();
    t.enter(1, 2, SYS_GETTID, args(&[]), &mut m);
    assert_eq!(
        t.exit(2, 2, T12, &mut m).unwrap(),
        "[pid 2] gettid()                        = 2 <0.000012>\n"
    );
    m.write(b1, b"x");
    assert!(t.exit(1, 1, T12, &mut m).unwrap().starts_with("[pid 1] <... read resumed>\"x\", 8)"));
}

#[test]
fn interrupted_calls_show_restart_codes_like_strace() {
    let mut m = Mem::new();
    let buf = m.space(8);
    // strace: read(0, 0x7ffc..., 8) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
    assert_eq!(
        call(&mut m, SYS_READ, &[0, buf, 8], -512),
        format!("[pid 1] read(0, {buf:#x}, 8)             = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.000012>\n")
    );
    assert!(squash(call(&mut m, SYS_NANOSLEEP, &[0, 0], -516))
        .contains("= ? ERESTART_RESTARTBLOCK (Interrupted by signal)"));
}

#[test]
fn filtered_calls_produce_nothing() {
    let mut m = Mem::new();
    let mut t = Tracer::new(TraceConfig {
        filter: TraceFilter::parse("file").unwrap(),
        ..TraceConfig::default()
    });
    assert!(!t.wants(SYS_READ) && t.wants(SYS_OPENAT));
    t.enter(1, 1, SYS_READ, args(&[0, 0, 0]), &mut m);
    assert_eq!(t.blocked(1), None);
    assert_eq!(t.exit(1, 0, T12, &mut m), None);
    assert_eq!(t.exit(42, 0, T12, &mut m), None, "never entered");
}

#[test]
fn a_new_call_replaces_a_stale_unblocked_entry() {
    let mut m = Mem::new();
    let mut t = tracer();
    t.enter(1, 1, SYS_GETPID, args(&[]), &mut m);
    t.enter(1, 1, SYS_GETUID, args(&[]), &mut m);
    assert!(t.exit(1, 0, T12, &mut m).unwrap().contains("getuid()"));
}

// ---------------------------------------------------------------- JSON

/// A minimal JSON value and parser: enough to check the tracer's lines are
/// valid JSON and to look at their fields.
#[derive(Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, k: &str) -> &J {
        match self {
            J::Obj(v) => {
                &v.iter().find(|(kk, _)| kk == k).unwrap_or_else(|| panic!("no key {k}")).1
            }
            _ => panic!("not an object"),
        }
    }
    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            J::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
}

fn parse_json(s: &str) -> Result<J, String> {
    struct P<'a> {
        b: &'a [u8],
        i: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.b.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at {}", c as char, self.i))
            }
        }
        fn lit(&mut self, w: &str, v: J) -> Result<J, String> {
            if self.b[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                Ok(v)
            } else {
                Err(format!("bad literal at {}", self.i))
            }
        }
        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = String::new();
            loop {
                let c = *self.b.get(self.i).ok_or("unterminated string")?;
                self.i += 1;
                match c {
                    b'"' => return Ok(out),
                    b'\\' => {
                        let e = *self.b.get(self.i).ok_or("bad escape")?;
                        self.i += 1;
                        match e {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'n' => out.push('\n'),
                            b't' => out.push('\t'),
                            b'r' => out.push('\r'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'u' => {
                                let h = std::str::from_utf8(&self.b[self.i..self.i + 4])
                                    .map_err(|e| e.to_string())?;
                                let v = u32::from_str_radix(h, 16).map_err(|e| e.to_string())?;
                                out.push(char::from_u32(v).ok_or("bad \\u")?);
                                self.i += 4;
                            }
                            _ => return Err(format!("bad escape \\{}", e as char)),
                        }
                    }
                    c if c < 0x20 => return Err("raw control character in string".into()),
                    _ => {
                        // Copy the whole UTF-8 sequence.
                        let start = self.i - 1;
                        let mut end = self.i;
                        while end < self.b.len() && (self.b[end] & 0xc0) == 0x80 {
                            end += 1;
                        }
                        out.push_str(
                            std::str::from_utf8(&self.b[start..end]).map_err(|e| e.to_string())?,
                        );
                        self.i = end;
                    }
                }
            }
        }
        fn value(&mut self) -> Result<J, String> {
            self.ws();
            match self.b.get(self.i).copied().ok_or("unexpected end")? {
                b'n' => self.lit("null", J::Null),
                b't' => self.lit("true", J::Bool(true)),
                b'f' => self.lit("false", J::Bool(false)),
                b'"' => Ok(J::Str(self.string()?)),
                b'[' => {
                    self.i += 1;
                    let mut v = Vec::new();
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(J::Arr(v));
                    }
                    loop {
                        v.push(self.value()?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(J::Arr(v));
                            }
                            _ => return Err(format!("bad array at {}", self.i)),
                        }
                    }
                }
                b'{' => {
                    self.i += 1;
                    let mut v = Vec::new();
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(J::Obj(v));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.eat(b':')?;
                        v.push((k, self.value()?));
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(J::Obj(v));
                            }
                            _ => return Err(format!("bad object at {}", self.i)),
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    self.i += 1;
                    while self.i < self.b.len()
                        && matches!(self.b[self.i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                    {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.b[start..self.i]).unwrap();
                    if t.len() > 1 && t.starts_with('0') || t.starts_with("-0") && t.len() > 2 {
                        return Err(format!("leading zero in {t}"));
                    }
                    t.parse().map(J::Num).map_err(|e| format!("{t}: {e}"))
                }
                c => Err(format!("unexpected '{}' at {}", c as char, self.i)),
            }
        }
    }
    let mut p = P { b: s.as_bytes(), i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(format!("trailing data at {}", p.i));
    }
    Ok(v)
}

/// Every line of `out` is one valid JSON object.
fn json_lines(out: &str) -> Vec<J> {
    assert!(out.ends_with('\n'), "{out:?}");
    out.lines()
        .map(|l| {
            let v = parse_json(l).unwrap_or_else(|e| panic!("invalid JSON ({e}): {l}"));
            assert!(matches!(v, J::Obj(_)), "{l}");
            v
        })
        .collect()
}

#[test]
fn json_checker_rejects_invalid_input() {
    assert!(parse_json(r#"{"a":1,}"#).is_err());
    assert!(parse_json(r#"{"a":"x\q"}"#).is_err());
    assert!(parse_json("{\"a\":\"\n\"}").is_err());
    assert!(parse_json(r#"{"a":01}"#).is_err());
    assert!(parse_json(r#"{"a":[1,2]} x"#).is_err());
    assert_eq!(
        parse_json(r#"{"a":[1,null,true,"\u0041\\"]}"#).unwrap().get("a"),
        &J::Arr(vec![J::Num(1.0), J::Null, J::Bool(true), J::Str("A\\".into())])
    );
}

#[test]
fn json_syscall_object_has_documented_fields() {
    let mut m = Mem::new();
    let p = m.cstr("/etc/passwd");
    let mut t = json_tracer();
    t.enter(1, 3, SYS_OPENAT, args(&[-100i64 as u64, p, 0o2000000]), &mut m);
    let out = t.exit(3, 3, T12, &mut m).unwrap();
    let v = &json_lines(&out)[0];
    assert_eq!(v.get("type").str(), "syscall");
    assert_eq!(v.get("pid").num(), 1.0);
    assert_eq!(v.get("tid").num(), 3.0);
    assert_eq!(v.get("name").str(), "openat");
    assert_eq!(v.get("nr").num(), 257.0);
    assert_eq!(
        v.get("args"),
        &J::Arr(vec![
            J::Str("AT_FDCWD".into()),
            J::Str("\"/etc/passwd\"".into()),
            J::Str("O_RDONLY|O_CLOEXEC".into())
        ])
    );
    assert_eq!(v.get("ret").num(), 3.0);
    assert_eq!(v.get("errno"), &J::Null);
    assert_eq!(v.get("time_us").num(), 12.0);
    assert_eq!(v.get("blocked"), &J::Bool(false));
    assert_eq!(
        out,
        "{\"type\":\"syscall\",\"pid\":1,\"tid\":3,\"name\":\"openat\",\"nr\":257,\"args\":[\"AT_FDCWD\",\"\\\"/etc/passwd\\\"\",\"O_RDONLY|O_CLOEXEC\"],\"ret\":3,\"errno\":null,\"time_us\":12,\"blocked\":false}\n"
    );
}

#[test]
fn json_errors_carry_the_errno_name() {
    let mut m = Mem::new();
    let p = m.cstr("/x");
    let mut t = json_tracer();
    t.enter(1, 1, SYS_OPEN, args(&[p, 0]), &mut m);
    let v = &json_lines(&t.exit(1, -2, T12, &mut m).unwrap())[0];
    assert_eq!(v.get("ret").num(), -1.0);
    assert_eq!(v.get("errno").str(), "ENOENT");
    t.enter(1, 1, SYS_EXIT_GROUP, args(&[0]), &mut m);
    let v = &json_lines(&t.exit(1, 0, T12, &mut m).unwrap())[0];
    assert_eq!(v.get("ret"), &J::Null);
    assert_eq!(v.get("errno"), &J::Null);
}

#[test]
fn json_escapes_buffers_with_quotes_backslashes_and_controls() {
    let mut m = Mem::new();
    let data = b"a\"b\\c\nd\x01\xff\t";
    let buf = m.put(data);
    let mut t = json_tracer();
    t.enter(1, 1, SYS_WRITE, args(&[1, buf, data.len() as u64]), &mut m);
    let out = t.exit(1, data.len() as i64, T12, &mut m).unwrap();
    let v = &json_lines(&out)[0];
    // The arg is exactly the text format's decoded string.
    assert_eq!(
        v.get("args"),
        &J::Arr(vec![
            J::Str("1".into()),
            J::Str(r#""a\"b\\c\nd\1\377\t""#.into()),
            J::Str("10".into())
        ])
    );
}

#[test]
fn json_unfinished_signal_and_exit_objects() {
    let mut m = Mem::new();
    let st = m.space(4);
    let mut t = json_tracer();
    t.enter(1, 1, SYS_WAIT4, args(&[u64::MAX, st, 0, 0]), &mut m);
    let u = &json_lines(&t.blocked(1).unwrap())[0];
    assert_eq!(u.get("type").str(), "unfinished");
    assert_eq!(u.get("name").str(), "wait4");
    assert_eq!(u.get("args"), &J::Arr(vec![J::Str("-1".into())]));
    m.write(st, &0i32.to_le_bytes());
    let done = &json_lines(&t.exit(1, 2, T12, &mut m).unwrap())[0];
    assert_eq!(done.get("blocked"), &J::Bool(true));
    assert_eq!(done.get("args").clone_str_at(1), "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]");

    let s = &json_lines(&t.signal(1, 1, 17, &siginfo_bytes(17, 1, &[(16, 2)])))[0];
    assert_eq!(s.get("type").str(), "signal");
    assert_eq!(s.get("signal").str(), "SIGCHLD");
    assert_eq!(s.get("nr").num(), 17.0);
    assert!(s.get("siginfo").str().starts_with("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=2"));

    let e = &json_lines(&t.exited(2, Some(0), None))[0];
    assert_eq!(e.get("type").str(), "exit");
    assert_eq!(e.get("code").num(), 0.0);
    assert_eq!(e.get("signal"), &J::Null);
    assert_eq!(e.get("core_dumped"), &J::Bool(false));
    let e = &json_lines(&t.exited(3, None, Some((11, true))))[0];
    assert_eq!(e.get("code"), &J::Null);
    assert_eq!(e.get("signal").str(), "SIGSEGV");
    assert_eq!(e.get("core_dumped"), &J::Bool(true));
}

#[test]
fn json_exit_flush_lines_are_valid() {
    let mut m = Mem::new();
    let mut t = json_tracer();
    t.enter(5, 5, SYS_EXIT_GROUP, args(&[1]), &mut m);
    let v = json_lines(&t.exited(5, Some(1), None));
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].get("name").str(), "exit_group");
    assert_eq!(v[0].get("ret"), &J::Null);
    assert_eq!(v[1].get("type").str(), "exit");
}

impl J {
    fn clone_str_at(&self, i: usize) -> &str {
        match self {
            J::Arr(v) => v[i].str(),
            _ => panic!("not an array"),
        }
    }
}

#[test]
fn every_syscall_number_decodes_without_panicking_on_garbage() {
    // Arguments pointing at unmapped or random memory must never panic.
    let mut m = Mem::new();
    let junk = m.put(&[0x41u8; 512]);
    for nr in 0..NR_SYSCALLS + 5 {
        for a in [[0u64; 6], [BAD; 6], [junk; 6], [u64::MAX; 6]] {
            let mut t = tracer();
            t.enter(1, 1, nr, a, &mut m);
            let _ = t.blocked(1);
            for ret in [0, 1, 64, -14] {
                let mut t2 = tracer();
                t2.enter(1, 1, nr, a, &mut m);
                let line = t2.exit(1, ret, T12, &mut m).unwrap();
                assert!(line.ends_with('\n') && line.is_ascii(), "{line}");
            }
            let _ = t.exit(1, 0, T12, &mut m);
        }
    }
}

// ---------------------------------------------------------------- sockets

#[test]
fn unix_socket_calls_show_their_addresses() {
    let mut m = Mem::new();
    let mut sa = 1u16.to_le_bytes().to_vec();
    sa.extend_from_slice(b"/run/x.sock\0");
    let a = m.put(&sa);
    // strace: socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3
    assert!(squash(call(&mut m, SYS_SOCKET, &[1, 1 | 0o2000000, 0], 3))
        .contains("socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3"));
    // strace: bind(3, {sa_family=AF_UNIX, sun_path="/run/x.sock"}, 14) = 0
    assert!(squash(call(&mut m, SYS_BIND, &[3, a, sa.len() as u64], 0))
        .contains("bind(3, {sa_family=AF_UNIX, sun_path=\"/run/x.sock\"}, 14) = 0"));
    let mut abs = 1u16.to_le_bytes().to_vec();
    abs.extend_from_slice(b"\0name");
    let b = m.put(&abs);
    assert!(squash(call(&mut m, SYS_CONNECT, &[4, b, abs.len() as u64], 0))
        .contains("connect(4, {sa_family=AF_UNIX, sun_path=@\"name\"}, 7) = 0"));
    // accept4 fills the address and its length.
    let out = m.space(16);
    let lenp = m.put(&16i32.to_le_bytes());
    let mut t = tracer();
    t.enter(1, 1, SYS_ACCEPT4, args(&[3, out, lenp, 0o4000]), &mut m);
    m.write(out, &1u16.to_le_bytes());
    m.write(lenp, &2i32.to_le_bytes());
    let line = squash(t.exit(1, 5, T12, &mut m).unwrap());
    assert!(line.contains("accept4(3, {sa_family=AF_UNIX}, [2], SOCK_NONBLOCK) = 5"), "{line}");
    assert!(squash(call(&mut m, SYS_SHUTDOWN, &[3, 1], 0)).contains("shutdown(3, SHUT_WR) = 0"));
}

// ------------------------------------------------------------ POSIX timers

#[test]
fn timer_calls_decode_sigevent_and_itimerspec_like_strace() {
    let mut m = Mem::new();
    let ev = guest_abi::signal::Sigevent {
        sigev_value: 42,
        sigev_signo: 10,
        sigev_notify: guest_abi::signal::SIGEV_SIGNAL,
        ..Default::default()
    };
    let evp = m.put(bytemuck::bytes_of(&ev));
    let idp = m.space(4);
    // strace: timer_create(CLOCK_MONOTONIC, {sigev_value={sival_int=42, sival_ptr=0x2a}, sigev_signo=SIGUSR1, sigev_notify=SIGEV_SIGNAL}, [0]) = 0
    assert_eq!(
        call_writing(&mut m, SYS_TIMER_CREATE, &[1, evp, idp], idp, &0i32.to_le_bytes(), 0),
        "[pid 1] timer_create(CLOCK_MONOTONIC, {sigev_value={sival_int=42, sival_ptr=0x2a}, sigev_signo=SIGUSR1, sigev_notify=SIGEV_SIGNAL}, [0]) = 0 <0.000012>\n"
    );
    let its = guest_abi::misc::Itimerspec {
        it_interval: guest_abi::misc::Timespec { tv_sec: 0, tv_nsec: 5_000_000 },
        it_value: guest_abi::misc::Timespec { tv_sec: 1, tv_nsec: 0 },
    };
    let itp = m.put(bytemuck::bytes_of(&its));
    // strace: timer_settime(0, TIMER_ABSTIME, {it_interval={tv_sec=0, tv_nsec=5000000}, it_value={tv_sec=1, tv_nsec=0}}, NULL) = 0
    assert_eq!(
        call(&mut m, SYS_TIMER_SETTIME, &[0, 1, itp, 0], 0),
        "[pid 1] timer_settime(0, TIMER_ABSTIME, {it_interval={tv_sec=0, tv_nsec=5000000}, it_value={tv_sec=1, tv_nsec=0}}, NULL) = 0 <0.000012>\n"
    );
    assert!(squash(call(&mut m, SYS_TIMER_DELETE, &[3], -22))
        .contains("timer_delete(3) = -1 EINVAL (Invalid argument)"));
}
