//! A VM: a kernel, a platform and the host console, and the event loop
//! that drives them.

use crate::console;
use crate::kernel::boot::{BootError, InitSpec};
use crate::kernel::fs::ext4::{Ext4, Ext4Error};
use crate::kernel::fs::overlay::{FileStore, LogStore, MemStore};
use crate::kernel::task::ExitStatus;
use crate::kernel::tty::{Console, ConsoleInput};
use crate::kernel::{BootConfig, Kernel};
use crate::platform::ptrace::PtracePlatform;
use crate::platform::{Platform, PlatformError};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::io::Read;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// `--trace[=FILE]`, its format and filter, and `--stats`.
pub struct TraceOptions {
    /// None: no trace; Some(""): the default place; Some(FILE).
    pub trace: Option<String>,
    pub config: crate::kernel::trace::TraceConfig,
    pub stats: bool,
}

pub struct VmConfig {
    pub trace: TraceOptions,
    pub image: PathBuf,
    /// Where the VM's changes go; None: next to the image (IMAGE.overlay).
    pub overlay: Option<PathBuf>,
    pub argv: Option<Vec<Vec<u8>>>,
    pub env: Vec<Vec<u8>>,
    pub workdir: Vec<u8>,
    pub hostname: Vec<u8>,
    pub ephemeral: bool,
    pub verbose: bool,
    /// Run umk and the guest on one host CPU (the default): traps are then
    /// hand-offs on one CPU instead of cross-CPU wake-ups.
    pub one_cpu: bool,
}

/// Why a VM could not boot. Each message is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("cannot open image {path}: {err}")]
    ImageOpen { path: String, err: std::io::Error },
    #[error("{path} is not a usable ext2/3/4 image: {err}")]
    ImageFormat { path: String, err: Ext4Error },
    #[error("overlay {path}: {err} (use --overlay PATH for another file, or --ephemeral to keep changes in memory)")]
    OverlayOpen { path: String, err: String },
    #[error("cannot write the trace to {path}: {err}")]
    TraceFile { path: String, err: std::io::Error },
    #[error("{0}")]
    Platform(#[from] PlatformError),
    #[error("{0}")]
    Boot(#[from] BootError),
}

impl VmError {
    /// umk's own exit codes, documented in the README: 125 for a VM that
    /// could not start, 126 for a command that cannot run, 127 for one that
    /// is not in the image (as env(1) and container runtimes do).
    pub fn exit_code(&self) -> i32 {
        match self {
            VmError::Boot(BootError::NotFound(_)) => 127,
            VmError::Boot(BootError::NotExecutable { .. }) => 126,
            _ => 125,
        }
    }
}

/// What the host tells the event loop besides guest events.
enum HostEvent {
    Terminate(i32),
    /// The person at the console typed the escape sequence.
    Escape,
}

/// The console escape, as ssh's: after a newline, `~.` kills the VM (a
/// hung guest can always be left); `~~` types one `~`.
#[derive(Default)]
struct Escape {
    /// Whether the last byte ended a line (or nothing was typed yet).
    at_line_start: bool,
    /// A `~` at a line start, held back to see what follows.
    pending_tilde: bool,
    started: bool,
}

impl Escape {
    /// The bytes to hand to the guest, and whether the escape was typed.
    fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        if !self.started {
            self.started = true;
            self.at_line_start = true;
        }
        let mut out = Vec::with_capacity(input.len() + 1);
        for &b in input {
            if self.pending_tilde {
                self.pending_tilde = false;
                match b {
                    b'.' => return (out, true),
                    b'~' => {
                        out.push(b'~');
                        self.at_line_start = false;
                        continue;
                    }
                    _ => out.push(b'~'),
                }
            } else if self.at_line_start && b == b'~' {
                self.pending_tilde = true;
                continue;
            }
            out.push(b);
            self.at_line_start = b == b'\r' || b == b'\n';
        }
        (out, false)
    }
}

/// Where trace lines go: FILE, stderr, or (when stderr is the guest's
/// terminal) ./umk.trace, so the trace never garbles the console unless a
/// FILE such as /dev/stderr asks for it.
fn trace_session(
    opts: &TraceOptions,
    terminal: bool,
) -> Result<crate::kernel::trace::hook::TraceSession, VmError> {
    use std::io::Write;
    let tracer =
        opts.trace.as_ref().map(|_| crate::kernel::trace::Tracer::new(opts.config.clone()));
    let stats = opts.stats.then(crate::kernel::trace::Stats::new);
    let path = match opts.trace.as_deref() {
        Some("") if terminal && console::is_tty(2) => Some("umk.trace".to_string()),
        Some("") | None => None,
        Some(f) => Some(f.to_string()),
    };
    let out: Box<dyn FnMut(&str)> = match path {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&p)
                .map_err(|err| VmError::TraceFile { path: p.clone(), err })?;
            if opts.trace.as_deref() == Some("") {
                eprintln!("umk: tracing to {p}");
            }
            let mut w = std::io::BufWriter::new(f);
            Box::new(move |s: &str| {
                let _ = w.write_all(s.as_bytes());
                let _ = w.flush();
            })
        }
        None => Box::new(|s: &str| console::write_all(2, s.as_bytes())),
    };
    Ok(crate::kernel::trace::hook::TraceSession::new(tracer, stats, out))
}

