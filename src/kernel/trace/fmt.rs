//! Formatting primitives shared by the decoders: strace's string escaping,
//! numbers, pointers, flag sets, signal names and sets, and bounded reads of
//! guest memory through [`TraceMem`].

use super::TraceMem;
use std::fmt::Write;

/// Longest path read from the guest (PATH_MAX): strace does not apply `-s`
/// to paths, only to data buffers and argv strings.
pub(super) const PATH_MAX: usize = 4096;

/// Appends `bytes` escaped exactly as strace's `string_quote` does without
/// `-x`: `\t \n \v \f \r \" \\` by name, printable ASCII as is, everything
/// else as the shortest octal escape — three digits when the next byte is
/// an octal digit, so that `"\0" "1"` reads back as `\0001`, not `\01`.
pub(super) fn escape_into(bytes: &[u8], out: &mut String) {
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                out.push('\\');
                let next_is_octal = matches!(bytes.get(i + 1), Some(b'0'..=b'7'));
                if next_is_octal {
                    out.push((b'0' + (c >> 6)) as char);
                    out.push((b'0' + ((c >> 3) & 7)) as char);
                } else if c >> 3 != 0 {
                    if c >> 6 != 0 {
                        out.push((b'0' + (c >> 6)) as char);
                    }
                    out.push((b'0' + ((c >> 3) & 7)) as char);
                }
                out.push((b'0' + (c & 7)) as char);
            }
        }
    }
}

/// `"escaped"`, followed by `...` when the guest's data went on beyond what
/// is shown.
pub(super) fn quoted(bytes: &[u8], truncated: bool) -> String {
    let mut s = String::with_capacity(bytes.len() + 5);
    s.push('"');
    escape_into(bytes, &mut s);
    s.push('"');
    if truncated {
        s.push_str("...");
    }
    s
}

/// C's `%#lx`: `0` for zero, else `0x...`.
pub(super) fn hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// A pointer argument: `NULL` or hex.
pub(super) fn ptr(v: u64) -> String {
    if v == 0 {
        "NULL".into()
    } else {
        format!("{v:#x}")
    }
}

/// A mode in octal with a leading zero, like strace's `%#03o` (`0644`, `000`).
pub(super) fn octal(v: u64) -> String {
    if v == 0 {
        "000".into()
    } else {
        format!("0{v:o}")
    }
}

/// Names of the bits of `v` found in `table` (in table order, each entry may
/// cover several bits), joined with `|`; leftover bits in hex. `zero` is
/// what an empty value prints as.
pub(super) fn flags(v: u64, table: &[(u64, &str)], zero: &str) -> String {
    if v == 0 {
        return zero.into();
    }
    let mut s = String::new();
    let mut left = v;
    for &(bits, name) in table {
        if bits != 0 && v & bits == bits && left & bits != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(name);
            left &= !bits;
        }
    }
    if left != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        let _ = write!(s, "{left:#x}");
    }
    s
}

/// A value that is one of `table`'s names, else decimal.
pub(super) fn xlat(v: i64, table: &[(i64, &str)]) -> String {
    match table.iter().find(|(k, _)| *k == v) {
        Some((_, n)) => (*n).into(),
        None => v.to_string(),
    }
}

/// strace's signal names: `SIGINT`, `SIGRTMIN` for 32, `SIGRT_n` for
/// 32+n; 0 and out-of-range numbers in decimal.
pub(super) fn signame(sig: i64) -> String {
    match sig {
        1..=32 => guest_abi::signal::name(sig as i32).unwrap_or("?").into(),
        33..=64 => format!("SIGRT_{}", sig - 32),
        _ => sig.to_string(),
    }
}

/// A signal set as strace prints it: `[INT TERM]`, or `~[...]` listing the
/// signals *not* in the set when more than half of the 64 are.
pub(super) fn sigset(set: u64) -> String {
    let (set, prefix) = if set.count_ones() > 32 { (!set, "~[") } else { (set, "[") };
    let mut s = String::from(prefix);
    let mut first = true;
    for sig in 1..=64i64 {
        if set & (1u64 << (sig - 1)) != 0 {
            if !first {
                s.push(' ');
            }
            first = false;
            let n = signame(sig);
            s.push_str(n.strip_prefix("SIG").unwrap_or(&n));
        }
    }
    s.push(']');
    s
}

