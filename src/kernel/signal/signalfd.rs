//! signalfd: signals read as data from a file (fs/signalfd.c).
//!
//! Guest signals are host signals, so a signal a signalfd user blocks sits
//! pending in the host kernel. umk knows which ones are there because it
//! sent them (each send records a [`SigOrigin`] on the target thread), and
//! takes one off the host's queue by making the reading thread call
//! `rt_sigtimedwait` with a zero timeout, as an injected call. The record
//! then gives the guest's own si_pid, si_uid and si_code, never a host pid.

use super::SigOrigin;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::fs::Attr;
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::Ctx;
use crate::kernel::task::{Pid, ProcessTable};
use crate::kernel::time::posix_timers::cpu as cpu_timers;
use crate::kernel::wait::WaitId;
use crate::kernel::Kernel;
use guest_abi::misc::POLLIN;
use guest_abi::signal::{sigmask, SIGKILL, SIGSTOP};
use guest_abi::sysno::SYS_RT_SIGTIMEDWAIT;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// sizeof(struct signalfd_siginfo).
pub const SIGINFO_SIZE: usize = 128;

pub struct SignalFd {
    mask: Cell<u64>,
    table: Rc<RefCell<ProcessTable>>,
    /// The process making the current syscall: a signalfd reports the
    /// signals of whoever reads or polls it, as in Linux.
    current: Rc<Cell<Pid>>,
    wait: WaitId,
}

impl SignalFd {
    pub fn new(k: &Kernel, mask: u64) -> SignalFd {
        let s = SignalFd {
            mask: Cell::new(0),
            table: k.table.clone(),
            current: k.proc_current.clone(),
            wait: k.signalfd_wait,
        };
        s.set_mask(mask);
        s
    }

    /// SIGKILL and SIGSTOP are never read from a signalfd.
    pub fn set_mask(&self, mask: u64) {
        self.mask.set(mask & !(sigmask(SIGKILL) | sigmask(SIGSTOP)));
    }

    /// The first signal in the mask that umk sent to thread `tid` or to
    /// its process and that is still undelivered.
    fn pending_for(&self, tid: Pid) -> Option<i32> {
        let t = self.table.borrow();
        let task = t.tasks.get(&tid)?;
        let shared = t.procs.get(&task.pid).map(|p| p.sig_origins.as_slice()).unwrap_or(&[]);
        task.sig_origins
            .iter()
            .chain(shared)
            .map(|o| o.sig)
            .find(|s| self.mask.get() & sigmask(*s) != 0)
    }
}