/// The default overlay of IMAGE: IMAGE.overlay beside it.
pub fn default_overlay(image: &std::path::Path) -> PathBuf {
    let mut name = image.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".overlay");
    image.with_file_name(name)
}

const DEFAULT_PATH: &[u8] = b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Boots the image and runs until pid 1 exits. Returns the exit status to
/// leave umk with.
pub fn run(cfg: VmConfig) -> Result<i32, VmError> {
    let path = cfg.image.display().to_string();
    let file = std::fs::File::open(&cfg.image)
        .map_err(|err| VmError::ImageOpen { path: path.clone(), err })?;
    // The overlay is bound to this exact base: its UUID, size and superblock.
    let mut superblock = vec![0u8; 1024];
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = std::os::unix::fs::FileExt::read_exact_at(&file, &mut superblock, 1024);
    let image = Ext4::open(Box::new(file))
        .map_err(|err| VmError::ImageFormat { path: path.clone(), err })?;
    let base_id = crate::kernel::fs::overlay::base_id(&image.stats().uuid, size, &superblock);
    let store: Box<dyn LogStore> = if cfg.ephemeral {
        Box::new(MemStore::new())
    } else {
        let ovl = cfg.overlay.clone().unwrap_or_else(|| default_overlay(&cfg.image));
        Box::new(FileStore::open(&ovl).map_err(|e| VmError::OverlayOpen {
            path: ovl.display().to_string(),
            err: e.to_string(),
        })?)
    };

    let terminal = console::is_tty(0) && console::is_tty(1);
    if cfg.one_cpu {
        crate::platform::pin_to_current_cpu();
    }
    let tracing = cfg.trace.trace.is_some();
    // --stats counts every call: getpid and gettid must stop too.
    let mut platform = PtracePlatform::new(tracing, !cfg.trace.stats)?;
    // Kept open for the VM's life: guests map file pages from it.
    let image_for_guests = std::fs::File::open(&cfg.image).ok();
    if let Some(f) = &image_for_guests {
        platform.set_image_fd(std::os::fd::AsRawFd::as_raw_fd(f));
    }
    let doorbell = platform.doorbell();
    let (host, regs) = platform.spawn()?;

    // Host input and signals reach the loop through channels + doorbell.
    let (in_tx, in_rx) = unbounded::<ConsoleInput>();
    let (host_tx, host_rx) = unbounded::<HostEvent>();
    start_host_signals(host_tx.clone(), in_tx.clone(), doorbell.clone(), terminal);
    {
        let tx = in_tx.clone();
        let bell = doorbell.clone();
        let host_tx = host_tx.clone();
        std::thread::Builder::new()
            .name("umk-stdin".into())
            .spawn(move || {
                let mut escape = Escape::default();
                console::read_stdin(|chunk| {
                    let msg = match chunk {
                        Some(b) if terminal => {
                            let (bytes, kill) = escape.filter(&b);
                            if kill {
                                let _ = host_tx.send(HostEvent::Escape);
                                bell.ring();
                                return;
                            }
                            ConsoleInput::Bytes(bytes)
                        }
                        Some(b) => ConsoleInput::Bytes(b),
                        None => ConsoleInput::Eof,
                    };
                    let _ = tx.send(msg);
                    bell.ring();
                })
            })
            .ok();
    }
    let winsize = console::winsize(1).or_else(|| console::winsize(0)).unwrap_or_default();
    let entropy: crate::kernel::fs::devfs::Entropy = Rc::new(|buf: &mut [u8]| {
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(buf);
        }
    });
    let boot = BootConfig { hostname: cfg.hostname.clone(), log_enosys: cfg.verbose };
    let mut kernel = Kernel::new(
        Box::new(platform),
        image,
        (store, base_id),
        |waker| {
            let out: crate::kernel::tty::console::OutputSink =
                Box::new(|b: &[u8]| console::write_all(1, b));
            let err: crate::kernel::tty::console::OutputSink =
                Box::new(|b: &[u8]| console::write_all(2, b));
            Console::new(terminal, winsize, waker, in_rx, out, err)
        },
        entropy,
        boot,
    )?;

    let mut envp: Vec<Vec<u8>> = vec![DEFAULT_PATH.to_vec(), b"HOME=/root".to_vec()];
    if let Ok(term) = std::env::var("TERM") {
        envp.push(format!("TERM={term}").into_bytes());
    }
    for e in &cfg.env {
        let key = e.split(|b| *b == b'=').next().unwrap_or(e);
        envp.retain(|x| x.split(|b| *b == b'=').next() != Some(key));
        envp.push(e.clone());
    }
    let argv = match cfg.argv {
        Some(a) => a,
        None => {
            let has_init = kernel
                .lookup_at(
                    1,
                    guest_abi::fcntl::AT_FDCWD,
                    b"/sbin/init",
                    crate::kernel::fs::path::Follow::Yes,
                    false,
                )
                .is_ok();
            vec![if has_init { b"/sbin/init".to_vec() } else { b"/bin/sh".to_vec() }]
        }
    };
    if tracing || cfg.trace.stats {
        kernel.trace = Some(trace_session(&cfg.trace, terminal)?);
    }
    let _raw = if terminal { console::RawMode::enter(0).ok() } else { None };
    if let Err(e) =
        kernel.start_init(host, regs, InitSpec { argv, envp, workdir: cfg.workdir.clone() })
    {
        kernel.platform.kill_process(host);
        return Err(e.into());
    }

    let timer = Timer::start(doorbell);
    let mut armed: Option<Instant> = None;
    let status = loop {
        let ev = kernel.platform.next_event();
        // A bug in umk's kernel must not take the whole VM down: the guest
        // process it happened in is killed, the others go on.
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kernel.handle_event(ev)));
        if handled.is_err() {
            eprintln!(
                "umk: internal error while handling {ev:?}; killing the guest process involved"
            );
            if let Some(tid) = ev.tid() {
                kernel.platform.kill_process(tid);
            }
        }
        match host_rx.try_recv() {
            Ok(HostEvent::Terminate(sig)) => break ExitStatus::Killed { sig, core: false },
            Ok(HostEvent::Escape) => {
                console::write_all(2, b"\r\numk: escape sequence: the VM is killed\r\n");
                break ExitStatus::Killed { sig: 9, core: false };
            }
            Err(_) => {}
        }
        if let Some(st) = kernel.init_exit {
            break st;
        }
        // Tell the timer thread only when the deadline changes: waking it
        // on every syscall would cost a context switch each time.
        let next = kernel.next_deadline();
        if next != armed {
            armed = next;
            timer.set(next);
        }
    };
    // Nothing of the guest outlives pid 1.
    let hosts: Vec<i32> = kernel.table.borrow().tasks.values().map(|t| t.host).collect();
    for h in hosts {
        kernel.platform.kill_process(h);
    }
    drop(_raw);
    if let Some(report) = kernel.trace_report() {
        match &mut kernel.trace {
            Some(t) if cfg.trace.trace.as_deref().is_some_and(|f| !f.is_empty()) => {
                (t.out)(&report)
            }
            _ => eprint!("{report}"),
        }
    }
    // What the guest wrote is kept; an orderly shutdown syncs it all.
    if let Err(e) = kernel.sync_all() {
        eprintln!("umk: saving the overlay failed: {}", e.name());
    }
    Ok(match status {
        ExitStatus::Exited(c) => c,
        ExitStatus::Killed { sig, .. } => 128 + sig,
    })
}

