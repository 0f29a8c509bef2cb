//! Pseudo-terminals: /dev/ptmx and devpts (drivers/tty/pty.c,
//! fs/devpts/inode.c).
//!
//! Opening /dev/ptmx makes a pair: the master (the fd ptmx returns) and a
//! slave, /dev/pts/N, which is an ordinary terminal with its own line
//! discipline. What the master writes is the slave's typed input; what
//! the slave writes (and echoes) is what the master reads. The slave is
//! locked until the master unlocks it (TIOCSPTLCK, unlockpt(3)); closing
//! the master hangs the slave up (reads return end of file, its session
//! gets SIGHUP); closing every slave makes master reads fail with EIO.

use super::core::Tty;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::file::{FileKind, FileOps, OpenFile};
use crate::kernel::fs::{now, Attr, DirEntryOut, Inode, InodeRef};
use crate::kernel::mm::GuestMem;
use crate::kernel::syscall::Ctx;
use crate::kernel::task::Pid;
use crate::kernel::wait::{WaitId, Waker};
use crate::kernel::Kernel;
use guest_abi::misc::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI};
use guest_abi::stat::*;
use guest_abi::termios::*;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// Most ptys at once (/proc/sys/kernel/pty/max is larger; this is plenty).
const MAX_PTYS: usize = 4096;
/// Group tty, which devpts gives slaves (Debian mounts it with gid=5).
const TTY_GID: u32 = 5;
/// UNIX98 pty slaves are char major 136.
const PTY_SLAVE_MAJOR: u32 = 136;

pub struct PtyPair {
    pub index: u32,
    pub tty: Rc<Tty>,
    locked: Cell<bool>,
    masters: Cell<usize>,
    slaves: Cell<usize>,
    /// Woken when the slave side reads, so a blocked master writer (none
    /// today: input is never refused) or poller re-checks.
    master_wait: WaitId,
    /// The slave's owner and mode: the opener's uid and group tty, 0620,
    /// until chown/chmod (grantpt, screen) change them.
    owner: Cell<(u32, u32)>,
    mode: Cell<u32>,
    ctime: Cell<(i64, u32)>,
    /// TIOCPKT: master reads start with a status byte.
    packet: Cell<bool>,
    /// The last slave was closed (TTY_OTHER_CLOSED): master reads fail
    /// with EIO until a slave is opened again. Not set before the first
    /// slave opens: a program may read the master before its child opens
    /// the slave (screen does).
    other_closed: Cell<bool>,
}

/// devpts: the live pairs, and the /dev/pts directory.
pub struct DevPts {
    pairs: RefCell<Vec<Weak<PtyPair>>>,
    waker: Waker,
    dev: u64,
    created: (i64, u32),
}

impl DevPts {
    pub fn new(waker: &Waker, dev: u64) -> Rc<DevPts> {
        Rc::new(DevPts {
            pairs: RefCell::new(Vec::new()),
            waker: waker.clone(),
            dev,
            created: now(),
        })
    }

    pub fn root(self: &Rc<Self>) -> InodeRef {
        Rc::new(PtsNode { fs: self.clone(), which: PtsWhich::Root })
    }

    /// A new slave handle on the pty that is `sid`'s controlling terminal.
    pub fn slave_of_session(self: &Rc<Self>, sid: Pid) -> Option<Rc<dyn FileOps>> {
        let pair = self
            .pairs
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .find(|p| sid != 0 && p.tty.session.get() == sid)?;
        Some(PtySlave::new(&pair, self.clone()))
    }

    fn pair(&self, index: u32) -> Option<Rc<PtyPair>> {
        self.pairs.borrow().get(index as usize).and_then(|w| w.upgrade())
    }

    /// Opens /dev/ptmx: a new pair, its master side.
    pub fn open_master(self: &Rc<Self>, flags: i32, owner: (u32, u32)) -> KResult<Rc<OpenFile>> {
        let mut pairs = self.pairs.borrow_mut();
        let index = match pairs.iter().position(|w| w.upgrade().is_none()) {
            Some(i) => i,
            None if pairs.len() < MAX_PTYS => {
                pairs.push(Weak::new());
                pairs.len() - 1
            }
            None => return Err(Errno::ENOSPC),
        };
        let tty = Rc::new(Tty::new(&self.waker, WinSize::default(), None));
        let pair = Rc::new(PtyPair {
            index: index as u32,
            tty,
            locked: Cell::new(true),
            masters: Cell::new(0),
            slaves: Cell::new(0),
            master_wait: self.waker.new_id(),
            owner: Cell::new((owner.0, TTY_GID)),
            mode: Cell::new(0o620),
            ctime: Cell::new(now()),
            packet: Cell::new(false),
            other_closed: Cell::new(false),
        });
        pairs[index] = Rc::downgrade(&pair);
        drop(pairs);
        let ops = PtyMaster::new(&pair, self.clone());
        Ok(OpenFile::new(ops, None, None, flags))
    }

