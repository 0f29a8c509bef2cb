//! Loader tests: synthetic ELF files for every rule and failure, `#!`
//! rewriting through `plan_exec`, and real binaries from the host.

use std::path::Path;
use std::process::Command;

use guest_abi::auxv::*;
use guest_abi::errno::*;
use guest_abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};

use super::elf::Phdr;
use super::testutil::*;
use super::*;

const BASE: u64 = ELF_ET_DYN_BASE;
const IBASE: u64 = 0x7f00_0000_0000;

fn aux(plan: &LoadPlan, key: u64) -> u64 {
    plan.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v).expect("auxv key")
}

fn run(fs: &mut MemFs, path: &str, argv: &[&str]) -> Result<LoadPlan, i32> {
    plan_exec(fs, &params(path.as_bytes(), argv), BASE, IBASE)
}

fn detailed(fs: &mut MemFs, path: &str) -> Result<LoadPlan, ExecError> {
    plan_exec_detailed(fs, &params(path.as_bytes(), &["x"]), BASE, IBASE)
}

/// A small static ET_EXEC: text at 0x400000, data+bss at 0x401f00.
fn static_exec() -> ElfSpec {
    ElfSpec::exec(
        0x400100,
        vec![
            phdr_seg(0x400000, 3),
            load(0x400000, 0, 0x1800, 0x1800, RX),
            load(0x401f00, 0x1f00, 0x200, 0x3000, RW),
        ],
        0x2100,
    )
}

// ---- ELF segment planning ----

#[test]
fn static_exec_segments() {
    let f = static_exec().build();
    let mut fs = MemFs::new();
    fs.add("/bin/s", f.clone());
    let plan = run(&mut fs, "/bin/s", &["s"]).unwrap();
    assert_eq!(plan.segments.len(), 2);
    let (t, d) = (&plan.segments[0], &plan.segments[1]);
    // Text: no bss, so the whole last page comes from the file.
    assert_eq!((t.vaddr, t.mem_len, t.prot), (0x400000, 0x2000, PROT_READ | PROT_EXEC));
    assert_eq!((t.file_off, t.copy_to, t.file_len), (0, 0x400000, 0x2000));
    // Data: starts mid-page; the page's first 0xf00 bytes are file bytes
    // too (mmap maps whole pages); file content ends exactly at p_filesz
    // (padzero), and the file is 0x2100 long.
    assert_eq!((d.vaddr, d.mem_len, d.prot), (0x401000, 0x4000, PROT_READ | PROT_WRITE));
    assert_eq!((d.file_off, d.copy_to, d.file_len), (0x1000, 0x401000, 0xf00 + 0x200));
    assert_eq!(plan.entry, 0x400100);
    assert_eq!(plan.brk_start, 0x405000); // page_up(0x401f00 + 0x3000)
    assert_eq!(plan.total_span, (0x400000, 0x405000));
    assert_eq!(aux(&plan, AT_PHDR), 0x400040);
    assert_eq!(aux(&plan, AT_PHNUM), 3);
    assert_eq!(aux(&plan, AT_PHENT), 56);
    assert_eq!(aux(&plan, AT_BASE), 0);
    assert_eq!(aux(&plan, AT_ENTRY), 0x400100);
    assert_eq!(aux(&plan, AT_PAGESZ), 4096);
    assert_eq!(aux(&plan, AT_CLKTCK), 100);
    assert_eq!(aux(&plan, AT_SECURE), 0);
    assert_eq!(plan.exec_path, b"/bin/s");
    assert_eq!(plan.argv, vec![b"s".to_vec()]);
}

#[test]
fn last_page_past_eof_is_short() {
    // Text without bss whose last page runs past the end of the file: the
    // copy stops at EOF (the rest of the page reads as zero, as with mmap).
    let f = ElfSpec::exec(0x400000, vec![load(0x400000, 0, 0x1234, 0x1234, RX)], 0x1300).build();
    let mut fs = MemFs::new();
    fs.add("/p", f);
    let plan = run(&mut fs, "/p", &["p"]).unwrap();
    assert_eq!(plan.segments[0].file_len, 0x1300);
    assert_eq!(plan.segments[0].mem_len, 0x2000);
}

#[test]
fn pure_bss_and_empty_segments() {
    let f = ElfSpec::exec(
        0x400000,
        vec![
            load(0x400000, 0, 0x100, 0x100, RX),
            load(0x500000, 0, 0, 0, RW),
            load(0x600010, 0, 0, 0x20, RW),
        ],
        0x1000,
    )
    .build();
    let mut fs = MemFs::new();
    fs.add("/p", f);
    let plan = run(&mut fs, "/p", &["p"]).unwrap();
    // The empty PT_LOAD maps nothing; the bss-only one is all zero.
    assert_eq!(plan.segments.len(), 2);
    assert_eq!(
        (plan.segments[1].vaddr, plan.segments[1].mem_len, plan.segments[1].file_len),
        (0x600000, 0x1000, 0)
    );
    assert_eq!(plan.brk_start, 0x601000);
}

