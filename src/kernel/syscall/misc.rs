//! System information and resource syscalls.

use super::{Ctx, SysResult};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::mm::GuestMem;
use crate::kernel::task::ticks;
use crate::kernel::uts::UTS_LEN;
use crate::kernel::Kernel;
use guest_abi::misc::*;

pub use crate::kernel::uts::{RELEASE, VERSION};

fn field(dst: &mut [u8; 65], s: &[u8]) {
    let n = s.len().min(64);
    dst[..n].copy_from_slice(&s[..n]);
}

pub fn sys_uname(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let mut u: UtsName = bytemuck::Zeroable::zeroed();
    field(&mut u.sysname, b"Linux");
    let uts = k.uts.borrow();
    field(&mut u.nodename, &uts.hostname);
    field(&mut u.release, RELEASE);
    field(&mut u.version, VERSION);
    field(&mut u.machine, b"x86_64");
    field(&mut u.domainname, &uts.domainname);
    drop(uts);
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[0], &u).map(|_| 0).into()
}

/// sethostname(2) and setdomainname(2): each VM has its own names, as a
/// UTS namespace would; only root may change them (CAP_SYS_ADMIN).
fn set_uts_name(k: &mut Kernel, ctx: &Ctx, domain: bool) -> SysResult {
    if k.creds_of(ctx.pid).uid != 0 {
        return SysResult::err(Errno::EPERM);
    }
    let len = ctx.args[1] as i64;
    if !(0..=UTS_LEN as i64).contains(&len) {
        return SysResult::err(Errno::EINVAL);
    }
    let r = GuestMem::new(k.platform.as_mut(), ctx.host).read_vec(ctx.args[0], len as usize);
    r.map(|name| {
        let mut uts = k.uts.borrow_mut();
        if domain {
            uts.domainname = name;
        } else {
            uts.hostname = name;
        }
        0
    })
    .into()
}

pub fn sys_sethostname(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_uts_name(k, ctx, false)
}

pub fn sys_setdomainname(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    set_uts_name(k, ctx, true)
}

pub fn sys_sysinfo(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let procs = k.table.borrow().live().count() as u16;
    let si = SysInfo {
        uptime: k.boot_time.elapsed().as_secs() as i64,
        totalram: crate::kernel::mm::RAM_TOTAL,
        freeram: crate::kernel::mm::RAM_FREE,
        procs,
        mem_unit: 1,
        ..Default::default()
    };
    GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[0], &si).map(|_| 0).into()
}

/// The limits pid 1 starts with, as a Debian system has them.
pub fn default_rlimits() -> [Rlimit; 16] {
    let inf = Rlimit { rlim_cur: RLIM_INFINITY, rlim_max: RLIM_INFINITY };
    let mut l = [inf; 16];
    l[RLIMIT_NOFILE as usize] =
        Rlimit { rlim_cur: crate::kernel::fs::fdtable::DEFAULT_NOFILE as u64, rlim_max: 1 << 20 };
    l[RLIMIT_STACK as usize] = Rlimit { rlim_cur: 8 << 20, rlim_max: RLIM_INFINITY };
    l[RLIMIT_CORE as usize] = Rlimit { rlim_cur: 0, rlim_max: RLIM_INFINITY };
    l[RLIMIT_NPROC as usize] = Rlimit { rlim_cur: 63_000, rlim_max: 63_000 };
    l[RLIMIT_MEMLOCK as usize] = Rlimit { rlim_cur: 8 << 20, rlim_max: 8 << 20 };
    l[RLIMIT_NICE as usize] = Rlimit { rlim_cur: 0, rlim_max: 0 };
    l[RLIMIT_RTPRIO as usize] = Rlimit { rlim_cur: 0, rlim_max: 0 };
    l[11] = Rlimit { rlim_cur: 63_000, rlim_max: 63_000 }; // RLIMIT_SIGPENDING
    l[12] = Rlimit { rlim_cur: 819_200, rlim_max: 819_200 }; // RLIMIT_MSGQUEUE
    l
}

fn limit(k: &Kernel, pid: crate::kernel::task::Pid, res: u32) -> KResult<Rlimit> {
    if res >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let t = k.table.borrow();
    Ok(t.procs
        .get(&pid)
        .map(|p| p.rlimits[res as usize])
        .unwrap_or(default_rlimits()[res as usize]))
}

impl Kernel {
    pub fn nofile_limit(&self, pid: crate::kernel::task::Pid) -> usize {
        let l = self
            .table
            .borrow()
            .procs
            .get(&pid)
            .map(|p| p.rlimits[RLIMIT_NOFILE as usize].rlim_cur)
            .unwrap_or(crate::kernel::fs::fdtable::DEFAULT_NOFILE as u64);
        // Linux caps the fd table at fs.nr_open (1048576).
        l.min(1 << 20) as usize
    }
}

pub fn sys_getrlimit(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = limit(k, ctx.pid, ctx.args[0] as u32)
        .and_then(|l| GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[1], &l))
        .map(|_| 0);
    r.into()
}

/// RLIMIT_CPU, DATA, STACK, RSS, MEMLOCK, AS: limits of the process's own
/// CPU time and memory, which the host kernel enforces.
const HOST_ENFORCED: [u32; 6] = [0, 2, 3, 5, 8, 9];