    /// Sends the signals pty input produced (called after every event).
    pub fn pump(&self, k: &mut Kernel) {
        let live: Vec<Rc<PtyPair>> =
            self.pairs.borrow().iter().filter_map(|w| w.upgrade()).collect();
        for p in live {
            if !p.tty.pending.borrow().is_empty() {
                p.tty.send_pending(k);
            }
        }
    }
}

fn slave_attr(fs: &DevPts, p: &PtyPair) -> Attr {
    let t = fs.created;
    let (uid, gid) = p.owner.get();
    Attr {
        dev: fs.dev,
        ino: p.index as u64 + 3,
        mode: S_IFCHR | p.mode.get(),
        nlink: 1,
        uid,
        gid,
        rdev: makedev(PTY_SLAVE_MAJOR, p.index),
        blksize: 1024,
        atime: t,
        mtime: t,
        ctime: p.ctime.get(),
        ..Default::default()
    }
}

/// The master side of a pair.
pub struct PtyMaster {
    pair: Rc<PtyPair>,
    fs: Rc<DevPts>,
}

impl PtyMaster {
    fn new(pair: &Rc<PtyPair>, fs: Rc<DevPts>) -> Rc<PtyMaster> {
        pair.masters.set(pair.masters.get() + 1);
        Rc::new(PtyMaster { pair: pair.clone(), fs })
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        let p = &self.pair;
        p.masters.set(p.masters.get().saturating_sub(1));
        if p.masters.get() == 0 {
            // Hang the slave up: its readers see end of file, and its
            // session's foreground group gets SIGHUP (then SIGCONT).
            p.tty.hung_up.set(true);
            p.tty
                .pending
                .borrow_mut()
                .push(super::ldisc::InputEffect::Signal(guest_abi::signal::SIGHUP));
            p.tty
                .pending
                .borrow_mut()
                .push(super::ldisc::InputEffect::Signal(guest_abi::signal::SIGCONT));
            p.tty.waker.wake(p.tty.read_wait);
        }
    }
}

impl FileOps for PtyMaster {
    fn read(&self, _f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let p = &self.pair;
        let mut l = p.tty.ldisc.borrow_mut();
        // Packet mode: a flow or flush event reads as its status byte
        // alone; data comes after a TIOCPKT_DATA byte (n_tty_read).
        let packet = p.packet.get() && !buf.is_empty();
        if packet && l.pktstatus() != 0 {
            buf[0] = l.take_pktstatus();
            return Ok(1);
        }
        let buf = if packet {
            buf[0] = TIOCPKT_DATA;
            &mut buf[1..]
        } else {
            buf
        };
        if l.output_pending() == 0 {
            // No slave left open (and one had been): EIO, as Linux.
            if p.other_closed.get() {
                return Err(Errno::EIO);
            }
            return Err(Errno::EAGAIN);
        }
        let out = l.take_output();
        if out.is_empty() {
            // Output stopped (^S): nothing to read yet.
            return Err(Errno::EAGAIN);
        }
        let n = out.len().min(buf.len());
        buf[..n].copy_from_slice(&out[..n]);
        if n < out.len() {
            // Put back what did not fit: the line discipline's queue is
            // processed output, so queue it raw again.
            l.requeue_output(&out[n..]);
        }
        Ok(n + packet as usize)
    }

    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        self.pair.tty.input(data);
        Ok(data.len())
    }

    fn poll(&self) -> i16 {
        let p = &self.pair;
        let mut ev = POLLOUT;
        if p.packet.get() && p.tty.ldisc.borrow().pktstatus() != 0 {
            ev |= POLLIN | POLLPRI;
        }
        if p.tty.ldisc.borrow().output_pending() > 0 {
            ev |= POLLIN;
        } else if p.other_closed.get() {
            ev |= POLLHUP | POLLIN | POLLERR;
        }
        ev
    }

    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![self.pair.tty.output_wait, self.pair.master_wait]
    }

    fn kind(&self) -> FileKind {
        FileKind::Tty
    }

    fn attr(&self) -> Option<Attr> {
        let t = self.fs.created;
        Some(Attr {
            dev: makedev(0, 5),
            ino: 2,
            mode: S_IFCHR | 0o666,
            nlink: 1,
            rdev: makedev(5, 2),
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Default::default()
        })
    }

    /// The master's own ioctls; the rest (termios, window size) act on the
    /// pair's terminal, as on Linux.
    fn ioctl(&self, k: &mut Kernel, ctx: &Ctx, req: u64, arg: u64) -> Option<KResult<i64>> {
        let p = &self.pair;
        Some(match req {
            TIOCGPTN => {
                GuestMem::new(k.platform.as_mut(), ctx.host).write_obj(arg, &p.index).map(|_| 0)
            }
            // The master's input is the slave's output; its output goes
            // straight into the slave's input, so there is none to flush.
            TCFLSH => match arg & 0xffff_ffff {
                TCIFLUSH | TCIOFLUSH => {
                    p.tty.ldisc.borrow_mut().flush_master_input();
                    Ok(0)
                }
                TCOFLUSH => Ok(0),
                _ => Err(Errno::EINVAL),
            },
            TIOCPKT => {
                GuestMem::new(k.platform.as_mut(), ctx.host).read_obj::<i32>(arg).map(|v| {
                    // Turning it on starts with no stale status.
                    if v != 0 && !p.packet.get() {
                        p.tty.ldisc.borrow_mut().take_pktstatus();
                    }
                    p.packet.set(v != 0);
                    0
                })
            }
            TIOCGPKT => GuestMem::new(k.platform.as_mut(), ctx.host)
                .write_obj(arg, &(p.packet.get() as i32))
                .map(|_| 0),
            TIOCSPTLCK => {
                GuestMem::new(k.platform.as_mut(), ctx.host).read_obj::<i32>(arg).map(|v| {
                    p.locked.set(v != 0);
                    0
                })
            }
            TIOCGPTPEER => {
                if p.locked.get() {
                    return Some(Err(Errno::EIO));
                }
                let flags = arg as i32
                    & (guest_abi::fcntl::O_ACCMODE
                        | guest_abi::fcntl::O_NONBLOCK
                        | guest_abi::fcntl::O_NOCTTY
                        | guest_abi::fcntl::O_CLOEXEC);
                let file = OpenFile::new(PtySlave::new(p, self.fs.clone()), None, None, flags);
                let limit = k.nofile_limit(ctx.pid);
                k.files_of(ctx.pid)
                    .and_then(|t| {
                        t.borrow_mut().install(
                            file,
                            flags & guest_abi::fcntl::O_CLOEXEC != 0,
                            limit,
                        )
                    })
                    .map(|fd| fd as i64)
            }
            // Job control ioctls are the slave's business.
            TIOCSCTTY | TIOCGPGRP | TIOCSPGRP | TIOCGSID => Err(Errno::ENOTTY),
            _ => return None,
        })
    }

    fn tty(&self) -> Option<Rc<Tty>> {
        Some(self.pair.tty.clone())
    }
}