impl FileOps for SignalFd {
    /// Reads go through [`read`], which needs the reading thread.
    fn read(&self, _f: &OpenFile, _buf: &mut [u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn write(&self, _f: &OpenFile, _data: &[u8]) -> KResult<usize> {
        Err(Errno::EINVAL)
    }
    fn poll(&self) -> i16 {
        let t = self.table.borrow();
        let Some(p) = t.procs.get(&self.current.get()) else { return 0 };
        let wanted =
            |list: &[SigOrigin]| list.iter().any(|o| self.mask.get() & sigmask(o.sig) != 0);
        let ready = wanted(&p.sig_origins)
            || p.threads.iter().any(|tid| t.tasks.get(tid).is_some_and(|x| wanted(&x.sig_origins)));
        if ready {
            POLLIN
        } else {
            0
        }
    }
    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![self.wait]
    }
    fn kind(&self) -> FileKind {
        FileKind::Other
    }
    fn anon_name(&self) -> Option<&'static str> {
        Some("[signalfd]")
    }
    fn attr(&self) -> Option<Attr> {
        // anon_inode:[signalfd]
        Some(crate::kernel::fs::anon_inode_attr(self.wait))
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// read(2) on a signalfd: as many `signalfd_siginfo` records as fit in
/// `len` bytes at `addr`, each for a signal taken off the reading thread's
/// queue. EAGAIN when none is pending (the caller parks or returns it).
pub fn read(k: &mut Kernel, ctx: &Ctx, sfd: &SignalFd, addr: u64, len: usize) -> KResult<usize> {
    if len < SIGINFO_SIZE {
        return Err(Errno::EINVAL);
    }
    let mut done = 0;
    while done + SIGINFO_SIZE <= len {
        let slot = addr + done as u64;
        let Some(sig) = sfd.pending_for(ctx.tid) else {
            // The host's timers on CPU-time clocks queue their signals
            // themselves, with no record of umk's: umk looks on the host's
            // queues for those, only in processes that have such timers.
            // (A blocking read or a poll is not woken by them.)
            let set = sfd.mask.get() & cpu_timers::signals(k, ctx.pid);
            if set == 0 {
                break;
            }
            match dequeue(k, ctx, set, slot) {
                Ok(info) => {
                    GuestMem::new(k.platform.as_mut(), ctx.host).write(slot, &info)?;
                    done += SIGINFO_SIZE;
                    continue;
                }
                Err(e) if done == 0 && e != Errno::EAGAIN => return Err(e),
                Err(_) => break,
            }
        };
        match dequeue(k, ctx, sigmask(sig), slot) {
            Ok(info) => {
                GuestMem::new(k.platform.as_mut(), ctx.host).write(slot, &info)?;
                done += SIGINFO_SIZE;
            }
            // Not on the host's queue after all (a native sigwait took
            // it): forget the record.
            Err(Errno::EAGAIN) => forget(k, ctx.tid, sig),
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    if done == 0 {
        return Err(Errno::EAGAIN);
    }
    Ok(done)
}

/// Takes a signal in `set` off the thread's host queues with an injected
/// rt_sigtimedwait, using the guest's own buffer at `slot` as scratch for
/// the set and the timeout (read before the host writes its siginfo
/// there), and builds the guest's signalfd_siginfo. The host's siginfo
/// says which queue the signal came from, for `take_delivered`, and
/// carries a host timer's record; for the signals umk sent it would name
/// umk's host pid, so the guest's view comes from umk's record.
fn dequeue(k: &mut Kernel, ctx: &Ctx, set: u64, slot: u64) -> KResult<[u8; SIGINFO_SIZE]> {
    let mut scratch = [0u8; 24];
    scratch[..8].copy_from_slice(&set.to_ne_bytes());
    // bytes 8..24: a zero timespec.
    GuestMem::new(k.platform.as_mut(), ctx.host).write(slot, &scratch)?;
    let r = k
        .platform
        .inject_syscall(ctx.host, SYS_RT_SIGTIMEDWAIT, [slot, slot, slot + 8, 8, 0])
        .map_err(|_| Errno::EFAULT)?;
    if r < 0 {
        return Err(Errno(-r as i32));
    }
    let sig = r as i32;
    let mut info: [u8; 128] = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(slot)?;
    let code = i32::from_le_bytes([info[8], info[9], info[10], info[11]]);
    if cpu_timers::is_host_timer_signal(&info) {
        cpu_timers::patch_siginfo(k, ctx.host, &mut info);
        return Ok(signalfd_siginfo(sig, Some(cpu_timers::origin_of(sig, &info))));
    }
    let origin = super::take_delivered(k, ctx.host, sig, Some(code));
    Ok(signalfd_siginfo(sig, origin))
}

/// Drops the records of `sig` for thread `tid` and its process.
fn forget(k: &mut Kernel, tid: Pid, sig: i32) {
    let mut t = k.table.borrow_mut();
    let Some(task) = t.tasks.get_mut(&tid) else { return };
    task.sig_origins.retain(|o| o.sig != sig);
    let pid = task.pid;
    if let Some(p) = t.procs.get_mut(&pid) {
        p.sig_origins.retain(|o| o.sig != sig);
    }
}

/// struct signalfd_siginfo from what umk recorded when it sent the signal.
/// Without a record (it cannot happen for signals umk sends) it says
/// SI_KERNEL.
fn signalfd_siginfo(sig: i32, origin: Option<SigOrigin>) -> [u8; SIGINFO_SIZE] {
    let mut out = [0u8; SIGINFO_SIZE];
    let mut put = |off: usize, bytes: &[u8]| out[off..off + bytes.len()].copy_from_slice(bytes);
    put(0, &(sig as u32).to_ne_bytes());
    match origin {
        Some(o) if o.code == guest_abi::signal::SI_TIMER => {
            // ssi_tid is the timer id, ssi_overrun its overrun count.
            put(8, &o.code.to_ne_bytes());
            put(24, &(o.pid as u32).to_ne_bytes());
            put(32, &o.uid.to_ne_bytes());
            put(44, &(o.value as i32).to_ne_bytes());
            put(48, &o.value.to_ne_bytes());
        }
        Some(o) => {
            put(8, &o.code.to_ne_bytes());
            put(12, &(o.pid as u32).to_ne_bytes());
            put(16, &o.uid.to_ne_bytes());
            if sig == guest_abi::signal::SIGCHLD {
                put(40, &(o.value as i32).to_ne_bytes());
                put(56, &(o.ticks.0 as u64).to_ne_bytes());
                put(64, &(o.ticks.1 as u64).to_ne_bytes());
            } else {
                // sigqueue's value: ssi_int and ssi_ptr.
                put(44, &(o.value as i32).to_ne_bytes());
                put(48, &o.value.to_ne_bytes());
            }
        }
        None => put(8, &guest_abi::signal::SI_KERNEL.to_ne_bytes()),
    }
    out
}
