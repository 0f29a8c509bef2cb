//! Overlay tests. The lower layer is a real ext4 image made at test time
//! with `mke2fs -d` (or a tmpfs tree where any lower will do); the state
//! seen through the overlay is dumped (every path, its attributes, data,
//! link target and xattrs) and compared across reopen, crash and
//! compaction.

use super::*;
use crate::kernel::fs::ext4::vfs::ImageFs;
use crate::kernel::fs::ext4::Ext4;
use crate::kernel::fs::tmpfs::TmpFs;
use std::collections::BTreeMap;
use std::process::Command;

const BASE: &[u8] = b"test-base-id";
const ROOT: &Creds = &Creds { uid: 0, gid: 0, groups: Vec::new() };

fn prng(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct Image {
    _dir: tempfile::TempDir,
    root: InodeRef,
    waker: Waker,
}

/// An ext4 image of a small tree: files, a directory with a subdirectory,
/// a hard link pair, a symlink, a fifo.
fn image() -> Image {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("tree");
    std::fs::create_dir_all(t.join("dir/sub")).unwrap();
    std::fs::write(t.join("a"), b"lower a\n").unwrap();
    std::fs::write(t.join("b"), b"lower b\n").unwrap();
    std::fs::write(t.join("big"), prng(7, 100_000)).unwrap();
    std::fs::write(t.join("dir/x"), b"x\n").unwrap();
    std::fs::write(t.join("dir/y"), b"y\n").unwrap();
    std::fs::write(t.join("dir/sub/z"), b"z\n").unwrap();
    std::fs::create_dir(t.join("empty")).unwrap();
    std::fs::write(t.join("hl1"), b"linked\n").unwrap();
    std::fs::hard_link(t.join("hl1"), t.join("dir/hl2")).unwrap();
    std::os::unix::fs::symlink("a", t.join("sl")).unwrap();
    let out = Command::new("mkfifo").arg(t.join("fifo")).output().unwrap();
    assert!(out.status.success());
    let img = dir.path().join("img");
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&t)
        .arg(&img)
        .arg("32M")
        .output()
        .expect("mke2fs (e2fsprogs) is needed");
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));
    let ext4 = Ext4::open(Box::new(std::fs::File::open(&img).unwrap())).unwrap();
    let waker = Waker::new();
    let fs = Rc::new(ImageFs {
        ext4,
        dev: makedev(254, 0),
        fifos: Default::default(),
        waker: waker.clone(),
    });
    Image { _dir: dir, root: ImageFs::root(&fs), waker }
}

fn open(img: &Image, store: &MemStore) -> Rc<Overlay> {
    Overlay::open(img.root.clone(), BASE, Box::new(store.clone()), &img.waker, makedev(0, 99))
        .unwrap()
}

fn walk(root: &InodeRef, path: &str) -> KResult<InodeRef> {
    let mut cur = root.clone();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        cur = cur.lookup(c.as_bytes())?;
    }
    Ok(cur)
}

fn parent_and_name<'a>(root: &InodeRef, path: &'a str) -> (InodeRef, &'a [u8]) {
    let (d, n) = path.rsplit_once('/').unwrap_or(("", path));
    (walk(root, d).unwrap(), n.as_bytes())
}

fn read(i: &InodeRef) -> Vec<u8> {
    let size = i.attr().unwrap().size as usize;
    let mut v = vec![0u8; size + 10];
    let mut got = 0;
    loop {
        let n = i.read_at(got as u64, &mut v[got..]).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    v.truncate(got);
    v
}

fn cat(root: &InodeRef, path: &str) -> Vec<u8> {
    read(&walk(root, path).unwrap())
}

fn write(root: &InodeRef, path: &str, data: &[u8]) {
    let i = match walk(root, path) {
        Ok(i) => i,
        Err(_) => {
            let (d, n) = parent_and_name(root, path);
            d.create(n, S_IFREG | 0o644, 0, None, ROOT).unwrap()
        }
    };
    i.truncate(0).unwrap();
    assert_eq!(i.write_at(0, data).unwrap(), data.len());
}

fn mkdir(root: &InodeRef, path: &str) -> InodeRef {
    let (d, n) = parent_and_name(root, path);
    d.create(n, S_IFDIR | 0o755, 0, None, ROOT).unwrap()
}

fn unlink(root: &InodeRef, path: &str, dir: bool) -> KResult<()> {
    let (d, n) = parent_and_name(root, path);
    d.unlink(n, dir)
}

fn rename(root: &InodeRef, from: &str, to: &str) -> KResult<()> {
    let (d1, n1) = parent_and_name(root, from);
    let (d2, n2) = parent_and_name(root, to);
    d1.rename(n1, &d2, n2)
}

/// Entries of a directory (without . and ..), in readdir order.
fn names(dir: &InodeRef) -> Vec<String> {
    let mut v = Vec::new();
    dir.readdir(0, &mut |e| {
        if e.name != b"." && e.name != b".." {
            v.push(String::from_utf8_lossy(e.name).into_owned());
        }
        true
    })
    .unwrap();
    v
}

fn sorted_names(dir: &InodeRef) -> Vec<String> {
    let mut v = names(dir);
    v.sort();
    v
}

/// Everything visible: path → attributes, data digest or target, xattrs.
fn dump(root: &InodeRef) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    dump_into(root, "", &mut out);
    out
}

