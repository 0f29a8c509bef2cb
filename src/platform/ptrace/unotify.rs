//! getpid and gettid answered without a ptrace stop, through seccomp user
//! notification (seccomp_unotify(2)).
//!
//! They are the guest's most frequent calls that need nothing from the
//! kernel but a number it already knows. The filter hands them to a
//! listener (SECCOMP_RET_USER_NOTIF) instead of stopping the thread for
//! the tracer; this module's thread answers from the identities the kernel
//! publishes (`Platform::set_identity`). The guest thread sleeps in the
//! host kernel meanwhile, as in any syscall, and umk spends two ioctls on
//! it instead of wait, GETREGS, SETREGS and PTRACE_CONT.
//!
//! A signal can end the host's wait for the answer before umk reads the
//! notification; the call then returns -ERESTARTSYS, which a handler
//! without SA_RESTART would turn into EINTR. getpid never fails, so at the
//! signal-delivery-stop the platform makes it -ERESTARTNOINTR: the call
//! runs again after the handler (see `fix_interrupted`).
//!
//! The listener is created by the first guest process when it installs
//! the filter (SECCOMP_FILTER_FLAG_NEW_LISTENER); umk takes its own copy
//! with pidfd_getfd before the stub's exec closes the guest's (the fd is
//! close-on-exec), so no guest ever holds it.

use super::super::HostTid;
use guest_abi::sysno::{SYS_GETPID, SYS_GETTID};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The calls the filter sends to the listener.
pub const NOTIFIED: &[usize] = &[SYS_GETPID, SYS_GETTID];

pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;

/// `struct seccomp_notif`.
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct
/// seccomp_notif_resp).
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

const _: () = assert!(std::mem::size_of::<SeccompNotif>() == 0x50);
const _: () = assert!(std::mem::size_of::<SeccompNotifResp>() == 0x18);

/// What getpid and gettid answer, by host thread: (pid, tid), virtual.
#[derive(Default)]
pub struct Identities(Mutex<HashMap<HostTid, (i32, i32)>>);

impl Identities {
    pub fn set(&self, host: HostTid, ids: Option<(i32, i32)>) {
        let Ok(mut m) = self.0.lock() else { return };
        match ids {
            Some(v) => {
                m.insert(host, v);
            }
            None => {
                m.remove(&host);
            }
        }
    }

    fn get(&self, host: HostTid) -> Option<(i32, i32)> {
        self.0.lock().ok()?.get(&host).copied()
    }
}

/// Answers the listener's notifications until no guest process is left.
pub fn start(listener: i32, ids: Arc<Identities>) -> std::io::Result<()> {
    std::thread::Builder::new().name("umk-unotify".into()).spawn(move || serve(listener, &ids))?;
    Ok(())
}

fn serve(listener: i32, ids: &Identities) {
    loop {
        let mut req = SeccompNotif::default();
        // SAFETY: RECV fills a struct seccomp_notif we own (zeroed, as the
        // kernel requires).
        let r = unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        if r < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                // A signal to umk.
                Some(libc::EINTR) => continue,
                // A notification withdrawn (its thread took a signal or
                // died), or no guest process left: RECV then fails at
                // once, forever. Sleep until there is something to read;
                // POLLHUP says the filter has no users (the VM is over).
                Some(libc::ENOENT) => {
                    let mut pfd = libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 };
                    // SAFETY: poll on one pollfd we own.
                    let n = unsafe { libc::poll(&mut pfd, 1, -1) };
                    if n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
                    {
                        break;
                    }
                    continue;
                }
                _ => break,
            }
        }
        let (val, error) = match answer(ids, req.pid as HostTid, req.nr as usize) {
            Some(v) => (v as i64, 0),
            None => (0, -libc::ENOSYS),
        };
        let resp = SeccompNotifResp { id: req.id, val, error, flags: 0 };
        // SAFETY: SEND reads a struct seccomp_notif_resp we own. ENOENT
        // (the guest thread was interrupted meanwhile) needs nothing.
        unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
    // SAFETY: our own fd, used by this thread only.
    unsafe { libc::close(listener) };
}

/// The answer for host thread `host`. The kernel publishes a thread's
/// identity before the thread first runs; the retries only cover a call
/// racing with an exec that renamed it.
fn answer(ids: &Identities, host: HostTid, nr: usize) -> Option<i32> {
    for _ in 0..1000 {
        if let Some((pid, tid)) = ids.get(host) {
            return match nr {
                SYS_GETPID => Some(pid),
                SYS_GETTID => Some(tid),
                _ => None,
            };
        }
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    None
}