/// The slave side: a terminal.
pub struct PtySlave {
    pair: Rc<PtyPair>,
    fs: Rc<DevPts>,
}

impl PtySlave {
    fn new(pair: &Rc<PtyPair>, fs: Rc<DevPts>) -> Rc<PtySlave> {
        pair.slaves.set(pair.slaves.get() + 1);
        pair.other_closed.set(false);
        Rc::new(PtySlave { pair: pair.clone(), fs })
    }
}

impl Drop for PtySlave {
    fn drop(&mut self) {
        let p = &self.pair;
        p.slaves.set(p.slaves.get().saturating_sub(1));
        if p.slaves.get() == 0 {
            p.other_closed.set(true);
        }
        p.tty.waker.wake(p.tty.output_wait);
        p.tty.waker.wake(p.master_wait);
    }
}

impl FileOps for PtySlave {
    fn read(&self, f: &OpenFile, buf: &mut [u8]) -> KResult<usize> {
        let n = self.pair.tty.read(f, buf)?;
        self.pair.tty.waker.wake(self.pair.master_wait);
        Ok(n)
    }
    fn write(&self, _f: &OpenFile, data: &[u8]) -> KResult<usize> {
        self.pair.tty.write(data)
    }
    fn poll(&self) -> i16 {
        self.pair.tty.poll()
    }
    fn wait_ids(&self, _events: i16) -> Vec<WaitId> {
        vec![self.pair.tty.read_wait]
    }
    fn tty(&self) -> Option<Rc<Tty>> {
        Some(self.pair.tty.clone())
    }
    fn kind(&self) -> FileKind {
        FileKind::Tty
    }
    fn attr(&self) -> Option<Attr> {
        Some(slave_attr(&self.fs, &self.pair))
    }
}

#[derive(Clone, Copy)]
enum PtsWhich {
    Root,
    Ptmx,
    Slave(u32),
}

/// An inode of devpts: the directory, ptmx, or a slave.
struct PtsNode {
    fs: Rc<DevPts>,
    which: PtsWhich,
}

