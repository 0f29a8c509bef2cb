//! The ptrace platform: guest threads are host threads traced by umk.
//!
//! One thread of umk (the event loop) is the tracer of every guest thread.
//! Guest processes are started from the stub (see [`stub`]) under a seccomp
//! filter (see [`seccomp`]) whose `SECCOMP_RET_TRACE` verdicts arrive here
//! as `PTRACE_EVENT_SECCOMP` stops: one stop per trapped call. From ptrace(2):
//! threads are attached with PTRACE_SEIZE, so group-stops arrive as
//! PTRACE_EVENT_STOP and children of traced threads are traced from birth
//! (PTRACE_O_TRACEFORK/VFORK/CLONE); PTRACE_O_EXITKILL kills every guest
//! thread if umk dies.

pub mod seccomp;
pub mod stub;
pub mod unotify;

use super::{
    Doorbell, Event, Fault, HostTid, Platform, PlatformError, Regs, StartState, StubLayout, Vma,
};
use std::collections::HashSet;
use std::ffi::CString;
use std::io;

const PTRACE_EVENT_STOP: i32 = 128;

/// Why a traced thread is stopped, which decides how it may be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Seccomp,
    SyscallExit,
    Signal,
    Event,
}

pub struct PtracePlatform {
    stub_fd: i32,
    /// umk's read-only fd of the base image, handed to every guest process.
    image_fd: i32,
    secret: u64,
    filter: Vec<seccomp::SockFilter>,
    doorbell_pid: i32,
    /// Threads we have seen stop at least once (to tell a new child's first
    /// stop from a group-stop).
    known: HashSet<HostTid>,
    stop_kind: std::collections::HashMap<HostTid, StopKind>,
    /// What wait4 said about the thread the last exit event was for.
    exit_usage: Option<(HostTid, guest_abi::misc::Rusage)>,
    /// Threads with PTRACE_O_TRACEEXIT on. Only threads whose exit umk
    /// must see get it: each exit stop costs a round trip.
    exit_stops: HashSet<HostTid>,
    /// Wait statuses taken out of turn (by `stop_for_dump`), reported by
    /// `next_event` before it waits again.
    held: std::collections::VecDeque<(HostTid, i32, libc::rusage)>,
    /// The filter without the user-notification verdicts, for a host that
    /// will not give the first guest process a listener (one is already
    /// in its filter chain, e.g. a container runtime's).
    filter_plain: Vec<seccomp::SockFilter>,
    /// getpid/gettid answers for the listener's thread (unotify.rs).
    identities: std::sync::Arc<unotify::Identities>,
    /// Whether a listener answers getpid/gettid (then a signal stop may
    /// find one of them interrupted).
    notifying: bool,
}

/// The ptrace options of every guest thread; PTRACE_O_TRACEEXIT is added
/// per thread (see `set_exit_stop`).
const OPTIONS: libc::c_int = libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_EXITKILL;

fn check(r: libc::c_long, what: &'static str) -> Result<libc::c_long, PlatformError> {
    if r < 0 {
        Err(PlatformError::host(what))
    } else {
        Ok(r)
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, 0) };
    if n != 8 {
        // Fall back to time and address entropy; the secret only needs to
        // be unguessable by the guest, which cannot read umk's memory.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ (&b as *const _ as u64).rotate_left(17);
    }
    u64::from_ne_bytes(b)
}