#[test]
fn unsorted_loads_are_kept_in_file_order() {
    // Linux does not insist on ascending PT_LOADs for ET_EXEC: neither do we.
    let f = ElfSpec::exec(
        0x400000,
        vec![load(0x600000, 0x1000, 0x10, 0x10, RW), load(0x400000, 0, 0x100, 0x100, RX)],
        0x2000,
    )
    .build();
    let mut fs = MemFs::new();
    fs.add("/p", f);
    let plan = run(&mut fs, "/p", &["p"]).unwrap();
    assert_eq!(plan.segments[0].vaddr, 0x600000);
    assert_eq!(plan.total_span, (0x400000, 0x601000));
}

#[test]
fn pie_with_interpreter() {
    let exe = ElfSpec::dyn_(
        0x1100,
        vec![phdr_seg(0, 4), load(0, 0, 0x800, 0x800, R), load(0x1000, 0x1000, 0x500, 0x500, RX)],
        0x1500,
    )
    .with_interp(b"/lib/ld.so")
    .build();
    let ld = ElfSpec::dyn_(
        0x2000,
        vec![load(0, 0, 0x1000, 0x1000, R), load(0x2000, 0x1000, 0x800, 0x2800, RW)],
        0x1800,
    )
    .build();
    let mut fs = MemFs::new();
    fs.add("/bin/pie", exe).add("/lib/ld.so", ld);
    let plan = run(&mut fs, "/bin/pie", &["pie"]).unwrap();
    assert_eq!(plan.segments.len(), 4);
    assert_eq!(plan.segments[0].vaddr, BASE);
    assert_eq!(plan.segments[1].vaddr, BASE + 0x1000);
    assert_eq!(plan.segments[2].vaddr, IBASE);
    assert_eq!(plan.segments[3].vaddr, IBASE + 0x2000);
    assert_eq!(plan.entry, IBASE + 0x2000, "starts in the interpreter");
    assert_eq!(aux(&plan, AT_ENTRY), BASE + 0x1100);
    assert_eq!(aux(&plan, AT_BASE), IBASE);
    assert_eq!(aux(&plan, AT_PHDR), BASE + 64);
    assert_eq!(plan.brk_start, BASE + 0x2000, "brk follows the executable, not ld.so");
    assert_eq!(plan.total_span, (BASE, IBASE + 0x5000));
    assert_eq!(plan.exec_path, b"/bin/pie", "/proc/self/exe is the program, not ld.so");
    assert_eq!(fs.opened, vec![b"/bin/pie".to_vec(), b"/lib/ld.so".to_vec()]);
}

#[test]
fn pie_base_honours_large_alignment() {
    let mut l = load(0, 0, 0x100, 0x100, RX);
    l.p_align = 0x20_0000;
    let f = ElfSpec::dyn_(0x10, vec![l], 0x1000).build();
    let mut fs = MemFs::new();
    fs.add("/p", f);
    let plan = run(&mut fs, "/p", &["p"]).unwrap();
    assert_eq!(plan.segments[0].vaddr, BASE & !0x1f_ffff);
}

#[test]
fn secure_when_ids_differ() {
    let mut fs = MemFs::new();
    fs.add("/p", static_exec().build());
    let mut p = params(b"/p", &["p"]);
    p.euid = 0;
    let plan = plan_exec(&mut fs, &p, BASE, IBASE).unwrap();
    assert_eq!(aux(&plan, AT_SECURE), 1);
    assert_eq!((aux(&plan, AT_UID), aux(&plan, AT_EUID)), (1000, 0));
}

// ---- ELF failures before the point of no return: errno to the caller ----

fn expect_early(bytes: Vec<u8>, errno: i32) {
    let mut fs = MemFs::new();
    fs.add("/p", bytes);
    assert_eq!(detailed(&mut fs, "/p").unwrap_err(), ExecError { errno, fatal: false });
}

fn expect_fatal(bytes: Vec<u8>, errno: i32) {
    let mut fs = MemFs::new();
    fs.add("/p", bytes);
    assert_eq!(detailed(&mut fs, "/p").unwrap_err(), ExecError { errno, fatal: true });
}

#[test]
fn test_truncated_elf() {
    let f = static_exec().build();
    // Cut anywhere before the end of the program headers: ENOEXEC.
    for n in 0..64 + 56 * 3 {
        expect_early(f[..n].to_vec(), ENOEXEC);
    }
}

#[test]
fn test_empty_file() {
    expect_early(vec![], ENOEXEC);
}

#[test]
fn test_not_elf_not_script() {
    expect_early(b"hello world\n".to_vec(), ENOEXEC);
    expect_early(b"\x7fEL".to_vec(), ENOEXEC);
}

#[test]
fn test_wrong_machine() {
    let mut s = static_exec();
    s.machine = 3; // EM_386
    expect_early(s.build(), ENOEXEC);
}