fn dump_into(i: &InodeRef, path: &str, out: &mut BTreeMap<String, String>) {
    let a = i.attr().unwrap();
    let content = match a.file_type() {
        S_IFREG => {
            let d = read(i);
            format!("data={:08x}/{}", log::crc32c(&d), d.len())
        }
        S_IFLNK => format!("target={}", String::from_utf8_lossy(&i.readlink().unwrap())),
        _ => String::new(),
    };
    let line = format!(
        "ino={} mode={:o} nlink={} uid={} gid={} size={} rdev={} atime={:?} mtime={:?} ctime={:?} {} x={:?}",
        a.ino,
        a.mode,
        a.nlink,
        a.uid,
        a.gid,
        a.size,
        a.rdev,
        a.atime,
        a.mtime,
        a.ctime,
        content,
        i.xattrs().unwrap()
    );
    out.insert(if path.is_empty() { "/".into() } else { path.to_string() }, line);
    if a.is_dir() {
        let mut seen = BTreeSet::new();
        for n in names(i) {
            assert!(seen.insert(n.clone()), "{n} listed twice in {path}/");
            let c = i.lookup(n.as_bytes()).unwrap();
            dump_into(&c, &format!("{path}/{n}"), out);
        }
    }
}

fn assert_same(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) {
    for (k, v) in a {
        assert_eq!(Some(v), b.get(k), "at {k}");
    }
    for k in b.keys() {
        assert!(a.contains_key(k), "{k} appeared");
    }
}

/// A battery of operations of every kind.
fn do_ops(root: &InodeRef) {
    write(root, "a", b"upper a, longer than before\n");
    write(root, "new", b"brand new\n");
    mkdir(root, "nd");
    write(root, "nd/inner", b"inner\n");
    unlink(root, "b", false).unwrap();
    unlink(root, "dir/y", false).unwrap();
    rename(root, "dir/x", "nd/x_moved").unwrap();
    rename(root, "dir/sub", "sub_moved").unwrap();
    walk(root, "big").unwrap().write_at(50_000, b"PATCH").unwrap();
    walk(root, "new").unwrap().set_mode(0o600).unwrap();
    walk(root, "hl1").unwrap().set_owner(Some(1000), Some(100)).unwrap();
    walk(root, "sl").unwrap().set_times(Some((1, 2)), Some((3, 4))).unwrap();
    root.create(b"sym", S_IFLNK | 0o777, 0, Some(b"nd/inner"), ROOT).unwrap();
    root.link(b"new_link", &walk(root, "new").unwrap()).unwrap();
    root.create(b"pipe", S_IFIFO | 0o644, 0, None, ROOT).unwrap();
    root.create(b"null", S_IFCHR | 0o666, makedev(1, 3), None, ROOT).unwrap();
    let x = walk(root, "nd/inner").unwrap();
    x.as_any().downcast_ref::<OvInode>().unwrap().set_xattr(b"user.k", b"v").unwrap();
}

#[test]
fn copy_up_on_write_keeps_lower_data_around_the_written_extent() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    let lower_big = cat(&img.root, "big");
    let big = walk(&root, "big").unwrap();
    let ino_before = big.attr().unwrap().ino;
    big.write_at(10, b"hello").unwrap();
    let mut want = lower_big.clone();
    want[10..15].copy_from_slice(b"hello");
    assert_eq!(cat(&root, "big"), want);
    assert_eq!(big.attr().unwrap().ino, ino_before, "copy-up keeps the image's inode number");
    assert_eq!(cat(&img.root, "big"), lower_big, "the image is untouched");
    // Only the written bytes are upper data, not the 100 kB file.
    assert!(ov.stats().live_bytes < 4096, "{:?}", ov.stats());
    // Truncating below lower data then growing reads zeros, not lower.
    big.truncate(20).unwrap();
    big.truncate(40).unwrap();
    let mut want2 = want[..20].to_vec();
    want2.resize(40, 0);
    assert_eq!(cat(&root, "big"), want2);
    // Appends extend one extent.
    let f = root.create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    for i in 0..100u64 {
        f.write_at(i * 10, &[i as u8; 10]).unwrap();
    }
    let d = read(&f);
    assert_eq!(d.len(), 1000);
    assert!(d.chunks(10).enumerate().all(|(i, c)| c.iter().all(|&b| b == i as u8)));
}

#[test]
fn extents_merge_and_overlap_like_a_flat_file() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let f = ov.root().create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    let ino = f.attr().unwrap().ino;
    let mut flat = vec![0u8; 0];
    let mut put = |off: usize, data: &[u8]| {
        f.write_at(off as u64, data).unwrap();
        if flat.len() < off + data.len() {
            flat.resize(off + data.len(), 0);
        }
        flat[off..off + data.len()].copy_from_slice(data);
        assert_eq!(read(&f), flat, "after write at {off}");
    };
    let r = prng(3, 5000);
    put(100, &r[..50]);
    put(300, &r[50..100]);
    put(120, &r[100..400]); // spans and joins both
    put(0, &r[400..410]);
    put(10, &r[410..411]);
    put(2000, &r[411..900]);
    put(90, &r[900..3000]); // swallows everything after 90
    let keys = || match &ov.st.borrow().nodes[&ino].content {
        Content::Reg(d) => d.ext.keys().copied().collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    // Each write is an extent of its own record; those it covers are
    // trimmed or split, and the tail of the one at 2000 is left.
    assert_eq!(keys(), [0, 10, 90, 2190]);
    // A compaction writes extents that touch as one record.
    ov.compact(true).unwrap();
    assert_eq!(keys(), [0, 90]);
    assert_eq!(read(&f), flat);
}

#[test]
fn whiteout_hides_lower_file_and_a_new_file_can_take_its_name() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    let lower_ino = walk(&root, "a").unwrap().attr().unwrap().ino;
    unlink(&root, "a", false).unwrap();
    assert_eq!(walk(&root, "a").err(), Some(Errno::ENOENT));
    assert!(!names(&root).contains(&"a".to_string()));
    assert_eq!(unlink(&root, "a", false), Err(Errno::ENOENT));
    write(&root, "a", b"again");
    let a = walk(&root, "a").unwrap().attr().unwrap();
    assert_ne!(a.ino, lower_ino);
    assert!(a.ino >= ov.first_new);
    assert_eq!(cat(&root, "a"), b"again");
    // Whiteouts of a lower directory's entries make it empty for rmdir.
    assert_eq!(unlink(&root, "dir/sub", true), Err(Errno::ENOTEMPTY));
    unlink(&root, "dir/sub/z", false).unwrap();
    unlink(&root, "dir/sub", true).unwrap();
    assert_eq!(walk(&root, "dir/sub").err(), Some(Errno::ENOENT));
    // A directory made where the image had one shows none of its entries.
    let d = mkdir(&root, "dir/sub");
    assert!(names(&d).is_empty());
}

