//! A fake platform for kernel unit tests: guest memory is a map of byte
//! regions in umk's own memory, registers are plain values, and every
//! action the kernel takes (finish a syscall, resume, signal) is recorded
//! for the test to check. No ptrace, no processes.

use super::{
    Doorbell, Event, Fault, HostTid, Platform, PlatformError, Regs, StartState, StubLayout,
};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// What the kernel did with a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Finished(i64),
    Native { nr: u64 },
    Resumed { sig: i32 },
    Signalled(i32),
    Killed,
}

#[derive(Default)]
pub struct FakePlatform {
    /// Guest memory: start address -> bytes (shared by all fake threads).
    pub memory: BTreeMap<u64, Vec<u8>>,
    pub regs: HashMap<HostTid, Regs>,
    pub actions: Vec<(HostTid, Action)>,
    pub events: VecDeque<Event>,
    /// Threads with exit stops turned on.
    pub exit_stops: std::collections::HashSet<HostTid>,
    /// Every system call injected: (number, arguments).
    pub injected: Vec<(usize, [u64; 5])>,
    next_map: u64,
}

impl FakePlatform {
    pub fn new() -> FakePlatform {
        FakePlatform { next_map: 0x1000_0000, ..Default::default() }
    }

    /// Maps `len` zero bytes (whole pages, like real memory) and returns
    /// their address; a guard gap follows.
    pub fn map(&mut self, len: usize) -> u64 {
        let at = self.next_map;
        let pages = len.div_ceil(4096).max(1) * 4096;
        self.next_map += pages as u64 + 4096;
        self.memory.insert(at, vec![0; pages]);
        at
    }

    /// Maps `data` and returns its address.
    pub fn put(&mut self, data: &[u8]) -> u64 {
        let at = self.map(data.len());
        if let Some(r) = self.memory.get_mut(&at) {
            r[..data.len()].copy_from_slice(data);
        }
        at
    }

    fn region(&mut self, addr: u64, len: usize) -> Option<(&mut Vec<u8>, usize)> {
        let (start, bytes) = self.memory.range_mut(..=addr).next_back()?;
        let off = (addr - start) as usize;
        if off.checked_add(len)? <= bytes.len() {
            Some((bytes, off))
        } else {
            None
        }
    }

    /// The last action taken on `tid`.
    pub fn last(&self, tid: HostTid) -> Option<&Action> {
        self.actions.iter().rev().find(|(t, _)| *t == tid).map(|(_, a)| a)
    }
}