#[test]
fn test_wrong_class() {
    let mut f = static_exec().build();
    f[4] = 1; // ELFCLASS32
    expect_early(f, ENOEXEC);
    let mut f = static_exec().build();
    f[5] = 2; // big endian
    expect_early(f, ENOEXEC);
}

#[test]
fn test_wrong_type() {
    let mut s = static_exec();
    s.e_type = 1; // ET_REL
    expect_early(s.build(), ENOEXEC);
}

#[test]
fn test_phdr_out_of_file() {
    let mut f = static_exec().build();
    let near_end = f.len() as u64 - 100;
    f[32..40].copy_from_slice(&near_end.to_le_bytes());
    expect_early(f.clone(), ENOEXEC);
    f[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // offset + size overflows
    expect_early(f, ENOEXEC);
}

#[test]
fn test_bad_phentsize() {
    let mut f = static_exec().build();
    f[54..56].copy_from_slice(&32u16.to_le_bytes());
    expect_early(f, ENOEXEC);
}

#[test]
fn test_too_many_phdrs() {
    // 1170 * 56 = 65520 bytes is the most Linux reads; 1171 is refused.
    let mut phdrs = vec![load(0x400000, 0, 0x100, 0x100, RX)];
    phdrs.resize(1171, Phdr { p_type: 0, ..phdrs[0] });
    expect_early(ElfSpec::exec(0x400000, phdrs.clone(), 0).build(), ENOEXEC);
    phdrs.truncate(1170);
    let mut fs = MemFs::new();
    fs.add("/p", ElfSpec::exec(0x400000, phdrs, 0).build());
    assert!(run(&mut fs, "/p", &["p"]).is_ok());
    // And zero program headers.
    expect_early(ElfSpec::exec(0x400000, vec![], 0x1000).build(), ENOEXEC);
}

// ---- ELF failures after the point of no return: the process dies ----

#[test]
fn test_filesz_gt_memsz() {
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x400000, 0, 0x200, 0x100, RX)], 0x1000).build(),
        EINVAL,
    );
}

#[test]
fn test_vaddr_above_task_size() {
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x7fff_ffff_f000, 0, 0x10, 0x10, RX)], 0x1000).build(),
        EINVAL,
    );
    // Ends beyond TASK_SIZE.
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x7fff_ffff_e000, 0, 0x10, 0x2000, RX)], 0x1000).build(),
        EINVAL,
    );
    // Overflowing 64-bit sums.
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x1000, 0, 0x10, u64::MAX, RX)], 0x1000).build(),
        EINVAL,
    );
}

#[test]
fn test_pie_pushed_out_of_range() {
    // Fine by itself, but too big to fit above the chosen base.
    let f = ElfSpec::dyn_(0, vec![load(0, 0, 0x10, 0x7f00_0000_0000, RW)], 0x1000).build();
    expect_fatal(f, ENOMEM);
}

#[test]
fn test_segment_below_mmap_min_addr() {
    expect_fatal(
        ElfSpec::exec(0x1000, vec![load(0x1000, 0, 0x10, 0x10, RX)], 0x1000).build(),
        EPERM,
    );
}

#[test]
fn test_misaligned_offset() {
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x400010, 0x20, 0x10, 0x10, RX)], 0x1000).build(),
        EINVAL,
    );
}

#[test]
fn test_segment_beyond_eof() {
    expect_fatal(
        ElfSpec::exec(0x400000, vec![load(0x400000, 0, 0x2000, 0x2000, RX)], 0x1000).build(),
        EINVAL,
    );
    expect_fatal(
        ElfSpec::exec(
            0x400000,
            vec![load(0x400000, 0xffff_ffff_ffff_f000, 0x2000, 0x2000, RX)],
            0x1000,
        )
        .build(),
        EINVAL,
    );
}

#[test]
fn test_no_load_segments() {
    expect_fatal(ElfSpec::exec(0x400000, vec![phdr_seg(0x400000, 1)], 0x1000).build(), EINVAL);
    expect_fatal(ElfSpec::dyn_(0, vec![load(0, 0, 0, 0, R)], 0x1000).build(), EINVAL);
}

#[test]
fn test_entry_out_of_range() {
    expect_fatal(
        ElfSpec::exec(0x8000_0000_0000, vec![load(0x400000, 0, 0x10, 0x10, RX)], 0x1000).build(),
        EINVAL,
    );
}

// ---- PT_INTERP ----

fn with_interp(path: &[u8]) -> Vec<u8> {
    ElfSpec::dyn_(0, vec![load(0, 0, 0x100, 0x100, RX)], 0x1000).with_interp(path).build()
}

fn interp_err(interp_file: Option<Vec<u8>>) -> ExecError {
    let mut fs = MemFs::new();
    fs.add("/p", with_interp(b"/lib/ld.so"));
    if let Some(f) = interp_file {
        fs.add("/lib/ld.so", f);
    }
    detailed(&mut fs, "/p").unwrap_err()
}

