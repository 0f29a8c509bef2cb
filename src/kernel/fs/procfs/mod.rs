//! procfs: the process table as files (fs/proc in Linux), the parts shells
//! and libcs look at: /proc/self, /proc/PID/{exe,cwd,root,fd/,cmdline,comm,
//! stat,status}, /proc/mounts, /proc/uptime, /proc/filesystems.
//!
//! fd links are *magic*: following /proc/PID/fd/N gives the open file
//! itself (a pipe or the console too), not a path walk of its name.

use super::file::FileOps;
use super::path::{Dentry, Mounts};
use super::{now, Attr, DirEntryOut, Inode, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::task::{Pid, ProcessTable};
use guest_abi::stat::*;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub struct ProcFs {
    pub dev: u64,
    pub table: Rc<RefCell<ProcessTable>>,
    /// The process making the current syscall: what /proc/self names.
    pub current: Rc<Cell<Pid>>,
    pub mounts: Rc<Mounts>,
    pub boot: std::time::Instant,
}

#[derive(Clone)]
enum Node {
    Root,
    SelfLink,
    Mounts,
    Uptime,
    Filesystems,
    PidDir(Pid),
    Exe(Pid),
    Cwd(Pid),
    RootLink(Pid),
    FdDir(Pid),
    Fd(Pid, i32),
    Cmdline(Pid),
    Comm(Pid),
    Stat(Pid),
    Status(Pid),
}

pub struct ProcInode {
    fs: Rc<ProcFs>,
    node: Node,
}

impl ProcFs {
    pub fn root(fs: &Rc<ProcFs>) -> InodeRef {
        Rc::new(ProcInode { fs: fs.clone(), node: Node::Root })
    }
}

/// Where the readdir cursors of numbered entries (pids, fds) start: past
/// every fixed name.
const NUMBERED: u64 = 0x100;

const PID_ENTRIES: &[&[u8]] =
    &[b"cmdline", b"comm", b"cwd", b"exe", b"fd", b"root", b"stat", b"status"];

impl ProcInode {
    fn node(&self, node: Node) -> InodeRef {
        Rc::new(ProcInode { fs: self.fs.clone(), node })
    }

    fn alive(&self, pid: Pid) -> bool {
        self.fs.table.borrow().procs.contains_key(&pid)
    }

    fn ino(&self) -> u64 {
        match self.node {
            Node::Root => 1,
            Node::SelfLink => 2,
            Node::Mounts => 3,
            Node::Uptime => 4,
            Node::Filesystems => 5,
            Node::PidDir(p) => (p as u64) << 8,
            Node::Exe(p) => ((p as u64) << 8) | 1,
            Node::Cwd(p) => ((p as u64) << 8) | 2,
            Node::RootLink(p) => ((p as u64) << 8) | 3,
            Node::FdDir(p) => ((p as u64) << 8) | 4,
            Node::Cmdline(p) => ((p as u64) << 8) | 5,
            Node::Comm(p) => ((p as u64) << 8) | 6,
            Node::Stat(p) => ((p as u64) << 8) | 7,
            Node::Status(p) => ((p as u64) << 8) | 8,
            Node::Fd(p, fd) => (1u64 << 40) | ((p as u64) << 16) | fd as u64,
        }
    }

    fn content(&self) -> KResult<Vec<u8>> {
        let t = self.fs.table.borrow();
        let proc_of = |p: Pid| t.procs.get(&p).ok_or(Errno::ESRCH);
        Ok(match &self.node {
            Node::Mounts => {
                let mut s = Vec::new();
                for (path, fstype, root) in self.fs.mounts.list.borrow().iter() {
                    let ro = if root.read_only() { "ro" } else { "rw" };
                    let dev = if *fstype == "ext4" { "/dev/root" } else { fstype };
                    s.extend_from_slice(dev.as_bytes());
                    s.push(b' ');
                    s.extend_from_slice(path);
                    s.extend_from_slice(format!(" {fstype} {ro},relatime 0 0\n").as_bytes());
                }
                s
            }
            Node::Uptime => {
                let up = self.fs.boot.elapsed().as_secs_f64();
                format!("{up:.2} {up:.2}\n").into_bytes()
            }
            Node::Filesystems => b"nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\n\text4\n".to_vec(),
            Node::Cmdline(p) => proc_of(*p)?.cmdline.clone(),
            Node::Comm(p) => {
                let mut c = proc_of(*p)?.comm.clone();
                c.push(b'\n');
                c
            }
            Node::Stat(p) => {
                let pr = proc_of(*p)?;
                let state = if pr.exit.is_some() { 'Z' } else { 'S' };
                let comm = String::from_utf8_lossy(&pr.comm);
                format!(
                    "{} ({}) {} {} {} {} 0 0 0 0 0 0 0 0 0 0 20 0 {} 0 0 0 0\n",
                    pr.pid,
                    comm,
                    state,
                    pr.ppid,
                    pr.pgid,
                    pr.sid,
                    pr.threads.len().max(1)
                )
                .into_bytes()
            }
            Node::Status(p) => {
                let pr = proc_of(*p)?;
                let state = if pr.exit.is_some() { "Z (zombie)" } else { "S (sleeping)" };
                let c = &pr.cred;
                format!(
                    "Name:\t{}\nState:\t{}\nTgid:\t{}\nPid:\t{}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nThreads:\t{}\n",
                    String::from_utf8_lossy(&pr.comm),
                    state,
                    pr.pid,
                    pr.pid,
                    pr.ppid,
                    c.uid,
                    c.euid,
                    c.suid,
                    c.euid,
                    c.gid,
                    c.egid,
                    c.sgid,
                    c.egid,
                    pr.threads.len()
                )
                .into_bytes()
            }
            _ => return Err(Errno::EINVAL),
        })
    }

    fn open_file(&self, pid: Pid, fd: i32) -> KResult<Rc<super::file::OpenFile>> {
        let files =
            self.fs.table.borrow().procs.get(&pid).map(|p| p.files.clone()).ok_or(Errno::ENOENT)?;
        let f = files.borrow().file(fd).map_err(|_| Errno::ENOENT);
        f
    }
}

impl Inode for ProcInode {
    fn attr(&self) -> KResult<Attr> {
        let t = now();
        let (mode, nlink) = match &self.node {
            Node::Root | Node::PidDir(_) | Node::FdDir(_) => (S_IFDIR | 0o555, 2),
            Node::SelfLink | Node::Exe(_) | Node::Cwd(_) | Node::RootLink(_) => {
                (S_IFLNK | 0o777, 1)
            }
            Node::Fd(..) => (S_IFLNK | 0o700, 1),
            _ => (S_IFREG | 0o444, 1),
        };
        let pid = match &self.node {
            Node::PidDir(p)
            | Node::Exe(p)
            | Node::Cwd(p)
            | Node::RootLink(p)
            | Node::FdDir(p)
            | Node::Fd(p, _)
            | Node::Cmdline(p)
            | Node::Comm(p)
            | Node::Stat(p)
            | Node::Status(p) => Some(*p),
            _ => None,
        };
        if let Some(p) = pid {
            if !self.alive(p) {
                return Err(Errno::ENOENT);
            }
        }
        Ok(Attr {
            dev: self.fs.dev,
            ino: self.ino(),
            mode,
            nlink,
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        match &self.node {
            Node::Root => {
                let n = match name {
                    b"self" => Node::SelfLink,
                    b"mounts" => Node::Mounts,
                    b"uptime" => Node::Uptime,
                    b"filesystems" => Node::Filesystems,
                    b"." | b".." => Node::Root,
                    _ => {
                        let pid: Pid = std::str::from_utf8(name)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .ok_or(Errno::ENOENT)?;
                        if !self.alive(pid) {
                            return Err(Errno::ENOENT);
                        }
                        Node::PidDir(pid)
                    }
                };
                Ok(self.node(n))
            }
            Node::PidDir(p) => {
                let p = *p;
                Ok(self.node(match name {
                    b"exe" => Node::Exe(p),
                    b"cwd" => Node::Cwd(p),
                    b"root" => Node::RootLink(p),
                    b"fd" => Node::FdDir(p),
                    b"cmdline" => Node::Cmdline(p),
                    b"comm" => Node::Comm(p),
                    b"stat" => Node::Stat(p),
                    b"status" => Node::Status(p),
                    _ => return Err(Errno::ENOENT),
                }))
            }
            Node::FdDir(p) => {
                let fd: i32 = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(Errno::ENOENT)?;
                self.open_file(*p, fd)?;
                Ok(self.node(Node::Fd(*p, fd)))
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// Each entry's cursor is a key that does not move when other entries
    /// come or go: an index for the fixed names, the number itself (past
    /// the fixed ones) for pids and fds. A reader that closes fds while
    /// walking /proc/self/fd (CPython's close_fds does) must not skip any.
    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        let mut names: Vec<(u64, Vec<u8>, u8)> =
            vec![(0, b".".to_vec(), DT_DIR), (1, b"..".to_vec(), DT_DIR)];
        let fixed = |names: &mut Vec<(u64, Vec<u8>, u8)>, name: &[u8], dtype: u8| {
            let key = names.len() as u64;
            names.push((key, name.to_vec(), dtype));
        };
        match &self.node {
            Node::Root => {
                for (n, t) in [
                    (&b"filesystems"[..], DT_REG),
                    (b"mounts", DT_REG),
                    (b"self", DT_LNK),
                    (b"uptime", DT_REG),
                ] {
                    fixed(&mut names, n, t);
                }
                for pid in self.fs.table.borrow().procs.keys() {
                    names.push((NUMBERED + *pid as u64, pid.to_string().into_bytes(), DT_DIR));
                }
            }
            Node::PidDir(_) => {
                for n in PID_ENTRIES {
                    let t = match *n {
                        b"fd" => DT_DIR,
                        b"cwd" | b"exe" | b"root" => DT_LNK,
                        _ => DT_REG,
                    };
                    fixed(&mut names, n, t);
                }
            }
            Node::FdDir(p) => {
                let files = self
                    .fs
                    .table
                    .borrow()
                    .procs
                    .get(p)
                    .map(|p| p.files.clone())
                    .ok_or(Errno::ENOENT)?;
                for (fd, _) in files.borrow().iter() {
                    names.push((NUMBERED + fd as u64, fd.to_string().into_bytes(), DT_LNK));
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
        names.sort_unstable_by_key(|e| e.0);
        for (key, name, dtype) in names.iter().filter(|e| e.0 >= cursor) {
            if !emit(DirEntryOut { ino: 100 + key, name, dtype: *dtype, next: key + 1 }) {
                break;
            }
        }
        Ok(())
    }

    fn readlink(&self) -> KResult<Vec<u8>> {
        let t = self.fs.table.borrow();
        match &self.node {
            Node::SelfLink => Ok(self.fs.current.get().to_string().into_bytes()),
            Node::Exe(p) => t.procs.get(p).map(|p| p.exe.clone()).ok_or(Errno::ENOENT),
            Node::Cwd(p) => t.procs.get(p).map(|p| p.fs.borrow().cwd.path()).ok_or(Errno::ENOENT),
            Node::RootLink(_) => Ok(b"/".to_vec()),
            Node::Fd(p, fd) => {
                let (p, fd) = (*p, *fd);
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
        let Node::Fd(p, fd) = self.node else { return None };
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
