//! Syscall tracing (`umk run --trace[=FILE]`, `--trace-format=json`,
//! `--trace-filter=SPEC`) and statistics (`--stats`), strace-like but from
//! the kernel's side.
//!
//! # What is shown, and why
//!
//! The trace is the **guest's view** of its system calls: virtual pids and
//! tids (pid 1 is the guest's init), guest paths (as the guest passed them,
//! never host paths), umk's file descriptors, and the values umk returned.
//! Nothing about the host (host tids, the seccomp/ptrace machinery, calls
//! the seccomp filter lets run natively) appears: the tracer only sees what
//! the kernel is told about through [`Tracer::enter`] and friends. Times
//! are the time umk spent servicing a call, trap to result, including any
//! time the thread was parked.
//!
//! # Text format (default)
//!
//! One line per call, in strace's shape, always with the thread id prefix
//! and the time spent (strace `-f -T`):
//!
//! ```text
//! [pid 1] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000012>
//! [pid 1] openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000008>
//! [pid 1] close(3)                        = 0 <0.000002>
//! ```
//!
//! * `[pid N]` is the guest **thread** id, as in strace (equal to the pid
//!   for single-threaded processes). `=` is aligned to column 40 like strace.
//! * Strings are escaped like strace without `-x`: `\n \t \v \f \r \" \\`,
//!   other non-printable bytes (and all bytes >= 0x80) as octal `\ooo`.
//!   Data buffers and argv strings are cut at `string_limit` bytes (strace
//!   `-s`) and followed by `...`; paths are shown whole (up to PATH_MAX),
//!   as strace does.
//! * Output arguments (read buffers, stat structs, pipe fds, wait status...)
//!   are decoded when the call returns, only on success; on failure the
//!   pointer is shown, like strace.
//! * A call that blocks prints `[pid N] wait4(-1,  <unfinished ...>` when
//!   umk parks the thread ([`Tracer::blocked`]) and later
//!   `[pid N] <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 2 <0.5>`.
//! * Signals: `[pid N] --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=2, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---`.
//! * Exits: `[pid N] +++ exited with 0 +++`, `+++ killed by SIGKILL +++`,
//!   `+++ killed by SIGSEGV (core dumped) +++`. Calls that never returned
//!   (`exit_group`) print as `exit_group(0) = ?` just before.
//!
//! Every string returned by the tracer is one or more complete lines, each
//! ending with `\n`.
//!
//! # JSON format (`--trace-format=json`)
//!
//! One JSON object per line (JSON Lines), with a `type` field:
//!
//! * `{"type":"syscall","pid":1,"tid":1,"name":"openat","nr":257,"args":["AT_FDCWD","\"/etc/passwd\"","O_RDONLY"],"ret":3,"errno":null,"time_us":12,"blocked":false}`
//!   — `args` are the decoded arguments as the text format shows them;
//!   `ret` is the value returned, `-1` with `errno` set to the name
//!   (`"ENOENT"`) on failure, `null` for calls that do not return
//!   (`exit_group`) or are restarted after a signal (`errno` is then
//!   `"ERESTARTSYS"` or a sibling); `time_us` is whole microseconds;
//!   `blocked` says the thread was parked during the call.
//! * `{"type":"unfinished","pid":1,"tid":1,"name":"wait4","nr":61,"args":["-1"]}`
//!   — the call blocked; the `syscall` object follows when it completes.
//! * `{"type":"signal","pid":1,"tid":1,"signal":"SIGCHLD","nr":17,"siginfo":"{si_signo=SIGCHLD, ...}"}`
//! * `{"type":"exit","pid":2,"code":0,"signal":null,"core_dumped":false}`
//!   (`code` null and `signal` a name when killed).
//!
//! # Deliberate differences from strace
//!
//! * Syscalls without a decoder print their arguments in raw hex (strace
//!   knows every syscall); the count comes from [`decode::arity`].
//! * TCGETS shows the set flag bits only, in bit order (strace also names
//!   zero-valued fields like `NL0|CR0` and orders a few bits differently).
//! * `getrandom`'s buffer is escaped like any buffer (strace forces hex).
//! * clone's `parent_tid` is shown as a pointer, not the tid written there.
//! * `[pid N]` is always printed, even while only one process exists.

mod decode;
mod errmsg;
mod filter;
mod fmt;
pub mod hook;
mod stats;

pub use filter::TraceFilter;
pub use stats::Stats;