impl PtracePlatform {
    /// Sets up the stub and the doorbell. Must be called on the thread that
    /// will run the event loop: ptrace ties tracees to one tracer thread.
    /// `trap_all`: trap every syscall, also the reviewed native ones (for
    /// a complete --trace). `notify`: answer getpid and gettid through a
    /// seccomp listener instead of a stop (off when every call must be
    /// seen, for --stats).
    pub fn new(trap_all: bool, notify: bool) -> Result<PtracePlatform, PlatformError> {
        // The doorbell first: seizing it is also the check that ptrace is
        // permitted here, so that is the error a user sees.
        let mut p = PtracePlatform {
            stub_fd: -1,
            image_fd: -1,
            secret: 0,
            filter: Vec::new(),
            doorbell_pid: 0,
            known: HashSet::new(),
            stop_kind: Default::default(),
            exit_usage: None,
            exit_stops: HashSet::new(),
            held: Default::default(),
            filter_plain: Vec::new(),
            identities: Default::default(),
            notifying: false,
        };
        p.doorbell_pid = p.start_doorbell()?;
        let image = stub::image();
        let name = CString::new("umk-stub").unwrap_or_default();
        // SAFETY: memfd_create with a valid C string.
        let fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            return Err(PlatformError::host("memfd_create for the stub"));
        }
        // SAFETY: writing our own buffer to our own fd.
        let w = unsafe { libc::write(fd, image.as_ptr().cast(), image.len()) };
        if w != image.len() as isize {
            return Err(PlatformError::host("writing the stub"));
        }
        // SAFETY: fcntl on our fd; seals keep the stub immutable.
        unsafe {
            libc::fcntl(
                fd,
                libc::F_ADD_SEALS,
                libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            );
        }
        // The secret's low 12 bits are zero: it rides in mmap's page-aligned
        // offset argument.
        let secret = random_u64() & !0xfff | 0x1000;
        p.stub_fd = fd;
        p.secret = secret;
        p.filter = seccomp::build_filter(stub::INJECT_IP, secret, trap_all, notify && !trap_all);
        p.filter_plain = seccomp::build_filter(stub::INJECT_IP, secret, trap_all, false);
        Ok(p)
    }

    /// The doorbell is a traced child that does nothing but wait for
    /// signals. Another umk thread signals it; the signal-delivery-stop
    /// wakes `waitpid` in the event loop. Unlike a self-pipe, this needs no
    /// second wait primitive next to waitpid, and no signal is ever lost.
    fn start_doorbell(&mut self) -> Result<i32, PlatformError> {
        // SAFETY: the child only calls async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PlatformError::host("fork of the doorbell"));
        }
        if pid == 0 {
            // SAFETY: plain syscalls in the forked child.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                loop {
                    libc::pause();
                }
            }
        }
        let opts = libc::PTRACE_O_EXITKILL;
        // SAFETY: seizing our own child.
        let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, opts as libc::c_long) };
        if r < 0 {
            let err = io::Error::last_os_error();
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(PlatformError::PtraceDenied(err));
        }
        self.known.insert(pid);
        Ok(pid)
    }

    /// Gives guest processes the base image (read-only) at a fixed fd, so
    /// umk can map file pages from it instead of copying them.
    pub fn set_image_fd(&mut self, fd: i32) {
        self.image_fd = fd;
    }

    /// Starts a new guest process: fork, seize, install the seccomp filter,
    /// exec the stub. Returns once the stub has stopped at its entry point,
    /// with its registers (an `Exec` event is NOT reported for it).
    pub fn spawn(&mut self) -> Result<(HostTid, Regs), PlatformError> {
        let mut sync = [0i32; 2];
        // SAFETY: pipe2 into a 2-int array.
        if unsafe { libc::pipe2(sync.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(PlatformError::host("pipe2"));
        }
        let prog = libc::sock_fprog {
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        let prog_plain = libc::sock_fprog {
            len: self.filter_plain.len() as u16,
            filter: self.filter_plain.as_ptr() as *mut libc::sock_filter,
        };
        let wants_listener = self.filter.len() != self.filter_plain.len();
        // Where the child leaves its listener's fd number (or -1): the
        // filter traps every call it could make to say so.
        // SAFETY: a fresh anonymous shared page, unmapped below.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(PlatformError::host("mmap"));
        }
        let listener_slot = page.cast::<i32>();
        // SAFETY: the page is ours and at least 4 bytes.
        unsafe { listener_slot.write_volatile(-1) };
        let argv0 = c"umk-guest";
        let argv: [*const libc::c_char; 2] = [argv0.as_ptr(), std::ptr::null()];
        let envp: [*const libc::c_char; 1] = [std::ptr::null()];
        let empty = c"";
        let stub_fd = self.stub_fd;
        let image_fd = self.image_fd;
        // SAFETY: after fork the child calls only async-signal-safe syscalls
        // on memory prepared before the fork, then execs or exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PlatformError::host("fork"));
        }
        if pid == 0 {
            unsafe {
                // Own host session and group: the host terminal's signals
                // never reach a guest directly; umk's line discipline decides.
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // Every signal at its default action and none blocked, as
                // Linux starts init: nothing umk inherited (an ignored
                // SIGPIPE, or signal 32 from a parent's C library) may
                // reach the guest, since ignored signals survive exec. The
                // raw call, as libc refuses its internal signals.
                let dfl = [0u64; 4];
                for sig in 1..=64 {
                    libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize);
                }
                let none = 0u64;
                libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &none, 0usize, 8usize);
                // No core dump of guest memory may land on the host: a
                // limit of 1 stops file dumps and, by the kernel's special
                // case, piped ones too (core(5)). Inherited by every guest
                // process; umk keeps the guest's own RLIMIT_CORE.
                let core = libc::rlimit { rlim_cur: 1, rlim_max: 1 };
                if libc::setrlimit(libc::RLIMIT_CORE, &core) != 0 {
                    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                    libc::setrlimit(libc::RLIMIT_CORE, &zero);
                }
                let mut b = 0u8;
                libc::read(sync[0], (&mut b as *mut u8).cast(), 1);
                if libc::dup2(stub_fd, stub::STUB_FD) < 0 {
                    libc::_exit(126);
                }
                if image_fd >= 0 && libc::dup2(image_fd, stub::IMAGE_FD) < 0 {
                    libc::_exit(126);
                }
                // No host descriptor but the stub and the image survive
                // into the guest (IMAGE_FD is STUB_FD - 1).
                libc::syscall(libc::SYS_close_range, 0u32, (stub::IMAGE_FD - 1) as u32, 0u32);
                if image_fd < 0 {
                    libc::close(stub::IMAGE_FD);
                }
                libc::syscall(libc::SYS_close_range, (stub::STUB_FD + 1) as u32, u32::MAX, 0u32);
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(125);
                }
                let with_listener = if wants_listener {
                    libc::syscall(
                        libc::SYS_seccomp,
                        1, /* SECCOMP_SET_MODE_FILTER */
                        unotify::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                        &prog as *const _,
                    )
                } else {
                    -1
                };
                if with_listener >= 0 {
                    listener_slot.write_volatile(with_listener as i32);
                } else if libc::syscall(
                    libc::SYS_seccomp,
                    1, /* SECCOMP_SET_MODE_FILTER */
                    0,
                    &prog_plain as *const _,
                ) != 0
                {
                    libc::_exit(124);
                }
                libc::syscall(
                    libc::SYS_execveat,
                    stub::STUB_FD,
                    empty.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
                libc::_exit(123);
            }
        }
        // SAFETY: closing our read end; the child has its copy.
        unsafe { libc::close(sync[0]) };
        let opts = OPTIONS;
        // SAFETY: seizing our own child.
        let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, opts as libc::c_long) };
        if r < 0 {
            let err = io::Error::last_os_error();
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
                libc::close(sync[1]);
            }
            return Err(PlatformError::PtraceDenied(err));
        }
        // SAFETY: one byte from a local to our pipe.
        unsafe {
            libc::write(sync[1], b"g".as_ptr().cast(), 1);
            libc::close(sync[1]);
        }
        self.known.insert(pid);
        // Drive the child to the stub's entry: its execveat traps (the
        // filter is already in force) and we let it run; then the exec
        // event; then the int3 at the entry point.
        loop {
            let status = self.wait_for(pid)?;
            if libc::WIFEXITED(status) {
                return Err(match libc::WEXITSTATUS(status) {
                    124 => PlatformError::SeccompDenied(
                        "seccomp(SECCOMP_SET_MODE_FILTER) failed".into(),
                    ),
                    c => PlatformError::Host {
                        what: "starting the stub",
                        err: io::Error::other(format!("child exited with {c}")),
                    },
                });
            }
            if libc::WIFSIGNALED(status) {
                return Err(PlatformError::SeccompDenied(format!(
                    "the guest stub was killed by signal {}",
                    libc::WTERMSIG(status)
                )));
            }
            let sig = libc::WSTOPSIG(status);
            let event = status >> 16;
            if event == libc::PTRACE_EVENT_SECCOMP {
                // Stopped at the stub's execveat, before its exec closes
                // the child's listener fd: take umk's copy now.
                // SAFETY: the page is mapped until the end of spawn.
                let fd = unsafe { listener_slot.read_volatile() };
                if fd >= 0 && !self.notifying && !self.take_listener(pid, fd) {
                    // Without umk's copy the guest's getpid would fail
                    // with ENOSYS once the exec closes the child's: start
                    // over with the filter that stops for them.
                    // SAFETY: our own child and page.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
                        libc::munmap(page, 4096);
                    }
                    self.known.remove(&pid);
                    self.filter = self.filter_plain.clone();
                    return self.spawn();
                }
                self.ptrace_cont(pid, 0)?;
            } else if event == libc::PTRACE_EVENT_EXEC {
                // SAFETY: our page, no longer needed.
                unsafe { libc::munmap(page, 4096) };
                self.ptrace_cont(pid, 0)?;
            } else if event == 0 && sig == libc::SIGTRAP {
                let regs = self.get_regs(pid)?;
                self.stop_kind.insert(pid, StopKind::Signal);
                return Ok((pid, regs));
            } else {
                // A stray stop (e.g. a signal): let it go.
                self.ptrace_cont(pid, if event == 0 { sig } else { 0 })?;
            }
        }
    }

    /// Copies the listener fd `fd` of the stopped child `pid` into umk and
    /// starts answering it; false if the host refuses.
    fn take_listener(&mut self, pid: HostTid, fd: i32) -> bool {
        // SAFETY: pidfd_open and pidfd_getfd on our own stopped tracee.
        let ours = unsafe {
            let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
            if pidfd < 0 {
                return false;
            }
            let ours = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
            libc::close(pidfd);
            ours
        };
        if ours < 0 {
            return false;
        }
        if unotify::start(ours, self.identities.clone()).is_err() {
            // SAFETY: our fd.
            unsafe { libc::close(ours) };
            return false;
        }
        self.notifying = true;
        true
    }

    /// A getpid or gettid whose wait for the listener a signal ended says
    /// -ERESTARTSYS, which a handler without SA_RESTART would turn into
    /// EINTR: they never fail, so make the host restart it after the
    /// handler (unotify.rs).
    fn fix_interrupted(&mut self, tid: HostTid) {
        const ERESTARTSYS: u64 = (-512i64) as u64;
        const ERESTARTNOINTR: u64 = (-513i64) as u64;
        let Ok(mut regs) = self.get_regs(tid) else { return };
        if regs.rax == ERESTARTSYS && unotify::NOTIFIED.contains(&(regs.orig_rax as usize)) {
            regs.rax = ERESTARTNOINTR;
            let _ = self.set_regs(tid, &regs);
        }
    }

    /// A wait status as an event, keeping the host's rusage of an exit.
    fn report(&mut self, tid: HostTid, status: i32, ru: &libc::rusage) -> Option<Event> {
        let ev = self.decode(tid, status)?;
        if matches!(ev, Event::Exited { .. } | Event::Killed { .. }) {
            self.exit_usage = Some((tid, rusage_of(ru)));
        }
        Some(ev)
    }

    fn wait_for(&self, pid: i32) -> Result<i32, PlatformError> {
        let mut status = 0;
        loop {
            // SAFETY: waitpid into a local.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
            if r == pid {
                return Ok(status);
            }
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(PlatformError::Vanished(pid));
            }
        }
    }

    fn ptrace_cont(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError> {
        // SAFETY: ptrace request on a stopped tracee of ours.
        let r = unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, sig as libc::c_long) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        self.stop_kind.remove(&tid);
        Ok(())
    }

    fn event_msg(&self, tid: HostTid) -> u64 {
        let mut msg: libc::c_ulong = 0;
        // SAFETY: GETEVENTMSG writes one c_ulong.
        unsafe { libc::ptrace(libc::PTRACE_GETEVENTMSG, tid, 0, &mut msg as *mut libc::c_ulong) };
        msg as u64
    }

    /// Turns one waitpid status into an event, or None for stops the
    /// platform absorbs itself.
    fn decode(&mut self, tid: HostTid, status: i32) -> Option<Event> {
        if libc::WIFEXITED(status) {
            self.forget(tid);
            return Some(Event::Exited { tid, code: libc::WEXITSTATUS(status) });
        }
        if libc::WIFSIGNALED(status) {
            self.forget(tid);
            return Some(Event::Killed {
                tid,
                sig: libc::WTERMSIG(status),
                core: libc::WCOREDUMP(status),
            });
        }
        if !libc::WIFSTOPPED(status) {
            return None;
        }
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        if tid == self.doorbell_pid {
            let _ = self.ptrace_cont(tid, 0);
            return Some(Event::Doorbell);
        }
        let first = self.known.insert(tid);
        match event {
            libc::PTRACE_EVENT_SECCOMP => {
                self.stop_kind.insert(tid, StopKind::Seccomp);
                match self.get_regs(tid) {
                    Ok(regs) => Some(Event::Syscall { tid, regs }),
                    Err(_) => None,
                }
            }
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.stop_kind.insert(tid, StopKind::Event);
                let child = self.event_msg(tid) as HostTid;
                // An auto-attached child gets its parent's options.
                if self.exit_stops.contains(&tid) {
                    self.exit_stops.insert(child);
                }
                Some(Event::Cloned { parent: tid, child })
            }
            libc::PTRACE_EVENT_EXEC => {
                let old_tid = self.event_msg(tid) as HostTid;
                if old_tid != tid {
                    if self.exit_stops.remove(&old_tid) {
                        self.exit_stops.insert(tid);
                    }
                    self.forget(old_tid);
                }
                // Step out of execve to the stub's entry (an int3), so the
                // loader starts from a clean user-mode state.
                if self.ptrace_cont(tid, 0).is_err() {
                    return None;
                }
                loop {
                    let st = self.wait_for(tid).ok()?;
                    if !libc::WIFSTOPPED(st) {
                        return self.decode(tid, st);
                    }
                    if libc::WSTOPSIG(st) == libc::SIGTRAP && (st >> 16) == 0 {
                        break;
                    }
                    // A signal arrived meanwhile: it stays pending for later.
                    let _ = self.ptrace_cont(tid, 0);
                }
                self.stop_kind.insert(tid, StopKind::Signal);
                let regs = self.get_regs(tid).ok()?;
                Some(Event::Exec { tid, old_tid, regs })
            }
            PTRACE_EVENT_STOP => {
                self.stop_kind.insert(tid, StopKind::Event);
                if first || sig == libc::SIGTRAP {
                    Some(Event::Started { tid })
                } else {
                    Some(Event::GroupStop { tid, sig })
                }
            }
            0 if sig == (libc::SIGTRAP | 0x80) => {
                self.stop_kind.insert(tid, StopKind::SyscallExit);
                match self.get_regs(tid) {
                    Ok(regs) => Some(Event::SyscallExit { tid, regs }),
                    Err(_) => None,
                }
            }
            0 => {
                self.stop_kind.insert(tid, StopKind::Signal);
                if self.notifying {
                    self.fix_interrupted(tid);
                }
                Some(Event::Signal { tid, sig })
            }
            libc::PTRACE_EVENT_EXIT => {
                self.stop_kind.insert(tid, StopKind::Event);
                Some(Event::Exiting { tid })
            }
            _ => {
                // Events we did not ask for.
                let _ = self.ptrace_cont(tid, 0);
                None
            }
        }
    }

    /// After running code at the stub (an injected call, a cmpxchg): the
    /// thread goes back to where it was, stopped as at a signal stop, and
    /// the signals that arrived meanwhile are raised again.
    fn back_from_stub(
        &mut self,
        tid: HostTid,
        saved: Regs,
        deferred: Vec<i32>,
    ) -> Result<(), PlatformError> {
        self.stop_kind.insert(tid, StopKind::Signal);
        let mut back = saved;
        back.orig_rax = u64::MAX;
        self.set_regs(tid, &back)?;
        for sig in deferred {
            let _ = self.signal_thread(tid, sig);
        }
        Ok(())
    }

    fn forget(&mut self, tid: HostTid) {
        self.known.remove(&tid);
        self.stop_kind.remove(&tid);
        self.exit_stops.remove(&tid);
    }

    /// Runs the stub's `lock cmpxchg` in the stopped thread and stops at
    /// the int3 after it. A fault there (SIGSEGV/SIGBUS at the site) is
    /// the guest's bad pointer: the signal is dropped, the thread put back.
    fn run_cmpxchg(
        &mut self,
        tid: HostTid,
        addr: u64,
        expected: u32,
        new: u32,
    ) -> Result<Result<u32, Fault>, PlatformError> {
        let saved = self.get_regs(tid)?;
        let mut r = saved;
        r.rip = stub::CMPXCHG_SITE;
        r.orig_rax = u64::MAX;
        r.rdi = addr;
        r.rax = expected as u64;
        r.rsi = new as u64;
        self.set_regs(tid, &r)?;
        self.ptrace_cont(tid, 0)?;
        let mut deferred = Vec::new();
        let result = loop {
            let st = self.wait_for(tid)?;
            if !libc::WIFSTOPPED(st) {
                return Err(PlatformError::Vanished(tid));
            }
            let sig = libc::WSTOPSIG(st);
            if (st >> 16) == 0 {
                if sig == libc::SIGTRAP {
                    let after = self.get_regs(tid)?;
                    if after.rip != stub::CMPXCHG_SITE + 5 {
                        return Err(PlatformError::StubBroken(tid));
                    }
                    break Ok(after.rax as u32);
                }
                if sig == libc::SIGSEGV || sig == libc::SIGBUS {
                    let after = self.get_regs(tid)?;
                    if after.rip == stub::CMPXCHG_SITE {
                        break Err(Fault);
                    }
                }
                deferred.push(sig);
            }
            self.ptrace_cont(tid, 0)?;
        };
        self.back_from_stub(tid, saved, deferred)?;
        Ok(result)
    }
}

