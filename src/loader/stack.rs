//! The initial process stack, after Linux `create_elf_tables()`
//! (fs/binfmt_elf.c) and the string copying in fs/exec.c.
//!
//! What a new program finds, from the top of the stack down:
//!
//! ```text
//!   stack_top ->  8 zero bytes          (bprm->p starts one pointer below the top)
//!                 execfn "\0"           (the path given to execve: AT_EXECFN)
//!                 envp strings          (envp[0] lowest)
//!                 argv strings          (argv[0] lowest)
//!                 ... align down to 16
//!                 "x86_64\0"            (AT_PLATFORM)
//!                 16 random bytes       (AT_RANDOM: glibc's stack protector and pointer guard)
//!                 ... gap: whatever aligning rsp leaves over
//!                 auxv pairs ... AT_NULL, 0
//!                 NULL
//!                 envp[envc - 1] ... envp[0]
//!                 NULL
//!                 argv[argc - 1] ... argv[0]
//!   rsp ->        argc                  (16-byte aligned, as the x86_64 ABI wants at _start)
//! ```
//!
//! The strings are written first, so their addresses are known when the
//! pointer vectors are filled in. Linux also moves the string area down by a
//! random amount (`arch_align_stack()`) when ASLR is on; this builder is the
//! non-randomized layout, with the randomness left to the caller's choice of
//! `stack_top`.

use guest_abi::auxv::*;
use guest_abi::errno::EFAULT;

use super::{ArgSpace, LoadPlan};

/// `ELF_PLATFORM` on x86_64 (`utsname()->machine`).
pub const PLATFORM: &[u8] = b"x86_64";

/// Builds the initial stack for `plan`; see the module docs for the layout.
///
/// Returns the bytes for `[stack_top - bytes.len(), stack_top)` and the
/// initial `rsp` (which equals `stack_top - bytes.len()`).
pub fn build_stack(
    plan: &LoadPlan,
    envp: &[Vec<u8>],
    stack_top: u64,
    random: [u8; 16],
    vdso: Option<u64>,
    execfn: &[u8],
) -> Result<(Vec<u8>, u64), i32> {
    // The same limits execve applied: refuse what Linux could never build.
    let mut room = ArgSpace::new(plan.argv.len().max(1) + envp.len()).map_err(|e| e.errno)?;
    for s in std::iter::once(execfn)
        .chain(envp.iter().map(|s| &s[..]))
        .chain(plan.argv.iter().map(|s| &s[..]))
    {
        room.push(s.len()).map_err(|e| e.errno)?;
    }

    // Addresses are computed downwards from the top, as Linux's bprm->p.
    let mut p = Cursor(stack_top);
    p.down(8)?;
    let execfn_at = p.alloc_str(execfn)?;
    // copy_strings() walks each array from the last element to the first,
    // each string going below the previous one: element 0 ends up lowest.
    let mut env_at: Vec<u64> =
        envp.iter().rev().map(|s| p.alloc_str(s)).collect::<Result<_, _>>()?;
    env_at.reverse();
    let mut arg_at: Vec<u64> =
        plan.argv.iter().rev().map(|s| p.alloc_str(s)).collect::<Result<_, _>>()?;
    arg_at.reverse();

    // arch_align_stack() without its random part: round down to 16.
    p.0 &= !15;
    let platform_at = p.alloc_str(PLATFORM)?;
    p.down(16)?;
    let random_at = p.0;

    // The auxiliary vector, in create_elf_tables() order: ARCH_DLINFO's
    // AT_SYSINFO_EHDR first; AT_RANDOM right after AT_SECURE; AT_EXECFN and
    // AT_PLATFORM after AT_HWCAP2; AT_NULL last.
    let mut auxv: Vec<(u64, u64)> = Vec::with_capacity(plan.auxv.len() + 5);
    if let Some(base) = vdso {
        auxv.push((AT_SYSINFO_EHDR, base));
    }
    let ours = [AT_SYSINFO_EHDR, AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL];
    let (mut have_random, mut have_execfn) = (false, false);
    for &(key, val) in plan.auxv.iter().filter(|(k, _)| !ours.contains(k)) {
        auxv.push((key, val));
        if key == AT_SECURE {
            auxv.push((AT_RANDOM, random_at));
            have_random = true;
        }
        if key == AT_HWCAP2 {
            auxv.push((AT_EXECFN, execfn_at));
            auxv.push((AT_PLATFORM, platform_at));
            have_execfn = true;
        }
    }
    // If the kernel's plan lacks the anchors, still provide the entries.
    if !have_random {
        auxv.push((AT_RANDOM, random_at));
    }
    if !have_execfn {
        auxv.push((AT_EXECFN, execfn_at));
        auxv.push((AT_PLATFORM, platform_at));
    }
    auxv.push((AT_NULL, 0));

    // STACK_ROUND(sp, items): leave room for auxv and the argc/argv/envp
    // words, then round down to 16 so rsp is aligned.
    let items = 1 + (arg_at.len() + 1) + (env_at.len() + 1);
    let words = items + 2 * auxv.len();
    p.down(8 * words as u64)?;
    p.0 &= !15;
    let rsp = p.0;

    // Fill the image: the vectors from rsp upwards, the strings where placed.
    let mut img = vec![0u8; (stack_top - rsp) as usize];
    let mut put = |addr: u64, bytes: &[u8]| {
        let at = (addr - rsp) as usize;
        img[at..at + bytes.len()].copy_from_slice(bytes);
    };
    let mut words_out: Vec<u64> = Vec::with_capacity(words);
    words_out.push(plan.argv.len() as u64);
    words_out.extend(&arg_at);
    words_out.push(0);
    words_out.extend(&env_at);
    words_out.push(0);
    for (k, v) in &auxv {
        words_out.extend([*k, *v]);
    }
    for (i, w) in words_out.iter().enumerate() {
        put(rsp + 8 * i as u64, &w.to_le_bytes());
    }
    put(execfn_at, execfn);
    for (s, &at) in envp.iter().zip(&env_at) {
        put(at, s);
    }
    for (s, &at) in plan.argv.iter().zip(&arg_at) {
        put(at, s);
    }
    put(platform_at, PLATFORM);
    put(random_at, &random);
    Ok((img, rsp))
}

