//! Unix permission checks (fs/namei.c generic_permission, may_delete,
//! may_create; fs/attr.c setattr_prepare).
//!
//! The filesystem ids are the effective ones. Root (uid 0) passes every
//! read and write check and may search any directory; to execute a file it
//! still needs one execute bit, as on Linux.

use super::{Attr, Creds};
use crate::kernel::errno::{Errno, KResult};
use guest_abi::stat::{S_ISGID, S_ISUID, S_ISVTX, S_IXGRP};

pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

impl Creds {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// May `c` access an inode with attributes `a` for `want` (MAY_* bits)?
pub fn permission(a: &Attr, c: &Creds, want: u32) -> KResult<()> {
    if c.is_root() {
        if want & MAY_EXEC != 0 && !a.is_dir() && a.mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        return Ok(());
    }
    let bits = if a.uid == c.uid {
        (a.mode >> 6) & 7
    } else if c.in_group(a.gid) {
        (a.mode >> 3) & 7
    } else {
        a.mode & 7
    };
    if bits & want == want {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// Creating a name in `dir` needs write and search permission on it.
pub fn may_create(dir: &Attr, c: &Creds) -> KResult<()> {
    permission(dir, c, MAY_WRITE | MAY_EXEC)
}

/// Removing (or renaming away) `victim` from `dir`: write and search on
/// the directory, and in a sticky directory (/tmp) only the owner of the
/// file or of the directory may do it.
pub fn may_delete(dir: &Attr, victim: &Attr, c: &Creds) -> KResult<()> {
    permission(dir, c, MAY_WRITE | MAY_EXEC)?;
    if dir.mode & S_ISVTX != 0 && !c.is_root() && c.uid != victim.uid && c.uid != dir.uid {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// chmod and utimes with explicit times: only the owner or root.
pub fn owner_or_root(a: &Attr, c: &Creds) -> KResult<()> {
    if c.is_root() || c.uid == a.uid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// chown: only root changes the owner; the owner may change the group to
/// one of its own groups.
pub fn may_chown(a: &Attr, c: &Creds, uid: Option<u32>, gid: Option<u32>) -> KResult<()> {
    if c.is_root() {
        return Ok(());
    }
    if uid.is_some_and(|u| u != a.uid) {
        return Err(Errno::EPERM);
    }
    if let Some(g) = gid {
        if c.uid != a.uid || !c.in_group(g) {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use guest_abi::stat::*;

    fn attr(mode: u32, uid: u32, gid: u32) -> Attr {
        Attr { mode, uid, gid, ..Default::default() }
    }
    fn who(uid: u32, gid: u32) -> Creds {
        Creds { uid, gid, groups: vec![] }
    }

    #[test]
    fn shadow_is_unreadable_for_nobody() {
        let shadow = attr(S_IFREG | 0o640, 0, 42);
        assert_eq!(permission(&shadow, &who(65534, 65534), MAY_READ), Err(Errno::EACCES));
        assert_eq!(
            permission(&shadow, &Creds { uid: 1000, gid: 1000, groups: vec![42] }, MAY_READ),
            Ok(())
        );
        assert_eq!(permission(&shadow, &who(0, 0), MAY_READ | MAY_WRITE), Ok(()));
    }

    #[test]
    fn root_needs_an_exec_bit() {
        assert_eq!(
            permission(&attr(S_IFREG | 0o644, 0, 0), &who(0, 0), MAY_EXEC),
            Err(Errno::EACCES)
        );
        assert_eq!(permission(&attr(S_IFREG | 0o744, 5, 5), &who(0, 0), MAY_EXEC), Ok(()));
        assert_eq!(permission(&attr(S_IFDIR | 0o000, 5, 5), &who(0, 0), MAY_EXEC), Ok(()));
    }

    #[test]
    fn owner_bits_apply_even_when_others_allow_more() {
        // Linux checks only the first matching class.
        assert_eq!(
            permission(&attr(S_IFREG | 0o047, 7, 7), &who(7, 7), MAY_READ),
            Err(Errno::EACCES)
        );
    }

    #[test]
    fn sticky_dir_protects_others_files() {
        let tmp = attr(S_IFDIR | 0o1777, 0, 0);
        let theirs = attr(S_IFREG | 0o666, 1000, 1000);
        assert_eq!(may_delete(&tmp, &theirs, &who(1001, 1001)), Err(Errno::EPERM));
        assert_eq!(may_delete(&tmp, &theirs, &who(1000, 1000)), Ok(()));
        assert_eq!(may_delete(&tmp, &theirs, &who(0, 0)), Ok(()));
    }

    #[test]
    fn chown_rules() {
        let f = attr(S_IFREG | 0o644, 1000, 1000);
        assert_eq!(may_chown(&f, &who(1000, 1000), Some(0), None), Err(Errno::EPERM));
        assert_eq!(
            may_chown(&f, &Creds { uid: 1000, gid: 1000, groups: vec![50] }, None, Some(50)),
            Ok(())
        );
        assert_eq!(may_chown(&f, &who(1000, 1000), None, Some(51)), Err(Errno::EPERM));
    }
}

/// A write or truncation by a user without CAP_FSETID (root here) clears
/// the setuid bit, and setgid on a group-executable file, so a modified
/// program does not keep its privileges (file_remove_privs).
pub fn remove_privs(inode: &super::InodeRef, writer_is_root: bool) -> KResult<()> {
    if writer_is_root {
        return Ok(());
    }
    let a = inode.attr()?;
    let mut kill = a.mode & S_ISUID;
    if a.mode & S_ISGID != 0 && a.mode & S_IXGRP != 0 {
        kill |= S_ISGID;
    }
    if kill != 0 && a.is_reg() {
        inode.set_mode(a.mode & 0o7777 & !kill)?;
    }
    Ok(())
}
