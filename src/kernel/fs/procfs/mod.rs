//! procfs: the process table and the system as files (fs/proc in Linux),
//! the parts shells, libcs, ps, top and free look at:
//!
//! - /proc/self, /proc/PID/{auxv,cmdline,comm,cwd,environ,exe,fd/,limits,
//!   root,stat,status,task/}, and /proc/PID/task/TID/ with the same files
//!   (but no task/) for each thread;
//! - /proc/{cpuinfo,filesystems,loadavg,meminfo,mounts,stat,uptime,version};
//! - /proc/sys/kernel/{core_pattern,domainname,hostname,ngroups_max,
//!   osrelease,ostype,pid_max,version}: hostname and domainname are
//!   writable by root (as sethostname), the rest read-only: a writable
//!   open of them is EACCES even for root, as Linux's sysctl answers for a
//!   0444 entry. Other files have no write (EINVAL; comm is 0444 here,
//!   not Linux's writable 0644).
//!
//! fd links are *magic*: following /proc/PID/fd/N gives the open file
//! itself (a pipe or the console too), not a path walk of its name.
//!
//! Nothing here names the host: pids are virtual, memory figures are the
//! VM's nominal ones (as sysinfo), and of the host's cpuinfo only the
//! processor model and features pass (see `system::cpuinfo`).

mod pid;
mod system;

use super::file::FileOps;
use super::path::{Dentry, Mounts};
use super::{now, Attr, DirEntryOut, Inode, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::task::{Pid, Process, ProcessTable, Task};
use crate::kernel::uts::Uts;
use guest_abi::stat::*;
use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use system::Sysctl;

pub struct ProcFs {
    pub dev: u64,
    pub table: Rc<RefCell<ProcessTable>>,
    /// The process making the current syscall: what /proc/self names.
    pub current: Rc<Cell<Pid>>,
    pub mounts: Rc<Mounts>,
    pub boot: std::time::Instant,
    /// The VM's boot in seconds since the epoch (/proc/stat's btime).
    pub boot_wall: u64,
    pub uts: Rc<RefCell<Uts>>,
    /// The host's /proc/cpuinfo, read the first time a guest asks.
    host_cpuinfo: OnceCell<String>,
}

/// The process a /proc/PID directory names, for pidfd_send_signal, which
/// takes such a directory's fd as a pidfd (tgid_pidfd_to_pid). Linux's
/// directory holds the process itself; this one its pid, checked to be
/// alive when used.
pub fn proc_dir_pid(inode: &InodeRef) -> Option<Pid> {
    match inode.as_any().downcast_ref::<ProcInode>()?.node {
        Node::Pid(p, None, Entry::Dir) => Some(p),
        _ => None,
    }
}

impl ProcFs {
    pub fn new(
        dev: u64,
        table: Rc<RefCell<ProcessTable>>,
        current: Rc<Cell<Pid>>,
        mounts: Rc<Mounts>,
        uts: Rc<RefCell<Uts>>,
    ) -> ProcFs {
        let boot_wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ProcFs {
            dev,
            table,
            current,
            mounts,
            boot: std::time::Instant::now(),
            boot_wall,
            uts,
            host_cpuinfo: OnceCell::new(),
        }
    }

    pub fn root(fs: &Rc<ProcFs>) -> InodeRef {
        Rc::new(ProcInode { fs: fs.clone(), node: Node::Root })
    }
}

/// Files of /proc that describe the whole system.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Global {
    Cpuinfo,
    Filesystems,
    Loadavg,
    Meminfo,
    Mounts,
    Stat,
    Uptime,
    Version,
}

const GLOBALS: &[(&[u8], Global)] = &[
    (b"cpuinfo", Global::Cpuinfo),
    (b"filesystems", Global::Filesystems),
    (b"loadavg", Global::Loadavg),
    (b"meminfo", Global::Meminfo),
    (b"mounts", Global::Mounts),
    (b"stat", Global::Stat),
    (b"uptime", Global::Uptime),
    (b"version", Global::Version),
];

