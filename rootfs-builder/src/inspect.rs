//! `ls`, `cat` and `check`: reading an image through umk's own ext4 driver,
//! exactly as the guest will see it (no mount, no debugfs, no root).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;
use umk::kernel::errno::Errno;
use umk::kernel::fs::ext4::{Ext4, Ext4Error, Ino, ROOT_INO};
use umk::kernel::fs::InodeRef;

use crate::stage::{
    dev_major, dev_minor, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK,
};

/// Linux gives up after this many symlinks in one lookup (ELOOP).
const MAX_SYMLINKS: usize = 40;
/// Big enough that each read is a few large device reads.
const CAT_BUFFER: usize = 4 << 20;

#[derive(Debug, Error)]
pub enum InspectError {
    #[error("cannot open image {0}: {1}")]
    Open(PathBuf, io::Error),
    #[error("{0}: not an image umk can read: {1}")]
    Mount(PathBuf, Ext4Error),
    #[error("{0}: no such file or directory in the image")]
    NotFound(String),
    #[error("{0}: not a directory")]
    NotDir(String),
    #[error("{0}: is a directory")]
    IsDir(String),
    #[error("{0}: too many levels of symbolic links")]
    Loop(String),
    #[error("{path}: {source}")]
    Fs { path: String, source: Ext4Error },
    #[error("{path}: {errno}")]
    Vfs { path: String, errno: &'static str },
    #[error("cannot write output: {0}")]
    Write(io::Error),
    #[error("{0} problem(s) found in the image")]
    Problems(usize),
}

fn fs_err(path: &[u8]) -> impl FnOnce(Ext4Error) -> InspectError + '_ {
    move |source| InspectError::Fs { path: show(path), source }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

pub fn open(image: &Path) -> Result<Ext4, InspectError> {
    let file = File::open(image).map_err(|e| InspectError::Open(image.to_path_buf(), e))?;
    Ext4::open(Box::new(file)).map_err(|e| InspectError::Mount(image.to_path_buf(), e))
}

/// What `ls` shows of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub rdev: (u32, u32),
    pub mtime: i64,
}

/// A directory's (name, node) pairs.
pub type Listing<N> = Vec<(Vec<u8>, N)>;

/// A tree that `ls` and `cat` can walk: an image read directly through
/// umk's ext4 driver ([`Ext4`]), or any VFS inode tree such as an image
/// with its overlay on top ([`VfsTree`]). Errors carry `path`.
pub trait Tree {
    type Node: Clone;
    fn root(&self) -> Self::Node;
    fn stat(&self, node: &Self::Node, path: &[u8]) -> Result<Stat, InspectError>;
    fn lookup(
        &self,
        dir: &Self::Node,
        name: &[u8],
        path: &[u8],
    ) -> Result<Option<Self::Node>, InspectError>;
    fn readlink(&self, node: &Self::Node, path: &[u8]) -> Result<Vec<u8>, InspectError>;
    /// Every entry of a directory, "." and ".." included, sorted by name.
    fn list(&self, dir: &Self::Node, path: &[u8]) -> Result<Listing<Self::Node>, InspectError>;
    fn read(
        &self,
        node: &Self::Node,
        offset: u64,
        buf: &mut [u8],
        path: &[u8],
    ) -> Result<usize, InspectError>;
}

impl Tree for Ext4 {
    type Node = Ino;
    fn root(&self) -> Ino {
        ROOT_INO
    }
    fn stat(&self, node: &Ino, path: &[u8]) -> Result<Stat, InspectError> {
        let a = self.inode(*node).map_err(fs_err(path))?;
        Ok(Stat {
            mode: a.mode,
            nlink: a.nlink,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            rdev: (a.rdev_major, a.rdev_minor),
            mtime: a.mtime.0,
        })
    }
    fn lookup(&self, dir: &Ino, name: &[u8], path: &[u8]) -> Result<Option<Ino>, InspectError> {
        Ext4::lookup(self, *dir, name).map_err(fs_err(path))
    }
    fn readlink(&self, node: &Ino, path: &[u8]) -> Result<Vec<u8>, InspectError> {
        Ext4::readlink(self, *node).map_err(fs_err(path))
    }
    fn list(&self, dir: &Ino, path: &[u8]) -> Result<Vec<(Vec<u8>, Ino)>, InspectError> {
        Ok(entries(self, *dir, path)?.into_iter().map(|(name, ino, _)| (name, ino)).collect())
    }
    fn read(
        &self,
        node: &Ino,
        offset: u64,
        buf: &mut [u8],
        path: &[u8],
    ) -> Result<usize, InspectError> {
        Ext4::read(self, *node, offset, buf).map_err(fs_err(path))
    }
}

