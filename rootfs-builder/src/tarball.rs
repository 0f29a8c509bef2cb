//! Reading a (possibly compressed) tarball into a [`Stager`].
//!
//! The compression is recognised from the first bytes, never from the file
//! name: rootfs tarballs are routinely misnamed (".tar" that is gzipped,
//! "rootfs.img" that is a tar).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::stage::{
    EntryKind, Meta, StageError, Stager, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG,
};

#[derive(Debug, Error)]
pub enum TarError {
    #[error("cannot open tarball {0}: {1}")]
    Open(PathBuf, io::Error),
    #[error("{0} is empty")]
    Empty(PathBuf),
    #[error("{0} is compressed with {1}, which is not supported (use gzip, xz or zstd, or an uncompressed tar)")]
    UnsupportedCompression(PathBuf, &'static str),
    #[error("{0} is not a tar archive (no 'ustar' magic){1}")]
    NotTar(PathBuf, &'static str),
    #[error("cannot read tarball {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("tarball {path}: bad header for '{entry}': {source}")]
    Header { path: PathBuf, entry: String, source: io::Error },
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// The container formats we recognise by magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

fn has_tar_magic(head: &[u8]) -> bool {
    // POSIX "ustar\0" and old GNU "ustar  \0" both start with "ustar".
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Classify a file from its first bytes.
pub fn detect(path: &Path, head: &[u8]) -> Result<Compression, TarError> {
    if head.is_empty() {
        return Err(TarError::Empty(path.to_path_buf()));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Compression::Gzip);
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Ok(Compression::Xz);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(Compression::Zstd);
    }
    if has_tar_magic(head) {
        return Ok(Compression::None);
    }
    let unsupported = if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4")
    } else if head.starts_with(&[0x5d, 0x00, 0x00]) {
        Some("lzma")
    } else if head.starts_with(&[0x89, b'L', b'Z', b'O']) {
        Some("lzop")
    } else if head.starts_with(b"\x1f\x9d") {
        Some("compress (.Z)")
    } else {
        None
    };
    match unsupported {
        Some(name) => Err(TarError::UnsupportedCompression(path.to_path_buf(), name)),
        None => Err(TarError::NotTar(path.to_path_buf(), "")),
    }
}

/// Counts bytes pulled from the (compressed) file, for the progress bar.
struct Counting<R> {
    inner: R,
    on_read: Box<dyn FnMut(u64)>,
}
impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n as u64);
        Ok(n)
    }
}

/// Read up to `n` bytes (fewer only at end of stream).
fn read_head(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Open `path`, peeking at the magic, and return a reader of the plain tar
/// stream plus the detected compression.
pub fn open(
    path: &Path,
    on_read: Box<dyn FnMut(u64)>,
) -> Result<(Box<dyn Read>, Compression), TarError> {
    let read_err = |e| TarError::Read { path: path.to_path_buf(), source: e };
    let file = File::open(path).map_err(|e| TarError::Open(path.to_path_buf(), e))?;
    let mut raw = BufReader::with_capacity(1 << 20, Counting { inner: file, on_read });
    let head = read_head(&mut raw, 512).map_err(read_err)?;
    let compression = detect(path, &head)?;
    // Put the peeked bytes back in front of the rest of the file.
    let raw = io::Cursor::new(head).chain(raw);
    let mut reader: Box<dyn Read> = match compression {
        Compression::None => return Ok((Box::new(raw), compression)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw).map_err(read_err)?),
    };
    // Check the decompressed stream is a tar before unpacking anything.
    let inner_head = read_head(&mut reader, 512).map_err(read_err)?;
    if !has_tar_magic(&inner_head) {
        let why = match compression {
            Compression::Gzip => " after gzip decompression",
            Compression::Xz => " after xz decompression",
            _ => " after zstd decompression",
        };
        return Err(TarError::NotTar(path.to_path_buf(), why));
    }
    Ok((Box::new(io::Cursor::new(inner_head).chain(reader)), compression))
}