#[test]
fn create_over_an_existing_lower_name_is_eexist() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    assert_eq!(root.create(b"a", S_IFREG | 0o644, 0, None, ROOT).err(), Some(Errno::EEXIST));
    assert_eq!(root.create(b"dir", S_IFDIR | 0o755, 0, None, ROOT).err(), Some(Errno::EEXIST));
}

#[test]
fn readdir_merges_without_duplicates_and_resumes_from_any_cursor() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    write(&root, "dir/x", b"changed"); // copy-up, still one entry
    write(&root, "dir/new", b"n");
    unlink(&root, "dir/y", false).unwrap();
    let dir = walk(&root, "dir").unwrap();
    assert_eq!(sorted_names(&dir), ["hl2", "new", "sub", "x"]);
    // One entry per call, resuming at each cursor: the same list.
    let mut cursor = 0;
    let mut one_by_one = Vec::new();
    loop {
        let mut got = None;
        dir.readdir(cursor, &mut |e| {
            got = Some((String::from_utf8_lossy(e.name).into_owned(), e.next));
            false
        })
        .unwrap();
        match got {
            Some((n, next)) => {
                if n != "." && n != ".." {
                    one_by_one.push(n);
                }
                cursor = next;
            }
            None => break,
        }
    }
    assert_eq!(one_by_one, names(&dir));
    // Cursor stability: removing an entry already read does not skip others.
    let mut first = Vec::new();
    let mut cur = 0;
    dir.readdir(0, &mut |e| {
        first.push(String::from_utf8_lossy(e.name).into_owned());
        cur = e.next;
        first.len() < 4
    })
    .unwrap();
    unlink(&root, &format!("dir/{}", first[3]), first[3] == "sub").ok();
    let mut rest = Vec::new();
    dir.readdir(cur, &mut |e| {
        rest.push(String::from_utf8_lossy(e.name).into_owned());
        true
    })
    .unwrap();
    assert_eq!(first.len() - 2 + rest.len(), 4, "{first:?} {rest:?}");
    // The . and .. entries.
    let mut dots = Vec::new();
    dir.readdir(0, &mut |e| {
        dots.push((e.name.to_vec(), e.ino));
        dots.len() < 2
    })
    .unwrap();
    assert_eq!(dots[0], (b".".to_vec(), dir.attr().unwrap().ino));
    assert_eq!(dots[1], (b"..".to_vec(), root.attr().unwrap().ino));
}

#[test]
fn rename_of_upper_and_lower_files_and_directories() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    let root_nlink = root.attr().unwrap().nlink;
    // Lower file, to another directory.
    let ino_x = walk(&root, "dir/x").unwrap().attr().unwrap().ino;
    rename(&root, "dir/x", "x2").unwrap();
    assert_eq!(walk(&root, "dir/x").err(), Some(Errno::ENOENT));
    assert_eq!(cat(&root, "x2"), b"x\n");
    assert_eq!(walk(&root, "x2").unwrap().attr().unwrap().ino, ino_x);
    // Upper file.
    write(&root, "u", b"upper");
    rename(&root, "u", "dir/u").unwrap();
    assert_eq!(cat(&root, "dir/u"), b"upper");
    // Lower directory, with its image entries, to a new name.
    let ino_sub = walk(&root, "dir/sub").unwrap().attr().unwrap().ino;
    rename(&root, "dir/sub", "moved").unwrap();
    assert_eq!(walk(&root, "dir/sub").err(), Some(Errno::ENOENT));
    assert_eq!(cat(&root, "moved/z"), b"z\n");
    assert_eq!(walk(&root, "moved").unwrap().attr().unwrap().ino, ino_sub);
    assert_eq!(walk(&root, "moved/..").unwrap().attr().unwrap().ino, root.attr().unwrap().ino);
    assert_eq!(root.attr().unwrap().nlink, root_nlink + 1);
    // Upper directory into a lower one.
    mkdir(&root, "ud");
    write(&root, "ud/f", b"f");
    rename(&root, "ud", "dir/ud").unwrap();
    assert_eq!(cat(&root, "dir/ud/f"), b"f");
    assert_eq!(
        walk(&root, "dir/ud/..").unwrap().attr().unwrap().ino,
        walk(&root, "dir").unwrap().attr().unwrap().ino
    );
    // Rename over an existing file replaces it.
    rename(&root, "a", "b").unwrap();
    assert_eq!(cat(&root, "b"), b"lower a\n");
    assert_eq!(walk(&root, "a").err(), Some(Errno::ENOENT));
    // Rename over an empty lower directory.
    mkdir(&root, "ed");
    rename(&root, "ed", "empty").unwrap();
    let before = dump(&root);
    drop(root);
    ov.sync().unwrap();
    drop(ov);
    let ov = open(&img, &store);
    assert_same(&before, &dump(&ov.root()));
}

#[test]
fn rename_of_a_directory_into_itself_is_einval() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    assert_eq!(rename(&root, "dir", "dir/sub/inside"), Err(Errno::EINVAL));
    assert_eq!(rename(&root, "dir", "dir/inside"), Err(Errno::EINVAL));
    assert_eq!(rename(&root, "dir/sub", "dir/sub/z2"), Err(Errno::EINVAL));
    // Moving it up is fine.
    rename(&root, "dir/sub", "sub_up").unwrap();
    assert_eq!(cat(&root, "sub_up/z"), b"z\n");
}