/// Bounded reads of guest memory. Every read is split at page boundaries
/// so that a string ending just before an unmapped page still decodes.
pub(super) struct Reader<'a> {
    pub mem: &'a mut dyn TraceMem,
}

const PAGE: u64 = 4096;

impl Reader<'_> {
    /// Exactly `len` bytes at `addr`, or `None`.
    pub fn bytes(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 && len > 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.mem.read(addr, &mut buf).then_some(buf)
    }

    pub fn u64(&mut self, addr: u64) -> Option<u64> {
        self.bytes(addr, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn i32(&mut self, addr: u64) -> Option<i32> {
        self.bytes(addr, 4).map(|b| i32::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// A NUL-terminated string of at most `max` bytes: the bytes and whether
    /// the string went on beyond `max`. `None` if the memory is unreadable
    /// before the string ends.
    pub fn cstr(&mut self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        if addr == 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut at = addr;
        // Read one byte past `max` to know whether the string was cut.
        let want = max + 1;
        let mut chunk = Vec::new();
        while out.len() < want {
            let to_page_end = (PAGE - at % PAGE) as usize;
            let mut n = to_page_end.min(want - out.len()).min(256);
            // A memory finer-grained than pages may fail a chunk whose
            // first bytes are readable: retry smaller before giving up.
            loop {
                chunk.resize(n, 0);
                if self.mem.read(at, &mut chunk) {
                    break;
                }
                if n == 1 {
                    return None;
                }
                n /= 2;
            }
            if let Some(z) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                let cut = out.len() > max;
                out.truncate(max);
                return Some((out, cut));
            }
            out.extend_from_slice(&chunk);
            at = at.checked_add(n as u64)?;
        }
        out.truncate(max);
        Some((out, true))
    }

    /// A path argument: the whole string (up to PATH_MAX) quoted, or the
    /// pointer when unreadable.
    pub fn path(&mut self, addr: u64) -> String {
        match self.cstr(addr, PATH_MAX) {
            Some((b, cut)) => quoted(&b, cut),
            None => ptr(addr),
        }
    }

    /// A NUL-terminated string cut at `limit` bytes (strace `-s`).
    pub fn string(&mut self, addr: u64, limit: usize) -> String {
        match self.cstr(addr, limit) {
            Some((b, cut)) => quoted(&b, cut),
            None => ptr(addr),
        }
    }

    /// A buffer of `len` bytes, shown up to `limit` bytes.
    pub fn buffer(&mut self, addr: u64, len: u64, limit: usize) -> String {
        let shown = (len as usize).min(limit);
        match self.bytes(addr, shown) {
            Some(b) => quoted(&b, len as usize > limit),
            None => ptr(addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(b: &[u8]) -> String {
        let mut s = String::new();
        escape_into(b, &mut s);
        s
    }

    #[test]
    fn escape_named_characters() {
        assert_eq!(esc(b"a\nb\tc\"d\\e\r\x0b\x0c"), r#"a\nb\tc\"d\\e\r\v\f"#);
    }

    #[test]
    fn escape_nonprintable_as_shortest_octal() {
        assert_eq!(esc(b"\x00\x01\x07\x08\x1b\x7f\xff"), r"\0\1\7\10\33\177\377");
    }

    #[test]
    fn escape_uses_three_digits_before_an_octal_digit() {
        // strace: "\0001" for NUL then '1', "\0008" is not needed ('8' is not octal).
        assert_eq!(esc(b"\x001"), r"\0001");
        assert_eq!(esc(b"\x007"), r"\0007");
        assert_eq!(esc(b"\x008"), r"\08");
        assert_eq!(esc(b"\x1b0m"), r"\0330m");
    }

    #[test]
    fn escape_matches_real_strace_write_line() {
        // From: strace -e trace=write printf '\0001\001a\n\t"\\\x7f\xff\r\v\f\a\b\033[0m123...'
        let data = b"\x001\x01a\n\t\"\\\x7f\xff\r\x0b\x0c\x07\x08\x1b[0m1234567890123";
        assert_eq!(
            quoted(data, true),
            r#""\0001\1a\n\t\"\\\177\377\r\v\f\7\10\33[0m1234567890123"..."#
        );
    }

    #[test]
    fn escape_keeps_utf8_bytes_octal_like_strace_without_x() {
        assert_eq!(esc("é".as_bytes()), r"\303\251");
    }

    #[test]
    fn hex_and_ptr_and_octal() {
        assert_eq!(hex(0), "0");
        assert_eq!(hex(0x26000), "0x26000");
        assert_eq!(ptr(0), "NULL");
        assert_eq!(ptr(0x7f00), "0x7f00");
        assert_eq!(octal(0o644), "0644");
        assert_eq!(octal(0), "000");
    }

    #[test]
    fn flags_join_names_and_leave_unknown_bits_in_hex() {
        let t = [(1, "A"), (2, "B"), (4, "C")];
        assert_eq!(flags(0, &t, "0"), "0");
        assert_eq!(flags(5, &t, "0"), "A|C");
        assert_eq!(flags(0x105, &t, "0"), "A|C|0x100");
        assert_eq!(flags(0x100, &t, "0"), "0x100");
    }

    #[test]
    fn signal_names_include_realtime_like_strace() {
        assert_eq!(signame(9), "SIGKILL");
        assert_eq!(signame(32), "SIGRTMIN");
        assert_eq!(signame(50), "SIGRT_18"); // strace: kill(99999, SIGRT_18)
        assert_eq!(signame(0), "0");
        assert_eq!(signame(99), "99");
    }

    #[test]
    fn sigset_prints_members_or_complement() {
        assert_eq!(sigset(0), "[]");
        assert_eq!(sigset((1 << 1) | (1 << 14)), "[INT TERM]");
        // strace: rt_sigprocmask(SIG_SETMASK, ~[RTMIN RT_1], ...)
        assert_eq!(sigset(!((1u64 << 31) | (1u64 << 32))), "~[RTMIN RT_1]");
        assert_eq!(sigset(!0), "~[]");
    }

    struct Pages {
        base: u64,
        data: Vec<u8>,
    }
    impl TraceMem for Pages {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            let Some(off) = addr.checked_sub(self.base) else {
                return false;
            };
            let off = off as usize;
            if off + buf.len() > self.data.len() {
                return false;
            }
            buf.copy_from_slice(&self.data[off..off + buf.len()]);
            true
        }
    }

    #[test]
    fn cstr_stops_at_an_unmapped_page_when_the_string_ends_before() {
        // "hi\0" in the last bytes of the only mapped page.
        let mut data = vec![b'x'; 4096];
        data[4093..].copy_from_slice(b"hi\0");
        let mut m = Pages { base: 0x1000, data };
        let mut r = Reader { mem: &mut m };
        assert_eq!(r.path(0x1000 + 4093), r#""hi""#);
        // A string running into the unmapped page is unreadable: the pointer shows.
        let mut m = Pages { base: 0x1000, data: vec![b'x'; 4096] };
        let mut r = Reader { mem: &mut m };
        assert_eq!(r.path(0x1ff0), "0x1ff0");
        // ...unless the limit is reached first.
        assert_eq!(r.string(0x1ff0, 4), r#""xxxx"..."#);
    }

    #[test]
    fn cstr_truncates_at_limit_with_ellipsis() {
        let mut m = Pages { base: 0x1000, data: b"abcdef\0".to_vec() };
        let mut r = Reader { mem: &mut m };
        assert_eq!(r.string(0x1000, 3), r#""abc"..."#);
        assert_eq!(r.string(0x1000, 6), r#""abcdef""#);
        assert_eq!(r.string(0, 6), "NULL");
    }
}