use decode::{Out, Ret, Slot};
use fmt::Reader;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// `--trace-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct TraceConfig {
    pub format: TraceFormat,
    pub filter: TraceFilter,
    /// Longest data string shown, in bytes (strace `-s`, default 32).
    pub string_limit: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig { format: TraceFormat::Text, filter: TraceFilter::all(), string_limit: 32 }
    }
}

/// Reads guest memory for decoding; implemented by the kernel over its
/// GuestMem. A failed read decodes as the raw address (strace prints the
/// pointer).
pub trait TraceMem {
    /// Fills `buf` from guest address `addr`; false if any byte is unreadable.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
}

/// A call between [`Tracer::enter`] and [`Tracer::exit`].
struct Pending {
    pid: i32,
    nr: usize,
    slots: Vec<Slot>,
    ret: Ret,
    blocked: bool,
}

impl Pending {
    /// Index of the first argument decoded at exit: what an
    /// `<unfinished ...>` line can show stops there.
    fn split(&self) -> usize {
        self.slots.iter().position(|s| matches!(s, Slot::Out(_))).unwrap_or(self.slots.len())
    }
}

/// The syscall tracer: decodes calls, signals and exits into lines.
pub struct Tracer {
    cfg: TraceConfig,
    pending: HashMap<i32, Pending>,
}

/// strace's column for ` = ` (its `-a` default).
const RET_COLUMN: usize = 40;

fn sys_name(nr: usize) -> String {
    match guest_abi::sysno::name(nr) {
        Some(n) => n.into(),
        None => format!("syscall_{nr:#x}"),
    }
}

/// The name of an errno value, including the kernel-internal restart codes.
fn errno_name(e: i32) -> Option<&'static str> {
    use guest_abi::restart::*;
    match e {
        ERESTARTSYS => Some("ERESTARTSYS"),
        ERESTARTNOINTR => Some("ERESTARTNOINTR"),
        ERESTARTNOHAND => Some("ERESTARTNOHAND"),
        ERESTART_RESTARTBLOCK => Some("ERESTART_RESTARTBLOCK"),
        _ => guest_abi::errno::name(e),
    }
}

fn is_restart(e: i32) -> bool {
    (512..=516).contains(&e)
}

/// Appends `s` as a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

fn json_args(out: &mut String, args: &[String]) {
    out.push('[');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, a);
    }
    out.push(']');
}

/// Pads a text line to the return-value column and appends `= ret`.
fn push_ret(line: &mut String, ret: &str) {
    if line.len() < RET_COLUMN {
        let pad = RET_COLUMN - line.len();
        line.extend(std::iter::repeat_n(' ', pad));
        line.push_str("= ");
    } else {
        line.push_str(" = ");
    }
    line.push_str(ret);
}

impl Tracer {
    pub fn new(cfg: TraceConfig) -> Tracer {
        Tracer { cfg, pending: HashMap::new() }
    }

    pub fn config(&self) -> &TraceConfig {
        &self.cfg
    }

    /// Whether syscall `nr` passes the filter (O(1)); the kernel may skip
    /// calling [`enter`](Tracer::enter) and [`exit`](Tracer::exit) otherwise.
    #[inline]
    pub fn wants(&self, nr: usize) -> bool {
        self.cfg.filter.wants(nr)
    }

    /// Syscall entry: decodes the input arguments now (strings, flags,
    /// in-structs) because the handler may change memory.
    ///
    /// When the thread already has a *blocked* call of the same number
    /// pending, this is umk re-running it after a wake-up: the original
    /// entry is kept and nothing is decoded again.
    pub fn enter(&mut self, pid: i32, tid: i32, nr: usize, args: [u64; 6], mem: &mut dyn TraceMem) {
        if let Some(p) = self.pending.get(&tid) {
            if p.blocked && p.nr == nr {
                return;
            }
        }
        if !self.wants(nr) {
            self.pending.remove(&tid);
            return;
        }
        let mut r = Reader { mem };
        let d = decode::enter(nr, args, &mut r, self.cfg.string_limit);
        self.pending.insert(tid, Pending { pid, nr, slots: d.slots, ret: d.ret, blocked: false });
    }

