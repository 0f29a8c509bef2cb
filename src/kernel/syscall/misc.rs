//! System information and resource syscalls.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::Kernel;
use guest_abi::misc::*;

/// The kernel release umk reports: a plausible 6.x, as the issue asks.
pub const RELEASE: &[u8] = b"6.1.0-umk";
pub const VERSION: &[u8] = b"#1 SMP PREEMPT_DYNAMIC umk";

fn field(dst: &mut [u8; 65], s: &[u8]) {
    let n = s.len().min(64);
    dst[..n].copy_from_slice(&s[..n]);
}

pub fn sys_uname(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let mut u: UtsName = bytemuck::Zeroable::zeroed();
    field(&mut u.sysname, b"Linux");
    field(&mut u.nodename, &k.hostname);
    field(&mut u.release, RELEASE);
    field(&mut u.version, VERSION);
    field(&mut u.machine, b"x86_64");
    field(&mut u.domainname, b"(none)");
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[0], &u).map(|_| 0).into()
}

pub fn sys_sysinfo(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let procs = k.table.borrow().live().count() as u16;
    let si = SysInfo {
        uptime: k.boot_time.elapsed().as_secs() as i64,
        totalram: 4 << 30,
        freeram: 3 << 30,
        procs,
        mem_unit: 1,
        ..Default::default()
    };
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[0], &si).map(|_| 0).into()
}

fn limit(k: &Kernel, pid: crate::kernel::task::Pid, res: u32) -> KResult<Rlimit> {
    let nofile = k.nofile_limit(pid) as u64;
    Ok(match res {
        RLIMIT_NOFILE => Rlimit { rlim_cur: nofile, rlim_max: 1 << 20 },
        RLIMIT_STACK => Rlimit { rlim_cur: 8 << 20, rlim_max: RLIM_INFINITY },
        RLIMIT_CORE => Rlimit { rlim_cur: 0, rlim_max: RLIM_INFINITY },
        RLIMIT_NPROC => Rlimit { rlim_cur: 63_000, rlim_max: 63_000 },
        RLIMIT_MEMLOCK => Rlimit { rlim_cur: 8 << 20, rlim_max: 8 << 20 },
        r if r < RLIM_NLIMITS => Rlimit { rlim_cur: RLIM_INFINITY, rlim_max: RLIM_INFINITY },
        _ => return Err(Errno::EINVAL),
    })
}

impl Kernel {
    pub fn nofile_limit(&self, pid: crate::kernel::task::Pid) -> usize {
        self.table.borrow().procs.get(&pid).map(|p| p.nofile_limit).unwrap_or(crate::kernel::fs::fdtable::DEFAULT_NOFILE)
    }
}

pub fn sys_getrlimit(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = limit(k, ctx.pid, ctx.args[0] as u32).and_then(|l| GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[1], &l)).map(|_| 0);
    r.into()
}

pub fn sys_prlimit64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let pid = if ctx.arg_i32(0) == 0 { ctx.pid } else { ctx.arg_i32(0) };
        if !k.table.borrow().procs.contains_key(&pid) {
            return Err(Errno::ESRCH);
        }
        let res = ctx.args[1] as u32;
        let old = limit(k, pid, res)?;
        if ctx.args[2] != 0 {
            let new: Rlimit = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(ctx.args[2])?;
            if new.rlim_cur > new.rlim_max {
                return Err(Errno::EINVAL);
            }
            if res == RLIMIT_NOFILE {
                if new.rlim_max > 1 << 20 {
                    return Err(Errno::EPERM);
                }
                if let Some(p) = k.table.borrow_mut().procs.get_mut(&pid) {
                    p.nofile_limit = new.rlim_cur as usize;
                }
            }
        }
        if ctx.args[3] != 0 {
            GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[3], &old)?;
        }
        Ok(0)
    })();
    r.into()
}

pub fn sys_getrusage(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    GuestMem::new(k.platform.as_mut(), ctx.host).write(ctx.args[1], &[0u8; 144]).map(|_| 0).into()
}

pub fn sys_times(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.args[0] != 0 {
        if let Err(e) = GuestMem::new(k.platform.as_mut(), ctx.host).write(ctx.args[0], &[0u8; 32]) {
            return SysResult::err(e);
        }
    }
    // Clock ticks since boot (USER_HZ = 100).
    SysResult::Done((k.boot_time.elapsed().as_millis() / 10) as i64)
}

pub fn sys_sched_getaffinity(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let len = ctx.args[1] as usize;
    if len < 8 || len % 8 != 0 {
        return SysResult::err(Errno::EINVAL);
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(64);
    let mask: u64 = if cpus == 64 { u64::MAX } else { (1u64 << cpus) - 1 };
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[2], &mask).map(|_| 8).into()
}

pub fn sys_prctl(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        match ctx.arg_i32(0) {
            PR_SET_NAME => {
                let name = GuestMem::new(k.platform.as_mut(), ctx.host).read_vec(ctx.args[1], 16).or_else(|_| GuestMem::new(k.platform.as_mut(), ctx.host).read_cstr(ctx.args[1], 15))?;
                let end = name.iter().position(|b| *b == 0).unwrap_or(name.len()).min(15);
                if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                    p.comm = name[..end].to_vec();
                }
                Ok(0)
            }
            PR_GET_NAME => {
                let mut buf = [0u8; 16];
                if let Some(p) = k.table.borrow().procs.get(&ctx.pid) {
                    let n = p.comm.len().min(15);
                    buf[..n].copy_from_slice(&p.comm[..n]);
                }
                GuestMem::new(k.platform.as_mut(), ctx.host).write(ctx.args[1], &buf)?;
                Ok(0)
            }
            // Every guest process runs with no_new_privs already (umk sets
            // it before installing the seccomp filter).
            PR_SET_NO_NEW_PRIVS if ctx.args[1] == 1 => Ok(0),
            PR_GET_NO_NEW_PRIVS => Ok(1),
            PR_GET_DUMPABLE => Ok(1),
            PR_SET_DUMPABLE if ctx.args[1] <= 1 => Ok(0),
            PR_SET_PDEATHSIG | PR_SET_CHILD_SUBREAPER | PR_GET_PDEATHSIG | PR_GET_CHILD_SUBREAPER => {
                k.note_unsupported("prctl PDEATHSIG and CHILD_SUBREAPER");
                Err(Errno::EINVAL)
            }
            _ => Err(Errno::EINVAL),
        }
    })();
    r.into()
}