/// A VFS inode tree (the merged view of an image and its overlay).
pub struct VfsTree {
    root: InodeRef,
    /// Every directory looked into, kept alive for the tree's lifetime.
    /// The overlay answers ".." of a copied-up directory only while its
    /// parent's inode object is alive when that parent is still an image
    /// directory (the guest's dentries keep it alive), so we hold them as
    /// a path walk would.
    keep: RefCell<Vec<InodeRef>>,
}

impl VfsTree {
    pub fn new(root: InodeRef) -> VfsTree {
        VfsTree { root, keep: RefCell::new(Vec::new()) }
    }
}

fn vfs_err(path: &[u8]) -> impl FnOnce(Errno) -> InspectError + '_ {
    move |e| match e {
        Errno::ENOENT => InspectError::NotFound(show(path)),
        Errno::ENOTDIR => InspectError::NotDir(show(path)),
        Errno::EISDIR => InspectError::IsDir(show(path)),
        e => InspectError::Vfs { path: show(path), errno: e.name() },
    }
}

/// The fields of a VFS [`Attr`](umk::kernel::fs::Attr) that `ls` shows.
pub fn stat_of(a: &umk::kernel::fs::Attr) -> Stat {
    Stat {
        mode: a.mode,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        rdev: (dev_major(a.rdev), dev_minor(a.rdev)),
        mtime: a.mtime.0,
    }
}

impl Tree for VfsTree {
    type Node = InodeRef;
    fn root(&self) -> InodeRef {
        self.root.clone()
    }
    fn stat(&self, node: &InodeRef, path: &[u8]) -> Result<Stat, InspectError> {
        Ok(stat_of(&node.attr().map_err(vfs_err(path))?))
    }
    fn lookup(
        &self,
        dir: &InodeRef,
        name: &[u8],
        path: &[u8],
    ) -> Result<Option<InodeRef>, InspectError> {
        self.keep.borrow_mut().push(dir.clone());
        match dir.lookup(name) {
            Ok(n) => Ok(Some(n)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(vfs_err(path)(e)),
        }
    }
    fn readlink(&self, node: &InodeRef, path: &[u8]) -> Result<Vec<u8>, InspectError> {
        node.readlink().map_err(vfs_err(path))
    }
    fn list(&self, dir: &InodeRef, path: &[u8]) -> Result<Vec<(Vec<u8>, InodeRef)>, InspectError> {
        self.keep.borrow_mut().push(dir.clone());
        let mut names = Vec::new();
        dir.readdir(0, &mut |e| {
            names.push(e.name.to_vec());
            true
        })
        .map_err(vfs_err(path))?;
        names.sort();
        let mut list = Vec::with_capacity(names.len());
        for name in names {
            let node = dir.lookup(&name).map_err(vfs_err(&join(path, &name)))?;
            list.push((name, node));
        }
        Ok(list)
    }
    fn read(
        &self,
        node: &InodeRef,
        offset: u64,
        buf: &mut [u8],
        path: &[u8],
    ) -> Result<usize, InspectError> {
        node.read_at(offset, buf).map_err(vfs_err(path))
    }
}

/// Resolve `path` inside the image the way the guest kernel would: from the
/// image's root (relative paths too), ".." through the directory entries,
/// symlinks (absolute ones restart at the image root, never the host's).
/// The last component's symlink is followed only if `follow` is set.
/// Returns the inode and the parent directory it was found in.
pub fn resolve<T: Tree>(fs: &T, path: &[u8], follow: bool) -> Result<T::Node, InspectError> {
    let mut hops = 0usize;
    // Components still to walk, in reverse order so we can push a link's
    // target in front of what remains.
    let mut todo: Vec<Vec<u8>> = components(path).into_iter().rev().collect();
    let trailing_slash = path.ends_with(b"/");
    let mut cur = fs.root();
    while let Some(name) = todo.pop() {
        let attr = fs.stat(&cur, path)?;
        if attr.mode & S_IFMT != S_IFDIR {
            return Err(InspectError::NotDir(show(path)));
        }
        let Some(next) = fs.lookup(&cur, &name, path)? else {
            return Err(InspectError::NotFound(show(path)));
        };
        let next_attr = fs.stat(&next, path)?;
        let last = todo.is_empty();
        if next_attr.mode & S_IFMT == S_IFLNK && (!last || follow || trailing_slash) {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(InspectError::Loop(show(path)));
            }
            let target = fs.readlink(&next, path)?;
            if target.starts_with(b"/") {
                cur = fs.root();
            }
            todo.extend(components(&target).into_iter().rev());
            continue;
        }
        cur = next;
    }
    if trailing_slash && fs.stat(&cur, path)?.mode & S_IFMT != S_IFDIR {
        return Err(InspectError::NotDir(show(path)));
    }
    Ok(cur)
}

fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").map(<[u8]>::to_vec).collect()
}

/// "drwxr-xr-x", "-rwsr-xr-x", "drwxrwxrwt", "crw-r--r--".
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        S_IFREG => '-',
        _ => '?',
    };
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    // The execute slot doubles as the suid/sgid/sticky indicator:
    // lower case when the execute bit is also set.
    let special = |x: u32, s: u32, set: char| match (mode & x != 0, mode & s != 0) {
        (true, true) => set,
        (false, true) => set.to_ascii_uppercase(),
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't'),
    ]
    .iter()
    .collect()
}

/// "2024-05-01 13:37" (UTC), as `ls -l --time-style=long-iso` would.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (proleptic Gregorian), valid for any i64 day count we
    // can meet in an inode.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// One `ls -l` line's fields, before column alignment.
struct Row {
    mode: String,
    nlink: String,
    uid: String,
    gid: String,
    size: String,
    time: String,
    name: Vec<u8>,
}

fn row<T: Tree>(
    fs: &T,
    node: &T::Node,
    attr: &Stat,
    name: &[u8],
    path: &[u8],
) -> Result<Row, InspectError> {
    let mut shown = name.to_vec();
    if attr.mode & S_IFMT == S_IFLNK {
        shown.extend_from_slice(b" -> ");
        shown.extend_from_slice(&fs.readlink(node, path)?);
    }
    let size = match attr.mode & S_IFMT {
        S_IFCHR | S_IFBLK => format!("{}, {}", attr.rdev.0, attr.rdev.1),
        _ => attr.size.to_string(),
    };
    Ok(Row {
        mode: mode_string(attr.mode),
        nlink: attr.nlink.to_string(),
        uid: attr.uid.to_string(),
        gid: attr.gid.to_string(),
        size,
        time: format_time(attr.mtime),
        name: shown,
    })
}