#[test]
fn rename_of_a_file_over_a_directory_is_eisdir_and_over_a_nonempty_dir_enotempty() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    assert_eq!(rename(&root, "a", "dir"), Err(Errno::EISDIR));
    assert_eq!(rename(&root, "empty", "a"), Err(Errno::ENOTDIR));
    mkdir(&root, "d2");
    assert_eq!(rename(&root, "d2", "dir"), Err(Errno::ENOTEMPTY));
}

#[test]
fn exchange_swaps_names() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    let r = root.clone();
    root.exchange(b"a", &r, b"b").unwrap();
    assert_eq!(cat(&root, "a"), b"lower b\n");
    assert_eq!(cat(&root, "b"), b"lower a\n");
    let nlink = root.attr().unwrap().nlink;
    let dir = walk(&root, "dir").unwrap();
    root.exchange(b"empty", &dir, b"x").unwrap();
    assert_eq!(cat(&root, "empty"), b"x\n");
    assert!(walk(&root, "dir/x").unwrap().attr().unwrap().is_dir());
    assert_eq!(root.attr().unwrap().nlink, nlink - 1);
}

#[test]
fn hard_links_share_data_and_link_count() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    // The image's own pair.
    assert_eq!(walk(&root, "hl1").unwrap().attr().unwrap().nlink, 2);
    write(&root, "hl1", b"through hl1");
    assert_eq!(cat(&root, "dir/hl2"), b"through hl1");
    unlink(&root, "dir/hl2", false).unwrap();
    assert_eq!(walk(&root, "hl1").unwrap().attr().unwrap().nlink, 1);
    // A new link to a lower file.
    let a = walk(&root, "a").unwrap();
    root.link(b"a2", &a).unwrap();
    assert_eq!(a.attr().unwrap().nlink, 2);
    walk(&root, "a2").unwrap().write_at(0, b"L").unwrap();
    assert_eq!(cat(&root, "a"), b"Lower a\n");
    unlink(&root, "a", false).unwrap();
    assert_eq!(cat(&root, "a2"), b"Lower a\n");
    assert_eq!(walk(&root, "a2").unwrap().attr().unwrap().nlink, 1);
    assert_eq!(root.link(b"d", &walk(&root, "dir").unwrap()), Err(Errno::EPERM));
    let before = dump(&root);
    drop((a, root));
    ov.sync().unwrap();
    drop(ov);
    assert_same(&before, &dump(&open(&img, &store).root()));
}

#[test]
fn unlinked_file_stays_readable_and_writable_while_open() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    write(&root, "tmp", b"data");
    let f = walk(&root, "tmp").unwrap();
    let nodes = ov.stats().inodes;
    unlink(&root, "tmp", false).unwrap();
    assert_eq!(walk(&root, "tmp").err(), Some(Errno::ENOENT));
    assert_eq!(f.attr().unwrap().nlink, 0);
    f.write_at(4, b" more").unwrap();
    assert_eq!(read(&f), b"data more");
    // An image file too.
    let a = walk(&root, "a").unwrap();
    unlink(&root, "a", false).unwrap();
    assert_eq!(read(&a), b"lower a\n");
    assert_eq!(a.attr().unwrap().nlink, 0);
    ov.sync().unwrap();
    drop(f);
    drop(a);
    ov.sync().unwrap();
    assert_eq!(ov.stats().inodes, nodes - 1, "both unlinked inodes are forgotten once closed");
    // A crash with a file unlinked but open: gone after replay.
    write(&root, "tmp2", b"x");
    let g = walk(&root, "tmp2").unwrap();
    unlink(&root, "tmp2", false).unwrap();
    ov.sync().unwrap();
    let ov2 = open(&img, &MemStore::with_bytes(store.durable_bytes()));
    assert_eq!(walk(&ov2.root(), "tmp2").err(), Some(Errno::ENOENT));
    assert!(!ov2.st.borrow().nodes.contains_key(&g.attr().unwrap().ino));
}

#[test]
fn o_tmpfile_is_nameless_until_linked_and_gone_after_a_crash_if_not() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    let dir = walk(&root, "dir").unwrap();
    // One that gets a name survives a crash with its data.
    let t = dir.create_tmpfile(S_IFREG | 0o600, ROOT).unwrap();
    assert_eq!(t.attr().unwrap().nlink, 0);
    t.write_at(0, b"kept").unwrap();
    dir.link(b"named", &t).unwrap();
    assert_eq!(t.attr().unwrap().nlink, 1);
    let nodes = ov.stats().inodes;
    // One that never does is forgotten when dropped...
    let u = dir.create_tmpfile(S_IFREG | 0o600, ROOT).unwrap();
    u.write_at(0, b"scratch").unwrap();
    drop(u);
    ov.sync().unwrap();
    assert_eq!(ov.stats().inodes, nodes);
    // ...and one still open at a crash is gone after replay.
    let v = root.create_tmpfile(S_IFREG | 0o600, ROOT).unwrap();
    v.write_at(0, b"lost").unwrap();
    let v_ino = v.attr().unwrap().ino;
    ov.sync().unwrap();
    let ov2 = open(&img, &MemStore::with_bytes(store.durable_bytes()));
    assert_eq!(cat(&ov2.root(), "dir/named"), b"kept");
    assert!(!ov2.st.borrow().nodes.contains_key(&v_ino));
    assert_eq!(sorted_names(&walk(&ov2.root(), "dir").unwrap()), sorted_names(&dir));
    // Not in a file.
    assert_eq!(walk(&root, "a").unwrap().create_tmpfile(S_IFREG, ROOT).err(), Some(Errno::ENOTDIR));
}

