//! The files of /proc that describe the whole system (fs/proc/meminfo.c,
//! loadavg.c, stat.c, version.c, arch/x86/kernel/cpu/proc.c) and the
//! sysctls of /proc/sys/kernel, formatted as Linux formats them.

use crate::kernel::mm::{RAM_FREE, RAM_TOTAL};
use crate::kernel::task::{ProcessTable, Task, PID_MAX};
use crate::kernel::uts::{Uts, RELEASE, VERSION};
use std::fmt::Write;

/// Clock ticks a second (USER_HZ), the unit of /proc's times.
pub const USER_HZ: u64 = 100;

/// /proc/meminfo: the same nominal memory sysinfo(2) reports, so `free`
/// agrees with itself whichever it reads.
pub fn meminfo() -> String {
    let kb = |b: u64| b >> 10;
    let mut s = String::new();
    for (name, v) in [
        ("MemTotal", kb(RAM_TOTAL)),
        ("MemFree", kb(RAM_FREE)),
        ("MemAvailable", kb(RAM_FREE)),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("CommitLimit", kb(RAM_TOTAL) / 2),
        ("Committed_AS", 0),
    ] {
        // show_val_kb: the name and colon in 16 columns, the value in 8.
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
    }
    s
}

/// Whether a task is runnable (state R): neither blocked in a syscall
/// umk is holding nor stopped.
pub fn running(t: &Task) -> bool {
    t.parked.is_none() && !t.stopped
}

/// /proc/loadavg: umk keeps no load average (sysinfo reports zeros), then
/// runnable/all tasks and the last pid handed out.
pub fn loadavg(t: &ProcessTable) -> String {
    let run = t.tasks.values().filter(|x| running(x)).count();
    format!("0.00 0.00 0.00 {}/{} {}\n", run, t.tasks.len(), t.last_pid)
}

pub fn version() -> String {
    format!(
        "Linux version {} (umk) {}\n",
        String::from_utf8_lossy(RELEASE),
        String::from_utf8_lossy(VERSION)
    )
}

/// /proc/stat. umk does not account CPU time per CPU: every CPU counts
/// as idle since boot, which keeps top's percentages sane.
pub fn stat(t: &ProcessTable, cpus: usize, uptime_ticks: u64, btime: u64) -> String {
    let mut s = String::new();
    let line = |s: &mut String, name: &str, idle: u64| {
        let _ = writeln!(s, "{name} 0 0 0 {idle} 0 0 0 0 0 0");
    };
    line(&mut s, "cpu ", uptime_ticks * cpus as u64);
    for i in 0..cpus {
        line(&mut s, &format!("cpu{i}"), uptime_ticks);
    }
    let run = t.tasks.values().filter(|x| running(x)).count();
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {btime}\nprocesses {}\nprocs_running {run}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n",
        t.forks
    );
    s
}

/// Fields of the host's cpuinfo that describe the processor model and its
/// features; the rest (topology, ids, frequencies of the moment) is the
/// host's business.
const CPU_FIELDS: &[&str] = &[
    "vendor_id",
    "cpu family",
    "model",
    "model name",
    "stepping",
    "microcode",
    "cpu MHz",
    "cache size",
    "fpu",
    "fpu_exception",
    "cpuid level",
    "wp",
    "flags",
    "bugs",
    "bogomips",
    "clflush size",
    "cache_alignment",
    "address sizes",
    "power management",
];

/// /proc/cpuinfo: one block per guest CPU, each with the model and
/// features of the host's first processor, as one socket of `cpus` cores.
pub fn cpuinfo(host: &str, cpus: usize) -> String {
    let first = host.split("\n\n").next().unwrap_or("");
    let field = |key: &str| {
        first.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim_end() == key).then(|| v.trim().to_string())
        })
    };
    let known: Vec<(&str, String)> =
        CPU_FIELDS.iter().filter_map(|k| field(k).map(|v| (*k, v))).collect();
    let mut s = String::new();
    for i in 0..cpus {
        let _ = writeln!(s, "processor\t: {i}");
        for (k, v) in &known {
            if *k == "power management" {
                // Printed without the tab, each feature after a space.
                let sep = if v.is_empty() { "" } else { " " };
                let _ = writeln!(s, "power management:{sep}{v}");
                continue;
            }
            let tabs = if k.len() < 8 { "\t\t" } else { "\t" };
            let _ = writeln!(s, "{k}{tabs}: {v}");
            if *k == "cache size" {
                let _ = writeln!(
                    s,
                    "physical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {i}\ncpu cores\t: {cpus}\napicid\t\t: {i}\ninitial apicid\t: {i}"
                );
            }
        }
        s.push('\n');
    }
    s
}

