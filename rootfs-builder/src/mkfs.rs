//! Turning a [`Manifest`] into an ext4 image with e2fsprogs.
//!
//! Two steps: `mke2fs -d` copies the staged tree (content, directories,
//! symlinks, hard links), then a single batched `debugfs -w -f` run applies
//! the true metadata that a staging directory cannot carry when we are not
//! root (owners, setgid, devices) and pins every timestamp so the image is
//! reproducible.

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use thiserror::Error;

use crate::size::human;
use crate::stage::{show, Manifest, Node, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};

pub const BLOCK_SIZE: u64 = 4096;
const INODE_SIZE: u64 = 256;
/// A base image is read-only in umk (writes go to the per-VM overlay), so a
/// small fixed journal is enough and keeps the size arithmetic predictable.
const JOURNAL_MIB: u64 = 4;
/// debugfs reads its script with fgets into a BUFSIZ (8192) buffer.
const MAX_SCRIPT_LINE: usize = 8000;

#[derive(Debug, Error)]
pub enum MkfsError {
    #[error("{0} not found; install it with `apt-get install e2fsprogs`")]
    ToolMissing(&'static str),
    #[error("cannot run {0}: {1}")]
    Spawn(&'static str, io::Error),
    #[error("--size {given} is too small for {content} of content; need at least {need}")]
    TooSmall { given: String, content: String, need: String },
    #[error("mke2fs failed: {0}")]
    Mke2fs(String),
    #[error("debugfs failed: {0}")]
    Debugfs(String),
    #[error("path '{0}' contains a newline or carriage return, which debugfs cannot express")]
    Unexpressible(String),
    #[error("path '{0}' is too long for debugfs's command line")]
    PathTooLong(String),
    #[error("device {path} has number {major}:{minor}; debugfs can only create devices with numbers up to 65535")]
    DeviceNumber { path: String, major: u32, minor: u32 },
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, io::Error),
}

/// Find an e2fsprogs tool on PATH or in the sbin directories that an
/// ordinary user's PATH often lacks.
pub fn find_tool(name: &'static str) -> Result<PathBuf, MkfsError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].iter().map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(MkfsError::ToolMissing(name))
}

/// Space the tree needs, split so the error message can say how much of it
/// is content.
#[derive(Clone, Copy, Debug)]
pub struct SizeEstimate {
    /// Data blocks of files, directories and long symlinks, in bytes.
    pub content: u64,
    /// Smallest image that will hold it.
    pub minimum: u64,
    /// Inodes to create.
    pub inodes: u64,
}

fn blocks(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK_SIZE)
}

pub fn estimate(manifest: &Manifest) -> SizeEstimate {
    let mut data_blocks = 0u64;
    for node in &manifest.nodes {
        data_blocks += match node.meta.file_type() {
            // One extent maps at most 128 MiB; a long file may need an extent
            // tree block.
            S_IFREG => blocks(node.size) + blocks(node.size) / 32768 / 340,
            S_IFDIR => blocks(node.size).max(1) + if node.size > BLOCK_SIZE { 1 } else { 0 },
            // Targets shorter than 60 bytes live inside the inode.
            S_IFLNK if node.size >= 60 => 1,
            _ => 0,
        };
        if !node.meta.xattrs.is_empty() {
            data_blocks += 1;
        }
    }
    // lost+found is 4 blocks; the reserved inodes use a few more.
    data_blocks += 16;
    let used_inodes = manifest.nodes.len() as u64 + 11;
    // Room for the guest to create files if the image is ever used writable,
    // without bloating a read-only base.
    let inodes = (used_inodes + used_inodes / 4 + 1024).div_ceil(64) * 64;
    let content = data_blocks * BLOCK_SIZE;
    let inode_tables = inodes * INODE_SIZE;
    let journal = JOURNAL_MIB << 20;
    // Bitmaps, group descriptors and the resize reserve come to ~1% of
    // a filesystem; 3% plus a MiB is a safe bound for small images too.
    let fixed = content + inode_tables + journal;
    let minimum = (fixed + fixed * 3 / 100 + (1 << 20)).div_ceil(1 << 20) << 20;
    SizeEstimate { content, minimum, inodes }
}