#[test]
fn state_persists_across_reopen_including_inode_numbers_and_times() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    do_ops(&root);
    let before = dump(&root);
    let new_ino = walk(&root, "new").unwrap().attr().unwrap().ino;
    drop(root);
    ov.sync().unwrap();
    drop(ov);
    let ov = open(&img, &store);
    let root = ov.root();
    assert_same(&before, &dump(&root));
    // New inodes after a reboot do not reuse live numbers.
    let f = root.create(b"after", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    assert!(f.attr().unwrap().ino > new_ino);
}

#[test]
fn state_persists_in_a_file_store() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let before = {
        let ov = Overlay::open(
            img.root.clone(),
            BASE,
            Box::new(FileStore::open(&path).unwrap()),
            &img.waker,
            7,
        )
        .unwrap();
        do_ops(&ov.root());
        ov.sync().unwrap();
        dump(&ov.root())
    };
    let ov = Overlay::open(
        img.root.clone(),
        BASE,
        Box::new(FileStore::open(&path).unwrap()),
        &img.waker,
        7,
    )
    .unwrap();
    assert_same(&before, &dump(&ov.root()));
}

#[test]
fn unsynced_changes_may_be_lost_synced_ones_are_kept() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    write(&root, "kept", b"synced");
    ov.sync().unwrap();
    let synced = dump(&root);
    write(&root, "lost", b"not synced");
    let crashed = open(&img, &MemStore::with_bytes(store.durable_bytes()));
    assert_same(&synced, &dump(&crashed.root()));
}

/// Runs ops one at a time with a sync after each; returns the log after
/// each and the state after each.
fn logged_steps(
    img: &Image,
    ops: &[&dyn Fn(&InodeRef)],
) -> (Vec<usize>, Vec<BTreeMap<String, String>>, Vec<u8>) {
    let store = MemStore::new();
    let ov = open(img, &store);
    let root = ov.root();
    ov.sync().unwrap();
    let mut lens = vec![store.bytes().len()];
    let mut states = vec![dump(&root)];
    for op in ops {
        op(&root);
        ov.sync().unwrap();
        lens.push(store.bytes().len());
        states.push(dump(&root));
    }
    (lens, states, store.bytes())
}

#[test]
fn torn_tail_at_every_byte_replays_to_the_last_complete_record() {
    let img = image();
    // Each operation changes what is visible in one frame (a copy-up frame
    // before it changes nothing visible).
    let ops: Vec<&dyn Fn(&InodeRef)> = vec![
        &|r| drop(r.create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap()),
        &|r| {
            walk(r, "f").unwrap().write_at(0, b"first").unwrap();
        },
        &|r| rename(r, "dir/sub", "s2").unwrap(),
        &|r| {
            walk(r, "a").unwrap().write_at(3, b"second version of a").unwrap();
        },
        &|r| unlink(r, "s2/z", false).unwrap(),
        &|r| r.link(b"f2", &walk(r, "f").unwrap()).unwrap(),
        &|r| walk(r, "hl1").unwrap().set_mode(0o600).unwrap(),
    ];
    let (lens, states, bytes) = logged_steps(&img, &ops);
    // Every cut inside the last three operations' records.
    let start = lens[lens.len() - 4];
    for cut in start..=bytes.len() {
        let store = MemStore::with_bytes(bytes[..cut].to_vec());
        let ov = Overlay::open(
            img.root.clone(),
            BASE,
            Box::new(store.clone()),
            &img.waker,
            makedev(0, 99),
        )
        .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        // The state of the last operation whose records are all there; a
        // cut between an operation's copy-up frame and its main frame
        // shows the state before it (copy-up changes nothing visible).
        let k = lens.iter().rposition(|&l| l <= cut).unwrap();
        assert_same(&states[k], &dump(&ov.root()));
        // The torn tail is cut off; what is left parses to the end.
        let left = store.bytes().len();
        assert!(left <= cut && left >= lens[k], "cut {cut}: left {left}");
    }
}

#[test]
fn corrupted_crc_in_the_middle_stops_replay_there() {
    let img = image();
    // One frame per operation (the root's copy-up goes with the first).
    let ops: Vec<&dyn Fn(&InodeRef)> = vec![
        &|r| drop(r.create(b"one", S_IFREG | 0o644, 0, None, ROOT).unwrap()),
        &|r| drop(r.create(b"two", S_IFREG | 0o644, 0, None, ROOT).unwrap()),
        &|r| drop(r.create(b"three", S_IFREG | 0o644, 0, None, ROOT).unwrap()),
    ];
    let (lens, states, mut bytes) = logged_steps(&img, &ops);
    // Flip a byte in the middle of the second operation's frame.
    let mid = (lens[1] + lens[2]) / 2;
    bytes[mid] ^= 0x40;
    let store = MemStore::with_bytes(bytes);
    let ov =
        Overlay::open(img.root.clone(), BASE, Box::new(store.clone()), &img.waker, makedev(0, 99))
            .unwrap();
    let root = ov.root();
    assert!(walk(&root, "one").is_ok());
    assert_eq!(walk(&root, "two").err(), Some(Errno::ENOENT));
    assert_eq!(
        walk(&root, "three").err(),
        Some(Errno::ENOENT),
        "replay does not skip over the bad frame"
    );
    assert_same(&states[1], &dump(&root));
    assert_eq!(store.bytes().len(), lens[1], "the log is cut at the bad frame");
}

#[test]
fn wrong_base_id_is_refused_with_a_clear_error() {
    let img = image();
    let store = MemStore::new();
    drop(open(&img, &store));
    let e =
        Overlay::open(img.root.clone(), b"another image", Box::new(store.clone()), &img.waker, 1)
            .err()
            .unwrap();
    assert!(matches!(e, OverlayError::WrongBase { .. }));
    assert!(e.to_string().contains("different base image"), "{e}");
}

