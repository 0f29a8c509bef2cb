//! `umk-rootfs build`: source → staged tree → mke2fs → debugfs → check →
//! atomic rename.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use thiserror::Error;

use crate::mkfs::{self, Identity, MkfsError, BLOCK_SIZE};
use crate::size::{human, parse_size, SizeError};
use crate::stage::{self, Manifest, StageError, Stager};
use crate::tarball::{self, Compression, TarError};

/// Inputs smaller than this build in a blink; no progress bar for them.
const PROGRESS_THRESHOLD: u64 = 64 << 20;

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("source '{0}' does not exist")]
    SourceMissing(PathBuf),
    #[error("cannot read source '{0}': {1}")]
    SourceUnreadable(PathBuf, io::Error),
    #[error("source '{0}' is neither a directory nor a tarball")]
    SourceKind(PathBuf),
    #[error("'{0}' already exists; pass --force to overwrite it")]
    OutputExists(PathBuf),
    #[error("'{0}' is a directory; give a file name for the image")]
    OutputIsDir(PathBuf),
    #[error("cannot create the image in '{0}': {1}")]
    OutputDir(PathBuf, io::Error),
    #[error("the image '{0}' would be inside the source directory '{1}'")]
    OutputInsideSource(PathBuf, PathBuf),
    #[error("invalid --uuid '{0}': expected 'random' or a UUID like 01234567-89ab-cdef-0123-456789abcdef")]
    BadUuid(String),
    #[error("invalid SOURCE_DATE_EPOCH '{0}': expected seconds since 1970")]
    BadEpoch(String),
    #[error("the built image fails e2fsck (this is a bug in umk-rootfs): {0}")]
    Fsck(String),
    #[error("cannot move the image into place at '{0}': {1}")]
    Rename(PathBuf, io::Error),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error(transparent)]
    Tar(#[from] TarError),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Mkfs(#[from] MkfsError),
}

#[derive(Clone, Debug, Default)]
pub enum UuidChoice {
    /// Derived from the tree, so rebuilding gives the same image.
    #[default]
    Derived,
    Random,
    Fixed(String),
}

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub from: PathBuf,
    pub output: PathBuf,
    /// As the user wrote it ("64M"); None = automatic.
    pub size: Option<String>,
    pub force: bool,
    pub uuid: UuidChoice,
    pub label: Option<String>,
    /// Allow a progress bar (it still needs a terminal and a large input).
    pub progress: bool,
}

#[derive(Debug)]
pub struct BuildReport {
    pub image: PathBuf,
    pub size: u64,
    pub content: u64,
    pub inodes: usize,
    /// None for a directory source.
    pub compression: Option<Compression>,
}

/// Temporary files next to the output; removed however we leave `build`.
pub(crate) struct Scratch {
    pub(crate) image: PathBuf,
    pub(crate) work: PathBuf,
}