impl PtracePlatform {
    /// Runs one syscall at the stub's injection site and stops at the
    /// int3 after it. A seccomp stop on the way (a call without the
    /// secret) is continued as is; a signal that arrives meanwhile is held
    /// back and raised again afterwards.
    fn inject(&mut self, tid: HostTid, nr: usize, args: [u64; 6]) -> Result<i64, PlatformError> {
        let saved = self.get_regs(tid)?;
        let mut r = saved;
        r.rip = stub::INJECT_SITE;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        r.set_syscall_args(args);
        self.set_regs(tid, &r)?;
        self.ptrace_cont(tid, 0)?;
        let mut deferred = Vec::new();
        let result = loop {
            let st = self.wait_for(tid)?;
            if !libc::WIFSTOPPED(st) {
                return Err(PlatformError::Vanished(tid));
            }
            let sig = libc::WSTOPSIG(st);
            if sig == libc::SIGTRAP && (st >> 16) == 0 {
                let after = self.get_regs(tid)?;
                if after.rip != stub::INJECT_SITE + 3 {
                    return Err(PlatformError::StubBroken(tid));
                }
                break after.rax as i64;
            }
            if (st >> 16) == 0 {
                deferred.push(sig);
            } else if sig == libc::SIGSEGV || sig == libc::SIGBUS {
                return Err(PlatformError::StubBroken(tid));
            }
            self.ptrace_cont(tid, 0)?;
        };
        self.back_from_stub(tid, saved, deferred)?;
        Ok(result)
    }
}

