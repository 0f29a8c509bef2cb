//! Little-endian field readers for on-disk structures.
//!
//! Every parser first checks that its buffer is long enough for the whole
//! structure, so these never see a short slice in practice; they still return
//! 0 rather than panic if one ever does, because no byte of the image is
//! trusted and a panic would take the whole kernel down.

pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off.wrapping_add(2)) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off.wrapping_add(4)) {
        Some(&[a, b1, c, d]) => u32::from_le_bytes([a, b1, c, d]),
        _ => 0,
    }
}

pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// `N` bytes from `off` (zeros where the buffer is short).
pub(crate) fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(off..off.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}