pub fn sys_prlimit64(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        let pid = if ctx.arg_i32(0) == 0 { ctx.pid } else { ctx.arg_i32(0) };
        {
            // Another process's limits: its ids must all be the caller's,
            // or the caller root (kernel/sys.c check_prlimit_permission).
            let t = k.table.borrow();
            let target = t.procs.get(&pid).filter(|p| p.exit.is_none()).ok_or(Errno::ESRCH)?;
            let me = t.procs.get(&ctx.pid).ok_or(Errno::ESRCH)?;
            let (c, tc) = (&me.cred, &target.cred);
            let same = [tc.uid, tc.euid, tc.suid].iter().all(|u| *u == c.uid)
                && [tc.gid, tc.egid, tc.sgid].iter().all(|g| *g == c.gid);
            if pid != ctx.pid && c.euid != 0 && !same {
                return Err(Errno::EPERM);
            }
        }
        let res = ctx.args[1] as u32;
        let old = limit(k, pid, res)?;
        if ctx.args[2] != 0 {
            let new: Rlimit = GuestMem::new(k.platform.as_mut(), ctx.host).read_obj(ctx.args[2])?;
            if new.rlim_cur > new.rlim_max {
                return Err(Errno::EINVAL);
            }
            let root = k.table.borrow().procs.get(&ctx.pid).is_some_and(|p| p.cred.euid == 0);
            // Raising the hard limit needs CAP_SYS_RESOURCE (root here).
            if new.rlim_max > old.rlim_max && !root {
                return Err(Errno::EPERM);
            }
            if res == RLIMIT_NOFILE && new.rlim_max > 1 << 20 {
                return Err(Errno::EPERM);
            }
            let tgid = {
                let mut t = k.table.borrow_mut();
                let p = t.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
                p.rlimits[res as usize] = new;
                p.host_tgid
            };
            // The host enforces these on the process itself; umk enforces
            // NOFILE and NPROC (clone), and keeps CORE (no guest core dumps
            // are made on the host).
            if HOST_ENFORCED.contains(&res) {
                let _ = k.platform.set_rlimit(tgid, res, new.rlim_cur, new.rlim_max);
            }
        }
        if ctx.args[3] != 0 {
            GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[3], &old)?;
        }
        Ok(0)
    })();
    r.into()
}

/// setrlimit(2): prlimit64 on the caller.
pub fn sys_setrlimit(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let mut c = *ctx;
    c.args = [0, ctx.args[0], ctx.args[1], 0, 0, 0];
    sys_prlimit64(k, &c)
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// getrusage(2): the host measures a process's and a thread's own usage,
/// so those run natively; the children's is umk's, which reaps them.
pub fn sys_getrusage(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    match ctx.arg_i32(0) {
        RUSAGE_SELF | RUSAGE_THREAD => SysResult::Native { regs: ctx.regs, see_exit: false },
        RUSAGE_CHILDREN => {
            let ru = k.table.borrow().procs.get(&ctx.pid).map(|p| p.cusage).unwrap_or_default();
            GuestMem::new(k.platform.as_mut(), ctx.host)
                .write_obj(ctx.args[1], &ru)
                .map(|_| 0)
                .into()
        }
        _ => SysResult::err(Errno::EINVAL),
    }
}

pub fn sys_times(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    if ctx.args[0] != 0 {
        let (user, sys) = k.platform.cpu_times(ctx.host).unwrap_or_default();
        let cu = k.table.borrow().procs.get(&ctx.pid).map(|p| p.cusage).unwrap_or_default();
        let tms = Tms {
            tms_utime: (user.as_millis() / 10) as i64,
            tms_stime: (sys.as_millis() / 10) as i64,
            tms_cutime: ticks(cu.ru_utime),
            tms_cstime: ticks(cu.ru_stime),
        };
        if let Err(e) = GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[0], &tms) {
            return SysResult::err(e);
        }
    }
    // Clock ticks since boot (USER_HZ = 100).
    SysResult::Done((k.boot_time.elapsed().as_millis() / 10) as i64)
}

pub fn sys_prctl(k: &mut Kernel, ctx: &Ctx) -> SysResult {
    let r = (|| -> KResult<i64> {
        match ctx.arg_i32(0) {
            PR_SET_NAME => {
                let name = GuestMem::new(k.platform.as_mut(), ctx.host)
                    .read_vec(ctx.args[1], 16)
                    .or_else(|_| {
                    GuestMem::new(k.platform.as_mut(), ctx.host).read_cstr(ctx.args[1], 15)
                })?;
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
            PR_GET_DUMPABLE => {
                Ok(k.table.borrow().procs.get(&ctx.pid).is_some_and(|p| p.dumpable) as i64)
            }
            // SUID_DUMP_USER or SUID_DUMP_DISABLE; 2 (root-only dumps) is
            // for suid_dumpable alone.
            PR_SET_DUMPABLE if ctx.args[1] <= 1 => {
                if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                    p.dumpable = ctx.args[1] == 1;
                }
                Ok(0)
            }
            PR_SET_PDEATHSIG => {
                let sig = ctx.args[1];
                if sig > guest_abi::signal::NSIG as u64 {
                    return Err(Errno::EINVAL);
                }
                if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                    p.pdeathsig = sig as i32;
                }
                Ok(0)
            }
            PR_GET_PDEATHSIG => {
                let v = k.table.borrow().procs.get(&ctx.pid).map(|p| p.pdeathsig).unwrap_or(0);
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[1], &v)?;
                Ok(0)
            }
            PR_SET_CHILD_SUBREAPER => {
                if let Some(p) = k.table.borrow_mut().procs.get_mut(&ctx.pid) {
                    p.child_subreaper = ctx.args[1] != 0;
                }
                Ok(0)
            }
            PR_GET_CHILD_SUBREAPER => {
                let v = k
                    .table
                    .borrow()
                    .procs
                    .get(&ctx.pid)
                    .map(|p| p.child_subreaper as i32)
                    .unwrap_or(0);
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(ctx.args[1], &v)?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    })();
    r.into()
}