/// SIGWINCH becomes a console resize; SIGTERM, SIGHUP (and SIGINT/SIGQUIT
/// when the console is not a terminal) end the VM cleanly.
fn start_host_signals(
    host_tx: Sender<HostEvent>,
    in_tx: Sender<ConsoleInput>,
    bell: crate::platform::Doorbell,
    terminal: bool,
) {
    use signal_hook::consts::*;
    let mut sigs = vec![SIGWINCH, SIGTERM, SIGHUP];
    if !terminal {
        sigs.extend([SIGINT, SIGQUIT]);
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&sigs) else { return };
    std::thread::Builder::new()
        .name("umk-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGWINCH {
                    if let Some(ws) = console::winsize(1).or_else(|| console::winsize(0)) {
                        let _ = in_tx.send(ConsoleInput::Resize(ws));
                    }
                } else {
                    let _ = host_tx.send(HostEvent::Terminate(sig));
                }
                bell.ring();
            }
        })
        .ok();
}

/// Rings the doorbell at the kernel's next deadline (sleeps, poll
/// timeouts, alarm).
struct Timer {
    tx: Sender<Option<Instant>>,
}

impl Timer {
    fn start(bell: crate::platform::Doorbell) -> Timer {
        let (tx, rx): (Sender<Option<Instant>>, Receiver<Option<Instant>>) = unbounded();
        std::thread::Builder::new()
            .name("umk-timer".into())
            .spawn(move || {
                let mut next: Option<Instant> = None;
                loop {
                    let msg = match next {
                        Some(at) => rx.recv_deadline(at),
                        None => {
                            rx.recv().map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected)
                        }
                    };
                    match msg {
                        Ok(n) => {
                            // Keep only the latest deadline the loop sent.
                            next = rx.try_iter().last().unwrap_or(n);
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                            next = None;
                            bell.ring();
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .ok();
        Timer { tx }
    }

    fn set(&self, at: Option<Instant>) {
        let _ = self.tx.send(at);
    }
}

#[cfg(test)]
mod tests {
    use super::Escape;

    #[test]
    fn tilde_dot_after_newline_kills() {
        let mut e = Escape::default();
        assert_eq!(e.filter(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(e.filter(b"~"), (Vec::new(), false));
        assert_eq!(e.filter(b"."), (Vec::new(), true));
    }

    #[test]
    fn tilde_elsewhere_is_typed() {
        let mut e = Escape::default();
        assert_eq!(e.filter(b"a~.b\r~~x\r~y"), (b"a~.b\r~x\r~y".to_vec(), false));
    }
}