#[test]
fn test_interp_missing() {
    // Linux: open_exec()'s ENOENT, which shells print as "No such file" for
    // the *program*, the famous confusing message.
    assert_eq!(interp_err(None), ExecError::early(ENOENT));
}

#[test]
fn test_interp_not_elf() {
    assert_eq!(interp_err(Some(vec![b'#'; 100])), ExecError::early(ELIBBAD));
    assert_eq!(interp_err(Some(b"#!/bin/sh\n".repeat(10))), ExecError::early(ELIBBAD));
}

#[test]
fn test_interp_too_short() {
    // Shorter than an ELF header: the header read fails with EIO.
    assert_eq!(interp_err(Some(b"\x7fELF".to_vec())), ExecError::early(EIO));
}

#[test]
fn test_interp_wrong_machine() {
    let mut s = static_exec();
    s.machine = 183; // aarch64
    assert_eq!(interp_err(Some(s.build())), ExecError::early(ELIBBAD));
}

#[test]
fn test_interp_bad_phdrs() {
    let mut f = static_exec().build();
    f[56..58].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(interp_err(Some(f)), ExecError::early(ELIBBAD));
}

#[test]
fn test_interp_wrong_type() {
    let mut s = static_exec();
    s.e_type = 1;
    assert_eq!(interp_err(Some(s.build())), ExecError::late(ELIBBAD));
}

#[test]
fn test_interp_unterminated() {
    let mut f = with_interp(b"/lib/ld.so");
    f[0x200 + 10] = b'x'; // overwrite the NUL
    expect_early(f, ENOEXEC);
}

#[test]
fn test_interp_path_length() {
    // p_filesz must be 2..=PATH_MAX.
    expect_early(with_interp(b""), ENOEXEC);
    expect_early(with_interp(&vec![b'a'; 4096]), ENOEXEC);
}

#[test]
fn test_interp_empty_name() {
    // "\0x\0": a C string of length 0 names the cwd, not a file.
    let mut f = with_interp(b"\0x");
    f[0x200] = 0;
    expect_early(f, EACCES);
}