/// What a /proc/PID (or /proc/PID/task/TID) directory holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Entry {
    Dir,
    Auxv,
    Cmdline,
    Comm,
    Cwd,
    Environ,
    Exe,
    FdDir,
    Limits,
    Root,
    Stat,
    Status,
    /// task/: only in a process's directory, not a thread's.
    TaskDir,
}

/// The entries of a pid directory in readdir order, with their d_type.
const PID_ENTRIES: &[(&[u8], Entry, u8)] = &[
    (b"auxv", Entry::Auxv, DT_REG),
    (b"cmdline", Entry::Cmdline, DT_REG),
    (b"comm", Entry::Comm, DT_REG),
    (b"cwd", Entry::Cwd, DT_LNK),
    (b"environ", Entry::Environ, DT_REG),
    (b"exe", Entry::Exe, DT_LNK),
    (b"fd", Entry::FdDir, DT_DIR),
    (b"limits", Entry::Limits, DT_REG),
    (b"root", Entry::Root, DT_LNK),
    (b"stat", Entry::Stat, DT_REG),
    (b"status", Entry::Status, DT_REG),
    (b"task", Entry::TaskDir, DT_DIR),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Node {
    Root,
    SelfLink,
    Global(Global),
    SysDir,
    SysKernelDir,
    Sysctl(Sysctl),
    /// An entry of /proc/PID (thread None) or /proc/PID/task/TID.
    Pid(Pid, Option<Pid>, Entry),
    /// /proc/PID/fd/N or /proc/PID/task/TID/fd/N.
    Fd(Pid, Option<Pid>, i32),
}

/// A directory entry: readdir cursor key, name, d_type and the node.
type Child = (u64, Vec<u8>, u8, Node);

pub struct ProcInode {
    fs: Rc<ProcFs>,
    node: Node,
}

/// Where the readdir cursors of numbered entries (pids, tids, fds) start:
/// past every fixed name.
const NUMBERED: u64 = 0x100;

fn parse_num(name: &[u8]) -> KResult<i32> {
    // Only canonical decimal names: "01", "+1" and "-1" name nothing.
    let canonical = !name.is_empty()
        && name.iter().all(u8::is_ascii_digit)
        && (name.len() == 1 || name[0] != b'0');
    let s = std::str::from_utf8(name).ok().filter(|_| canonical).ok_or(Errno::ENOENT)?;
    s.parse().map_err(|_| Errno::ENOENT)
}

impl Node {
    /// A number unique among /proc's live nodes: small ones for the fixed
    /// files, then the pid, the tid and the entry's index in their own
    /// bits (pids and tids are below PID_MAX = 2^22), and fds in a range
    /// of their own (fd numbers are below nr_open = 2^20).
    fn ino(self) -> u64 {
        let index =
            |e: Entry| PID_ENTRIES.iter().position(|x| x.1 == e).map_or(0, |i| i as u64 + 1);
        match self {
            Node::Root => 1,
            Node::SelfLink => 2,
            Node::SysDir => 3,
            Node::SysKernelDir => 4,
            Node::Global(g) => 0x10 + GLOBALS.iter().position(|x| x.1 == g).unwrap_or(0) as u64,
            Node::Sysctl(c) => {
                0x40 + system::SYSCTLS.iter().position(|x| x.1 == c).unwrap_or(0) as u64
            }
            Node::Pid(p, tid, e) => {
                ((p as u64) << 30) | ((tid.unwrap_or(0) as u64 & 0x3f_ffff) << 8) | index(e)
            }
            Node::Fd(p, None, fd) => (1 << 62) | ((p as u64) << 20) | (fd as u64 & 0xf_ffff),
            Node::Fd(_, Some(t), fd) => (3 << 61) | ((t as u64) << 20) | (fd as u64 & 0xf_ffff),
        }
    }
}

impl ProcInode {
    fn node(&self, node: Node) -> InodeRef {
        Rc::new(ProcInode { fs: self.fs.clone(), node })
    }

    /// Whether the process (and thread) a node belongs to still exists.
    fn alive(&self, t: &ProcessTable) -> bool {
        let (p, tid) = match self.node {
            Node::Pid(p, tid, _) | Node::Fd(p, tid, _) => (p, tid),
            _ => return true,
        };
        let Some(proc) = t.procs.get(&p) else { return false };
        match tid {
            None => true,
            Some(tid) => tid == p || proc.threads.contains(&tid),
        }
    }

    /// The process and, if it still runs, the thread a node describes.
    fn target(t: &ProcessTable, p: Pid, tid: Option<Pid>) -> KResult<(&Process, Option<&Task>)> {
        let proc = t.procs.get(&p).ok_or(Errno::ESRCH)?;
        Ok((proc, t.tasks.get(&tid.unwrap_or(p)).filter(|x| x.pid == p)))
    }

    fn content(&self) -> KResult<Vec<u8>> {
        let t = self.fs.table.borrow();
        let fs = &self.fs;
        let uptime = fs.boot.elapsed();
        Ok(match self.node {
            Node::Global(g) => match g {
                Global::Mounts => {
                    let mut s = Vec::new();
                    for (path, fstype, root) in fs.mounts.list.borrow().iter() {
                        let ro = if root.read_only() { "ro" } else { "rw" };
                        let dev = if *fstype == "ext4" { "/dev/root" } else { fstype };
                        s.extend_from_slice(dev.as_bytes());
                        s.push(b' ');
                        s.extend_from_slice(path);
                        s.extend_from_slice(format!(" {fstype} {ro},relatime 0 0\n").as_bytes());
                    }
                    s
                }
                Global::Uptime => {
                    let up = uptime.as_secs_f64();
                    format!("{up:.2} {up:.2}\n").into_bytes()
                }
                Global::Filesystems => {
                    b"nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\tdevpts\n\text4\n".to_vec()
                }
                Global::Meminfo => system::meminfo().into_bytes(),
                Global::Loadavg => system::loadavg(&t).into_bytes(),
                Global::Version => system::version().into_bytes(),
                Global::Stat => {
                    let ticks = uptime.as_millis() as u64 / (1000 / system::USER_HZ);
                    let cpus = crate::platform::online_cpus();
                    system::stat(&t, cpus, ticks, fs.boot_wall).into_bytes()
                }
                Global::Cpuinfo => {
                    let host = fs.host_cpuinfo.get_or_init(crate::platform::host_cpuinfo);
                    system::cpuinfo(host, crate::platform::online_cpus()).into_bytes()
                }
            },
            Node::Sysctl(c) => c.read(&*fs.uts.try_borrow().map_err(|_| Errno::EAGAIN)?),
            Node::Pid(p, tid, e) => {
                let (proc, task) = Self::target(&t, p, tid)?;
                let id = tid.unwrap_or(p);
                match e {
                    Entry::Auxv => {
                        proc.mm.try_borrow().map(|m| m.saved_auxv.clone()).unwrap_or_default()
                    }
                    Entry::Cmdline => proc.cmdline.clone(),
                    Entry::Environ if proc.exit.is_none() => proc.environ.clone(),
                    Entry::Environ => Vec::new(),
                    Entry::Comm => {
                        let mut c = proc.comm.clone();
                        c.push(b'\n');
                        c
                    }
                    Entry::Limits => pid::limits(proc).into_bytes(),
                    Entry::Stat => pid::stat(proc, task, id, fs.boot).into_bytes(),
                    Entry::Status => pid::status(proc, task, id).into_bytes(),
                    _ => return Err(Errno::EINVAL),
                }
            }
            _ => return Err(Errno::EINVAL),
        })
    }

    fn open_file(&self, pid: Pid, fd: i32) -> KResult<Rc<super::file::OpenFile>> {
        let files =
            self.fs.table.borrow().procs.get(&pid).map(|p| p.files.clone()).ok_or(Errno::ENOENT)?;
        let f = files.try_borrow().map_err(|_| Errno::EAGAIN)?.file(fd).map_err(|_| Errno::ENOENT);
        f
    }

    /// The named children of a directory node, in readdir order, each with
    /// its cursor key and d_type.
    fn children(&self) -> KResult<Vec<Child>> {
        let mut out: Vec<Child> = Vec::new();
        let fixed = |out: &mut Vec<_>, name: &[u8], dtype: u8, n: Node| {
            let key = 2 + out.len() as u64;
            out.push((key, name.to_vec(), dtype, n));
        };
        let t = self.fs.table.borrow();
        match self.node {
            Node::Root => {
                for (name, g) in GLOBALS {
                    fixed(&mut out, name, DT_REG, Node::Global(*g));
                }
                fixed(&mut out, b"self", DT_LNK, Node::SelfLink);
                fixed(&mut out, b"sys", DT_DIR, Node::SysDir);
                for pid in t.procs.keys() {
                    let n = Node::Pid(*pid, None, Entry::Dir);
                    out.push((NUMBERED + *pid as u64, pid.to_string().into_bytes(), DT_DIR, n));
                }
            }
            Node::SysDir => fixed(&mut out, b"kernel", DT_DIR, Node::SysKernelDir),
            Node::SysKernelDir => {
                for (name, c) in system::SYSCTLS {
                    fixed(&mut out, name, DT_REG, Node::Sysctl(*c));
                }
            }
            Node::Pid(p, tid, Entry::Dir) => {
                for (name, e, dtype) in PID_ENTRIES {
                    if *e == Entry::TaskDir && tid.is_some() {
                        continue;
                    }
                    fixed(&mut out, name, *dtype, Node::Pid(p, tid, *e));
                }
            }
            Node::Pid(p, None, Entry::TaskDir) => {
                let proc = t.procs.get(&p).ok_or(Errno::ENOENT)?;
                let mut tids = proc.threads.clone();
                if !tids.contains(&p) {
                    tids.push(p);
                }
                tids.sort_unstable();
                for tid in tids {
                    let n = Node::Pid(p, Some(tid), Entry::Dir);
                    out.push((NUMBERED + tid as u64, tid.to_string().into_bytes(), DT_DIR, n));
                }
            }
            Node::Pid(p, tid, Entry::FdDir) => {
                let files = t.procs.get(&p).map(|p| p.files.clone()).ok_or(Errno::ENOENT)?;
                let files = files.try_borrow().map_err(|_| Errno::EAGAIN)?;
                for (fd, _) in files.iter() {
                    let n = Node::Fd(p, tid, fd);
                    out.push((NUMBERED + fd as u64, fd.to_string().into_bytes(), DT_LNK, n));
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
        Ok(out)
    }

    /// The directory a node is in (for "..").
    fn parent(&self) -> Node {
        match self.node {
            Node::SysKernelDir => Node::SysDir,
            Node::Sysctl(_) => Node::SysKernelDir,
            Node::Fd(p, tid, _) => Node::Pid(p, tid, Entry::FdDir),
            Node::Pid(p, Some(_), Entry::Dir) => Node::Pid(p, None, Entry::TaskDir),
            Node::Pid(p, tid, e) if e != Entry::Dir => Node::Pid(p, tid, Entry::Dir),
            _ => Node::Root,
        }
    }
}

impl Inode for ProcInode {
    fn attr(&self) -> KResult<Attr> {
        let t = now();
        let (mode, nlink) = match self.node {
            Node::Root | Node::SysDir | Node::SysKernelDir => (S_IFDIR | 0o555, 2),
            Node::SelfLink => (S_IFLNK | 0o777, 1),
            Node::Global(_) => (S_IFREG | 0o444, 1),
            Node::Sysctl(c) if c.writable() => (S_IFREG | 0o644, 1),
            Node::Sysctl(_) => (S_IFREG | 0o444, 1),
            Node::Fd(..) => (S_IFLNK | 0o700, 1),
            Node::Pid(_, _, e) => match e {
                Entry::Dir | Entry::TaskDir => (S_IFDIR | 0o555, 2),
                Entry::FdDir => (S_IFDIR | 0o500, 2),
                Entry::Exe | Entry::Cwd | Entry::Root => (S_IFLNK | 0o777, 1),
                // The environment and auxv are their owner's to read.
                Entry::Environ | Entry::Auxv => (S_IFREG | 0o400, 1),
                _ => (S_IFREG | 0o444, 1),
            },
        };
        // A process's files belong to its effective ids (task_dump_owner).
        let (uid, gid) = {
            let tab = self.fs.table.borrow();
            if !self.alive(&tab) {
                return Err(Errno::ENOENT);
            }
            match self.node {
                Node::Pid(p, ..) | Node::Fd(p, ..) => {
                    tab.procs.get(&p).map_or((0, 0), |p| (p.cred.euid, p.cred.egid))
                }
                _ => (0, 0),
            }
        };
        Ok(Attr {
            dev: self.fs.dev,
            ino: self.node.ino(),
            mode,
            nlink,
            uid,
            gid,
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        if name == b"." {
            return Ok(self.node(self.node));
        }
        if name == b".." {
            return Ok(self.node(self.parent()));
        }
        let n = match self.node {
            Node::Pid(p, None, Entry::TaskDir) => {
                let tid = parse_num(name)?;
                Node::Pid(p, Some(tid), Entry::Dir)
            }
            Node::Pid(p, tid, Entry::FdDir) => {
                let fd = parse_num(name)?;
                self.open_file(p, fd)?;
                Node::Fd(p, tid, fd)
            }
            Node::Root if !GLOBALS.iter().any(|g| g.0 == name) && parse_num(name).is_ok() => {
                Node::Pid(parse_num(name)?, None, Entry::Dir)
            }
            _ => {
                let found = self.children()?.into_iter().find(|c| c.1 == name);
                found.map(|c| c.3).ok_or(Errno::ENOENT)?
            }
        };
        let child = ProcInode { fs: self.fs.clone(), node: n };
        if !child.alive(&self.fs.table.borrow()) {
            return Err(Errno::ENOENT);
        }
        Ok(Rc::new(child))
    }

    /// Each entry's cursor is a key that does not move when other entries
    /// come or go: an index for the fixed names, the number itself (past
    /// the fixed ones) for pids and fds. A reader that closes fds while
    /// walking /proc/self/fd (CPython's close_fds does) must not skip any.
    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        let mut names =
            vec![(0, b".".to_vec(), DT_DIR, self.node), (1, b"..".to_vec(), DT_DIR, self.parent())];
        names.extend(self.children()?);
        names.sort_unstable_by_key(|e| e.0);
        for (key, name, dtype, node) in names.iter().filter(|e| e.0 >= cursor) {
            if !emit(DirEntryOut { ino: node.ino(), name, dtype: *dtype, next: key + 1 }) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        let t = self.fs.table.borrow();
        match self.node {
            Node::SelfLink => Ok(self.fs.current.get().to_string().into_bytes()),
            Node::Pid(p, _, Entry::Exe) => {
                t.procs.get(&p).map(|p| p.exe.clone()).ok_or(Errno::ENOENT)
            }
            Node::Pid(p, _, Entry::Cwd) => {
                let fs = t.procs.get(&p).map(|p| p.fs.clone()).ok_or(Errno::ENOENT)?;
                let cwd = fs.try_borrow().map(|f| f.cwd.path()).map_err(|_| Errno::EAGAIN);
                cwd
            }
            Node::Pid(_, _, Entry::Root) => Ok(b"/".to_vec()),
            Node::Fd(p, _, fd) => {
                drop(t);
                let f = self.open_file(p, fd)?;
                Ok(match &f.dentry {
                    Some(d) => d.path(),
                    None => {
                        let kind = f.ops.kind();
                        let ino = f.attr().map(|a| a.ino).unwrap_or(0);
                        match kind {
                            super::file::FileKind::Pipe => format!("pipe:[{ino}]").into_bytes(),
                            super::file::FileKind::Tty => match f.attr().map(|a| a.rdev) {
                                Ok(r) if guest_abi::stat::major(r) == 136 => {
                                    format!("/dev/pts/{}", guest_abi::stat::minor(r)).into_bytes()
                                }
                                Ok(r) if r == guest_abi::stat::makedev(5, 2) => {
                                    b"/dev/ptmx".to_vec()
                                }
                                _ => b"/dev/console".to_vec(),
                            },
                            _ => match f.ops.anon_name() {
                                Some(name) => format!("anon_inode:{name}").into_bytes(),
                                None => format!("anon_inode:[{ino}]").into_bytes(),
                            },
                        }
                    }
                })
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn follow_link(&self) -> Option<KResult<Rc<Dentry>>> {
        let Node::Fd(p, _, fd) = self.node else { return None };
        Some(self.open_file(p, fd).map(|f| match &f.dentry {
            Some(d) => d.clone(),
            None => Rc::new(Dentry {
                name: format!("{fd}").into_bytes(),
                parent: None,
                inode: Rc::new(OpenFileInode { file: f.clone() }),
            }),
        }))
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> KResult<usize> {
        let c = self.content()?;
        if off >= c.len() as u64 {
            return Ok(0);
        }
        let n = buf.len().min(c.len() - off as usize);
        buf[..n].copy_from_slice(&c[off as usize..off as usize + n]);
        Ok(n)
    }

    /// Only the UTS names are writable (by root: the file is 0644 and
    /// owned by root). Other files have no write operation: EINVAL, as
    /// vfs_write answers for them.
    fn write_at(&self, off: u64, data: &[u8]) -> KResult<usize> {
        let mut uts = self.fs.uts.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
        match self.node {
            Node::Sysctl(Sysctl::Hostname) => system::write_uts_name(&mut uts.hostname, off, data),
            Node::Sysctl(Sysctl::Domainname) => {
                system::write_uts_name(&mut uts.domainname, off, data)
            }
            Node::Sysctl(_) => return Err(Errno::EACCES),
            _ => return Err(Errno::EINVAL),
        }
        Ok(data.len())
    }

    /// O_TRUNC on a proc file changes nothing (as on Linux).
    fn truncate(&self, _len: u64) -> KResult<()> {
        Ok(())
    }

    /// A read-only sysctl refuses a writable open even to root
    /// (proc_sys_permission checks the mode bits for everyone).
    fn open_special(&self, flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        let writing = flags & guest_abi::fcntl::O_ACCMODE != guest_abi::fcntl::O_RDONLY;
        match self.node {
            Node::Sysctl(c) if writing && !c.writable() => Some(Err(Errno::EACCES)),
            _ => None,
        }
    }

    fn statfs(&self) -> (i64, u64, u64, u64, u64, u64) {
        (0x9fa0, 4096, 0, 0, 0, 0) // PROC_SUPER_MAGIC
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open file reached through a magic link: opening it again gives the
/// same object (the pipe, the console).
struct OpenFileInode {
    file: Rc<super::file::OpenFile>,
}

impl Inode for OpenFileInode {
    fn attr(&self) -> KResult<Attr> {
        self.file.attr()
    }
    fn open_special(&self, _flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        Some(Ok(self.file.ops.clone()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_num_takes_only_canonical_decimals() {
        assert_eq!(parse_num(b"0"), Ok(0));
        assert_eq!(parse_num(b"42"), Ok(42));
        for bad in [&b""[..], b"01", b"+1", b"-1", b"1a", b"99999999999", b"\xff"] {
            assert_eq!(parse_num(bad), Err(Errno::ENOENT), "{bad:?}");
        }
    }

    #[test]
    fn inode_numbers_of_neighbours_differ() {
        let nodes = [
            Node::Root,
            Node::SelfLink,
            Node::Pid(1, None, Entry::Dir),
            Node::Pid(1, None, Entry::TaskDir),
            Node::Pid(1, Some(1), Entry::Dir),
            Node::Pid(1, Some(2), Entry::Dir),
            Node::Pid(2, None, Entry::Dir),
            Node::Fd(1, None, 0),
            Node::Fd(1, Some(1), 0),
            Node::Fd(2, None, 0),
            Node::Pid(PID_MAX_TEST, Some(PID_MAX_TEST), Entry::TaskDir),
        ];
        let mut inos: Vec<u64> = nodes.iter().map(|n| n.ino()).collect();
        inos.sort_unstable();
        inos.dedup();
        assert_eq!(inos.len(), nodes.len());
    }

    const PID_MAX_TEST: Pid = crate::kernel::task::PID_MAX - 1;
}