#[test]
fn garbage_log_is_a_corrupt_header_error() {
    let img = image();
    let e = Overlay::open(
        img.root.clone(),
        BASE,
        Box::new(MemStore::with_bytes(b"this is not an overlay log at all".to_vec())),
        &img.waker,
        1,
    )
    .err()
    .unwrap();
    assert!(matches!(e, OverlayError::CorruptHeader(_)), "{e}");
    assert!(e.to_string().contains("header"), "{e}");
}

#[test]
fn torn_header_from_a_crash_at_creation_starts_afresh() {
    let img = image();
    let h = log::encode_header(BASE);
    let store = MemStore::with_bytes(h[..h.len() - 3].to_vec());
    let ov = open(&img, &store);
    assert_eq!(cat(&ov.root(), "a"), b"lower a\n");
    assert_eq!(store.bytes(), h);
}

#[test]
fn second_file_store_on_the_same_path_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let first = FileStore::open(&path).unwrap();
    let e = FileStore::open(&path).err().unwrap();
    assert!(matches!(e, OverlayError::Locked(_)));
    assert!(e.to_string().contains("in use by another VM"), "{e}");
    drop(first);
    FileStore::open(&path).unwrap();
}

#[test]
fn compaction_keeps_the_log_bounded_when_a_file_is_rewritten() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let last = prng(999, 16 << 10);
    let before = {
        let ov = Overlay::open(
            img.root.clone(),
            BASE,
            Box::new(FileStore::open(&path).unwrap()),
            &img.waker,
            7,
        )
        .unwrap();
        let root = ov.root();
        for i in 0..1000u64 {
            let data = if i == 999 { last.clone() } else { prng(i, 16 << 10) };
            write(&root, "rewritten", &data);
            if i % 10 == 0 {
                ov.sync().unwrap();
            }
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len < 3 << 20, "log is {len} bytes after {i} rewrites");
        }
        ov.sync().unwrap();
        let s = ov.stats();
        assert!(s.compactions > 0, "{s:?}");
        assert!(s.bytes < 3 << 20, "{s:?}");
        assert!(s.live_bytes < 20 << 10, "{s:?}");
        dump(&root)
    };
    let ov = Overlay::open(
        img.root.clone(),
        BASE,
        Box::new(FileStore::open(&path).unwrap()),
        &img.waker,
        7,
    )
    .unwrap();
    assert_eq!(cat(&ov.root(), "rewritten"), last);
    assert_same(&before, &dump(&ov.root()));
    assert!(!dir.path().join("vm.overlay.compact-tmp").exists());
}

#[test]
fn forced_compaction_preserves_every_kind_of_state() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    do_ops(&root);
    // An open unlinked file survives compaction while open.
    write(&root, "open_unlinked", b"still here");
    let f = walk(&root, "open_unlinked").unwrap();
    unlink(&root, "open_unlinked", false).unwrap();
    let before = dump(&root);
    let log_before = ov.stats().bytes;
    ov.compact(true).unwrap();
    assert!(ov.stats().bytes <= log_before);
    f.write_at(0, b"STILL").unwrap();
    assert_eq!(read(&f), b"STILL here");
    ov.sync().unwrap();
    let ov2 = open(&img, &MemStore::with_bytes(store.bytes()));
    assert_same(&before, &dump(&ov2.root()));
}

#[test]
fn xattrs_copy_up_set_remove_and_persist() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    let a = walk(&root, "a").unwrap();
    let o = a.as_any().downcast_ref::<OvInode>().unwrap();
    o.set_xattr(b"user.one", b"1").unwrap();
    o.set_xattr(b"user.two", b"2").unwrap();
    o.remove_xattr(b"user.one").unwrap();
    assert_eq!(o.remove_xattr(b"user.nothing"), Err(Errno::ENODATA));
    assert_eq!(a.xattrs().unwrap(), vec![(b"user.two".to_vec(), b"2".to_vec())]);
    drop(a);
    ov.sync().unwrap();
    let ov2 = open(&img, &MemStore::with_bytes(store.bytes()));
    assert_eq!(
        walk(&ov2.root(), "a").unwrap().xattrs().unwrap(),
        vec![(b"user.two".to_vec(), b"2".to_vec())]
    );
}

#[test]
fn attribute_changes_on_lower_inodes_persist() {
    let img = image();
    let store = MemStore::new();
    let ov = open(&img, &store);
    let root = ov.root();
    let d = walk(&root, "dir").unwrap();
    d.set_mode(0o700).unwrap();
    d.set_owner(Some(5), None).unwrap();
    d.set_times(Some((10, 0)), Some((20, 5))).unwrap();
    let a = d.attr().unwrap();
    assert_eq!(a.mode, S_IFDIR | 0o700);
    assert_eq!((a.uid, a.mtime, a.atime), (5, (20, 5), (10, 0)));
    // The directory's image entries still show.
    assert_eq!(sorted_names(&d), ["hl2", "sub", "x", "y"]);
    ov.sync().unwrap();
    let ov2 = open(&img, &MemStore::with_bytes(store.bytes()));
    let a2 = walk(&ov2.root(), "dir").unwrap().attr().unwrap();
    assert_eq!(
        (a2.mode, a2.uid, a2.mtime, a2.atime, a2.ino),
        (a.mode, a.uid, a.mtime, a.atime, a.ino)
    );
}

#[test]
fn directory_link_counts_and_times_follow_mkdir_rmdir() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    let n = root.attr().unwrap().nlink;
    let t0 = root.attr().unwrap().mtime;
    mkdir(&root, "d1");
    assert_eq!(root.attr().unwrap().nlink, n + 1);
    assert!(root.attr().unwrap().mtime > t0);
    assert_eq!(walk(&root, "d1").unwrap().attr().unwrap().nlink, 2);
    unlink(&root, "d1", true).unwrap();
    unlink(&root, "empty", true).unwrap();
    assert_eq!(root.attr().unwrap().nlink, n - 1);
    assert_eq!(unlink(&root, "a", true), Err(Errno::ENOTDIR));
    assert_eq!(unlink(&root, "dir", false), Err(Errno::EISDIR));
}