/// The size used when the user gives none: room to spare, whole MiB.
pub fn default_size(est: &SizeEstimate) -> u64 {
    let bytes = est.minimum + est.minimum * 3 / 10 + (16 << 20);
    bytes.div_ceil(1 << 20) << 20
}

pub fn check_size(est: &SizeEstimate, given: u64, given_text: &str) -> Result<(), MkfsError> {
    if given < est.minimum {
        return Err(too_small(est, given_text));
    }
    Ok(())
}

fn too_small(est: &SizeEstimate, given_text: &str) -> MkfsError {
    MkfsError::TooSmall {
        given: given_text.to_string(),
        content: human(est.content),
        need: human(est.minimum),
    }
}

/// How the filesystem is identified.
pub struct Identity {
    /// None: let mke2fs pick a random UUID (non-reproducible on purpose).
    pub uuid: Option<String>,
    pub hash_seed: String,
    pub label: Option<String>,
    /// Used as "now" by e2fsprogs, for every timestamp it invents.
    pub epoch: i64,
}

fn fake_time(epoch: i64) -> String {
    // E2FSPROGS_FAKE_TIME=0 means "not set" to e2fsprogs.
    epoch.max(1).to_string()
}

/// Create the filesystem at `image` (an existing empty file) from
/// `manifest.root`.
pub fn mke2fs(
    manifest: &Manifest,
    image: &Path,
    size: u64,
    size_text: &str,
    est: &SizeEstimate,
    id: &Identity,
) -> Result<(), MkfsError> {
    let tool = find_tool("mke2fs")?;
    let mut extended = format!("hash_seed={},root_owner=0:0,nodiscard", id.hash_seed);
    // Fully initialised metadata: nothing left for the kernel to zero lazily,
    // and nothing that depends on when the image is first mounted.
    extended.push_str(",lazy_itable_init=0,lazy_journal_init=0");
    let mut cmd = Command::new(&tool);
    cmd.args(["-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256"])
        .arg("-N")
        .arg(est.inodes.to_string())
        .arg("-J")
        .arg(format!("size={JOURNAL_MIB}"))
        .arg("-E")
        .arg(extended)
        .arg("-U")
        .arg(id.uuid.as_deref().unwrap_or("random"));
    if let Some(label) = &id.label {
        cmd.arg("-L").arg(label);
    }
    cmd.arg("-d").arg(&manifest.root).arg(image).arg(format!("{}k", size / 1024));
    // Sorted directory traversal and fixed timestamps for reproducibility;
    // no user mke2fs.conf surprises.
    cmd.env("LC_ALL", "C")
        .env("E2FSPROGS_FAKE_TIME", fake_time(id.epoch))
        .env_remove("MKE2FS_CONFIG");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| MkfsError::Spawn("mke2fs", e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let lower = stderr.to_lowercase();
        if lower.contains("could not allocate")
            || lower.contains("no space left")
            || lower.contains("too small")
            || lower.contains("no free space")
        {
            return Err(too_small(est, size_text));
        }
        return Err(MkfsError::Mke2fs(one_line(&stderr)));
    }
    Ok(())
}

/// The interesting part of a tool's chatter, on one line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("mke2fs 1.") && !l.starts_with("debugfs 1."))
        .collect();
    match lines.len() {
        0 => "no error message".into(),
        1..=3 => lines.join("; "),
        n => format!("{} (and {} more lines)", lines[..3].join("; "), n - 3),
    }
}

/// Quote one argument for debugfs's command parser (lib/ss/parse.c): inside
/// double quotes everything is literal except '"', which is doubled. The
/// script reader splits lines at '\n' and truncates them at '\r', so those
/// two bytes cannot be expressed at all.
pub fn quote(arg: &[u8]) -> Result<Vec<u8>, MkfsError> {
    if arg.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0) {
        return Err(MkfsError::Unexpressible(show(arg)));
    }
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'"');
    for &b in arg {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(out)
}

/// A debugfs script under construction.
#[derive(Default)]
pub struct Script {
    buf: Vec<u8>,
    cwd: Vec<u8>,
    lines: usize,
}

