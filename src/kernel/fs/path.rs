//! Path walk (fs/namei.c in Linux, much smaller).
//!
//! A [`Dentry`] is an inode reached by name from a parent dentry. Walks
//! start at the process's root or cwd (or a directory fd for *at calls),
//! take one component at a time, follow symlinks (at most 40 in one walk,
//! as Linux's MAXSYMLINKS) and cross mounts: when a lookup lands on a
//! directory that has a filesystem mounted on it, the walk continues in the
//! mounted root, whose dentry carries the mountpoint's name and parent so
//! that `..` and getcwd see one tree.

use super::{Attr, InodeRef};
use crate::kernel::errno::{Errno, KResult};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Linux's MAXSYMLINKS.
pub const MAX_SYMLINKS: u32 = 40;
/// NAME_MAX.
pub const NAME_MAX: usize = 255;

pub struct Dentry {
    pub name: Vec<u8>,
    pub parent: Option<Rc<Dentry>>,
    pub inode: InodeRef,
}

impl Dentry {
    pub fn root(inode: InodeRef) -> Rc<Dentry> {
        Rc::new(Dentry { name: Vec::new(), parent: None, inode })
    }

    /// The absolute path of this dentry, as getcwd and /proc show it.
    pub fn path(self: &Rc<Dentry>) -> Vec<u8> {
        // A dentry outside the tree (a memfd) is shown by its name.
        if self.parent.is_none() && !self.name.is_empty() {
            return self.name.clone();
        }
        let mut parts = Vec::new();
        let mut d = self.clone();
        while let Some(p) = d.parent.clone() {
            parts.push(d.name.clone());
            d = p;
        }
        if parts.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        out
    }
}

/// The mount table: which directory (by device and inode number) has which
/// filesystem root mounted on it.
#[derive(Default)]
pub struct Mounts {
    by_point: RefCell<HashMap<(u64, u64), InodeRef>>,
    /// (mount path, fs type) for /proc/mounts.
    pub list: RefCell<Vec<(Vec<u8>, &'static str, InodeRef)>>,
}

impl Mounts {
    pub fn mount(&self, point: &Rc<Dentry>, root: InodeRef, fstype: &'static str) -> KResult<()> {
        let a = point.inode.attr()?;
        if !a.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.by_point.borrow_mut().insert((a.dev, a.ino), root.clone());
        self.list.borrow_mut().push((point.path(), fstype, root));
        Ok(())
    }

    fn covering(&self, a: &Attr) -> Option<InodeRef> {
        if !a.is_dir() {
            return None;
        }
        self.by_point.borrow().get(&(a.dev, a.ino)).cloned()
    }
}

/// How a walk treats the last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    Yes,
    No,
}

/// The filesystem context of a walk: root, mounts, and who walks (each
/// directory passed through needs search permission; None: the kernel
/// itself).
pub struct Walker<'a> {
    pub root: &'a Rc<Dentry>,
    pub mounts: &'a Mounts,
    pub creds: Option<&'a super::Creds>,
}

impl<'a> Walker<'a> {
    /// Looks up one name in a directory dentry, crossing mounts.
    pub fn child(&self, dir: &Rc<Dentry>, name: &[u8]) -> KResult<Rc<Dentry>> {
        self.child_attr(dir, name).map(|(d, _)| d)
    }

    /// Looks up one name, crossing mounts, and returns its attributes too.
    fn child_attr(&self, dir: &Rc<Dentry>, name: &[u8]) -> KResult<(Rc<Dentry>, Attr)> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut inode = dir.inode.lookup(name)?;
        let mut attr = inode.attr()?;
        if let Some(root) = self.mounts.covering(&attr) {
            inode = root;
            attr = inode.attr()?;
        }
        Ok((Rc::new(Dentry { name: name.to_vec(), parent: Some(dir.clone()), inode }), attr))
    }

    fn parent_of(&self, d: &Rc<Dentry>) -> Rc<Dentry> {
        // `..` at the process root stays there (also what makes chroot hold).
        if Rc::ptr_eq(d, self.root) {
            return d.clone();
        }
        d.parent.clone().unwrap_or_else(|| d.clone())
    }

    /// Walks `path` from `start` (used when the path is relative).
    pub fn walk(&self, start: &Rc<Dentry>, path: &[u8], follow: Follow) -> KResult<Rc<Dentry>> {
        let mut links = 0;
        self.walk_inner(start, path, follow, &mut links)
    }

    /// Walks to the parent directory of the last component and returns it
    /// with that last name (for create, unlink, rename). The name may be
    /// `.` or `..` (each caller answers those as Linux does, see
    /// [`is_dot`]), or empty for "/".
    pub fn walk_parent(&self, start: &Rc<Dentry>, path: &[u8]) -> KResult<(Rc<Dentry>, Vec<u8>)> {
        let trimmed = trim_trailing_slashes(path);
        let (dir_part, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..i + 1], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        let dir = if dir_part.is_empty() {
            start.clone()
        } else {
            self.walk(start, dir_part, Follow::Yes)?
        };
        let dattr = dir.inode.attr()?;
        if !dattr.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if let Some(c) = self.creds {
            super::permission::permission(&dattr, c, super::permission::MAY_EXEC)?;
        }
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok((dir, name.to_vec()))
    }

    fn walk_inner(
        &self,
        start: &Rc<Dentry>,
        path: &[u8],
        follow: Follow,
        links: &mut u32,
    ) -> KResult<Rc<Dentry>> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut cur = if path[0] == b'/' { self.root.clone() } else { start.clone() };
        // The attributes of `cur`, asked once per component (each ask goes
        // down to the filesystem).
        let mut cur_attr = cur.inode.attr()?;
        let must_be_dir = path.ends_with(b"/");
        let mut comps = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).peekable();
        while let Some(comp) = comps.next() {
            let last = comps.peek().is_none();
            if !cur_attr.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if comp == b"." {
                continue;
            }
            if comp == b".." {
                cur = self.parent_of(&cur);
                cur_attr = cur.inode.attr()?;
                continue;
            }
            if let Some(c) = self.creds {
                super::permission::permission(&cur_attr, c, super::permission::MAY_EXEC)?;
            }
            let (next, a) = self.child_attr(&cur, comp)?;
            if a.is_symlink() && (!last || follow == Follow::Yes || must_be_dir) {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                if let Some(d) = next.inode.follow_link() {
                    cur = d?;
                } else {
                    let target = next.inode.readlink()?;
                    cur = self.walk_inner(&cur, &target, Follow::Yes, links)?;
                }
                cur_attr = cur.inode.attr()?;
            } else {
                cur = next;
                cur_attr = a;
            }
        }
        if must_be_dir && !cur_attr.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }
}

/// Whether a last component is `.` or `..` (or empty, for "/").
pub fn is_dot(name: &[u8]) -> bool {
    name.is_empty() || name == b"." || name == b".."
}

fn trim_trailing_slashes(p: &[u8]) -> &[u8] {
    let mut end = p.len();
    while end > 1 && p[end - 1] == b'/' {
        end -= 1;
    }
    &p[..end]
}