/// The files of /proc/sys/kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sysctl {
    Hostname,
    Domainname,
    Ostype,
    Osrelease,
    Version,
    PidMax,
    CorePattern,
    NgroupsMax,
}

pub const SYSCTLS: &[(&[u8], Sysctl)] = &[
    (b"core_pattern", Sysctl::CorePattern),
    (b"domainname", Sysctl::Domainname),
    (b"hostname", Sysctl::Hostname),
    (b"ngroups_max", Sysctl::NgroupsMax),
    (b"osrelease", Sysctl::Osrelease),
    (b"ostype", Sysctl::Ostype),
    (b"pid_max", Sysctl::PidMax),
    (b"version", Sysctl::Version),
];

impl Sysctl {
    /// The two names a UTS namespace's root may change (0644); the rest
    /// are read-only here (0444).
    pub fn writable(self) -> bool {
        matches!(self, Sysctl::Hostname | Sysctl::Domainname)
    }

    pub fn read(self, uts: &Uts) -> Vec<u8> {
        let mut v = match self {
            Sysctl::Hostname => uts.hostname.clone(),
            Sysctl::Domainname => uts.domainname.clone(),
            Sysctl::Ostype => b"Linux".to_vec(),
            Sysctl::Osrelease => RELEASE.to_vec(),
            Sysctl::Version => VERSION.to_vec(),
            Sysctl::PidMax => PID_MAX.to_string().into_bytes(),
            // No pipe to a helper: a crash leaves ./core (see coredump).
            Sysctl::CorePattern => b"core".to_vec(),
            Sysctl::NgroupsMax => b"65536".to_vec(),
        };
        v.push(b'\n');
        v
    }
}

/// A write to a UTS name through /proc/sys/kernel (proc_do_uts_string,
/// proc_dostring): the value is what comes before a newline or NUL,
/// written at `off` into the current one, at most UTS_LEN bytes.
pub fn write_uts_name(name: &mut Vec<u8>, off: u64, data: &[u8]) {
    let end = data.iter().position(|b| *b == b'\n' || *b == 0).unwrap_or(data.len());
    let off = (off as usize).min(name.len()).min(crate::kernel::uts::UTS_LEN);
    name.truncate(off);
    let room = crate::kernel::uts::UTS_LEN - off;
    name.extend_from_slice(&data[..end.min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_lines_are_aligned_as_linux_aligns_them() {
        let m = meminfo();
        assert!(m.starts_with("MemTotal:        4194304 kB\n"), "{m}");
        assert!(m.contains("\nSwapFree:              0 kB\n"), "{m}");
    }

    #[test]
    fn cpuinfo_keeps_the_model_and_drops_host_topology() {
        let host = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n\
                    cache size\t: 1 KB\nphysical id\t: 3\napicid\t\t: 9\nflags\t\t: fpu sse\n\
                    power management:\n\n\
                    processor\t: 1\n";
        let c = cpuinfo(host, 2);
        assert_eq!(c.matches("processor\t:").count(), 2);
        assert!(c.contains("model name\t: Xeon\n"));
        assert!(c.contains("flags\t\t: fpu sse\n"));
        assert!(c.contains("\npower management:\n"));
        assert!(!c.contains("physical id\t: 3") && !c.contains("apicid\t\t: 9"));
    }

    #[test]
    fn cpuinfo_of_an_unreadable_host_file_still_numbers_the_cpus() {
        assert_eq!(cpuinfo("", 1), "processor\t: 0\n\n");
    }

    #[test]
    fn uts_write_stops_at_newline_and_at_64_bytes() {
        let mut n = b"old".to_vec();
        write_uts_name(&mut n, 0, b"new\n");
        assert_eq!(n, b"new");
        write_uts_name(&mut n, 0, &[b'a'; 100]);
        assert_eq!(n.len(), 64);
        write_uts_name(&mut n, 1000, b"x");
        assert_eq!(n.len(), 64);
    }
}