/// Unpack every entry of the tarball at `path` into `stager`.
/// Returns the detected compression.
pub fn unpack(
    path: &Path,
    stager: &mut Stager,
    on_read: Box<dyn FnMut(u64)>,
) -> Result<Compression, TarError> {
    let (reader, compression) = open(path, on_read)?;
    let mut archive = tar::Archive::new(reader);
    let read_err = |e| TarError::Read { path: path.to_path_buf(), source: e };
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = entry.path_bytes().into_owned();
        let header_err = |e| TarError::Header {
            path: path.to_path_buf(),
            entry: String::from_utf8_lossy(&name).into_owned(),
            source: e,
        };
        let header = entry.header();
        let perm = header.mode().map_err(header_err)? & 0o7777;
        let mut meta = Meta {
            mode: perm,
            uid: header.uid().map_err(header_err)? as u32,
            gid: header.gid().map_err(header_err)? as u32,
            mtime: header.mtime().map_err(header_err)? as i64,
            rdev: (0, 0),
            xattrs: Vec::new(),
        };
        let entry_type = header.entry_type();
        let dev = (header.device_major().ok().flatten(), header.device_minor().ok().flatten());
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        apply_pax(&mut entry, &mut meta).map_err(header_err)?;
        use tar::EntryType as T;
        let kind = match entry_type {
            T::Regular | T::Continuous | T::GNUSparse => {
                meta.mode |= S_IFREG;
                EntryKind::File
            }
            T::Directory => {
                meta.mode |= S_IFDIR;
                EntryKind::Dir
            }
            T::Symlink => {
                meta.mode |= S_IFLNK;
                EntryKind::Symlink(link.unwrap_or_default())
            }
            T::Link => EntryKind::HardLink(link.unwrap_or_default()),
            T::Char | T::Block => {
                meta.mode |= if entry_type == T::Char { S_IFCHR } else { S_IFBLK };
                if meta.rdev == (0, 0) {
                    meta.rdev = (dev.0.unwrap_or(0), dev.1.unwrap_or(0));
                }
                EntryKind::Special
            }
            T::Fifo => {
                meta.mode |= S_IFIFO;
                EntryKind::Special
            }
            // Global pax headers and other metadata-only or exotic entries
            // (volume labels, multi-volume continuations) carry no file.
            T::XGlobalHeader => continue,
            other => {
                eprintln!(
                    "umk-rootfs: warning: skipping '{}': unsupported tar entry type {:?}",
                    String::from_utf8_lossy(&name),
                    other.as_byte() as char
                );
                continue;
            }
        };
        stager.add(&name, kind, meta, &mut entry).map_err(|e| match e {
            // A read error while copying file data is the tarball's fault.
            StageError::Io { source, .. }
                if source.kind() == io::ErrorKind::UnexpectedEof
                    || source.kind() == io::ErrorKind::InvalidData =>
            {
                TarError::Read { path: path.to_path_buf(), source }
            }
            other => TarError::Stage(other),
        })?;
    }
    Ok(compression)
}

/// Pax records the tar crate does not fold into the header for us:
/// sub-second/large mtimes, device numbers, and xattrs.
fn apply_pax<R: Read>(entry: &mut tar::Entry<'_, R>, meta: &mut Meta) -> io::Result<()> {
    let Some(exts) = entry.pax_extensions()? else { return Ok(()) };
    for ext in exts {
        let ext = ext?;
        let key = ext.key_bytes();
        let value = ext.value_bytes();
        let text = std::str::from_utf8(value).unwrap_or("");
        match key {
            b"mtime" => {
                let whole = text.split('.').next().unwrap_or("");
                if let Ok(secs) = whole.parse::<i64>() {
                    meta.mtime = secs;
                }
            }
            b"SCHILY.devmajor" => {
                if let Ok(v) = text.parse() {
                    meta.rdev.0 = v;
                }
            }
            b"SCHILY.devminor" => {
                if let Ok(v) = text.parse() {
                    meta.rdev.1 = v;
                }
            }
            _ => {
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    meta.xattrs.push((name.to_vec(), value.to_vec()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        let p = Path::new("x");
        assert_eq!(detect(p, &[0x1f, 0x8b, 8, 0]).unwrap(), Compression::Gzip);
        assert_eq!(detect(p, b"\xfd7zXZ\x00\x00").unwrap(), Compression::Xz);
        assert_eq!(detect(p, &[0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap(), Compression::Zstd);
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(detect(p, &tar).unwrap(), Compression::None);
        assert!(matches!(detect(p, b"BZh91AY"), Err(TarError::UnsupportedCompression(_, "bzip2"))));
        assert!(matches!(detect(p, b"hello world"), Err(TarError::NotTar(..))));
        assert!(matches!(detect(p, b""), Err(TarError::Empty(_))));
    }
}
