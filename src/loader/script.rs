//! `#!` scripts, after Linux `fs/binfmt_script.c` (`load_script()`).
//!
//! The kernel only ever looks at the first `BINPRM_BUF_SIZE` (256) bytes of a
//! file, read into `bprm->buf` and padded with NULs when the file is shorter.
//! From the `#!` line it takes an interpreter path and at most ONE argument:
//! everything after the path, with leading and trailing blanks removed, is
//! passed as a single string. `#!/usr/bin/env python3 -u` therefore runs
//! `/usr/bin/env` with the one argument `"python3 -u"`.
//!
//! Only spaces and tabs are blanks. The line ends at the first `\n`; a NUL
//! also ends the search for it, and both strings end at a NUL (C strings).
//! If no newline is found the line may have been cut off at 256 bytes: that
//! is fine for the argument (the interpreter can re-read the script), but a
//! cut-off interpreter path is refused with ENOEXEC, so the path must be
//! followed by a blank or NUL somewhere within the buffer.

use guest_abi::errno::ENOEXEC;

/// Size of `bprm->buf` (`BINPRM_BUF_SIZE`, include/uapi/linux/binfmts.h).
pub const BINPRM_BUF_SIZE: usize = 256;

/// The parsed `#!` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// Interpreter path exactly as written (resolved later by the VFS).
    pub interp: Vec<u8>,
    /// The optional argument: the rest of the line, trimmed, as one string.
    pub arg: Option<Vec<u8>>,
}

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Parses the start of a file as a script.
///
/// `None`: not a script (no `#!`), let another handler try.
/// `Some(Err(ENOEXEC))`: a `#!` line that names no usable interpreter.
pub fn parse_shebang(file: &[u8]) -> Option<Result<Shebang, i32>> {
    if !file.starts_with(b"#!") {
        return None;
    }
    // bprm->buf: the first 256 bytes, NUL padded.
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = file.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&file[..n]);
    Some(parse_buf(&buf))
}