#[test]
fn test_interp_out_of_file() {
    let mut f = with_interp(b"/lib/ld.so");
    // Point PT_INTERP (the first phdr) past the end of the file.
    let off = 64 + 8;
    f[off..off + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
    expect_early(f, EIO);
}

#[test]
fn test_interp_overlaps_executable() {
    let mut fs = MemFs::new();
    fs.add("/p", with_interp(b"/lib/ld.so"));
    fs.add("/lib/ld.so", ElfSpec::dyn_(0, vec![load(0, 0, 0x100, 0x100, RX)], 0x1000).build());
    let err = plan_exec_detailed(&mut fs, &params(b"/p", &["p"]), BASE, BASE).unwrap_err();
    assert_eq!(err, ExecError::late(ENOMEM));
}

#[test]
fn exec_interp_gets_no_base() {
    // An ET_EXEC interpreter stays at its link address; AT_BASE is 0.
    let mut fs = MemFs::new();
    fs.add("/p", with_interp(b"/lib/ld.so"));
    fs.add("/lib/ld.so", static_exec().build());
    let plan = run(&mut fs, "/p", &["p"]).unwrap();
    assert_eq!(aux(&plan, AT_BASE), 0);
    assert_eq!(plan.entry, 0x400100);
}

// ---- #! scripts ----

fn script_fs() -> MemFs {
    let mut fs = MemFs::new();
    fs.add("/bin/sh", static_exec().build());
    fs
}

#[test]
fn script_argv_rewriting() {
    let mut fs = script_fs();
    fs.add("/cwd/s.sh", b"#!/bin/sh\necho\n".to_vec());
    let plan = run(&mut fs, "s.sh", &["myname", "a", "b"]).unwrap();
    // argv[0] is dropped: interp, script path as given, argv[1..].
    assert_eq!(
        plan.argv,
        vec![b"/bin/sh".to_vec(), b"s.sh".to_vec(), b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(plan.exec_path, b"/bin/sh", "/proc/self/exe is the interpreter");
}

#[test]
fn script_with_argument() {
    let mut fs = script_fs();
    fs.add("/s", b"#! /bin/sh  -e -u \n".to_vec());
    let plan = run(&mut fs, "/s", &["s", "x"]).unwrap();
    assert_eq!(
        plan.argv,
        vec![b"/bin/sh".to_vec(), b"-e -u".to_vec(), b"/s".to_vec(), b"x".to_vec()]
    );
}

#[test]
fn script_with_empty_argv() {
    // Linux >= 5.18 turns argv = {} into {""} first; the script then drops it.
    let mut fs = script_fs();
    fs.add("/s", b"#!/bin/sh\n".to_vec());
    let plan = run(&mut fs, "/s", &[]).unwrap();
    assert_eq!(plan.argv, vec![b"/bin/sh".to_vec(), b"/s".to_vec()]);
    // And an ELF run with no argv gets argv[0] = "".
    let plan = run(&mut fs, "/bin/sh", &[]).unwrap();
    assert_eq!(plan.argv, vec![Vec::<u8>::new()]);
}

/// A chain of `n` scripts: /s{n} -> /s{n-1} -> ... -> /s1 -> /bin/sh.
fn chain(n: usize) -> MemFs {
    let mut fs = script_fs();
    for i in 1..=n {
        let target = if i == 1 { "/bin/sh".to_string() } else { format!("/s{}", i - 1) };
        fs.add(&format!("/s{i}"), format!("#!{target}\n").into_bytes());
    }
    fs
}

#[test]
fn script_nesting() {
    // Five scripts deep works (checked against a real 6.x kernel)...
    let mut fs = chain(5);
    let plan = run(&mut fs, "/s5", &["s5", "arg"]).unwrap();
    let argv: Vec<&[u8]> = plan.argv.iter().map(|a| &a[..]).collect();
    assert_eq!(argv, [&b"/bin/sh"[..], b"/s1", b"/s2", b"/s3", b"/s4", b"/s5", b"arg"]);
    assert_eq!(plan.exec_path, b"/bin/sh");
}

#[test]
fn test_script_loop() {
    // ...six is ELOOP,
    let mut fs = chain(6);
    assert_eq!(run(&mut fs, "/s6", &["s6"]).unwrap_err(), ELOOP);
    // and so is a script that runs itself.
    let mut fs = MemFs::new();
    fs.add("/me", b"#!/me\n".to_vec());
    assert_eq!(run(&mut fs, "/me", &["me"]).unwrap_err(), ELOOP);
}

#[test]
fn test_script_interp_missing() {
    let mut fs = MemFs::new();
    fs.add("/s", b"#!/nonexistent\n".to_vec());
    assert_eq!(run(&mut fs, "/s", &["s"]).unwrap_err(), ENOENT);
    fs.add("/e", b"#!".to_vec());
    assert_eq!(run(&mut fs, "/e", &["e"]).unwrap_err(), EACCES);
    fs.add("/n", b"#!\n".to_vec());
    assert_eq!(run(&mut fs, "/n", &["n"]).unwrap_err(), ENOEXEC);
}

#[test]
fn test_missing_file() {
    let mut fs = MemFs::new();
    assert_eq!(run(&mut fs, "/nope", &["x"]).unwrap_err(), ENOENT);
    assert_eq!(run(&mut fs, "", &["x"]).unwrap_err(), ENOENT);
}

#[test]
fn test_args_too_big() {
    let mut fs = script_fs();
    let long = "x".repeat(MAX_ARG_STRLEN as usize);
    assert_eq!(run(&mut fs, "/bin/sh", &["sh", &long]).unwrap_err(), E2BIG);
    let ok = "x".repeat(MAX_ARG_STRLEN as usize - 1);
    assert!(run(&mut fs, "/bin/sh", &["sh", &ok]).is_ok());
    let many: Vec<&str> = std::iter::repeat_n(ok.as_str(), 17).collect();
    assert_eq!(run(&mut fs, "/bin/sh", &many).unwrap_err(), E2BIG);
    // The missing file wins over E2BIG, as in Linux.
    assert_eq!(run(&mut fs, "/nope", &["sh", &long]).unwrap_err(), ENOENT);
}

// ---- robustness ----

/// A tiny deterministic PRNG (xorshift), so failures are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fuzz(seed_file: Vec<u8>, interp: Option<Vec<u8>>, rounds: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hot = (64 + 56 * 16).min(seed_file.len());
    for _ in 0..rounds {
        let mut f = seed_file.clone();
        let mut i = interp.clone();
        for _ in 0..1 + rng.next() % 4 {
            let pick_interp = rng.next().is_multiple_of(3);
            let target = match i.as_mut() {
                Some(i) if pick_interp => i,
                _ => &mut f,
            };
            let h = hot.min(target.len());
            let at = (rng.next() as usize) % h;
            match rng.next() % 3 {
                0 => target[at] ^= 1 << (rng.next() % 8),
                1 => target[at] = rng.next() as u8,
                _ => target[at] = [0, 0xff, 0x80, 0x7f][(rng.next() % 4) as usize],
            }
        }
        if rng.next().is_multiple_of(8) {
            let n = (rng.next() as usize) % f.len();
            f.truncate(n);
        }
        let mut fs = MemFs::new();
        fs.add("/p", f);
        if let Some(i) = i {
            fs.add("/lib/ld.so", i);
        }
        if let Ok(plan) = run(&mut fs, "/p", &["p"]) {
            // Anything accepted must be internally consistent.
            for s in &plan.segments {
                assert_eq!(s.vaddr % 4096, 0);
                assert_eq!(s.file_off % 4096, 0);
                assert!(s.vaddr + s.mem_len <= TASK_SIZE);
                assert!(s.file_len <= s.mem_len);
                assert!(s.file_off + s.file_len <= s.file.len() as u64);
            }
            let _ = build_stack(&plan, &[b"A=1".to_vec()], 0x7fff_ffff_f000, [0; 16], None, b"/p")
                .unwrap();
        }
    }
}

#[test]
fn fuzz_headers_never_panic() {
    fuzz(static_exec().build(), None, 20_000);
    let ld = ElfSpec::dyn_(0x10, vec![load(0, 0, 0x100, 0x1000, RX)], 0x1000).build();
    fuzz(with_interp(b"/lib/ld.so"), Some(ld), 20_000);
}

#[test]
fn fuzz_real_binary_never_panic() {
    let Ok(ls) = std::fs::read("/bin/ls") else {
        eprintln!("note: /bin/ls not readable, skipping");
        return;
    };
    let ld = std::fs::read("/lib64/ld-linux-x86-64.so.2").ok();
    fuzz(ls, ld, 5_000);
}

// ---- real binaries ----

/// One `readelf -lW` PT_LOAD: (offset, vaddr, filesz, memsz, flags string).
type LoadLine = (u64, u64, u64, u64, String);

fn readelf_loads(path: &Path) -> Option<Vec<LoadLine>> {
    let out = Command::new("readelf").arg("-lW").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    Some(
        text.lines()
            .map(str::split_whitespace)
            .filter_map(|mut w| {
                if w.next()? != "LOAD" {
                    return None;
                }
                let v: Vec<&str> = w.collect();
                // off vaddr paddr filesz memsz flags... align
                let flags = v[5..v.len() - 1].concat();
                Some((hex(v[0]), hex(v[1]), hex(v[3]), hex(v[4]), flags))
            })
            .collect(),
    )
}

/// Checks plan segments `segs` against readelf's view of `path` at `bias`.
fn check_against_readelf(path: &Path, segs: &[Segment], bias: u64) {
    let Some(loads) = readelf_loads(path) else {
        eprintln!("note: readelf missing, not cross-checking {}", path.display());
        return;
    };
    let loads: Vec<_> = loads.into_iter().filter(|l| l.3 > 0).collect();
    assert_eq!(segs.len(), loads.len(), "{}", path.display());
    for (s, (off, vaddr, filesz, memsz, flags)) in segs.iter().zip(loads) {
        let addr = bias + vaddr;
        assert_eq!(s.vaddr, addr & !0xfff);
        assert_eq!(s.vaddr + s.mem_len, (addr + memsz + 0xfff) & !0xfff);
        assert_eq!(s.file_off, off & !0xfff);
        assert_eq!(s.copy_to, s.vaddr);
        // The file bytes cover the segment's file part...
        assert!(s.file_len >= (addr & 0xfff) + filesz);
        // ...and the byte at p_vaddr really is the byte at p_offset.
        if filesz > 0 {
            let src = s.file_off + (addr - s.copy_to);
            assert_eq!(src, off);
        }
        if memsz > filesz {
            assert_eq!(s.file_len, (addr & 0xfff) + filesz, "bss starts right after the file part");
        }
        let want = (if flags.contains('R') { PROT_READ } else { 0 })
            | (if flags.contains('W') { PROT_WRITE } else { 0 })
            | (if flags.contains('E') { PROT_EXEC } else { 0 });
        assert_eq!(s.prot, want);
    }
}

fn phdr_vaddr(path: &Path) -> Option<u64> {
    let out = Command::new("readelf").arg("-lW").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.trim_start().starts_with("PHDR"))?;
    let v = line.split_whitespace().nth(2)?;
    u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
}

#[test]
fn host_ls_dynamic_pie() {
    let path = Path::new("/bin/ls");
    if !path.exists() {
        eprintln!("note: no /bin/ls, skipping");
        return;
    }
    let mut fs = MemFs::host();
    let plan = run(&mut fs, "/bin/ls", &["ls", "-l"]).unwrap();
    let exe: Vec<Segment> = plan.segments.iter().filter(|s| s.vaddr < IBASE).cloned().collect();
    let ld: Vec<Segment> = plan.segments.iter().filter(|s| s.vaddr >= IBASE).cloned().collect();
    check_against_readelf(path, &exe, BASE);
    let ld_path = Path::new(std::str::from_utf8(&fs.opened[1]).unwrap());
    check_against_readelf(ld_path, &ld, IBASE);
    assert_eq!(aux(&plan, AT_BASE), IBASE);
    assert_eq!(plan.exec_path, std::fs::canonicalize(path).unwrap().to_string_lossy().as_bytes());
    if let Some(v) = phdr_vaddr(path) {
        assert_eq!(aux(&plan, AT_PHDR), BASE + v, "AT_PHDR agrees with PT_PHDR");
    }
    let ld_elf = std::fs::read(ld_path).unwrap();
    let ld_entry = u64::from_le_bytes(ld_elf[24..32].try_into().unwrap());
    assert_eq!(plan.entry, IBASE + ld_entry);
}

#[test]
fn host_busybox_static_exec() {
    let path = Path::new("/bin/busybox");
    if !path.exists() {
        eprintln!("note: no /bin/busybox (apt-get install busybox-static), skipping");
        return;
    }
    let mut fs = MemFs::host();
    let plan = run(&mut fs, "/bin/busybox", &["busybox", "true"]).unwrap();
    let f = std::fs::read(path).unwrap();
    let e_type = u16::from_le_bytes([f[16], f[17]]);
    let bias = if e_type == 3 { BASE } else { 0 };
    check_against_readelf(path, &plan.segments, bias);
    assert_eq!(aux(&plan, AT_BASE), 0);
    let entry = u64::from_le_bytes(f[24..32].try_into().unwrap());
    assert_eq!(plan.entry, entry + bias);
    assert_eq!(fs.opened.len(), 1, "no interpreter");
}

/// Compiles a C program with musl-gcc; `None` (with a note) if unavailable.
/// Each caller gets its own directory: the tests run in parallel.
fn musl(flags: &[&str], name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("umk-loader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint x[5000];\nint main(){puts(\"hi\");return x[1];}\n",
    )
    .ok()?;
    let out = dir.join(name);
    match Command::new("musl-gcc").args(flags).arg("-o").arg(&out).arg(&src).status() {
        Ok(s) if s.success() => Some(out),
        _ => {
            eprintln!("note: musl-gcc {flags:?} failed or missing, skipping");
            None
        }
    }
}

/// Debian's musl-gcc specs turn `-static-pie` into a *dynamic* PIE, so a
/// static-pie is linked by hand: musl's self-relocating rcrt1.o, libc.a,
/// and no PT_INTERP.
fn musl_static_pie_binary() -> Option<std::path::PathBuf> {
    let m = "/usr/lib/x86_64-linux-musl";
    let (rcrt1, crti, crtn) =
        (format!("{m}/rcrt1.o"), format!("{m}/crti.o"), format!("{m}/crtn.o"));
    let flags = [
        "-fPIE",
        "-nostartfiles",
        &rcrt1,
        &crti,
        &crtn,
        "-Wl,-static",
        "-Wl,-pie",
        "-Wl,--no-dynamic-linker",
    ];
    let bin = musl(&flags, "hello-static-pie")?;
    let f = std::fs::read(&bin).ok()?;
    let interp = readelf_loads(&bin).is_some()
        && String::from_utf8_lossy(
            &Command::new("readelf").arg("-lW").arg(&bin).output().ok()?.stdout,
        )
        .contains("INTERP");
    if f.get(16) != Some(&3) || interp {
        eprintln!("note: could not link a static-pie with musl, skipping");
        return None;
    }
    Some(bin)
}

#[test]
fn musl_static() {
    let Some(bin) = musl(&["-static"], "hello-static") else { return };
    let mut fs = MemFs::host();
    let p = bin.to_str().unwrap();
    let plan = run(&mut fs, p, &["hello"]).unwrap();
    check_against_readelf(&bin, &plan.segments, 0);
    assert_eq!(aux(&plan, AT_BASE), 0);
    assert_eq!(plan.entry, aux(&plan, AT_ENTRY));
}

#[test]
fn musl_static_pie() {
    let Some(bin) = musl_static_pie_binary() else { return };
    let mut fs = MemFs::host();
    let plan = run(&mut fs, bin.to_str().unwrap(), &["hello"]).unwrap();
    check_against_readelf(&bin, &plan.segments, BASE);
    assert_eq!(aux(&plan, AT_BASE), 0, "a static-pie has no interpreter");
    assert_eq!(fs.opened.len(), 1);
    assert_eq!(plan.entry, aux(&plan, AT_ENTRY));
    assert_eq!(plan.segments[0].vaddr, BASE);
    // No PT_PHDR here: AT_PHDR comes from the PT_LOAD holding e_phoff (64).
    let want = phdr_vaddr(&bin).unwrap_or(64);
    assert_eq!(aux(&plan, AT_PHDR), BASE + want);
}

#[test]
fn musl_dynamic() {
    let Some(bin) = musl(&[], "hello-dyn") else { return };
    if !Path::new("/lib/ld-musl-x86_64.so.1").exists() {
        eprintln!("note: no musl dynamic linker, skipping");
        return;
    }
    let mut fs = MemFs::host();
    let plan = run(&mut fs, bin.to_str().unwrap(), &["hello"]).unwrap();
    assert_eq!(fs.opened[1], b"/lib/ld-musl-x86_64.so.1");
    assert_eq!(aux(&plan, AT_BASE), IBASE);
    assert!(plan.entry >= IBASE);
}

// ---- the real kernel as the reference ----

/// Prints the probe's own initial stack: the [stack] top, rsp, string
/// addresses and the auxv, one item per line.
const PROBE_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <stdint.h>
int main(int argc, char **argv) {
    char **envp = argv + argc + 1, **p = envp;
    while (*p) p++;
    uint64_t *a = (uint64_t *)(p + 1);
    unsigned long lo = 0, hi = 0; char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) if (strstr(line, "[stack]")) sscanf(line, "%lx-%lx", &lo, &hi);
    printf("top %lu\nrsp %lu\n", hi, (unsigned long)(argv - 1));
    for (int i = 0; i < argc; i++) printf("arg %lu\n", (unsigned long)argv[i]);
    for (p = envp; *p; p++) printf("env %lu\n", (unsigned long)*p);
    for (;; a += 2) { printf("aux %lu %lu\n", a[0], a[1]); if (!a[0]) break; }
    printf("auxend %lu\n", (unsigned long)(a + 2));
    return 0;
}
"#;