impl Platform for FakePlatform {
    fn next_event(&mut self) -> Event {
        self.events.pop_front().unwrap_or(Event::Doorbell)
    }
    fn doorbell(&self) -> Doorbell {
        Doorbell { pid: -1 }
    }
    fn get_regs(&mut self, tid: HostTid) -> Result<Regs, PlatformError> {
        Ok(self.regs.get(&tid).copied().unwrap_or_default())
    }
    fn set_regs(&mut self, tid: HostTid, regs: &Regs) -> Result<(), PlatformError> {
        self.regs.insert(tid, *regs);
        Ok(())
    }
    fn get_fpregs(&mut self, _tid: HostTid) -> Result<[u8; 512], PlatformError> {
        Ok([0; 512])
    }
    fn set_identity(&mut self, _tid: HostTid, _ids: Option<(i32, i32)>) {}
    fn set_sched(&mut self, _tid: HostTid, _nice: i32, _policy: i32) -> Result<(), PlatformError> {
        Ok(())
    }
    fn stop_for_dump(&mut self, tid: HostTid) -> Option<Regs> {
        self.get_regs(tid).ok()
    }
    fn vmas(&mut self, _tid: HostTid) -> Result<Vec<super::Vma>, PlatformError> {
        Ok(Vec::new())
    }
    fn finish_syscall(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        result: i64,
    ) -> Result<(), PlatformError> {
        let mut r = *regs;
        r.rax = result as u64;
        self.regs.insert(tid, r);
        self.actions.push((tid, Action::Finished(result)));
        Ok(())
    }
    fn resume_syscall_native(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        _see_exit: bool,
    ) -> Result<(), PlatformError> {
        self.actions.push((tid, Action::Native { nr: regs.orig_rax }));
        Ok(())
    }
    fn resume_to_syscall_exit(&mut self, tid: HostTid) -> Result<(), PlatformError> {
        self.actions.push((tid, Action::Resumed { sig: 0 }));
        Ok(())
    }
    fn resume(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError> {
        self.actions.push((tid, Action::Resumed { sig }));
        Ok(())
    }
    fn listen(&mut self, _tid: HostTid) -> Result<(), PlatformError> {
        Ok(())
    }
    fn inject_syscall(
        &mut self,
        _tid: HostTid,
        nr: usize,
        args: [u64; 5],
    ) -> Result<i64, PlatformError> {
        self.injected.push((nr, args));
        // Enough for brk and file mmap: anonymous mappings; for timers on
        // CPU-time clocks: host ids from 1000 on.
        match nr {
            guest_abi::sysno::SYS_TIMER_CREATE => {
                let id = 1000 + self.injected.len() as i32;
                let Some((bytes, off)) = self.region(args[2], 4) else {
                    return Ok(-(guest_abi::errno::EFAULT as i64));
                };
                bytes[off..off + 4].copy_from_slice(&id.to_le_bytes());
                Ok(0)
            }
            guest_abi::sysno::SYS_MMAP => {
                let len = args[1] as usize;
                if args[0] != 0 {
                    self.memory.insert(args[0], vec![0; len]);
                    Ok(args[0] as i64)
                } else {
                    Ok(self.map(len) as i64)
                }
            }
            _ => Ok(0),
        }
    }
    fn inject_syscall6(
        &mut self,
        tid: HostTid,
        nr: usize,
        args: [u64; 6],
    ) -> Result<i64, PlatformError> {
        self.inject_syscall(tid, nr, [args[0], args[1], args[2], args[3], args[4]])
    }
    fn read_memory(&mut self, _tid: HostTid, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len();
        let (bytes, off) = self.region(addr, len).ok_or(Fault)?;
        buf.copy_from_slice(&bytes[off..off + len]);
        Ok(())
    }
    fn cmpxchg_u32(
        &mut self,
        _tid: HostTid,
        addr: u64,
        expected: u32,
        new: u32,
    ) -> Result<u32, Fault> {
        if addr % 4 != 0 {
            return Err(Fault);
        }
        let (bytes, off) = self.region(addr, 4).ok_or(Fault)?;
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[off..off + 4]);
        let old = u32::from_ne_bytes(w);
        if old == expected {
            bytes[off..off + 4].copy_from_slice(&new.to_ne_bytes());
        }
        Ok(old)
    }
    fn set_exit_stop(&mut self, tid: HostTid, on: bool) -> Result<(), PlatformError> {
        if on {
            self.exit_stops.insert(tid);
        } else {
            self.exit_stops.remove(&tid);
        }
        Ok(())
    }
    fn shared_backing(&mut self, _tid: HostTid, _addr: u64) -> Option<(u64, u64, u64)> {
        None
    }
    fn write_memory(&mut self, _tid: HostTid, addr: u64, data: &[u8]) -> Result<(), Fault> {
        let (bytes, off) = self.region(addr, data.len()).ok_or(Fault)?;
        bytes[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn get_siginfo(&mut self, _tid: HostTid) -> Result<[u8; 128], PlatformError> {
        Ok([0; 128])
    }
    fn set_siginfo(&mut self, _tid: HostTid, _info: &[u8; 128]) -> Result<(), PlatformError> {
        Ok(())
    }
    fn signal_thread(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError> {
        self.actions.push((tid, Action::Signalled(sig)));
        Ok(())
    }
    fn set_rlimit(
        &mut self,
        _tgid: HostTid,
        _resource: u32,
        _cur: u64,
        _max: u64,
    ) -> Result<(), PlatformError> {
        Ok(())
    }
    fn signal_process(&mut self, tgid: HostTid, sig: i32) -> Result<(), PlatformError> {
        self.actions.push((tgid, Action::Signalled(sig)));
        Ok(())
    }
    fn blocked_signals(&mut self, _tid: HostTid) -> Result<u64, PlatformError> {
        Ok(0)
    }
    fn signal_state(&mut self, _tid: HostTid) -> Result<(u64, u64, u64), PlatformError> {
        Ok((0, 0, 0))
    }
    fn take_exit_usage(&mut self, _tid: HostTid) -> Option<guest_abi::misc::Rusage> {
        None
    }
    fn cpu_times(&mut self, _tid: HostTid) -> Option<(std::time::Duration, std::time::Duration)> {
        None
    }
    fn kill_process(&mut self, tid: HostTid) {
        self.actions.push((tid, Action::Killed));
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn stub(&self) -> StubLayout {
        StubLayout { empty_string: 0, empty_argv: 0, exec_fd: -1, image_fd: -1 }
    }
    fn start_state(&mut self, _tid: HostTid, regs: &Regs) -> Result<StartState, PlatformError> {
        Ok(StartState { stack_top: regs.rsp, vdso: None })
    }
}
