//! The files of /proc/PID and /proc/PID/task/TID (fs/proc/array.c,
//! fs/proc/base.c), formatted as Linux formats them.

use super::system::{running, USER_HZ};
use crate::kernel::task::{sched, ticks, Pid, Process, Task};
use guest_abi::misc::RLIM_INFINITY;
use guest_abi::sched::{SCHED_FIFO, SCHED_RR};
use std::fmt::Write;
use std::time::Instant;

/// The one-letter state of a thread (task_state_array).
fn state(p: &Process, t: Option<&Task>) -> (char, &'static str) {
    match t {
        _ if p.exit.is_some() => ('Z', "zombie"),
        Some(t) if t.stopped => ('T', "stopped"),
        Some(t) if running(t) => ('R', "running"),
        _ => ('S', "sleeping"),
    }
}

/// Linux's "priority" field: 20 + nice for normal threads, -1 - the
/// real-time priority for SCHED_FIFO/RR (task_prio minus MAX_RT_PRIO).
fn priority(a: &sched::SchedAttr) -> i32 {
    if a.policy == SCHED_FIFO || a.policy == SCHED_RR {
        -1 - a.rt_priority
    } else {
        20 + a.nice
    }
}

/// /proc/PID/stat (or a thread's, with `id` its tid): the 52 fields of
/// do_task_stat. Those umk does not know (faults, addresses) are 0; a
/// live process's CPU times are known only once it ends.
pub fn stat(p: &Process, t: Option<&Task>, id: Pid, boot: Instant) -> String {
    let (st, _) = state(p, t);
    let a = t.map(|t| t.sched).unwrap_or_default();
    let start = p.start_time.saturating_duration_since(boot);
    let start_ticks = start.as_millis() as u64 / (1000 / USER_HZ);
    let rss_lim = p.rlimits[guest_abi::misc::RLIMIT_RSS as usize].rlim_cur;
    let mm = p.mm.try_borrow().map(|m| (m.brk_start, m.arg_start, m.arg_end)).unwrap_or_default();
    let exit_code = p.exit.map_or(0, |e| e.wait_status());
    let mut s = format!("{} ({}) {} ", id, String::from_utf8_lossy(&p.comm), st);
    let _ = writeln!(
        s,
        "{} {} {} 0 -1 0 0 0 0 0 {} {} {} {} {} {} {} 0 {} 0 0 {} 0 0 0 0 0 0 0 0 0 0 0 0 {} 0 {} {} 0 0 0 0 0 {} {} {} 0 0 {}",
        p.ppid,
        p.pgid,
        p.sid,
        ticks(p.usage.ru_utime),
        ticks(p.usage.ru_stime),
        ticks(p.cusage.ru_utime),
        ticks(p.cusage.ru_stime),
        priority(&a),
        a.nice,
        p.threads.len().max(1),
        start_ticks,
        rss_lim,
        p.exit_signal,
        a.rt_priority,
        a.policy,
        mm.0,
        mm.1,
        mm.2,
        exit_code,
    );
    s
}

/// /proc/PID/status: the fields ps, top and shells look at.
pub fn status(p: &Process, t: Option<&Task>, id: Pid) -> String {
    let (st, name) = state(p, t);
    let c = &p.cred;
    let umask = p.fs.try_borrow().map(|f| f.umask).unwrap_or(0o022);
    let fds = p.files.try_borrow().map(|f| f.iter().map(|(fd, _)| fd + 1).max().unwrap_or(0));
    let fd_size = (fds.unwrap_or(0) as u64).div_ceil(64).max(1) * 64;
    let groups: Vec<String> = c.groups.iter().map(|g| g.to_string()).collect();
    format!(
        "Name:\t{}\nUmask:\t{:04o}\nState:\t{} ({})\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\nGroups:\t{} \n\
         NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\nThreads:\t{}\n",
        String::from_utf8_lossy(&p.comm),
        umask,
        st,
        name,
        p.pid,
        id,
        p.ppid,
        c.uid,
        c.euid,
        c.suid,
        c.euid,
        c.gid,
        c.egid,
        c.sgid,
        c.egid,
        fd_size,
        groups.join(" "),
        p.pid,
        id,
        p.pgid,
        p.sid,
        p.threads.len().max(1)
    )
}

/// The rows of /proc/PID/limits: name and unit of each RLIMIT_*, in
/// resource order (fs/proc/base.c lnames).
const LIMITS: [(&str, &str); 16] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

pub fn limits(p: &Process) -> String {
    let mut s =
        format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    let show = |v: u64| if v == RLIM_INFINITY { "unlimited".to_string() } else { v.to_string() };
    for ((name, unit), l) in LIMITS.iter().zip(p.rlimits.iter()) {
        let _ = write!(s, "{:<25} {:<20} {:<20} ", name, show(l.rlim_cur), show(l.rlim_max));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}