#[test]
fn symlinks_fifos_and_device_nodes() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    assert_eq!(walk(&root, "sl").unwrap().readlink().unwrap(), b"a");
    let s = root.create(b"s", S_IFLNK | 0o777, 0, Some(b"dir/x"), ROOT).unwrap();
    assert_eq!(s.readlink().unwrap(), b"dir/x");
    assert_eq!(s.attr().unwrap().size, 5);
    let f = root.create(b"p", S_IFIFO | 0o644, 0, None, ROOT).unwrap();
    assert!(matches!(f.open_special(guest_abi::fcntl::O_RDWR), Some(Ok(_))));
    assert!(matches!(
        walk(&root, "fifo").unwrap().open_special(guest_abi::fcntl::O_RDWR),
        Some(Ok(_))
    ));
    let d = root.create(b"null", S_IFCHR | 0o666, makedev(1, 3), None, ROOT).unwrap();
    assert_eq!(d.attr().unwrap().rdev, makedev(1, 3));
    assert!(matches!(d.open_special(guest_abi::fcntl::O_RDWR), Some(Ok(_))));
    assert!(walk(&root, "a").unwrap().open_special(0).is_none());
    assert_eq!(walk(&root, "dir").unwrap().write_at(0, b"x"), Err(Errno::EISDIR));
}

#[test]
fn statfs_reports_believable_figures() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    let (magic, bsize, blocks, free, files, ffree) = root.statfs();
    assert_eq!(magic, OVERLAYFS_MAGIC);
    assert!(bsize >= 1024);
    assert!(free <= blocks && blocks > 0);
    assert!(ffree <= files && files > 0);
    write(&root, "big_new", &vec![1u8; 1 << 20]);
    let (_, _, _, free2, _, ffree2) = root.statfs();
    assert!(free2 < free);
    assert!(ffree2 < ffree);
}

#[test]
fn works_over_a_tmpfs_lower() {
    let waker = Waker::new();
    let lower = TmpFs::new_root(makedev(0, 5), &waker, 0o755, 1 << 20);
    lower.create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap().write_at(0, b"tmp lower").unwrap();
    let lower: InodeRef = lower;
    let store = MemStore::new();
    let ov = Overlay::open(lower.clone(), BASE, Box::new(store.clone()), &waker, 3).unwrap();
    let root = ov.root();
    write(&root, "g", b"upper");
    rename(&root, "f", "f2").unwrap();
    assert_eq!(cat(&root, "f2"), b"tmp lower");
    assert_eq!(sorted_names(&root), ["f2", "g"]);
    assert_eq!(walk(&lower, "f").map(|_| ()), Ok(()), "lower is untouched");
    ov.sync().unwrap();
    let ov2 = Overlay::open(lower, BASE, Box::new(MemStore::with_bytes(store.bytes())), &waker, 3)
        .unwrap();
    assert_same(&dump(&root), &dump(&ov2.root()));
}

#[test]
fn link_across_filesystems_is_exdev() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    assert_eq!(root.link(b"x", &walk(&img.root, "a").unwrap()), Err(Errno::EXDEV));
    assert_eq!(root.rename(b"a", &img.root, b"x"), Err(Errno::EXDEV));
}

#[test]
fn lookups_alone_do_not_accumulate_dead_inode_objects() {
    let img = image();
    let ov = open(&img, &MemStore::new());
    let root = ov.root();
    for _ in 0..10_000 {
        walk(&root, "dir/sub/z").unwrap().attr().unwrap();
    }
    assert!(ov.handles.borrow().len() < 10, "{}", ov.handles.borrow().len());
    assert!(ov.dropped.borrow().len() <= 4097);
    assert_eq!(ov.stats().inodes, 0, "lookups copy nothing up");
}

// ---- upper data read back from the log ----

fn open_file_store(img: &Image, path: &std::path::Path) -> Rc<Overlay> {
    Overlay::open(img.root.clone(), BASE, Box::new(FileStore::open(path).unwrap()), &img.waker, 7)
        .unwrap()
}

#[test]
fn writing_many_mib_to_a_file_store_holds_no_file_data_in_memory() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let mib = 24;
    let ov = open_file_store(&img, &path);
    let f = ov.root().create(b"huge", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    // The most memory may hold: the pending records, the last one large.
    let bound = (PENDING_MAX + log::WRITE_CHUNK + 64) as u64;
    for i in 0..mib * 16 {
        f.write_at(i * (64 << 10), &prng(i, 64 << 10)).unwrap();
        let s = ov.stats();
        assert!(s.mem_bytes <= bound, "after {} KiB: {s:?}", (i + 1) * 64);
    }
    assert!(ov.stats().bytes > mib << 20);
    let check = |f: &InodeRef| {
        let got = read(f);
        assert_eq!(got.len() as u64, mib << 20);
        for (i, c) in got.chunks(64 << 10).enumerate() {
            assert!(c == prng(i as u64, 64 << 10), "chunk {i}");
        }
    };
    check(&f);
    ov.sync().unwrap();
    assert_eq!(ov.stats().mem_bytes, 0, "{:?}", ov.stats());
    drop(f);
    drop(ov);
    // Replay builds the extents from where the records are, not by
    // loading the data.
    let ov = open_file_store(&img, &path);
    assert_eq!(ov.stats().mem_bytes, 0, "{:?}", ov.stats());
    check(&walk(&ov.root(), "huge").unwrap());
}