impl Inode for PtsNode {
    fn attr(&self) -> KResult<Attr> {
        let t = self.fs.created;
        Ok(match self.which {
            PtsWhich::Root => Attr {
                dev: self.fs.dev,
                ino: 1,
                mode: S_IFDIR | 0o755,
                nlink: 2,
                blksize: 1024,
                atime: t,
                mtime: t,
                ctime: t,
                ..Default::default()
            },
            PtsWhich::Ptmx => Attr {
                dev: self.fs.dev,
                ino: 2,
                mode: S_IFCHR | 0o666,
                nlink: 1,
                rdev: makedev(5, 2),
                blksize: 1024,
                atime: t,
                mtime: t,
                ctime: t,
                ..Default::default()
            },
            PtsWhich::Slave(i) => slave_attr(&self.fs, &*self.fs.pair(i).ok_or(Errno::ENOENT)?),
        })
    }

    fn lookup(&self, name: &[u8]) -> KResult<InodeRef> {
        if !matches!(self.which, PtsWhich::Root) {
            return Err(Errno::ENOTDIR);
        }
        let which = match name {
            b"." | b".." => PtsWhich::Root,
            b"ptmx" => PtsWhich::Ptmx,
            _ => {
                let i: u32 = std::str::from_utf8(name)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(Errno::ENOENT)?;
                self.fs.pair(i).ok_or(Errno::ENOENT)?;
                PtsWhich::Slave(i)
            }
        };
        Ok(Rc::new(PtsNode { fs: self.fs.clone(), which }))
    }

    fn readdir(&self, cursor: u64, emit: &mut dyn FnMut(DirEntryOut<'_>) -> bool) -> KResult<()> {
        let mut names: Vec<(Vec<u8>, u64, u8)> = vec![
            (b".".to_vec(), 1, DT_DIR),
            (b"..".to_vec(), 1, DT_DIR),
            (b"ptmx".to_vec(), 2, DT_CHR),
        ];
        for (i, w) in self.fs.pairs.borrow().iter().enumerate() {
            if w.upgrade().is_some() {
                names.push((i.to_string().into_bytes(), i as u64 + 3, DT_CHR));
            }
        }
        for (pos, (name, ino, dt)) in names.iter().enumerate().skip(cursor as usize) {
            if !emit(DirEntryOut { ino: *ino, name, dtype: *dt, next: pos as u64 + 1 }) {
                break;
            }
        }
        Ok(())
    }

    /// A slave's mode and owner can change (grantpt, screen); devpts keeps
    /// them in memory like everything else about the pair.
    fn set_mode(&self, mode: u32) -> KResult<()> {
        let PtsWhich::Slave(i) = self.which else { return Err(Errno::EROFS) };
        let p = self.fs.pair(i).ok_or(Errno::ENOENT)?;
        p.mode.set(mode & 0o7777);
        p.ctime.set(now());
        Ok(())
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
        let PtsWhich::Slave(i) = self.which else { return Err(Errno::EROFS) };
        let p = self.fs.pair(i).ok_or(Errno::ENOENT)?;
        let (u, g) = p.owner.get();
        p.owner.set((uid.unwrap_or(u), gid.unwrap_or(g)));
        p.ctime.set(now());
        Ok(())
    }

    fn open_special(&self, flags: i32) -> Option<KResult<Rc<dyn FileOps>>> {
        match self.which {
            PtsWhich::Root => None,
            // Opening ptmx goes through DevPts::open_master (it makes a
            // new OpenFile); see the syscall layer.
            PtsWhich::Ptmx => Some(Err(Errno::ENXIO)),
            PtsWhich::Slave(i) => Some(match self.fs.pair(i) {
                Some(p) if p.locked.get() => Err(Errno::EIO),
                Some(p) => {
                    let _ = flags;
                    Ok(PtySlave::new(&p, self.fs.clone()) as Rc<dyn FileOps>)
                }
                None => Err(Errno::ENOENT),
            }),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Whether an inode is devpts's ptmx (opening it makes a new pair).
pub fn is_ptmx(inode: &InodeRef) -> Option<Rc<DevPts>> {
    inode
        .as_any()
        .downcast_ref::<PtsNode>()
        .filter(|n| matches!(n.which, PtsWhich::Ptmx))
        .map(|n| n.fs.clone())
}

/// The terminal of a pty slave opened through devpts, if `inode` is one.
pub fn slave_tty(inode: &InodeRef) -> Option<Rc<Tty>> {
    let n = inode.as_any().downcast_ref::<PtsNode>()?;
    match n.which {
        PtsWhich::Slave(i) => n.fs.pair(i).map(|p| p.tty.clone()),
        _ => None,
    }
}

impl DevPts {
    /// Whether some pty is `sid`'s controlling terminal.
    pub fn has_session(&self, sid: Pid) -> bool {
        self.session_tty(sid).is_some()
    }

    /// The pty that is `sid`'s controlling terminal.
    pub fn session_tty(&self, sid: Pid) -> Option<Rc<Tty>> {
        let pairs = self.pairs.borrow();
        let p = pairs.iter().filter_map(Weak::upgrade).find(|p| p.tty.session.get() == sid)?;
        Some(p.tty.clone())
    }
}
