//! Boot: mount the filesystems and start pid 1.

use super::errno::Errno;
use super::fs::devfs::{DevFs, DevRoot, Entropy};
use super::fs::ext4::vfs::ImageFs;
use super::fs::ext4::Ext4;
use super::fs::file::OpenFile;
use super::fs::overlay::{LogStore, Overlay};
use super::fs::path::{Dentry, Follow, Mounts, Walker};
use super::fs::procfs::ProcFs;
use super::fs::tmpfs::TmpFs;
use super::fs::InodeRef;
use super::task::exec::{PreparedExec, INTERP_BASE};
use super::task::{Cred, FsContext, Process, Task};
use super::tty::console::Handle;
use super::tty::Console;
use super::wait::Waker;
use super::{Kernel, ProcessTable};
use crate::loader::{self, ExecParams};
use crate::platform::{HostTid, Platform, Regs};
use guest_abi::fcntl::O_RDWR;
use guest_abi::stat::makedev;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

/// What pid 1 runs.
pub struct InitSpec {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub workdir: Vec<u8>,
}

/// Why boot failed (before the guest ran).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The command is not in the image.
    #[error("{0}: not found in the image")]
    NotFound(String),
    /// The command exists but cannot be executed.
    #[error("{path}: cannot execute ({errno})")]
    NotExecutable { path: String, errno: &'static str },
    #[error("--workdir {0}: no such directory in the image")]
    BadWorkdir(String),
    #[error("starting the first guest process failed: {0}")]
    Start(&'static str),
    /// The overlay could not be opened (locked, made for another base, corrupt).
    #[error("{0}")]
    Overlay(String),
}

/// Size limit of each tmpfs (like Linux's default of half of RAM, but fixed).
const TMPFS_LIMIT: u64 = 4 << 30;

impl Kernel {
    /// Builds the kernel over an ext4 image with the VM's writable overlay
    /// on top as /, tmpfs on /tmp, /run and /dev/shm, devfs on /dev,
    /// procfs on /proc.
    pub fn new(
        platform: Box<dyn Platform>,
        image: Ext4,
        overlay: (Box<dyn LogStore>, Vec<u8>),
        console_fn: impl FnOnce(&Waker) -> Rc<Console>,
        entropy: Entropy,
        cfg: super::BootConfig,
    ) -> Result<Kernel, BootError> {
        let mut opened = None;
        let root_fn = |waker: &Waker| -> Result<InodeRef, BootError> {
            let imagefs = Rc::new(ImageFs {
                ext4: image,
                dev: makedev(254, 0),
                fifos: Default::default(),
                waker: waker.clone(),
            });
            let (store, base_id) = overlay;
            let ov = Overlay::open(ImageFs::root(&imagefs), &base_id, store, waker, makedev(0, 30))
                .map_err(|e| BootError::Overlay(e.to_string()))?;
            let root = ov.root();
            opened = Some(ov);
            Ok(root)
        };
        let mut k = Self::with_root(platform, root_fn, "ext4", console_fn, entropy, cfg)?;
        k.overlay = opened;
        Ok(k)
    }

    /// Builds the kernel over any root filesystem (kernel unit tests use a
    /// tmpfs) and mounts the rest over it.
    pub fn with_root(
        platform: Box<dyn Platform>,
        root_fn: impl FnOnce(&Waker) -> Result<InodeRef, BootError>,
        root_type: &'static str,
        console_fn: impl FnOnce(&Waker) -> Rc<Console>,
        entropy: Entropy,
        cfg: super::BootConfig,
    ) -> Result<Kernel, BootError> {
        let waker = Waker::new();
        let console = console_fn(&waker);
        let table = Rc::new(RefCell::new(ProcessTable::new()));
        let root = Dentry::root(root_fn(&waker)?);
        let mounts = Rc::new(Mounts::default());
        mounts.list.borrow_mut().push((b"/".to_vec(), root_type, root.inode.clone()));
        let current = Rc::new(Cell::new(1));
        let uts = Rc::new(RefCell::new(super::uts::Uts {
            hostname: cfg.hostname,
            domainname: b"(none)".to_vec(),
        }));
        let k = Kernel {
            platform,
            table: table.clone(),
            mounts: mounts.clone(),
            root: root.clone(),
            waker: waker.clone(),
            parked: HashMap::new(),
            deadlines: Default::default(),
            itimers: Default::default(),
            posix_timers: Default::default(),
            tty: console.clone(),
            uts: uts.clone(),
            entropy: entropy.clone(),
            init_exit: None,
            enosys_seen: HashSet::new(),
            unsupported_seen: HashSet::new(),
            scratch: Vec::new(),
            scratch_write: Vec::new(),
            log_enosys: cfg.log_enosys,
            early_started: HashSet::new(),
            exec_cache: HashMap::new(),
            exec_inodes: HashMap::new(),
            boot_time: Instant::now(),
            proc_current: current.clone(),
            signalfd_wait: waker.new_id(),
            pidfd_wait: waker.new_id(),
            overlay: None,
            trace: None,
            locks: super::fs::lock::LockTable::new(&waker),
            futexes: Default::default(),
            memfd_fs: TmpFs::new_anon(makedev(0, 44), &waker, TMPFS_LIMIT),
            devpts: super::tty::pty::DevPts::new(&waker, makedev(0, 43)),
            unix_names: Default::default(),
            inet_ports: Default::default(),
            linkable: Default::default(),
            debug_trace: std::env::var_os("UMK_DEBUG").is_some(),
        };
        let walker = Walker { root: &root, mounts: &mounts, creds: None };
        let mount = |path: &[u8], fs: InodeRef, ty: &'static str| match walker.walk(
            &root,
            path,
            Follow::Yes,
        ) {
            Ok(d) => {
                let _ = mounts.mount(&d, fs, ty);
            }
            Err(_) => {
                if cfg.log_enosys {
                    eprintln!(
                        "umk: the image has no {} directory; not mounting {ty} there",
                        String::from_utf8_lossy(path)
                    );
                }
            }
        };
        let tmp = |minor: u32, mode: u32| -> InodeRef {
            TmpFs::new_root(makedev(0, minor), &waker, mode, TMPFS_LIMIT)
        };
        mount(b"/tmp", tmp(40, 0o1777), "tmpfs");
        mount(b"/run", tmp(41, 0o755), "tmpfs");
        let shm = tmp(42, 0o1777);
        let devpts = super::tty::pty::DevPts::new(&waker, makedev(0, 43));
        let pts = devpts.root();
        // /dev/tty: the console or the pty whose session is the caller's.
        let ctty = {
            let (table, current, console, devpts) =
                (table.clone(), current.clone(), console.clone(), devpts.clone());
            Box::new(move || {
                let sid = table.borrow().procs.get(&current.get()).map_or(0, |p| p.sid);
                if sid != 0 && console.tty.session.get() == sid {
                    return Ok(console.file(Handle::Tty));
                }
                devpts.slave_of_session(sid).ok_or(Errno::ENXIO)
            })
        };
        let devfs = DevFs::new(
            makedev(0, 5),
            console.file(Handle::Tty),
            ctty,
            entropy,
            shm.clone(),
            pts.clone(),
        );
        mount(b"/dev", Rc::new(DevRoot { fs: devfs }), "devtmpfs");
        let procfs = Rc::new(ProcFs::new(makedev(0, 4), table, current, mounts.clone(), uts));
        mount(b"/proc", ProcFs::root(&procfs), "proc");
        mounts.list.borrow_mut().push((b"/dev/shm".to_vec(), "tmpfs", shm));
        mounts.list.borrow_mut().push((b"/dev/pts".to_vec(), "devpts", pts));
        let mut k = k;
        k.devpts = devpts;
        Ok(k)
    }

    /// Resolves a command as execvp would: a name without '/' is looked up
    /// in the guest's PATH.
    fn find_command(&mut self, cmd: &[u8], envp: &[Vec<u8>]) -> Result<Vec<u8>, BootError> {
        let show = String::from_utf8_lossy(cmd).into_owned();
        if cmd.contains(&b'/') {
            return Ok(cmd.to_vec());
        }
        let path = envp
            .iter()
            .find_map(|e| e.strip_prefix(b"PATH="))
            .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
        for dir in path.split(|b| *b == b':') {
            let mut p = dir.to_vec();
            p.push(b'/');
            p.extend_from_slice(cmd);
            if self.lookup_at(1, guest_abi::fcntl::AT_FDCWD, &p, Follow::Yes, false).is_ok() {
                return Ok(p);
            }
        }
        Err(BootError::NotFound(show))
    }

    /// Creates pid 1 in the stopped stub `host` and loads its program.
    pub fn start_init(
        &mut self,
        host: HostTid,
        regs: Regs,
        spec: InitSpec,
    ) -> Result<(), BootError> {
        let pid = self.create_init(host, &spec.workdir)?;
        let cmd = spec.argv.first().cloned().unwrap_or_default();
        let path = self.find_command(&cmd, &spec.envp)?;
        let show = String::from_utf8_lossy(&path).into_owned();
        let params = ExecParams {
            path: &path,
            argv: spec.argv.clone(),
            envp: spec.envp.clone(),
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
        };
        let plan = {
            let mut src = InitSource { k: self, pid };
            loader::plan_exec(&mut src, &params, loader::ELF_ET_DYN_BASE, INTERP_BASE)
        };
        let plan = plan.map_err(|e| match Errno(e) {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP => BootError::NotFound(show.clone()),
            err => BootError::NotExecutable { path: show.clone(), errno: err.name() },
        })?;
        let pe = PreparedExec { plan, envp: spec.envp, execfn: path };
        super::task::exec::load_into(self, host, pid, &pe, regs)
            .map_err(|_| BootError::Start("loading the program into the stub failed"))
    }

    /// Creates the process table entry of pid 1 (thread `host`), with the
    /// console on fds 0, 1 and 2 and its cwd at `workdir`.
    pub fn create_init(
        &mut self,
        host: HostTid,
        workdir: &[u8],
    ) -> Result<super::task::Pid, BootError> {
        let root = self.root.clone();
        let walker = Walker { root: &root, mounts: &self.mounts, creds: None };
        let cwd = walker
            .walk(&root, workdir, Follow::Yes)
            .ok()
            .filter(|d| d.inode.attr().map(|a| a.is_dir()).unwrap_or(false));
        let cwd = cwd
            .ok_or_else(|| BootError::BadWorkdir(String::from_utf8_lossy(workdir).into_owned()))?;
        // fds 0, 1, 2: the console (terminal mode) or the host's streams.
        let mut files = super::fs::fdtable::FdTable::new();
        let limit = super::fs::fdtable::DEFAULT_NOFILE;
        let handles = if self.tty.is_terminal() {
            [Handle::Tty, Handle::Tty, Handle::Tty]
        } else {
            [Handle::Stdin, Handle::Stdout, Handle::Stderr]
        };
        for h in handles {
            let f = OpenFile::new(self.tty.file(h), None, None, O_RDWR);
            let _ = files.install(f, false, limit);
        }
        let pid = {
            let mut t = self.table.borrow_mut();
            let pid = t.alloc_pid();
            t.procs.insert(
                pid,
                Process {
                    pid,
                    ppid: 0,
                    pgid: pid,
                    sid: pid,
                    threads: vec![pid],
                    children: Vec::new(),
                    files: Rc::new(RefCell::new(files)),
                    fs: Rc::new(RefCell::new(FsContext { root: root.clone(), cwd, umask: 0o022 })),
                    mm: Default::default(),
                    cred: Cred::default(),
                    exit_signal: 0,
                    exit: None,
                    child_wait: self.waker.new_id(),
                    comm: b"init".to_vec(),
                    exe: Vec::new(),
                    cmdline: Vec::new(),
                    environ: Vec::new(),
                    rlimits: crate::kernel::syscall::misc::default_rlimits(),
                    stop_report: None,
                    continued_report: false,
                    start_time: Instant::now(),
                    itimer_real: None,
                    timers: Default::default(),
                    host_tgid: host,
                    sig_origins: Vec::new(),
                    usage: Default::default(),
                    cusage: Default::default(),
                    pdeathsig: 0,
                    child_subreaper: false,
                    sigchld_flags: 0,
                    dumpable: true,
                    core_dumped: false,
                },
            );
            let mut task = Task::new(pid, host, pid, 0);
            task.starting = false;
            t.insert_task(task);
            t.forks += 1;
            pid
        };
        self.platform.set_identity(host, Some((pid, pid)));
        Ok(pid)
    }
}

struct InitSource<'a> {
    k: &'a mut Kernel,
    pid: super::task::Pid,
}

impl loader::ExecSource for InitSource<'_> {
    fn read_exec(&mut self, path: &[u8]) -> Result<(std::sync::Arc<Vec<u8>>, Vec<u8>), i32> {
        super::task::exec::read_executable(
            self.k,
            self.pid,
            guest_abi::fcntl::AT_FDCWD,
            path,
            false,
        )
        .map_err(|e| e.0)
    }
}