#[derive(Default, Debug)]
struct Dump {
    top: u64,
    rsp: u64,
    args: Vec<u64>,
    envs: Vec<u64>,
    auxv: Vec<(u64, u64)>,
    auxend: u64,
}

fn parse_dump(text: &str) -> Dump {
    let mut d = Dump::default();
    for l in text.lines() {
        let w: Vec<u64> = l.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
        match l.split_whitespace().next() {
            Some("top") => d.top = w[0],
            Some("rsp") => d.rsp = w[0],
            Some("arg") => d.args.push(w[0]),
            Some("env") => d.envs.push(w[0]),
            Some("aux") => d.auxv.push((w[0], w[1])),
            Some("auxend") => d.auxend = w[0],
            _ => {}
        }
    }
    d
}

#[test]
fn stack_matches_real_kernel() {
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("umk-loader-{}-probe", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let bin = dir.join("probe");
    let built =
        Command::new("musl-gcc").args(["-static", "-no-pie", "-o"]).arg(&bin).arg(&src).status();
    if !matches!(built, Ok(s) if s.success()) {
        eprintln!("note: musl-gcc unavailable, skipping the real-kernel comparison");
        return;
    }
    let argv = ["zeroth", "one", "", "three four"];
    // Sorted by key: `Command` passes its environment in key order.
    let envp = [("A", "1"), ("E", ""), ("LONGER_NAME", "with spaces")];
    let out =
        Command::new(&bin).arg0(argv[0]).args(&argv[1..]).env_clear().envs(envp).output().unwrap();
    assert!(out.status.success());
    let host = parse_dump(&String::from_utf8(out.stdout).unwrap());
    let hv = |key| host.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v);

    // Plan the same exec with the host's credentials, then build its stack
    // under the same stack top.
    let path = bin.to_str().unwrap().as_bytes().to_vec();
    let params = ExecParams {
        path: &path,
        argv: argv.iter().map(|s| s.as_bytes().to_vec()).collect(),
        envp: envp.iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect(),
        uid: hv(AT_UID).unwrap() as u32,
        euid: hv(AT_EUID).unwrap() as u32,
        gid: hv(AT_GID).unwrap() as u32,
        egid: hv(AT_EGID).unwrap() as u32,
    };
    let plan = plan_exec(&mut MemFs::host(), &params, BASE, IBASE).unwrap();
    let vdso = hv(AT_SYSINFO_EHDR);
    let (img, rsp) = build_stack(&plan, &params.envp, host.top, [9; 16], vdso, &path).unwrap();
    let ours = super::stack::tests::parse(&img, rsp);

    // 1. The string area is identical, address for address.
    assert_eq!(ours.argv_ptrs, host.args);
    assert_eq!(ours.envp_ptrs, host.envs);
    let oa = |key| ours.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v);
    assert_eq!(oa(AT_EXECFN), hv(AT_EXECFN));
    // 2. Below it Linux inserts a random gap (arch_align_stack), so compare
    //    the shape: platform just under a 16-byte boundary, random below it.
    for (name, plat, rnd) in
        [("host", hv(AT_PLATFORM), hv(AT_RANDOM)), ("ours", oa(AT_PLATFORM), oa(AT_RANDOM))]
    {
        assert_eq!(plat.unwrap() % 16, 9, "{name}");
        assert_eq!(rnd.unwrap(), plat.unwrap() - 16, "{name}");
    }
    let our_auxend = rsp + 8 * (1 + argv.len() + 1 + envp.len() + 1 + 2 * ours.auxv.len()) as u64;
    for (name, end, rnd, rsp) in
        [("host", host.auxend, hv(AT_RANDOM), host.rsp), ("ours", our_auxend, oa(AT_RANDOM), rsp)]
    {
        assert!(
            end <= rnd.unwrap() && rnd.unwrap() - end < 16,
            "{name}: auxv ends just below AT_RANDOM"
        );
        assert_eq!(rsp % 16, 0, "{name}");
    }
    // 3. auxv: same order for the keys we produce, same values where they
    //    do not depend on addresses we chose differently.
    let our_keys: Vec<u64> = ours.auxv.iter().map(|&(k, _)| k).collect();
    let host_keys: Vec<u64> =
        host.auxv.iter().map(|&(k, _)| k).filter(|k| our_keys.contains(k)).collect();
    assert_eq!(our_keys, host_keys);
    for key in [
        AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY,
        AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_HWCAP2,
    ] {
        assert_eq!(oa(key), hv(key), "auxv key {key}");
    }
}