    /// The call finished with `ret` (value or -errno) after `elapsed` in
    /// umk: decodes the output arguments and returns the complete line
    /// (`None` if the call was filtered out or never entered).
    pub fn exit(
        &mut self,
        tid: i32,
        ret: i64,
        elapsed: Duration,
        mem: &mut dyn TraceMem,
    ) -> Option<String> {
        let p = self.pending.remove(&tid)?;
        let mut r = Reader { mem };
        let limit = self.cfg.string_limit;
        let args: Vec<String> = p
            .slots
            .iter()
            .map(|s| match s {
                Slot::Text(t) => t.clone(),
                Slot::Out(o) => decode::output(*o, ret, &mut r, limit),
            })
            .collect();
        let no_return = p.ret == Ret::NoReturn;
        let errno =
            if !no_return && (-4095..0).contains(&ret) { Some((-ret) as i32) } else { None };
        Some(match self.cfg.format {
            TraceFormat::Text => {
                let mut line = self.head(tid, &p, &args);
                let rs = if no_return {
                    "?".to_string()
                } else if let Some(e) = errno {
                    let name = errno_name(e).map(String::from).unwrap_or_else(|| format!("E{e}"));
                    let desc = errmsg::describe(e)
                        .map(String::from)
                        .unwrap_or_else(|| format!("Unknown error {e}"));
                    if is_restart(e) {
                        format!("? {name} ({desc})")
                    } else {
                        format!("-1 {name} ({desc})")
                    }
                } else {
                    ret_value(p.ret, ret, &mut r, limit)
                };
                push_ret(&mut line, &rs);
                let _ = writeln!(line, " <{:.6}>", elapsed.as_secs_f64());
                line
            }
            TraceFormat::Json => {
                let mut o = String::with_capacity(128);
                let _ =
                    write!(o, "{{\"type\":\"syscall\",\"pid\":{},\"tid\":{tid},\"name\":", p.pid);
                json_str(&mut o, &sys_name(p.nr));
                let _ = write!(o, ",\"nr\":{},\"args\":", p.nr);
                json_args(&mut o, &args);
                o.push_str(",\"ret\":");
                match errno {
                    _ if no_return => o.push_str("null"),
                    Some(e) if is_restart(e) => o.push_str("null"),
                    Some(_) => o.push_str("-1"),
                    None => {
                        let _ = write!(o, "{ret}");
                    }
                }
                o.push_str(",\"errno\":");
                json_opt_str(
                    &mut o,
                    errno
                        .and_then(|e| errno_name(e).map(String::from).or(Some(format!("E{e}"))))
                        .as_deref(),
                );
                let _ =
                    writeln!(o, ",\"time_us\":{},\"blocked\":{}}}", elapsed.as_micros(), p.blocked);
                o
            }
        })
    }

    /// `[pid T] name(args)` or `[pid T] <... name resumed>rest)`.
    fn head(&self, tid: i32, p: &Pending, args: &[String]) -> String {
        let mut line = format!("[pid {tid}] ");
        let shown = if p.blocked {
            let _ = write!(line, "<... {} resumed>", sys_name(p.nr));
            &args[p.split()..]
        } else {
            let _ = write!(line, "{}(", sys_name(p.nr));
            args
        };
        line.push_str(&shown.join(", "));
        line.push(')');
        line
    }

    /// A call that blocked (umk parked the thread): the text format shows
    /// `name(inputs,  <unfinished ...>` now and `<... name resumed>` in the
    /// exit line, like strace when calls interleave. `None` if the call is
    /// not traced or was already reported blocked.
    pub fn blocked(&mut self, tid: i32) -> Option<String> {
        let format = self.cfg.format;
        let p = self.pending.get_mut(&tid)?;
        if p.blocked {
            return None;
        }
        p.blocked = true;
        let split = p.split();
        let shown: Vec<String> = p.slots[..split]
            .iter()
            .map(|s| match s {
                Slot::Text(t) => t.clone(),
                Slot::Out(_) => unreachable!("split stops at the first output"),
            })
            .collect();
        let name = sys_name(p.nr);
        Some(match format {
            TraceFormat::Text => {
                let mut line = format!("[pid {tid}] {name}({}", shown.join(", "));
                if split > 0 && split < p.slots.len() {
                    line.push_str(", ");
                }
                line.push_str(" <unfinished ...>\n");
                line
            }
            TraceFormat::Json => {
                let mut o =
                    format!("{{\"type\":\"unfinished\",\"pid\":{},\"tid\":{tid},\"name\":", p.pid);
                json_str(&mut o, &name);
                let _ = write!(o, ",\"nr\":{},\"args\":", p.nr);
                json_args(&mut o, &shown);
                o.push_str("}\n");
                o
            }
        })
    }

    /// A signal delivered to a thread (`siginfo` is the 128 raw bytes):
    /// `--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, ...} ---`.
    pub fn signal(&mut self, pid: i32, tid: i32, sig: i32, siginfo: &[u8; 128]) -> String {
        let info = decode::siginfo(siginfo);
        let name = fmt::signame(sig as i64);
        match self.cfg.format {
            TraceFormat::Text => format!("[pid {tid}] --- {name} {info} ---\n"),
            TraceFormat::Json => {
                let mut o =
                    format!("{{\"type\":\"signal\",\"pid\":{pid},\"tid\":{tid},\"signal\":");
                json_str(&mut o, &name);
                let _ = write!(o, ",\"nr\":{sig},\"siginfo\":");
                json_str(&mut o, &info);
                o.push_str("}\n");
                o
            }
        }
    }