/// ("/a/b", "c") for "/a/b/c"; ("/", "c") for "/c".
fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"/", path),
    }
}

impl Script {
    fn line(&mut self, words: &[&[u8]], path_for_errors: &[u8]) -> Result<(), MkfsError> {
        let start = self.buf.len();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                self.buf.push(b' ');
            }
            // The command name and numbers are plain; quote everything else.
            if i == 0 || word.iter().all(|b| b.is_ascii_alphanumeric() || b"_@-".contains(b)) {
                self.buf.extend_from_slice(word);
            } else {
                let quoted = quote(word)?;
                self.buf.extend_from_slice(&quoted);
            }
        }
        if self.buf.len() - start > MAX_SCRIPT_LINE {
            return Err(MkfsError::PathTooLong(show(path_for_errors)));
        }
        self.buf.push(b'\n');
        self.lines += 1;
        Ok(())
    }

    /// Change to the parent of `path` and return the argument that names
    /// `path` from there. We go through `cd` because debugfs's mknod and rm
    /// mishandle paths with directories in them; "./name" keeps a name like
    /// "<12>" from being read as an inode number.
    fn enter_parent(&mut self, path: &[u8]) -> Result<Vec<u8>, MkfsError> {
        let (dir, name) = split_parent(path);
        if self.cwd != dir {
            self.line(&[b"cd", dir], dir)?;
            self.cwd = dir.to_vec();
        }
        let mut rel = b"./".to_vec();
        rel.extend_from_slice(name);
        Ok(rel)
    }

    fn set_fields(&mut self, target: &[u8], node: &Node, path: &[u8]) -> Result<(), MkfsError> {
        let m = &node.meta;
        let mode = format!("0{:o}", m.mode);
        let time = format!("@{}", m.mtime);
        let fields: [(&str, String); 8] = [
            ("mode", mode),
            ("uid", m.uid.to_string()),
            ("gid", m.gid.to_string()),
            ("mtime", time.clone()),
            // Archives carry only mtime; using it for the others makes the
            // image independent of when and where it was built.
            ("atime", time.clone()),
            ("ctime", time.clone()),
            ("crtime", time),
            ("links_count", node.paths.len().to_string()),
        ];
        for (name, value) in fields.iter() {
            // Directories' link counts are mke2fs's business (2 + subdirs);
            // other inodes get one link per name we gave them.
            if *name == "links_count" && (m.file_type() == S_IFDIR || !node.placeholder) {
                continue;
            }
            self.line(&[b"sif", target, name.as_bytes(), value.as_bytes()], path)?;
        }
        Ok(())
    }

    /// Emit everything needed to give `node` its true metadata.
    pub fn add_node(
        &mut self,
        node: &Node,
        xattr_dir: Option<&Path>,
        xattr_count: &mut usize,
    ) -> Result<(), MkfsError> {
        let primary = &node.paths[0];
        if node.placeholder {
            let (major, minor) = node.meta.rdev;
            let ty = node.meta.file_type();
            if (ty == S_IFCHR || ty == S_IFBLK) && (major > 65535 || minor > 65535) {
                return Err(MkfsError::DeviceNumber { path: show(primary), major, minor });
            }
            // Remove every staged name first so the placeholder inode is
            // freed, then create the real node and link the other names to it.
            for path in &node.paths {
                let rel = self.enter_parent(path)?;
                self.line(&[b"rm", &rel], path)?;
            }
            let rel = self.enter_parent(primary)?;
            let name = &rel[2..];
            let (maj, min) = (major.to_string(), minor.to_string());
            match ty {
                S_IFCHR => {
                    self.line(&[b"mknod", name, b"c", maj.as_bytes(), min.as_bytes()], primary)?
                }
                S_IFBLK => {
                    self.line(&[b"mknod", name, b"b", maj.as_bytes(), min.as_bytes()], primary)?
                }
                // debugfs cannot make sockets; `stage` never stages them.
                _ => self.line(&[b"mknod", name, b"p"], primary)?,
            }
            for path in &node.paths[1..] {
                let rel = self.enter_parent(path)?;
                self.line(&[b"ln", primary, &rel], path)?;
            }
        }
        let target: Vec<u8> =
            if primary.as_slice() == b"/" { b"/".to_vec() } else { self.enter_parent(primary)? };
        self.set_fields(&target, node, primary)?;
        if let Some(dir) = xattr_dir {
            for (name, value) in &node.meta.xattrs {
                // ea_set reads binary values from a file; command-line values
                // could not hold NULs (capabilities are full of them).
                let file = dir.join(format!("{}", *xattr_count));
                *xattr_count += 1;
                fs::write(&file, value).map_err(|e| MkfsError::Write(file.clone(), e))?;
                self.line(
                    &[b"ea_set", b"-f", file.as_os_str().as_bytes(), &target, name],
                    primary,
                )?;
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.lines
    }
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Build the fix-up script for a manifest. `xattr_dir` receives value files
/// for xattrs the staging copy could not carry (tarball sources).
pub fn fixup_script(manifest: &Manifest, xattr_dir: Option<&Path>) -> Result<Script, MkfsError> {
    let mut script = Script::default();
    let mut count = 0;
    for node in &manifest.nodes {
        script.add_node(node, xattr_dir, &mut count)?;
    }
    Ok(script)
}

/// Apply `script` to `image` in one debugfs run. debugfs exits 0 even when
/// commands fail, so any message on stderr beyond its banner is an error.
pub fn debugfs(
    image: &Path,
    script: &Script,
    script_path: &Path,
    epoch: i64,
) -> Result<(), MkfsError> {
    let tool = find_tool("debugfs")?;
    let mut file = fs::File::create(script_path)
        .map_err(|e| MkfsError::Write(script_path.to_path_buf(), e))?;
    file.write_all(script.bytes()).map_err(|e| MkfsError::Write(script_path.to_path_buf(), e))?;
    drop(file);
    let out = Command::new(&tool)
        .arg("-w")
        .arg("-f")
        .arg(script_path)
        .arg(image)
        .env("LC_ALL", "C")
        .env("E2FSPROGS_FAKE_TIME", fake_time(epoch))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| MkfsError::Spawn("debugfs", e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors = one_line(&stderr);
    if !out.status.success() || errors != "no error message" {
        return Err(MkfsError::Debugfs(errors));
    }
    Ok(())
}

/// `e2fsck -fn`: returns the problems found, if any.
pub fn fsck(image: &Path) -> Result<Option<String>, MkfsError> {
    let tool = find_tool("e2fsck")?;
    let out = Command::new(tool)
        .arg("-fn")
        .arg(image)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| MkfsError::Spawn("e2fsck", e))?;
    if out.status.success() {
        Ok(None)
    } else {
        Ok(Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(b"a b").unwrap(), b"\"a b\"");
        assert_eq!(quote(b"say \"hi\"").unwrap(), b"\"say \"\"hi\"\"\"");
        assert!(quote(b"a\nb").is_err());
        assert!(quote(b"a\rb").is_err());
    }

    #[test]
    fn parents() {
        assert_eq!(split_parent(b"/a/b/c"), (&b"/a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"/c"), (&b"/"[..], &b"c"[..]));
    }

    #[test]
    fn fields_are_unambiguous() {
        // Mode bits are given in octal with the type, times as @seconds so
        // debugfs never reads them as a YYYYMMDD date.
        let node = Node {
            paths: vec![b"/etc/shadow".to_vec()],
            meta: crate::stage::Meta {
                mode: S_IFREG | 0o640,
                uid: 0,
                gid: 42,
                mtime: 20230101,
                rdev: (0, 0),
                xattrs: vec![],
            },
            placeholder: false,
            size: 0,
        };
        let mut s = Script::default();
        s.add_node(&node, None, &mut 0).unwrap();
        let text = String::from_utf8(s.bytes().to_vec()).unwrap();
        assert!(text.contains("cd \"/etc\"\n"), "{text}");
        assert!(text.contains("sif \"./shadow\" mode 0100640\n"), "{text}");
        assert!(text.contains("sif \"./shadow\" mtime @20230101\n"), "{text}");
        assert!(!text.contains("links_count"));
    }
}