fn print_rows(out: &mut dyn Write, rows: &[Row]) -> io::Result<()> {
    let w = |f: fn(&Row) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wn, wu, wg, ws) =
        (w(|r| r.nlink.len()), w(|r| r.uid.len()), w(|r| r.gid.len()), w(|r| r.size.len()));
    for r in rows {
        write!(
            out,
            "{} {:>wn$} {:<wu$} {:<wg$} {:>ws$} {} ",
            r.mode, r.nlink, r.uid, r.gid, r.size, r.time
        )?;
        out.write_all(&r.name)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Entries of a directory, sorted by name (byte order, as `LC_ALL=C ls`).
/// Each is (name, inode, DT_* type from the entry).
fn entries(fs: &Ext4, dir: Ino, path: &[u8]) -> Result<Vec<(Vec<u8>, Ino, u8)>, InspectError> {
    let mut list = Vec::new();
    fs.read_dir(dir, 0, &mut |e, _| {
        list.push((e.name.to_vec(), e.ino, e.file_type));
        true
    })
    .map_err(fs_err(path))?;
    list.sort();
    Ok(list)
}

/// `ls -la PATH` (and `-R`): a directory lists its entries; anything else
/// lists itself. A symlink named on the command line is shown, not followed,
/// unless written with a trailing '/'.
pub fn ls<T: Tree>(
    fs: &T,
    path: &[u8],
    recursive: bool,
    out: &mut dyn Write,
) -> Result<(), InspectError> {
    let node = resolve(fs, path, false)?;
    let attr = fs.stat(&node, path)?;
    if attr.mode & S_IFMT != S_IFDIR {
        let name = path.to_vec();
        let r = row(fs, &node, &attr, &name, path)?;
        return print_rows(out, &[r]).map_err(InspectError::Write);
    }
    let mut stack: Vec<(Vec<u8>, T::Node)> = vec![(path.to_vec(), node)];
    let mut first = true;
    while let Some((dir_path, dir)) = stack.pop() {
        let list = fs.list(&dir, &dir_path)?;
        let mut rows = Vec::with_capacity(list.len());
        let mut subdirs = Vec::new();
        for (name, child) in &list {
            let child_path = join(&dir_path, name);
            let child_attr = fs.stat(child, &child_path)?;
            if recursive && child_attr.mode & S_IFMT == S_IFDIR && name != b"." && name != b".." {
                subdirs.push((child_path.clone(), child.clone()));
            }
            rows.push(row(fs, child, &child_attr, name, &child_path)?);
        }
        if recursive {
            if !first {
                out.write_all(b"\n").map_err(InspectError::Write)?;
            }
            out.write_all(&dir_path)
                .and_then(|_| out.write_all(b":\n"))
                .map_err(InspectError::Write)?;
        }
        first = false;
        print_rows(out, &rows).map_err(InspectError::Write)?;
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Write the whole file at `path` (symlinks followed) to `out`.
pub fn cat<T: Tree>(fs: &T, path: &[u8], out: &mut dyn Write) -> Result<u64, InspectError> {
    let node = resolve(fs, path, true)?;
    let attr = fs.stat(&node, path)?;
    if attr.mode & S_IFMT == S_IFDIR {
        return Err(InspectError::IsDir(show(path)));
    }
    let mut buf = vec![0u8; CAT_BUFFER.min(attr.size.max(4096) as usize)];
    let mut offset = 0u64;
    loop {
        let n = fs.read(&node, offset, &mut buf, path)?;
        if n == 0 {
            break;
        }
        match out.write_all(&buf[..n]) {
            Ok(()) => {}
            // `umk-rootfs cat | head` is not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(offset),
            Err(e) => return Err(InspectError::Write(e)),
        }
        offset += n as u64;
    }
    Ok(offset)
}

/// What `check` looked at.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub inodes: usize,
    pub directories: usize,
    pub bytes: u64,
    pub problems: Vec<String>,
}

fn dt_of_mode(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFIFO => 1,
        S_IFCHR => 2,
        S_IFDIR => 4,
        S_IFBLK => 6,
        S_IFREG => 8,
        S_IFLNK => 10,
        S_IFSOCK => 12,
        _ => 0,
    }
}

/// Walk every directory and inode reachable from the root, reading every
/// file and symlink in full; collect problems (with paths) instead of
/// stopping at the first.
pub fn check(fs: &Ext4) -> CheckReport {
    let mut report = CheckReport::default();
    let mut seen: HashSet<Ino> = HashSet::new();
    // Names found per non-directory inode, to compare with its link count.
    let mut links: HashMap<Ino, (u32, u32, Vec<u8>)> = HashMap::new();
    let mut buf = vec![0u8; CAT_BUFFER];
    let mut stack: Vec<(Vec<u8>, Ino, Ino)> = vec![(b"/".to_vec(), ROOT_INO, ROOT_INO)];
    let problem = |report: &mut CheckReport, path: &[u8], what: String| {
        report.problems.push(format!("{}: {}", show(path), what))
    };
    while let Some((path, dir, parent)) = stack.pop() {
        if !seen.insert(dir) {
            problem(
                &mut report,
                &path,
                format!("directory inode {dir} is reachable twice (directory hard link or loop)"),
            );
            continue;
        }
        report.inodes += 1;
        report.directories += 1;
        if let Err(e) = fs.inode(dir).and_then(|_| fs.xattrs(dir)) {
            problem(&mut report, &path, e.to_string());
            continue;
        }
        let list = match entries(fs, dir, &path) {
            Ok(list) => list,
            Err(e) => {
                problem(&mut report, &path, e.to_string());
                continue;
            }
        };
        let mut subdirs = Vec::new();
        for (name, ino, entry_type) in list {
            let child_path = join(&path, &name);
            if name == b"." {
                if ino != dir {
                    problem(&mut report, &path, format!("'.' points to inode {ino}, not {dir}"));
                }
                continue;
            }
            if name == b".." {
                if ino != parent {
                    problem(
                        &mut report,
                        &path,
                        format!("'..' points to inode {ino}, not the parent {parent}"),
                    );
                }
                continue;
            }
            let attr = match fs.inode(ino) {
                Ok(a) => a,
                Err(e) => {
                    problem(&mut report, &child_path, e.to_string());
                    continue;
                }
            };
            if entry_type != 0 && entry_type != dt_of_mode(attr.mode) {
                problem(
                    &mut report,
                    &child_path,
                    format!(
                        "directory entry says type {entry_type} but the inode's mode is {:o}",
                        attr.mode
                    ),
                );
            }
            if attr.mode & S_IFMT == S_IFDIR {
                subdirs.push((child_path, ino, dir));
                continue;
            }
            let seen_before = links.contains_key(&ino);
            let rec = links.entry(ino).or_insert((attr.nlink, 0, child_path.clone()));
            rec.1 += 1;
            if seen_before {
                continue;
            }
            report.inodes += 1;
            if let Err(e) = fs.xattrs(ino) {
                problem(&mut report, &child_path, e.to_string());
            }
            match attr.mode & S_IFMT {
                S_IFREG => {
                    let mut offset = 0u64;
                    let mut failed = false;
                    loop {
                        match fs.read(ino, offset, &mut buf) {
                            Ok(0) => break,
                            Ok(n) => offset += n as u64,
                            Err(e) => {
                                problem(
                                    &mut report,
                                    &child_path,
                                    format!("read at offset {offset}: {e}"),
                                );
                                failed = true;
                                break;
                            }
                        }
                    }
                    if !failed && offset != attr.size {
                        problem(
                            &mut report,
                            &child_path,
                            format!("read {offset} bytes but the size is {}", attr.size),
                        );
                    }
                    report.bytes += offset;
                }
                S_IFLNK => match fs.readlink(ino) {
                    Ok(t) if t.len() as u64 != attr.size => problem(
                        &mut report,
                        &child_path,
                        format!(
                            "symlink target has {} bytes but the size is {}",
                            t.len(),
                            attr.size
                        ),
                    ),
                    Ok(t) => report.bytes += t.len() as u64,
                    Err(e) => problem(&mut report, &child_path, e.to_string()),
                },
                S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => {}
                other => problem(&mut report, &child_path, format!("unknown file type {other:o}")),
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    let mut counts: Vec<_> =
        links.into_iter().filter(|(_, (nlink, found, _))| nlink != found).collect();
    counts.sort_by(|a, b| a.1 .2.cmp(&b.1 .2));
    for (ino, (nlink, found, path)) in counts {
        problem(
            &mut report,
            &path,
            format!("inode {ino} has link count {nlink} but {found} name(s) in the tree"),
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o020666), "crw-rw-rw-");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o010600), "prw-------");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_000_000_000), "2001-09-09 01:46");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_time(-1), "1969-12-31 23:59");
    }
}