    /// Process exit: `+++ exited with 0 +++` / `+++ killed by SIGKILL +++`
    /// (and ` (core dumped)`). `signal` is the killing signal and whether
    /// it dumped core; it wins over `code`. Calls the process's threads
    /// had in flight (exit_group, a blocked read in another thread) are
    /// printed first as `= ?` lines.
    pub fn exited(&mut self, pid: i32, code: Option<i32>, signal: Option<(i32, bool)>) -> String {
        let mut out = String::new();
        let mut tids: Vec<i32> =
            self.pending.iter().filter(|(_, p)| p.pid == pid).map(|(&t, _)| t).collect();
        tids.sort_unstable();
        for tid in tids {
            let Some(p) = self.pending.remove(&tid) else { continue };
            let args: Vec<String> = p
                .slots
                .iter()
                .map(|s| match s {
                    Slot::Text(t) => t.clone(),
                    Slot::Out(o) => out_pointer(*o),
                })
                .collect();
            match self.cfg.format {
                TraceFormat::Text => {
                    let mut line = self.head(tid, &p, &args);
                    push_ret(&mut line, "?");
                    line.push('\n');
                    out.push_str(&line);
                }
                TraceFormat::Json => {
                    let _ = write!(
                        out,
                        "{{\"type\":\"syscall\",\"pid\":{},\"tid\":{tid},\"name\":",
                        p.pid
                    );
                    json_str(&mut out, &sys_name(p.nr));
                    let _ = write!(out, ",\"nr\":{},\"args\":", p.nr);
                    json_args(&mut out, &args);
                    let _ = writeln!(
                        out,
                        ",\"ret\":null,\"errno\":null,\"time_us\":null,\"blocked\":{}}}",
                        p.blocked
                    );
                }
            }
        }
        match self.cfg.format {
            TraceFormat::Text => {
                let what = match (signal, code) {
                    (Some((s, core)), _) => {
                        format!(
                            "killed by {}{}",
                            fmt::signame(s as i64),
                            if core { " (core dumped)" } else { "" }
                        )
                    }
                    (None, Some(c)) => format!("exited with {c}"),
                    (None, None) => "exited".to_string(),
                };
                let _ = writeln!(out, "[pid {pid}] +++ {what} +++");
            }
            TraceFormat::Json => {
                let _ = write!(out, "{{\"type\":\"exit\",\"pid\":{pid},\"code\":");
                match (signal, code) {
                    (None, Some(c)) => {
                        let _ = write!(out, "{c}");
                    }
                    _ => out.push_str("null"),
                }
                out.push_str(",\"signal\":");
                json_opt_str(&mut out, signal.map(|(s, _)| fmt::signame(s as i64)).as_deref());
                let _ = writeln!(out, ",\"core_dumped\":{}}}", signal.is_some_and(|(_, c)| c));
            }
        }
        out
    }
}

/// An output argument of a call that never returned: its pointer.
fn out_pointer(o: Out) -> String {
    let mut none = NoMem;
    let mut r = Reader { mem: &mut none };
    decode::output(o, -(guest_abi::errno::EFAULT as i64), &mut r, 0)
}

struct NoMem;
impl TraceMem for NoMem {
    fn read(&mut self, _: u64, _: &mut [u8]) -> bool {
        false
    }
}

/// A successful return value, with strace's annotations.
fn ret_value(kind: Ret, v: i64, r: &mut Reader, limit: usize) -> String {
    match kind {
        Ret::Hex => fmt::hex(v as u64),
        Ret::Poll { addr, n } => {
            if v == 0 {
                "0 (Timeout)".into()
            } else {
                format!("{v} ({})", decode::pollfds(r, addr, n, limit, true))
            }
        }
        Ret::GetFl => format!("{} (flags {})", fmt::hex(v as u64), decode::open_flags(v as u64)),
        Ret::GetFd => {
            if v & guest_abi::fcntl::FD_CLOEXEC as i64 != 0 {
                format!("{} (flags FD_CLOEXEC)", fmt::hex(v as u64))
            } else {
                v.to_string()
            }
        }
        Ret::Dec | Ret::NoReturn => v.to_string(),
    }
}

#[cfg(test)]
mod tests;