/// A downward-growing allocation pointer (Linux's `STACK_ALLOC`).
struct Cursor(u64);

impl Cursor {
    fn down(&mut self, n: u64) -> Result<(), i32> {
        self.0 = self.0.checked_sub(n).ok_or(EFAULT)?;
        Ok(())
    }
    /// Reserves room for `s` and its NUL; returns its address.
    fn alloc_str(&mut self, s: &[u8]) -> Result<u64, i32> {
        self.down(s.len() as u64 + 1)?;
        Ok(self.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::loader::LoadPlan;
    use guest_abi::errno::E2BIG;

    /// A parsed initial stack.
    #[derive(Debug)]
    pub(crate) struct Parsed {
        pub argv: Vec<Vec<u8>>,
        pub envp: Vec<Vec<u8>>,
        pub auxv: Vec<(u64, u64)>,
        pub argv_ptrs: Vec<u64>,
        pub envp_ptrs: Vec<u64>,
    }

    /// Reads the stack back the way libc start-up code does.
    pub(crate) fn parse(img: &[u8], rsp: u64) -> Parsed {
        let word = |addr: u64| {
            let at = (addr - rsp) as usize;
            u64::from_le_bytes(img[at..at + 8].try_into().unwrap())
        };
        let cstr = |addr: u64| -> Vec<u8> {
            let at = (addr - rsp) as usize;
            img[at..].iter().take_while(|&&c| c != 0).copied().collect()
        };
        let argc = word(rsp);
        let mut a = rsp + 8;
        let argv_ptrs: Vec<u64> = (0..argc).map(|i| word(a + 8 * i)).collect();
        a += 8 * argc;
        assert_eq!(word(a), 0, "argv must be NULL terminated");
        a += 8;
        let mut envp_ptrs = Vec::new();
        while word(a) != 0 {
            envp_ptrs.push(word(a));
            a += 8;
        }
        a += 8;
        let mut auxv = Vec::new();
        loop {
            let (k, v) = (word(a), word(a + 8));
            auxv.push((k, v));
            a += 16;
            if k == AT_NULL {
                break;
            }
        }
        Parsed {
            argv: argv_ptrs.iter().map(|&p| cstr(p)).collect(),
            envp: envp_ptrs.iter().map(|&p| cstr(p)).collect(),
            auxv,
            argv_ptrs,
            envp_ptrs,
        }
    }

    fn plan(argv: &[&str]) -> LoadPlan {
        LoadPlan {
            segments: vec![],
            entry: 0x401000,
            brk_start: 0x500000,
            auxv: vec![
                (AT_HWCAP, 0x1234),
                (AT_PAGESZ, 4096),
                (AT_CLKTCK, 100),
                (AT_PHDR, 0x400040),
                (AT_PHENT, 56),
                (AT_PHNUM, 9),
                (AT_BASE, 0),
                (AT_FLAGS, 0),
                (AT_ENTRY, 0x401000),
                (AT_UID, 1000),
                (AT_EUID, 1000),
                (AT_GID, 100),
                (AT_EGID, 100),
                (AT_SECURE, 0),
                (AT_HWCAP2, 2),
            ],
            argv: argv.iter().map(|s| s.as_bytes().to_vec()).collect(),
            exec_path: b"/bin/prog".to_vec(),
            total_span: (0x400000, 0x500000),
        }
    }

    fn aux(p: &Parsed, key: u64) -> Option<u64> {
        p.auxv.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }

    #[test]
    fn round_trip() {
        let top = 0x7fff_ffff_e000;
        let envp = vec![b"HOME=/root".to_vec(), b"PATH=/bin".to_vec(), b"".to_vec()];
        let pl = plan(&["prog", "-l", "", "a b"]);
        let random = *b"0123456789abcdef";
        let (img, rsp) =
            build_stack(&pl, &envp, top, random, Some(0x7fff_f000_0000), b"./prog").unwrap();
        assert_eq!(rsp % 16, 0);
        assert_eq!(rsp + img.len() as u64, top);
        let s = parse(&img, rsp);
        assert_eq!(s.argv, pl.argv);
        assert_eq!(s.envp, envp);
        assert!(s.argv_ptrs.windows(2).all(|w| w[0] < w[1]));
        assert!(s.envp_ptrs[0] > *s.argv_ptrs.last().unwrap(), "env strings above argv strings");
        // Strings: argv then envp then execfn, contiguous, increasing.
        let at = |a: u64| (a - rsp) as usize;
        let strings_lo = s.argv_ptrs[0];
        let mut expect = Vec::new();
        for x in pl.argv.iter().chain(&envp) {
            expect.extend_from_slice(x);
            expect.push(0);
        }
        expect.extend_from_slice(b"./prog\0");
        expect.extend_from_slice(&[0; 8]);
        assert_eq!(&img[at(strings_lo)..], &expect[..]);
        // auxv: order and the builder's own entries.
        let keys: Vec<u64> = s.auxv.iter().map(|&(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                AT_SYSINFO_EHDR,
                AT_HWCAP,
                AT_PAGESZ,
                AT_CLKTCK,
                AT_PHDR,
                AT_PHENT,
                AT_PHNUM,
                AT_BASE,
                AT_FLAGS,
                AT_ENTRY,
                AT_UID,
                AT_EUID,
                AT_GID,
                AT_EGID,
                AT_SECURE,
                AT_RANDOM,
                AT_HWCAP2,
                AT_EXECFN,
                AT_PLATFORM,
                AT_NULL
            ]
        );
        assert_eq!(aux(&s, AT_SYSINFO_EHDR), Some(0x7fff_f000_0000));
        let execfn = aux(&s, AT_EXECFN).unwrap();
        assert_eq!(execfn, top - 8 - 7);
        assert_eq!(&img[at(execfn)..at(execfn) + 7], b"./prog\0");
        let platform = aux(&s, AT_PLATFORM).unwrap();
        assert_eq!(platform % 16, 16 - 7, "platform sits right below a 16-byte boundary");
        assert!(platform < strings_lo && strings_lo - platform < 16 + 7);
        assert_eq!(&img[at(platform)..at(platform) + 7], b"x86_64\0");
        let r = aux(&s, AT_RANDOM).unwrap();
        assert_eq!(r, platform - 16);
        assert_eq!(&img[at(r)..at(r) + 16], &random);
        // The vectors end below the random bytes, with less than 16 bytes
        // of padding plus the slack of aligning.
        let aux_end = rsp + 8 * (1 + 5 + 4 + 2 * 20) as u64;
        assert!(aux_end <= r && r - aux_end < 32);
    }

    #[test]
    fn no_vdso_no_args() {
        let pl = plan(&[]);
        let (img, rsp) = build_stack(&pl, &[], 0x10_0000, [7; 16], None, b"x").unwrap();
        let s = parse(&img, rsp);
        assert!(s.argv.is_empty() && s.envp.is_empty());
        assert_eq!(aux(&s, AT_SYSINFO_EHDR), None);
        assert_eq!(s.auxv.len(), 15 + 3 + 1);
        assert_eq!(rsp % 16, 0);
    }

    #[test]
    fn plan_without_anchor_entries() {
        let mut pl = plan(&["a"]);
        pl.auxv.retain(|&(k, _)| k != AT_SECURE && k != AT_HWCAP2);
        pl.auxv.push((AT_RANDOM, 99)); // builder-owned: replaced, not duplicated
        let (img, rsp) = build_stack(&pl, &[], 0x10_0000, [7; 16], None, b"a").unwrap();
        let s = parse(&img, rsp);
        let n = |key| s.auxv.iter().filter(|(k, _)| *k == key).count();
        assert_eq!((n(AT_RANDOM), n(AT_EXECFN), n(AT_PLATFORM)), (1, 1, 1));
        assert_ne!(aux(&s, AT_RANDOM), Some(99));
    }

    #[test]
    fn every_alignment() {
        // Whatever the string lengths, rsp is aligned and everything parses.
        for n in 0..40 {
            let arg = "x".repeat(n);
            let pl = plan(&["p", &arg]);
            let env = vec![vec![b'e'; n % 7]];
            let (img, rsp) =
                build_stack(&pl, &env, 0x7fff_0000_0000, [0; 16], None, arg.as_bytes()).unwrap();
            assert_eq!(rsp % 16, 0);
            let s = parse(&img, rsp);
            assert_eq!(s.argv[1], arg.as_bytes());
            assert_eq!(s.envp, env);
        }
    }

    #[test]
    fn test_stack_too_low() {
        let pl = plan(&["prog"]);
        assert_eq!(build_stack(&pl, &[], 64, [0; 16], None, b"prog").unwrap_err(), EFAULT);
    }

    #[test]
    fn test_args_too_big() {
        let pl = plan(&["prog"]);
        let huge = vec![vec![b'x'; 100_000]; 30];
        assert_eq!(
            build_stack(&pl, &huge, 0x7fff_0000_0000, [0; 16], None, b"p").unwrap_err(),
            E2BIG
        );
    }
}