fn parse_buf(buf: &[u8; BINPRM_BUF_SIZE]) -> Result<Shebang, i32> {
    // Indices work like the C pointers; `last` is the final byte of the
    // buffer, which Linux never uses as part of the line (it becomes the NUL
    // terminator when the line is cut off).
    let last = BINPRM_BUF_SIZE - 1;
    // First non-blank in [from, to] (inclusive, as in next_non_spacetab()).
    let non_blank = |from: usize, to: usize| (from..=to).find(|&i| !blank(buf[i]));
    // First blank or NUL in [from, to] (next_terminator()).
    let terminator = |from: usize, to: usize| (from..=to).find(|&i| blank(buf[i]) || buf[i] == 0);

    // strnchr() for the newline stops at a NUL as well.
    let newline = buf.iter().take_while(|&&c| c != 0).position(|&c| c == b'\n');
    let mut end = match newline {
        Some(i) => i,
        None => {
            // No newline: the path must be complete, i.e. followed by a
            // blank or NUL before the buffer ends.
            let start = non_blank(2, last).ok_or(ENOEXEC)?;
            terminator(start, last).ok_or(ENOEXEC)?;
            last
        }
    };
    // Trim trailing blanks; buf[1] is '!', so this stops at index 2.
    while blank(buf[end - 1]) {
        end -= 1;
    }
    let name = match non_blank(2, end) {
        Some(i) if i != end => i,
        _ => return Err(ENOEXEC), // "#!" followed by nothing
    };
    // The path ends at the first blank/NUL; an argument follows a blank.
    let sep = terminator(name, end);
    let arg_start = match sep {
        Some(s) if buf[s] != 0 => non_blank(s, end),
        _ => None,
    };
    // Linux writes NULs at `end` and at `sep`, then uses C strings.
    let cstr = |from: usize, to: usize| -> Vec<u8> {
        buf[from..to].iter().take_while(|&&c| c != 0).copied().collect()
    };
    let name_end = sep.unwrap_or(end).min(end);
    let interp = cstr(name, name_end);
    // The argument may be "" when a NUL follows the blank ("#!/bin/sh \0"):
    // Linux then passes an empty string, and so do we.
    let arg = arg_start.map(|a| cstr(a, end));
    Ok(Shebang { interp, arg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Shebang, i32> {
        parse_shebang(s).expect("starts with #!")
    }
    fn sb(interp: &str, arg: Option<&str>) -> Result<Shebang, i32> {
        Ok(Shebang { interp: interp.into(), arg: arg.map(Into::into) })
    }

    #[test]
    fn not_a_script() {
        assert_eq!(parse_shebang(b"\x7fELF"), None);
        assert_eq!(parse_shebang(b"#"), None);
        assert_eq!(parse_shebang(b""), None);
        assert_eq!(parse_shebang(b" #!/bin/sh\n"), None);
    }

    #[test]
    fn without_argument() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), sb("/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh   \t\n"), sb("/bin/sh", None));
        assert_eq!(parse(b"#! \t /bin/sh\n"), sb("/bin/sh", None));
    }

    #[test]
    fn with_argument() {
        assert_eq!(parse(b"#!/bin/sh -x\n"), sb("/bin/sh", Some("-x")));
        assert_eq!(parse(b"#!/bin/sh\t-x\n"), sb("/bin/sh", Some("-x")));
        assert_eq!(parse(b"#!  /bin/sh \t -x  \t\n"), sb("/bin/sh", Some("-x")));
    }

    #[test]
    fn argument_is_one_string() {
        assert_eq!(
            parse(b"#!/usr/bin/env python3 -u  -B\nprint(1)\n"),
            sb("/usr/bin/env", Some("python3 -u  -B"))
        );
    }

    #[test]
    fn carriage_return_is_not_blank() {
        // A DOS line ending makes the interpreter "/bin/sh\r" (the classic
        // "bad interpreter: No such file" error).
        assert_eq!(parse(b"#!/bin/sh\r\n"), sb("/bin/sh\r", None));
    }

    #[test]
    fn missing_newline() {
        assert_eq!(parse(b"#!/bin/sh"), sb("/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh -e"), sb("/bin/sh", Some("-e")));
        // Without a newline Linux trims only from the buffer's end (byte 254
        // is NUL padding), so trailing blanks stay in the argument. Checked
        // against a real kernel: `#!/x/show x   ` passes "x   ".
        assert_eq!(parse(b"#!/bin/sh -e   "), sb("/bin/sh", Some("-e   ")));
    }

    #[test]
    fn no_interpreter() {
        assert_eq!(parse(b"#!\n"), Err(ENOEXEC));
        // Without a newline the NUL padding counts as a terminator: the name
        // is "" (Linux then fails the lookup with EACCES, see mod.rs).
        assert_eq!(parse(b"#!"), sb("", None));
        assert_eq!(parse(b"#!   \t \n/bin/sh\n"), Err(ENOEXEC));
        assert_eq!(parse(&[b"#!".as_slice(), &[b' '; 300]].concat()), Err(ENOEXEC));
    }

    #[test]
    fn nul_ends_the_strings() {
        // The newline search stops at the NUL; the path is a C string.
        assert_eq!(parse(b"#!/bin/sh\0 -x\n"), sb("/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh -x\0y\n"), sb("/bin/sh", Some("-x")));
        assert_eq!(parse(b"#!/bin/sh \0\n"), sb("/bin/sh", Some("")));
        // "#!\0": the name is the empty string (open_exec then fails ENOENT).
        assert_eq!(parse(b"#!\0/bin/sh\n"), sb("", None));
    }

    #[test]
    fn too_long_line() {
        // Interpreter path runs past 256 bytes: it would be cut off.
        let long_path = [b"#!/".as_slice(), &[b'a'; 300], b"\n"].concat();
        assert_eq!(parse(&long_path), Err(ENOEXEC));
        // Path of exactly 253 bytes fills the buffer up to the last byte:
        // no terminator inside the buffer, refused too.
        let full = [b"#!/".as_slice(), &[b'a'; 253], b" x\n"].concat();
        assert_eq!(parse(&full), Err(ENOEXEC));
        // A complete path followed by a long argument is fine: the argument
        // is cut to what fits in bytes 0..255 (byte 255 becomes the NUL).
        let long_arg = [b"#!/bin/sh ".as_slice(), &[b'x'; 400], b"\n"].concat();
        let got = parse(&long_arg).unwrap();
        assert_eq!(got.interp, b"/bin/sh");
        assert_eq!(got.arg.unwrap(), vec![b'x'; 255 - 10]);
    }

    #[test]
    fn newline_just_inside_buffer() {
        let mut line = [b"#!/".as_slice(), &[b'a'; 252]].concat();
        line.push(b'\n'); // index 255
        assert_eq!(line.len(), 256);
        let got = parse(&line).unwrap();
        assert_eq!(got.interp.len(), 253);
        assert_eq!(got.arg, None);
    }
}