impl Drop for PtracePlatform {
    fn drop(&mut self) {
        // SAFETY: killing and reaping our own doorbell child.
        unsafe {
            // Never kill(0): that is our whole process group.
            if self.doorbell_pid > 0 {
                libc::kill(self.doorbell_pid, libc::SIGKILL);
            }
            if self.stub_fd >= 0 {
                libc::close(self.stub_fd);
            }
        }
    }
}

impl Platform for PtracePlatform {
    fn next_event(&mut self) -> Event {
        loop {
            if let Some((tid, status, ru)) = self.held.pop_front() {
                if let Some(ev) = self.report(tid, status, &ru) {
                    return ev;
                }
                continue;
            }
            let mut status = 0;
            // SAFETY: an all-zero rusage is a valid value of the plain struct.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 into locals.
            let tid = unsafe { libc::wait4(-1, &mut status, libc::__WALL, &mut ru) };
            if tid < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                    // Nothing left to trace: report as a doorbell so the
                    // kernel re-checks its state instead of spinning here.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    return Event::Doorbell;
                }
                continue;
            }
            if let Some(ev) = self.report(tid, status, &ru) {
                return ev;
            }
        }
    }

    fn doorbell(&self) -> Doorbell {
        Doorbell { pid: self.doorbell_pid }
    }

    fn get_regs(&mut self, tid: HostTid) -> Result<Regs, PlatformError> {
        let mut regs = Regs::default();
        // SAFETY: Regs has the layout of user_regs_struct.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut Regs) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(regs)
    }

    fn set_regs(&mut self, tid: HostTid, regs: &Regs) -> Result<(), PlatformError> {
        // SAFETY: Regs has the layout of user_regs_struct.
        let r = unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const Regs) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(())
    }

    fn get_fpregs(&mut self, tid: HostTid) -> Result<[u8; 512], PlatformError> {
        let mut fp = [0u8; 512];
        // SAFETY: user_fpregs_struct is 512 bytes on x86_64.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETFPREGS, tid, 0, fp.as_mut_ptr()) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(fp)
    }

    fn set_identity(&mut self, tid: HostTid, ids: Option<(i32, i32)>) {
        self.identities.set(tid, ids);
    }

    fn set_sched(&mut self, tid: HostTid, nice: i32, policy: i32) -> Result<(), PlatformError> {
        let policy = match policy {
            libc::SCHED_BATCH | libc::SCHED_IDLE => policy,
            _ => libc::SCHED_OTHER,
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain calls on a thread of ours; `param` outlives them.
        unsafe {
            if libc::sched_setscheduler(tid, policy, &param) < 0 {
                return Err(PlatformError::host("sched_setscheduler"));
            }
            // umk's own nice is the floor (getpriority's raw value is
            // 20 - nice, but libc's wrapper returns the nice value).
            *libc::__errno_location() = 0;
            let own = libc::getpriority(libc::PRIO_PROCESS, 0);
            if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice.max(own)) < 0 {
                return Err(PlatformError::host("setpriority"));
            }
        }
        Ok(())
    }

    fn stop_for_dump(&mut self, tid: HostTid) -> Option<Regs> {
        if let Ok(regs) = self.get_regs(tid) {
            return Some(regs);
        }
        // SAFETY: ptrace request on a tracee of ours.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) } < 0 {
            return None;
        }
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value of the plain struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: wait4 into locals.
            let r = unsafe { libc::wait4(tid, &mut status, libc::__WALL, &mut ru) };
            if r == tid {
                break;
            }
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return None;
            }
        }
        let stopped = libc::WIFSTOPPED(status);
        let interrupt =
            stopped && status >> 16 == PTRACE_EVENT_STOP && libc::WSTOPSIG(status) == libc::SIGTRAP;
        if interrupt {
            self.stop_kind.insert(tid, StopKind::Event);
        } else {
            // Another stop (a syscall, a clone) or an exit came first: the
            // kernel still has to see it.
            self.held.push_back((tid, status, ru));
        }
        if !stopped {
            return None;
        }
        self.get_regs(tid).ok()
    }

    fn vmas(&mut self, tid: HostTid) -> Result<Vec<Vma>, PlatformError> {
        let smaps = std::fs::read_to_string(format!("/proc/{tid}/smaps"))
            .map_err(|err| PlatformError::Host { what: "reading a guest's smaps", err })?;
        Ok(parse_smaps(&smaps))
    }

    fn finish_syscall(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        result: i64,
    ) -> Result<(), PlatformError> {
        let mut r = *regs;
        r.rax = result as u64;
        // orig_rax = -1 skips the call (kernel/seccomp.c: a tracer may skip
        // a syscall by changing its number to -1) and keeps our rax.
        r.orig_rax = u64::MAX;
        self.set_regs(tid, &r)?;
        self.ptrace_cont(tid, 0)
    }

    fn resume_syscall_native(
        &mut self,
        tid: HostTid,
        regs: &Regs,
        see_exit: bool,
    ) -> Result<(), PlatformError> {
        self.set_regs(tid, regs)?;
        if see_exit {
            // SAFETY: ptrace request on a stopped tracee.
            let r = unsafe { libc::ptrace(libc::PTRACE_SYSCALL, tid, 0, 0) };
            if r < 0 {
                return Err(PlatformError::Vanished(tid));
            }
            self.stop_kind.remove(&tid);
            Ok(())
        } else {
            self.ptrace_cont(tid, 0)
        }
    }

    fn resume_to_syscall_exit(&mut self, tid: HostTid) -> Result<(), PlatformError> {
        // SAFETY: ptrace request on a stopped tracee.
        let r = unsafe { libc::ptrace(libc::PTRACE_SYSCALL, tid, 0, 0) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        self.stop_kind.remove(&tid);
        Ok(())
    }

    fn resume(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError> {
        self.ptrace_cont(tid, sig)
    }

    fn listen(&mut self, tid: HostTid) -> Result<(), PlatformError> {
        // SAFETY: ptrace request on a tracee in group-stop.
        let r = unsafe { libc::ptrace(libc::PTRACE_LISTEN, tid, 0, 0) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        self.stop_kind.remove(&tid);
        Ok(())
    }

    fn inject_syscall(
        &mut self,
        tid: HostTid,
        nr: usize,
        args: [u64; 5],
    ) -> Result<i64, PlatformError> {
        self.inject(tid, nr, [args[0], args[1], args[2], args[3], args[4], self.secret])
    }

    fn inject_syscall6(
        &mut self,
        tid: HostTid,
        nr: usize,
        args: [u64; 6],
    ) -> Result<i64, PlatformError> {
        // Without the secret the call traps like any guest call; the
        // seccomp stop that follows is continued unchanged by `inject`
        // (seccomp lets a traced call run once its tracer resumes it).
        self.inject(tid, nr, args)
    }

    fn read_memory(&mut self, tid: HostTid, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        if buf.is_empty() {
            return Ok(());
        }
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: `local` covers exactly `buf`; the remote side is checked
        // by the host kernel.
        let n = unsafe { libc::process_vm_readv(tid, &local, 1, &remote, 1, 0) };
        if n == buf.len() as isize {
            Ok(())
        } else {
            Err(Fault)
        }
    }

    fn cmpxchg_u32(
        &mut self,
        tid: HostTid,
        addr: u64,
        expected: u32,
        new: u32,
    ) -> Result<u32, Fault> {
        // A thread that vanished meanwhile has nobody to report to.
        self.run_cmpxchg(tid, addr, expected, new).unwrap_or(Err(Fault))
    }

    fn set_exit_stop(&mut self, tid: HostTid, on: bool) -> Result<(), PlatformError> {
        if self.exit_stops.contains(&tid) == on {
            return Ok(());
        }
        let opts = if on { OPTIONS | libc::PTRACE_O_TRACEEXIT } else { OPTIONS };
        // SAFETY: PTRACE_SETOPTIONS on a stopped tracee of ours.
        let r = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, tid, 0, opts as libc::c_long) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        if on {
            self.exit_stops.insert(tid);
        } else {
            self.exit_stops.remove(&tid);
        }
        Ok(())
    }

    fn shared_backing(&mut self, tid: HostTid, addr: u64) -> Option<(u64, u64, u64)> {
        // /proc/TID/maps: "start-end perms offset major:minor inode path".
        let maps = std::fs::read_to_string(format!("/proc/{tid}/maps")).ok()?;
        for line in maps.lines() {
            let mut f = line.split_ascii_whitespace();
            let (range, perms, off, dev, ino) =
                (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            let (lo, hi) = range.split_once('-')?;
            let lo = u64::from_str_radix(lo, 16).ok()?;
            let hi = u64::from_str_radix(hi, 16).ok()?;
            if addr < lo || addr >= hi {
                continue;
            }
            if !perms.ends_with('s') {
                return None;
            }
            let (major, minor) = dev.split_once(':')?;
            let dev = (u64::from_str_radix(major, 16).ok()? << 32)
                | u64::from_str_radix(minor, 16).ok()?;
            let off = u64::from_str_radix(off, 16).ok()?;
            return Some((dev, ino.parse().ok()?, off + (addr - lo)));
        }
        None
    }

    fn write_memory(&mut self, tid: HostTid, addr: u64, data: &[u8]) -> Result<(), Fault> {
        if data.is_empty() {
            return Ok(());
        }
        let local =
            libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: data.len() };
        // SAFETY: `local` covers exactly `data`; the remote side is checked
        // by the host kernel.
        let n = unsafe { libc::process_vm_writev(tid, &local, 1, &remote, 1, 0) };
        if n == data.len() as isize {
            return Ok(());
        }
        // process_vm_writev cannot write read-only pages (text, RELRO);
        // /proc/PID/mem can, for a ptrace peer — but only where the page is
        // mapped at all. A guest pointer into a read-only page from a guest
        // syscall is EFAULT on Linux, so only the loader relies on this.
        Err(Fault)
    }

    fn signal_thread(&mut self, tid: HostTid, sig: i32) -> Result<(), PlatformError> {
        // SAFETY: tgkill-like signal to a traced thread.
        let r = unsafe { libc::syscall(libc::SYS_tkill, tid, sig) };
        check(r, "tkill")?;
        Ok(())
    }

    fn set_rlimit(
        &mut self,
        tgid: HostTid,
        resource: u32,
        cur: u64,
        max: u64,
    ) -> Result<(), PlatformError> {
        let mut host = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: prlimit64 reads nothing and writes one rlimit64 here.
        let r = unsafe { libc::prlimit64(tgid, resource as _, std::ptr::null(), &mut host) };
        check(r as libc::c_long, "prlimit64")?;
        let max = max.min(host.rlim_max);
        let new = libc::rlimit64 { rlim_cur: cur.min(max), rlim_max: max };
        // SAFETY: prlimit64 reads one rlimit64 here and writes nothing.
        let r = unsafe { libc::prlimit64(tgid, resource as _, &new, std::ptr::null_mut()) };
        check(r as libc::c_long, "prlimit64")?;
        Ok(())
    }

    fn signal_process(&mut self, tgid: HostTid, sig: i32) -> Result<(), PlatformError> {
        // SAFETY: kill(2) of a guest thread group we trace; no memory effects.
        let r = unsafe { libc::kill(tgid, sig) };
        check(r as libc::c_long, "kill")?;
        Ok(())
    }

    fn get_siginfo(&mut self, tid: HostTid) -> Result<[u8; 128], PlatformError> {
        let mut info = [0u8; 128];
        // SAFETY: PTRACE_GETSIGINFO writes one 128-byte siginfo_t.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, tid, 0, info.as_mut_ptr()) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(info)
    }

    fn set_siginfo(&mut self, tid: HostTid, info: &[u8; 128]) -> Result<(), PlatformError> {
        // SAFETY: PTRACE_SETSIGINFO reads one 128-byte siginfo_t.
        let r = unsafe { libc::ptrace(libc::PTRACE_SETSIGINFO, tid, 0, info.as_ptr()) };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(())
    }

    fn blocked_signals(&mut self, tid: HostTid) -> Result<u64, PlatformError> {
        let mut mask: u64 = 0;
        // SAFETY: PTRACE_GETSIGMASK writes `addr` (8) bytes to `data`.
        let r = unsafe {
            libc::ptrace(0x420a /* PTRACE_GETSIGMASK */, tid, 8usize, &mut mask as *mut u64)
        };
        if r < 0 {
            return Err(PlatformError::Vanished(tid));
        }
        Ok(mask)
    }

    fn signal_state(&mut self, tid: HostTid) -> Result<(u64, u64, u64), PlatformError> {
        let s = std::fs::read_to_string(format!("/proc/{tid}/status"))
            .map_err(|_| PlatformError::Vanished(tid))?;
        let field = |name: &str| -> u64 {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0)
        };
        Ok((field("SigPnd:") | field("ShdPnd:"), field("SigIgn:"), field("SigCgt:")))
    }

    fn take_exit_usage(&mut self, tid: HostTid) -> Option<guest_abi::misc::Rusage> {
        match self.exit_usage.take() {
            Some((t, ru)) if t == tid => Some(ru),
            _ => None,
        }
    }

    fn cpu_times(&mut self, tid: HostTid) -> Option<(std::time::Duration, std::time::Duration)> {
        // /proc/PID/stat: utime and stime are fields 14 and 15, in clock
        // ticks, after the parenthesised command name (which may hold spaces).
        let s = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
        let rest = &s[s.rfind(')')? + 2..];
        let mut f = rest.split_ascii_whitespace().skip(11);
        let utime: u64 = f.next()?.parse().ok()?;
        let stime: u64 = f.next()?.parse().ok()?;
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let d = |t: u64| std::time::Duration::from_nanos(t.saturating_mul(1_000_000_000 / hz));
        Some((d(utime), d(stime)))
    }

    fn kill_process(&mut self, tid: HostTid) {
        // SAFETY: SIGKILL to a guest thread group.
        unsafe {
            libc::kill(tid, libc::SIGKILL);
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn stub(&self) -> StubLayout {
        StubLayout {
            empty_string: stub::EMPTY_STRING,
            empty_argv: stub::EMPTY_ARGV,
            exec_fd: stub::STUB_FD,
            image_fd: if self.image_fd >= 0 { stub::IMAGE_FD } else { -1 },
        }
    }

    fn start_state(&mut self, tid: HostTid, regs: &Regs) -> Result<StartState, PlatformError> {
        // The stub's own initial stack: argc, argv..., 0, envp..., 0, auxv.
        // Read at most up to the end of the stack mapping: the top of the
        // stack can be just a few hundred bytes above rsp.
        let mut words = [0u8; 8 * 64];
        let to_page_end = (4096 - (regs.rsp % 4096)) as usize;
        let first = to_page_end.min(words.len());
        self.read_memory(tid, regs.rsp, &mut words[..first])
            .map_err(|_| PlatformError::StubBroken(tid))?;
        if first < words.len() {
            // The rest may lie past the top of the stack: zeros then.
            let _ = self.read_memory(tid, regs.rsp + first as u64, &mut words[first..]);
        }
        let w = |i: usize| u64::from_le_bytes(words[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let argc = w(0) as usize;
        let mut i = 1 + argc + 1;
        while i < 64 && w(i) != 0 {
            i += 1;
        }
        i += 1;
        let mut vdso = None;
        while i + 1 < 64 && w(i) != 0 {
            if w(i) == 33 {
                vdso = Some(w(i + 1));
            }
            i += 2;
        }
        Ok(StartState { stack_top: regs.rsp & !0xf, vdso })
    }
}

/// The host's struct rusage as the guest's (the same fields).
fn rusage_of(ru: &libc::rusage) -> guest_abi::misc::Rusage {
    use guest_abi::misc::{Rusage, Timeval};
    let tv = |t: libc::timeval| Timeval { tv_sec: t.tv_sec, tv_usec: t.tv_usec };
    Rusage {
        ru_utime: tv(ru.ru_utime),
        ru_stime: tv(ru.ru_stime),
        ru_maxrss: ru.ru_maxrss,
        ru_ixrss: ru.ru_ixrss,
        ru_idrss: ru.ru_idrss,
        ru_isrss: ru.ru_isrss,
        ru_minflt: ru.ru_minflt,
        ru_majflt: ru.ru_majflt,
        ru_nswap: ru.ru_nswap,
        ru_inblock: ru.ru_inblock,
        ru_oublock: ru.ru_oublock,
        ru_msgsnd: ru.ru_msgsnd,
        ru_msgrcv: ru.ru_msgrcv,
        ru_nsignals: ru.ru_nsignals,
        ru_nvcsw: ru.ru_nvcsw,
        ru_nivcsw: ru.ru_nivcsw,
    }
}

/// /proc/PID/smaps: a "start-end perms offset dev inode [path]" line per
/// mapping, then "Key: value kB" lines about it.
fn parse_smaps(smaps: &str) -> Vec<Vma> {
    let mut out: Vec<Vma> = Vec::new();
    for line in smaps.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((lo, hi)) = first.split_once('-') {
            let (Ok(start), Ok(end)) = (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16))
            else {
                continue;
            };
            let perms = f.next().unwrap_or("").as_bytes();
            let inode = f.nth(2).unwrap_or("0");
            let path = f.next().unwrap_or("");
            out.push(Vma {
                start,
                end,
                read: perms.first() == Some(&b'r'),
                write: perms.get(1) == Some(&b'w'),
                exec: perms.get(2) == Some(&b'x'),
                shared: perms.get(3) == Some(&b's'),
                file: inode != "0",
                anon_bytes: 0,
                dontdump: path.starts_with("/memfd:umk-stub"),
                always_dump: path == "[vdso]",
            });
        } else if let Some(last) = out.last_mut() {
            match first {
                "Anonymous:" => {
                    last.anon_bytes =
                        f.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
                }
                "VmFlags:" => last.dontdump |= f.any(|flag| flag == "dd"),
                _ => {}
            }
        }
    }
    out
}
