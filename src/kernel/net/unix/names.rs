//! Where unix socket names lead (af_unix.c unix_bind_bsd, unix_find_bsd,
//! unix_bind_abstract, unix_autobind).
//!
//! A path name is a socket inode (S_IFSOCK) that bind creates in the
//! guest's VFS, on whatever filesystem holds the path; connect walks the
//! path like any other and finds the listening socket by that inode's
//! (device, inode number) in a table kept here. A socket file therefore
//! only ever leads to a socket of this VM: it is never a host socket,
//! whatever the host has at the same path. Unlinking the file leaves the
//! socket bound but unreachable, renaming or hard-linking it keeps it
//! reachable, as on Linux.
//!
//! Abstract names (sun_path[0] == 0) live only here; like Linux, each
//! socket type has its own set of them.

use super::addr::UnixAddr;
use super::UnixSocket;
use crate::kernel::errno::{Errno, KResult};
use crate::kernel::fs::path::{is_dot, Follow};
use crate::kernel::fs::permission::{may_create, permission, MAY_WRITE};
use crate::kernel::task::Pid;
use crate::kernel::Kernel;
use guest_abi::errno::{EADDRINUSE, ECONNREFUSED, EPROTOTYPE};
use guest_abi::fcntl::AT_FDCWD;
use guest_abi::stat::{S_IFMT, S_IFSOCK};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

/// The kernel's table of bound unix sockets.
#[derive(Default)]
pub struct Names {
    /// Path names, by the socket file's (device, inode number).
    by_inode: RefCell<HashMap<(u64, u64), Weak<UnixSocket>>>,
    /// Abstract names, by socket type and the name's bytes.
    abstract_names: RefCell<HashMap<(i32, Vec<u8>), Weak<UnixSocket>>>,
    /// Where autobind tries next.
    next_auto: Cell<u32>,
}

/// Autobind names are 5 hex digits: 2^20 of them.
const AUTOBIND_NAMES: u32 = 1 << 20;

impl Names {
    /// bind(2) to `addr`. EINVAL if the socket already has a name (for a
    /// path, only after the file was made, as Linux does).
    pub fn bind(&self, k: &Kernel, pid: Pid, sock: &Rc<UnixSocket>, addr: UnixAddr) -> KResult<()> {
        match &addr {
            UnixAddr::Abstract(name) => {
                if sock.is_bound() {
                    return Err(Errno::EINVAL);
                }
                let key = (sock.kind(), name.clone());
                let mut map = self.abstract_names.borrow_mut();
                map.retain(|_, w| w.strong_count() > 0);
                if map.contains_key(&key) {
                    return Err(Errno(EADDRINUSE));
                }
                map.insert(key, Rc::downgrade(sock));
            }
            UnixAddr::Path(path) => {
                let (dir, name) = k.lookup_parent_at(pid, AT_FDCWD, path)?;
                if is_dot(&name) || dir.inode.lookup(&name).is_ok() {
                    return Err(Errno(EADDRINUSE));
                }
                let creds = k.creds_of(pid);
                may_create(&dir.inode.attr()?, &creds)?;
                let umask = k.fs_of(pid)?.borrow().umask;
                let inode = dir
                    .inode
                    .create(&name, S_IFSOCK | (0o777 & !umask), 0, None, &creds)
                    .map_err(|e| if e == Errno::EEXIST { Errno(EADDRINUSE) } else { e })?;
                if sock.is_bound() {
                    let _ = dir.inode.unlink(&name, false);
                    return Err(Errno::EINVAL);
                }
                let a = inode.attr()?;
                let mut map = self.by_inode.borrow_mut();
                map.retain(|_, w| w.strong_count() > 0);
                map.insert((a.dev, a.ino), Rc::downgrade(sock));
            }
        }
        sock.set_name(addr);
        Ok(())
    }

    /// Gives an unnamed socket an abstract name of 5 hex digits (bind
    /// with only a family, or sending with SO_PASSCRED). A socket that
    /// has a name keeps it.
    pub fn autobind(&self, sock: &Rc<UnixSocket>) -> KResult<()> {
        if sock.is_bound() {
            return Ok(());
        }
        let mut map = self.abstract_names.borrow_mut();
        map.retain(|_, w| w.strong_count() > 0);
        for _ in 0..AUTOBIND_NAMES {
            let n = self.next_auto.get();
            self.next_auto.set((n + 1) % AUTOBIND_NAMES);
            let mut name = vec![0u8];
            name.extend_from_slice(format!("{n:05x}").as_bytes());
            let key = (sock.kind(), name.clone());
            if !map.contains_key(&key) {
                map.insert(key, Rc::downgrade(sock));
                drop(map);
                sock.set_name(UnixAddr::Abstract(name));
                return Ok(());
            }
        }
        Err(Errno::ENOSPC)
    }

    /// The socket `addr` leads to, for connect and sendto by a socket of
    /// type `kind`: a path needs write permission on the socket file
    /// (EACCES), must be a socket bound by someone (ECONNREFUSED), of
    /// the same type (EPROTOTYPE).
    pub fn lookup(
        &self,
        k: &Kernel,
        pid: Pid,
        addr: &UnixAddr,
        kind: i32,
    ) -> KResult<Rc<UnixSocket>> {
        match addr {
            UnixAddr::Abstract(name) => self
                .abstract_names
                .borrow()
                .get(&(kind, name.clone()))
                .and_then(|w| w.upgrade())
                .ok_or(Errno(ECONNREFUSED)),
            UnixAddr::Path(path) => {
                let d = k.lookup_at(pid, AT_FDCWD, path, Follow::Yes, false)?;
                let a = d.inode.attr()?;
                permission(&a, &k.creds_of(pid), MAY_WRITE)?;
                if a.mode & S_IFMT != S_IFSOCK {
                    return Err(Errno(ECONNREFUSED));
                }
                let s = self
                    .by_inode
                    .borrow()
                    .get(&(a.dev, a.ino))
                    .and_then(|w| w.upgrade())
                    .ok_or(Errno(ECONNREFUSED))?;
                if s.kind() != kind {
                    return Err(Errno(EPROTOTYPE));
                }
                Ok(s)
            }
        }
    }
}
