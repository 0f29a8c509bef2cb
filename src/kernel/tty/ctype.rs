//! Character classes as the Linux kernel sees them (`lib/ctype.c`).
//!
//! The kernel's table is ISO 8859-1 (Latin-1), not ASCII: bytes 0xC0–0xFF
//! are letters (except 0xD7 `×` and 0xF7 `÷`). That matters for `VWERASE`,
//! which stops at non-alphanumerics, and for `IUCLC`/`OLCUC`. Bytes
//! 0x80–0x9F are *not* control characters for the kernel, so UTF-8
//! continuation bytes are never echoed as `^X`.

/// `iscntrl()`: C0 controls and DEL.
pub(super) fn iscntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

fn isupper(c: u8) -> bool {
    c.is_ascii_uppercase() || ((0xc0..=0xde).contains(&c) && c != 0xd7)
}

fn islower(c: u8) -> bool {
    c.is_ascii_lowercase() || (c >= 0xdf && c != 0xf7)
}

/// `isalnum()` with the Latin-1 letters.
pub(super) fn isalnum(c: u8) -> bool {
    c.is_ascii_digit() || isupper(c) || islower(c)
}

/// `tolower()` (`IUCLC`).
pub(super) fn tolower(c: u8) -> u8 {
    if isupper(c) {
        c + 0x20
    } else {
        c
    }
}

/// `toupper()` (`OLCUC`).
pub(super) fn toupper(c: u8) -> u8 {
    if islower(c) {
        c - 0x20
    } else {
        c
    }
}