#[test]
fn data_still_in_the_pending_buffer_reads_back() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let ov = open_file_store(&img, &path);
    let f = ov.root().create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    // 4 KiB writes: the first 256 KiB or so reach the file, the rest stay
    // pending, and one read spans both.
    let data = prng(5, 300 << 10);
    for (i, c) in data.chunks(4096).enumerate() {
        f.write_at((i * 4096) as u64, c).unwrap();
    }
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert!(on_disk > 0 && on_disk < ov.stats().bytes, "some records are pending");
    assert_eq!(read(&f), data);
    // An overwrite of flushed data that is itself pending.
    f.write_at(1000, b"pending over flushed").unwrap();
    let mut want = data.clone();
    want[1000..1020].copy_from_slice(b"pending over flushed");
    assert_eq!(read(&f), want);
    ov.sync().unwrap();
    assert_eq!(read(&f), want);
}

#[test]
fn reads_after_compaction_come_from_the_new_log() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let ov = open_file_store(&img, &path);
    let root = ov.root();
    let f = root.create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    let mut want = prng(1, 3 << 20);
    f.write_at(0, &want).unwrap();
    // Rewrite the middle many times over: most of the log is dead.
    for i in 0..8u64 {
        let d = prng(100 + i, 1 << 20);
        f.write_at(1 << 20, &d).unwrap();
        want[1 << 20..2 << 20].copy_from_slice(&d);
    }
    // Copied-up file: lower bytes around an upper extent.
    let big = walk(&root, "big").unwrap();
    big.write_at(50_000, b"upper").unwrap();
    let big_want = read(&big);
    ov.flush().unwrap();
    let (before, done) = (std::fs::metadata(&path).unwrap().len(), ov.stats().compactions);
    ov.compact(true).unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < before, "log {before} -> {after} bytes");
    assert_eq!(ov.stats().compactions, done + 1);
    assert_eq!((ov.stats().bytes, ov.stats().live_bytes), (after, after));
    assert_eq!(read(&f), want);
    assert_eq!(read(&big), big_want);
    // Writes after the compaction land in the new log, beside the old data.
    f.write_at(10, b"after").unwrap();
    want[10..15].copy_from_slice(b"after");
    assert_eq!(read(&f), want);
    ov.sync().unwrap();
    drop((f, big, root, ov));
    let ov = open_file_store(&img, &path);
    assert_eq!(cat(&ov.root(), "f"), want);
    assert_eq!(cat(&ov.root(), "big"), big_want);
}

#[test]
fn overlapping_writes_and_truncates_read_like_a_flat_file_before_and_after_reopen() {
    let img = image();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vm.overlay");
    let ov = open_file_store(&img, &path);
    let f = ov.root().create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    let mut flat: Vec<u8> = Vec::new();
    let rnd = prng(42, 4000);
    for i in 0..500usize {
        let r = |k: usize| u64::from_le_bytes(rnd[k * 8 % 3992..][..8].try_into().unwrap());
        let (a, b) = (r(i * 2), r(i * 2 + 1));
        if i % 50 == 49 {
            let len = (a % 300_000) as usize;
            f.truncate(len as u64).unwrap();
            flat.resize(len, 0);
        } else {
            let off = (a % 300_000) as usize;
            let data = prng(b, (b % 20_000) as usize + 1);
            f.write_at(off as u64, &data).unwrap();
            if flat.len() < off + data.len() {
                flat.resize(off + data.len(), 0);
            }
            flat[off..off + data.len()].copy_from_slice(&data);
        }
        if i % 97 == 0 {
            assert_eq!(read(&f), flat, "after step {i}");
        }
    }
    assert_eq!(read(&f), flat);
    ov.sync().unwrap();
    drop((f, ov));
    let ov = open_file_store(&img, &path);
    assert_eq!(cat(&ov.root(), "f"), flat);
    ov.compact(true).unwrap();
    assert_eq!(cat(&ov.root(), "f"), flat);
}

/// A MemStore whose appends (and new logs) fail while `fail` is set.
struct FlakyStore {
    mem: MemStore,
    fail: Rc<std::cell::Cell<bool>>,
}

impl FlakyStore {
    fn check(&self) -> std::io::Result<()> {
        if self.fail.get() {
            return Err(std::io::Error::from_raw_os_error(guest_abi::errno::ENOSPC));
        }
        Ok(())
    }
}

impl LogStore for FlakyStore {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.mem.append(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.mem.sync()
    }
    fn size(&mut self) -> std::io::Result<u64> {
        self.mem.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.mem.read_at(offset, buf)
    }
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.mem.truncate_to(len)
    }
    fn replace_begin(&mut self) -> std::io::Result<()> {
        self.mem.replace_begin()
    }
    fn replace_append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.mem.replace_append(bytes)
    }
    fn replace_commit(&mut self) -> std::io::Result<()> {
        self.check()?;
        self.mem.replace_commit()
    }
    fn replace_abort(&mut self) {
        self.mem.replace_abort()
    }
    fn bytes_in_memory(&self) -> u64 {
        self.mem.bytes_in_memory()
    }
}

#[test]
fn data_whose_append_failed_stays_readable_and_is_logged_on_retry() {
    let img = image();
    let mem = MemStore::new();
    let fail = Rc::new(std::cell::Cell::new(false));
    let store = FlakyStore { mem: mem.clone(), fail: fail.clone() };
    let ov = Overlay::open(img.root.clone(), BASE, Box::new(store), &img.waker, 1).unwrap();
    let f = ov.root().create(b"f", S_IFREG | 0o644, 0, None, ROOT).unwrap();
    let data = prng(9, 100_000);
    f.write_at(0, &data).unwrap();
    fail.set(true);
    assert_eq!(ov.sync(), Err(Errno::ENOSPC));
    assert_eq!(read(&f), data, "pending data reads back after a failed append");
    // A compaction that cannot write its new log changes nothing.
    assert_eq!(ov.compact(true), Err(Errno::ENOSPC));
    assert_eq!(read(&f), data);
    fail.set(false);
    ov.sync().unwrap();
    ov.compact(true).unwrap();
    assert_eq!(read(&f), data);
    let ov2 = open(&img, &MemStore::with_bytes(mem.bytes()));
    assert_eq!(cat(&ov2.root(), "f"), data);
}