impl Scratch {
    pub(crate) fn create(output: &Path) -> Result<Scratch, BuildError> {
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        for attempt in 0..100u64 {
            let tag = format!(
                "{:06x}",
                (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(attempt) >> 40) & 0xff_ffff
            );
            let image = dir.join(format!("{name}.tmp-{tag}"));
            match fs::OpenOptions::new().write(true).create_new(true).open(&image) {
                Ok(_) => {
                    let work = dir.join(format!("{name}.tmp-{tag}.d"));
                    let scratch = Scratch { image, work };
                    fs::create_dir(&scratch.work)
                        .map_err(|e| BuildError::OutputDir(dir.clone(), e))?;
                    return Ok(scratch);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(BuildError::OutputDir(dir, e)),
            }
        }
        Err(BuildError::OutputDir(
            dir,
            io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
        ))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // After a successful rename the image is gone from here already.
        let _ = fs::remove_file(&self.image);
        let _ = fs::remove_dir_all(&self.work);
    }
}

/// FNV-1a, to derive a stable UUID and hash seed from the tree.
fn fnv(seed: u64, bytes: &[u8], mut h: u64) -> u64 {
    if h == 0 {
        h = 0xcbf2_9ce4_8422_2325 ^ seed;
    }
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

pub(crate) fn uuid_from(seed: u64, manifest: &Manifest) -> String {
    let (mut a, mut b) = (0u64, 0u64);
    for node in &manifest.nodes {
        for p in &node.paths {
            a = fnv(seed, p, a);
            b = fnv(seed.rotate_left(17) ^ 0x5555, p, b);
        }
        let m = &node.meta;
        let fixed = format!(
            "{} {} {} {} {} {}",
            m.mode,
            m.uid,
            m.gid,
            m.mtime,
            node.size,
            m.rdev.0 as u64 * 65536 + m.rdev.1 as u64
        );
        a = fnv(seed, fixed.as_bytes(), a);
        b = fnv(seed.rotate_left(17) ^ 0x5555, fixed.as_bytes(), b);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    // Mark it as a version 4 (random-style) UUID, RFC 4122 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn valid_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(crate) fn source_date_epoch() -> Result<Option<i64>, BuildError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => {
            text.trim().parse().map(Some).map_err(|_| BuildError::BadEpoch(text))
        }
        _ => Ok(None),
    }
}

fn progress_bar(show: bool, total: Option<u64>) -> Option<ProgressBar> {
    if !show {
        return None;
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg:20} [{bar:30}] {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn set_phase(bar: &Option<ProgressBar>, msg: &'static str) {
    if let Some(bar) = bar {
        bar.set_message(msg);
    }
}

pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    // Cheap checks first, so a typo costs nothing.
    let src_md = match fs::metadata(&opts.from) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BuildError::SourceMissing(opts.from.clone()))
        }
        Err(e) => return Err(BuildError::SourceUnreadable(opts.from.clone(), e)),
    };
    if !src_md.is_dir() && !src_md.is_file() {
        return Err(BuildError::SourceKind(opts.from.clone()));
    }
    match fs::symlink_metadata(&opts.output) {
        Ok(md) if md.is_dir() => return Err(BuildError::OutputIsDir(opts.output.clone())),
        Ok(_) if !opts.force => return Err(BuildError::OutputExists(opts.output.clone())),
        _ => {}
    }
    let size_request = opts.size.as_deref().map(parse_size).transpose()?;
    let uuid = match &opts.uuid {
        UuidChoice::Fixed(u) if !valid_uuid(u) => return Err(BuildError::BadUuid(u.clone())),
        other => other.clone(),
    };
    mkfs::find_tool("mke2fs")?;
    mkfs::find_tool("debugfs")?;
    let epoch_override = source_date_epoch()?;

    let scratch = Scratch::create(&opts.output)?;
    if src_md.is_dir() {
        let src = fs::canonicalize(&opts.from)
            .map_err(|e| BuildError::SourceUnreadable(opts.from.clone(), e))?;
        let out_dir = fs::canonicalize(scratch.image.parent().unwrap_or(Path::new(".")))
            .map_err(|e| BuildError::OutputDir(scratch.image.clone(), e))?;
        if out_dir.starts_with(&src) {
            return Err(BuildError::OutputInsideSource(opts.output.clone(), opts.from.clone()));
        }
    }
    let interactive = opts.progress && io::stderr().is_terminal();

    // 1. The tree, staged if it comes from a tarball.
    let (manifest, compression, xattr_dir) = if src_md.is_dir() {
        let bar = progress_bar(interactive, None);
        set_phase(&bar, "scanning");
        let manifest = stage::manifest_of_dir(&opts.from)?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        (manifest, None, None)
    } else {
        let bar =
            progress_bar(interactive && src_md.len() >= PROGRESS_THRESHOLD, Some(src_md.len()));
        set_phase(&bar, "unpacking");
        let mut stager = Stager::new(scratch.work.join("staging"), epoch_override.unwrap_or(0))?;
        let counter = bar.clone();
        let compression = tarball::unpack(
            &opts.from,
            &mut stager,
            Box::new(move |n| {
                if let Some(bar) = &counter {
                    bar.inc(n);
                }
            }),
        )?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let xattrs = scratch.work.join("xattrs");
        fs::create_dir(&xattrs).map_err(|e| BuildError::OutputDir(scratch.work.clone(), e))?;
        (stager.finish()?, Some(compression), Some(xattrs))
    };

    // 2.-3. Size, filesystem, metadata, check.
    let id = Identity {
        uuid: match &uuid {
            UuidChoice::Derived => Some(uuid_from(1, &manifest)),
            UuidChoice::Random => None,
            UuidChoice::Fixed(u) => Some(u.clone()),
        },
        hash_seed: uuid_from(2, &manifest),
        label: opts.label.clone(),
        epoch: epoch_override.unwrap_or_else(|| manifest.newest_mtime()),
    };
    let request = size_request.zip(opts.size.as_deref());
    let (size, estimate) =
        make_image(&manifest, xattr_dir.as_deref(), &scratch, request, &id, interactive)?;

    // 4. Into place, atomically.
    fs::rename(&scratch.image, &opts.output)
        .map_err(|e| BuildError::Rename(opts.output.clone(), e))?;
    Ok(BuildReport {
        image: opts.output.clone(),
        size,
        content: estimate.content,
        inodes: manifest.nodes.len(),
        compression,
    })
}

/// Steps 2 and 3 of a build, shared with `commit`: size the image, run
/// mke2fs on the staged tree, apply the true metadata with debugfs and check
/// the result with e2fsck, all on `scratch.image`. `request` is the size
/// asked for (bytes, as written); None picks one. Returns the size and the
/// estimate it was checked against.
pub(crate) fn make_image(
    manifest: &Manifest,
    xattr_dir: Option<&Path>,
    scratch: &Scratch,
    request: Option<(u64, &str)>,
    id: &Identity,
    interactive: bool,
) -> Result<(u64, mkfs::SizeEstimate), BuildError> {
    let estimate = mkfs::estimate(manifest);
    let (size, size_text) = match request {
        Some((bytes, text)) => {
            mkfs::check_size(&estimate, bytes, text)?;
            (bytes / BLOCK_SIZE * BLOCK_SIZE, text.to_string())
        }
        None => {
            let bytes = mkfs::default_size(&estimate);
            (bytes, human(bytes))
        }
    };
    let bar = progress_bar(interactive && estimate.content >= PROGRESS_THRESHOLD, None);
    set_phase(&bar, "creating filesystem");
    mkfs::mke2fs(manifest, &scratch.image, size, &size_text, &estimate, id)?;
    set_phase(&bar, "fixing metadata");
    let script = mkfs::fixup_script(manifest, xattr_dir)?;
    if !script.is_empty() {
        mkfs::debugfs(&scratch.image, &script, &scratch.work.join("fixup.debugfs"), id.epoch)?;
    }
    set_phase(&bar, "checking");
    if let Some(problems) = mkfs::fsck(&scratch.image)? {
        return Err(BuildError::Fsck(
            problems
                .lines()
                .filter(|l| !l.starts_with("Pass ") && !l.starts_with("e2fsck 1."))
                .take(4)
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((size, estimate))
}
