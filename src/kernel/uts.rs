//! The VM's names (a UTS namespace): what uname(2) reports and
//! /proc/sys/kernel shows. sethostname(2) and a write to
//! /proc/sys/kernel/hostname change the same name.

/// The kernel release umk reports: a plausible 6.x, as the issue asks.
pub const RELEASE: &[u8] = b"6.1.0-umk";
pub const VERSION: &[u8] = b"#1 SMP PREEMPT_DYNAMIC umk";
/// Longest host or domain name (__NEW_UTS_LEN).
pub const UTS_LEN: usize = 64;

pub struct Uts {
    pub hostname: Vec<u8>,
    /// The NIS domain name ("(none)" until setdomainname).
    pub domainname: Vec<u8>,
}
