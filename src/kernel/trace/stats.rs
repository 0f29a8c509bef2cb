//! `--stats`: a `strace -c` style summary of the calls umk serviced.
//!
//! Times are what umk spent servicing each call (from trap to result), not
//! host kernel time: that is the cost a guest sees from umk. A call that
//! blocked counts the time until it completed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

#[derive(Clone, Copy, Default, Debug)]
struct Entry {
    calls: u64,
    errors: u64,
    time: Duration,
}

/// Per-syscall counts, errors and time, plus the ENOSYS calls umk does not
/// implement.
#[derive(Clone, Default, Debug)]
pub struct Stats {
    calls: BTreeMap<usize, Entry>,
    enosys: BTreeMap<usize, u64>,
}

fn name(nr: usize) -> String {
    match guest_abi::sysno::name(nr) {
        Some(n) => n.into(),
        None => format!("syscall_{nr:#x}"),
    }
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    /// One completed call; `ret` in -4095..=-1 counts as an error.
    pub fn record(&mut self, nr: usize, ret: i64, elapsed: Duration) {
        let e = self.calls.entry(nr).or_default();
        e.calls += 1;
        if (-4095..0).contains(&ret) {
            e.errors += 1;
        }
        e.time += elapsed;
    }

    /// A call umk returned ENOSYS for because it does not implement it.
    pub fn record_enosys(&mut self, nr: usize) {
        *self.enosys.entry(nr).or_default() += 1;
    }

    /// The table, `strace -c` shaped: `% time, seconds, usecs/call, calls,
    /// errors, syscall`, most time first (ties: more calls, then name),
    /// a total line, then the ENOSYS section. Ends with a newline.
    pub fn report(&self) -> String {
        let mut rows: Vec<(String, Entry)> =
            self.calls.iter().map(|(&nr, &e)| (name(nr), e)).collect();
        rows.sort_by(|a, b| {
            b.1.time.cmp(&a.1.time).then(b.1.calls.cmp(&a.1.calls)).then(a.0.cmp(&b.0))
        });
        let total = rows.iter().fold(Entry::default(), |t, (_, e)| Entry {
            calls: t.calls + e.calls,
            errors: t.errors + e.errors,
            time: t.time + e.time,
        });
        let total_us = total.time.as_secs_f64() * 1e6;
        let sep = "------ ----------- ----------- --------- --------- ----------------\n";
        let mut s = String::new();
        s.push_str("% time     seconds  usecs/call     calls    errors syscall\n");
        s.push_str(sep);
        let line = |s: &mut String, pct: f64, e: &Entry, name: &str| {
            let us = e.time.as_micros() as u64;
            let per = us.checked_div(e.calls).unwrap_or(0);
            let errors = if e.errors > 0 { e.errors.to_string() } else { String::new() };
            let _ = writeln!(
                s,
                "{:6.2} {:11.6} {:11} {:9} {:>9} {}",
                pct,
                e.time.as_secs_f64(),
                per,
                e.calls,
                errors,
                name
            );
        };
        for (n, e) in &rows {
            let pct =
                if total_us > 0.0 { e.time.as_secs_f64() * 1e6 * 100.0 / total_us } else { 0.0 };
            line(&mut s, pct, e, n);
        }
        s.push_str(sep);
        line(&mut s, if total_us > 0.0 { 100.0 } else { 0.0 }, &total, "total");
        s.push_str("\nNot implemented by umk (ENOSYS):\n");
        if self.enosys.is_empty() {
            s.push_str("  none\n");
        } else {
            let mut rows: Vec<(String, u64)> =
                self.enosys.iter().map(|(&nr, &c)| (name(nr), c)).collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (n, c) in rows {
                let _ = writeln!(s, "  {n:<24} {c:>9}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guest_abi::sysno::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn report_sorts_by_time_and_counts_errors() {
        let mut st = Stats::new();
        st.record(SYS_OPENAT, 3, us(10));
        st.record(SYS_OPENAT, -2, us(30));
        st.record(SYS_READ, 5, us(200));
        st.record(SYS_CLOSE, 0, us(0));
        let r = st.report();
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines[0], "% time     seconds  usecs/call     calls    errors syscall");
        assert_eq!(lines[1], "------ ----------- ----------- --------- --------- ----------------");
        assert_eq!(lines[2], " 83.33    0.000200         200         1           read");
        assert_eq!(lines[3], " 16.67    0.000040          20         2         1 openat");
        assert_eq!(lines[4], "  0.00    0.000000           0         1           close");
        assert_eq!(lines[5], lines[1]);
        assert_eq!(lines[6], "100.00    0.000240          60         4         1 total");
    }

    #[test]
    fn ties_in_time_break_on_calls_then_name() {
        let mut st = Stats::new();
        st.record(SYS_GETPID, 1, us(0));
        st.record(SYS_GETUID, 0, us(0));
        st.record(SYS_GETUID, 0, us(0));
        st.record(SYS_BRK, 0, us(0));
        let r = st.report();
        let names: Vec<&str> =
            r.lines().skip(2).take(3).map(|l| l.rsplit(' ').next().unwrap()).collect();
        assert_eq!(names, ["getuid", "brk", "getpid"]);
    }

    #[test]
    fn empty_report_has_a_zero_total_and_no_enosys() {
        let r = Stats::new().report();
        assert!(r.contains("  0.00    0.000000           0         0           total\n"), "{r}");
        assert!(r.ends_with("Not implemented by umk (ENOSYS):\n  none\n"), "{r}");
    }

    #[test]
    fn enosys_section_lists_names_by_count() {
        let mut st = Stats::new();
        st.record_enosys(SYS_IO_URING_SETUP);
        st.record_enosys(SYS_FANOTIFY_INIT);
        st.record_enosys(SYS_FANOTIFY_INIT);
        st.record_enosys(1000);
        let r = st.report();
        let tail: Vec<&str> = r.lines().skip_while(|l| !l.starts_with("Not implemented")).collect();
        assert_eq!(tail[0], "Not implemented by umk (ENOSYS):");
        assert!(tail[1].starts_with("  fanotify_init ") && tail[1].ends_with(" 2"), "{r}");
        assert!(tail[2].starts_with("  io_uring_setup ") && tail[2].ends_with(" 1"), "{r}");
        assert!(tail[3].starts_with("  syscall_0x3e8 "), "{r}");
        assert_eq!(tail.len(), 4);
    }

    #[test]
    fn unknown_numbers_are_named_like_strace() {
        let mut st = Stats::new();
        st.record(600, -38, us(1));
        assert!(st.report().contains(" syscall_0x258\n"));
    }
}
