//! The overlay log's bytes: CRC32C, the header, and record framing and
//! encoding (the layout is drawn in the parent module's documentation).

use super::OverlayError;

pub const MAGIC: &[u8; 8] = b"UMKOVL01";
pub const VERSION: u32 = 1;
/// Largest frame accepted (type + payload). Writes are split well below it.
pub const MAX_FRAME: usize = 8 << 20;
/// Largest data carried by one Write record.
pub const WRITE_CHUNK: usize = 1 << 20;

// ---- CRC32C (Castagnoli) ----
// The crc32c crate uses the CPU's CRC32 instruction where there is one: a
// byte-at-a-time table made checksumming most of the cost of a large write.

pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

// ---- header ----

pub fn encode_header(base_id: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(20 + base_id.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&(base_id.len() as u32).to_le_bytes());
    h.extend_from_slice(base_id);
    let c = crc32c(&h);
    h.extend_from_slice(&c.to_le_bytes());
    h
}

fn hex(b: &[u8]) -> String {
    let mut s: String = b.iter().take(24).map(|x| format!("{x:02x}")).collect();
    if b.len() > 24 {
        s.push_str("..");
    }
    s
}

/// Checks the header at the start of `log` against `base_id`; returns its
/// length (where records start).
pub fn check_header(log: &[u8], base_id: &[u8]) -> Result<usize, OverlayError> {
    let bad = |why: String| Err(OverlayError::CorruptHeader(why));
    if log.len() < 8 || &log[..8] != MAGIC {
        return bad(format!(
            "not an umk overlay log (magic is {:?}, want \"UMKOVL01\")",
            String::from_utf8_lossy(&log[..log.len().min(8)])
        ));
    }
    if log.len() < 16 {
        return bad("header is truncated".into());
    }
    let version = u32::from_le_bytes([log[8], log[9], log[10], log[11]]);
    if version != VERSION {
        return bad(format!("log format version {version}, this umk reads version {VERSION}"));
    }
    let n = u32::from_le_bytes(log[12..16].try_into().unwrap_or_default()) as usize;
    if n > 1 << 20 || log.len() < 16 + n + 4 {
        return bad("header is truncated".into());
    }
    let stored = u32::from_le_bytes(log[16 + n..20 + n].try_into().unwrap_or_default());
    if crc32c(&log[..16 + n]) != stored {
        return bad("header checksum does not match".into());
    }
    let found = &log[16..16 + n];
    if found != base_id {
        return Err(OverlayError::WrongBase { overlay: hex(found), image: hex(base_id) });
    }
    Ok(20 + n)
}

// ---- records ----

/// Metadata of an upper inode, as Attr records carry it (size lives with
/// the data: Inode, Write and Truncate records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub rdev: u64,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub btime: (i64, u32),
}

pub type Time = (i64, u32);

/// Where some bytes are in the log: `len` bytes from byte `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub pos: u64,
    pub len: u64,
}

/// A record. `D` is the data of a Write: the bytes themselves when a
/// record is made (`Vec<u8>`, or `&[u8]` to frame a guest's buffer without
/// a copy), a [`Span`] of the log once a frame is decoded, so that reading
/// a log back never holds its file data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rec<D = Vec<u8>> {
    /// Creates (or copies up) inode `ino`: `origin` is its path in the lower
    /// image for a copy-up (its data and directory entries show through),
    /// None for a new inode. `size` is the size of the data visible from
    /// lower (0 for new inodes). `parent` is meaningful for directories.
    Inode {
        ino: u64,
        parent: u64,
        origin: Option<Vec<u8>>,
        meta: Meta,
        size: u64,
        target: Vec<u8>,
    },
    Attr {
        ino: u64,
        meta: Meta,
    },
    /// Data at `off`; mtime = ctime = `t`.
    Write {
        ino: u64,
        off: u64,
        t: Time,
        data: D,
    },
    Truncate {
        ino: u64,
        len: u64,
        t: Time,
    },
    /// Directory entry `name` of `dir` is inode `child`.
    Entry {
        dir: u64,
        name: Vec<u8>,
        child: u64,
    },
    /// `name` of `dir` is deleted and hides the lower entry of that name.
    Whiteout {
        dir: u64,
        name: Vec<u8>,
    },
    /// `name` of `dir` has no upper entry any more (and none in lower).
    Unentry {
        dir: u64,
        name: Vec<u8>,
    },
    /// The lower entries of `dir` no longer show through.
    Opaque {
        dir: u64,
    },
    XattrSet {
        ino: u64,
        name: Vec<u8>,
        value: Vec<u8>,
    },
    XattrRemove {
        ino: u64,
        name: Vec<u8>,
    },
    /// The inode is gone (no links, no longer open).
    Forget {
        ino: u64,
    },
    /// Records that stand or fall together (one guest operation).
    Batch(Vec<Rec<D>>),
}

const T_INODE: u8 = 1;
const T_ATTR: u8 = 2;
const T_WRITE: u8 = 3;
const T_TRUNCATE: u8 = 4;
const T_ENTRY: u8 = 5;
const T_WHITEOUT: u8 = 6;
const T_UNENTRY: u8 = 7;
const T_OPAQUE: u8 = 8;
const T_XATTR_SET: u8 = 9;
const T_XATTR_REMOVE: u8 = 10;
const T_FORGET: u8 = 11;
const T_BATCH: u8 = 16;

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn time(&mut self, t: Time) {
        self.u64(t.0 as u64);
        self.u32(t.1);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn meta(&mut self, m: &Meta) {
        self.u32(m.mode);
        self.u32(m.uid);
        self.u32(m.gid);
        self.u32(m.nlink);
        self.u64(m.rdev);
        self.time(m.atime);
        self.time(m.mtime);
        self.time(m.ctime);
        self.time(m.btime);
    }
}

/// A decoder over a payload that knows where in the log its bytes are.
struct R<'a> {
    rest: &'a [u8],
    /// Log position of `rest[0]`.
    at: u64,
}

type Dec<T> = Result<T, &'static str>;

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Dec<&'a [u8]> {
        if self.rest.len() < n {
            return Err("record payload is short");
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        self.at += n as u64;
        Ok(a)
    }
    fn u8(&mut self) -> Dec<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Dec<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self) -> Dec<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
    fn time(&mut self) -> Dec<Time> {
        let s = self.u64()? as i64;
        let ns = self.u32()?;
        if ns >= 1_000_000_000 {
            return Err("nanoseconds out of range");
        }
        Ok((s, ns))
    }
    fn bytes(&mut self) -> Dec<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    /// A byte string left where it is.
    fn span(&mut self) -> Dec<Span> {
        let n = self.u32()? as usize;
        let pos = self.at;
        self.take(n)?;
        Ok(Span { pos, len: n as u64 })
    }
    /// A byte string as a decoder of its own.
    fn sub(&mut self) -> Dec<R<'a>> {
        let n = self.u32()? as usize;
        let at = self.at;
        Ok(R { rest: self.take(n)?, at })
    }
    fn meta(&mut self) -> Dec<Meta> {
        Ok(Meta {
            mode: self.u32()?,
            uid: self.u32()?,
            gid: self.u32()?,
            nlink: self.u32()?,
            rdev: self.u64()?,
            atime: self.time()?,
            mtime: self.time()?,
            ctime: self.time()?,
            btime: self.time()?,
        })
    }
}

impl<D> Rec<D> {
    fn kind(&self) -> u8 {
        match self {
            Rec::Inode { .. } => T_INODE,
            Rec::Attr { .. } => T_ATTR,
            Rec::Write { .. } => T_WRITE,
            Rec::Truncate { .. } => T_TRUNCATE,
            Rec::Entry { .. } => T_ENTRY,
            Rec::Whiteout { .. } => T_WHITEOUT,
            Rec::Unentry { .. } => T_UNENTRY,
            Rec::Opaque { .. } => T_OPAQUE,
            Rec::XattrSet { .. } => T_XATTR_SET,
            Rec::XattrRemove { .. } => T_XATTR_REMOVE,
            Rec::Forget { .. } => T_FORGET,
            Rec::Batch(_) => T_BATCH,
        }
    }
}

impl<D: AsRef<[u8]>> Rec<D> {
    fn payload(&self, w: &mut W) {
        match self {
            Rec::Inode { ino, parent, origin, meta, size, target } => {
                w.u64(*ino);
                w.u64(*parent);
                match origin {
                    Some(p) => {
                        w.u8(1);
                        w.bytes(p);
                    }
                    None => w.u8(0),
                }
                w.meta(meta);
                w.u64(*size);
                w.bytes(target);
            }
            Rec::Attr { ino, meta } => {
                w.u64(*ino);
                w.meta(meta);
            }
            Rec::Write { ino, off, t, data } => {
                w.u64(*ino);
                w.u64(*off);
                w.time(*t);
                w.bytes(data.as_ref());
            }
            Rec::Truncate { ino, len, t } => {
                w.u64(*ino);
                w.u64(*len);
                w.time(*t);
            }
            Rec::Entry { dir, name, child } => {
                w.u64(*dir);
                w.bytes(name);
                w.u64(*child);
            }
            Rec::Whiteout { dir, name } | Rec::Unentry { dir, name } => {
                w.u64(*dir);
                w.bytes(name);
            }
            Rec::Opaque { dir } => w.u64(*dir),
            Rec::XattrSet { ino, name, value } => {
                w.u64(*ino);
                w.bytes(name);
                w.bytes(value);
            }
            Rec::XattrRemove { ino, name } => {
                w.u64(*ino);
                w.bytes(name);
            }
            Rec::Forget { ino } => w.u64(*ino),
            Rec::Batch(recs) => {
                w.u32(recs.len() as u32);
                for r in recs {
                    let mut sub = W(Vec::new());
                    r.payload(&mut sub);
                    w.u8(r.kind());
                    w.bytes(&sub.0);
                }
            }
        }
    }

    /// Appends this record, framed, to `out`.
    pub fn frame_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.push(self.kind());
        let mut w = W(std::mem::take(out));
        self.payload(&mut w);
        *out = w.0;
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c(&out[start + 4..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

impl Rec<Span> {
    fn decode(kind: u8, mut r: R<'_>) -> Dec<Rec<Span>> {
        let rec = match kind {
            T_INODE => {
                let ino = r.u64()?;
                let parent = r.u64()?;
                let origin = match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    _ => return Err("bad origin flag"),
                };
                Rec::Inode {
                    ino,
                    parent,
                    origin,
                    meta: r.meta()?,
                    size: r.u64()?,
                    target: r.bytes()?,
                }
            }
            T_ATTR => Rec::Attr { ino: r.u64()?, meta: r.meta()? },
            T_WRITE => Rec::Write { ino: r.u64()?, off: r.u64()?, t: r.time()?, data: r.span()? },
            T_TRUNCATE => Rec::Truncate { ino: r.u64()?, len: r.u64()?, t: r.time()? },
            T_ENTRY => Rec::Entry { dir: r.u64()?, name: r.bytes()?, child: r.u64()? },
            T_WHITEOUT => Rec::Whiteout { dir: r.u64()?, name: r.bytes()? },
            T_UNENTRY => Rec::Unentry { dir: r.u64()?, name: r.bytes()? },
            T_OPAQUE => Rec::Opaque { dir: r.u64()? },
            T_XATTR_SET => Rec::XattrSet { ino: r.u64()?, name: r.bytes()?, value: r.bytes()? },
            T_XATTR_REMOVE => Rec::XattrRemove { ino: r.u64()?, name: r.bytes()? },
            T_FORGET => Rec::Forget { ino: r.u64()? },
            T_BATCH => {
                let n = r.u32()? as usize;
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = r.u8()?;
                    if k == T_BATCH {
                        return Err("nested batch");
                    }
                    let sub = r.sub()?;
                    v.push(Rec::decode(k, sub)?);
                }
                Rec::Batch(v)
            }
            _ => return Err("unknown record type"),
        };
        if !r.rest.is_empty() {
            return Err("trailing bytes in record");
        }
        Ok(rec)
    }
}

/// Why replay stopped before the end of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The frame's length runs past the end or is out of range: a torn tail.
    Torn,
    BadCrc,
    Undecodable(&'static str),
}

/// Bytes of the frame of a Write record carrying `data_len` bytes: length,
/// type, ino, offset, time, data length, data, CRC.
pub fn write_frame_len(data_len: u64) -> u64 {
    4 + 1 + 8 + 8 + 12 + 4 + data_len + 4
}

/// The whole length of the frame that starts with `head` (at least 4
/// bytes), from its length field; a length out of range is a torn tail.
pub fn frame_len(head: &[u8]) -> Result<usize, Stop> {
    let len = match head.get(..4) {
        Some(b) => u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize,
        None => return Err(Stop::Torn),
    };
    if len == 0 || len > MAX_FRAME {
        return Err(Stop::Torn);
    }
    Ok(len + 8)
}

/// Checks and decodes `frame`, one whole frame found at log position `at`.
pub fn parse_frame(frame: &[u8], at: u64) -> Result<Rec<Span>, Stop> {
    let len = frame_len(frame)?;
    if frame.len() != len {
        return Err(Stop::Torn);
    }
    let body = &frame[4..len - 4];
    let stored = u32::from_le_bytes(frame[len - 4..].try_into().unwrap_or_default());
    if crc32c(body) != stored {
        return Err(Stop::BadCrc);
    }
    decode_frame(frame, at)
}

/// Decodes a frame without checking its CRC: for a frame this process has
/// just made, which is known good.
pub fn decode_frame(frame: &[u8], at: u64) -> Result<Rec<Span>, Stop> {
    let len = frame_len(frame)?;
    let body = frame.get(4..len - 4).filter(|b| !b.is_empty()).ok_or(Stop::Torn)?;
    let r = R { rest: &body[1..], at: at + 5 };
    Rec::decode(body[0], r).map_err(Stop::Undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rec` with its Write data read from `log`.
    fn with_data(rec: Rec<Span>, log: &[u8]) -> Rec {
        match rec {
            Rec::Write { ino, off, t, data } => {
                let at = data.pos as usize;
                Rec::Write { ino, off, t, data: log[at..at + data.len as usize].to_vec() }
            }
            Rec::Batch(v) => Rec::Batch(v.into_iter().map(|r| with_data(r, log)).collect()),
            Rec::Inode { ino, parent, origin, meta, size, target } => {
                Rec::Inode { ino, parent, origin, meta, size, target }
            }
            Rec::Attr { ino, meta } => Rec::Attr { ino, meta },
            Rec::Truncate { ino, len, t } => Rec::Truncate { ino, len, t },
            Rec::Entry { dir, name, child } => Rec::Entry { dir, name, child },
            Rec::Whiteout { dir, name } => Rec::Whiteout { dir, name },
            Rec::Unentry { dir, name } => Rec::Unentry { dir, name },
            Rec::Opaque { dir } => Rec::Opaque { dir },
            Rec::XattrSet { ino, name, value } => Rec::XattrSet { ino, name, value },
            Rec::XattrRemove { ino, name } => Rec::XattrRemove { ino, name },
            Rec::Forget { ino } => Rec::Forget { ino },
        }
    }

    /// The frame at `pos` of `log`, decoded, and where the next one starts.
    fn frame_at(log: &[u8], pos: usize) -> Result<(Rec<Span>, usize), Stop> {
        let n = frame_len(&log[pos..])?;
        let frame = log.get(pos..pos + n).ok_or(Stop::Torn)?;
        Ok((parse_frame(frame, pos as u64)?, pos + n))
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(::crc32c::crc32c_append(crc32c(b"1234"), b"56789"), 0xE306_9283);
    }

    #[test]
    fn every_record_type_round_trips() {
        let m = Meta {
            mode: 0o100644,
            uid: 1,
            gid: 2,
            nlink: 3,
            rdev: 4,
            atime: (5, 6),
            mtime: (-7, 8),
            ctime: (9, 10),
            btime: (11, 12),
        };
        let recs = vec![
            Rec::Inode {
                ino: 1,
                parent: 2,
                origin: Some(b"a/b".to_vec()),
                meta: m,
                size: 9,
                target: vec![],
            },
            Rec::Inode { ino: 1, parent: 2, origin: None, meta: m, size: 0, target: b"t".to_vec() },
            Rec::Attr { ino: 3, meta: m },
            Rec::Write { ino: 4, off: 5, t: (6, 7), data: b"data".to_vec() },
            Rec::Truncate { ino: 4, len: 1, t: (2, 3) },
            Rec::Entry { dir: 1, name: b"n".to_vec(), child: 2 },
            Rec::Whiteout { dir: 1, name: b"w".to_vec() },
            Rec::Unentry { dir: 1, name: b"u".to_vec() },
            Rec::Opaque { dir: 9 },
            Rec::XattrSet { ino: 1, name: b"user.x".to_vec(), value: b"v".to_vec() },
            Rec::XattrRemove { ino: 1, name: b"user.x".to_vec() },
            Rec::Forget { ino: 77 },
            Rec::Batch(vec![Rec::Forget { ino: 1 }, Rec::Opaque { dir: 2 }]),
            Rec::Batch(vec![
                Rec::Opaque { dir: 2 },
                Rec::Write { ino: 4, off: 9, t: (1, 2), data: b"in a batch".to_vec() },
            ]),
        ];
        let mut log = Vec::new();
        for r in &recs {
            r.frame_into(&mut log);
        }
        let mut pos = 0;
        for r in &recs {
            let (got, next) = frame_at(&log, pos).unwrap();
            assert_eq!(&with_data(got, &log), r);
            pos = next;
        }
        assert_eq!(pos, log.len());
    }

    #[test]
    fn flipped_bit_is_bad_crc() {
        let mut log = Vec::new();
        Rec::<Vec<u8>>::Forget { ino: 5 }.frame_into(&mut log);
        log[6] ^= 1;
        assert_eq!(frame_at(&log, 0).unwrap_err(), Stop::BadCrc);
    }

    #[test]
    fn write_frame_len_matches_the_encoder() {
        for n in [0usize, 1, 4096] {
            let mut out = Vec::new();
            Rec::Write { ino: 1, off: 2, t: (3, 4), data: vec![7u8; n] }.frame_into(&mut out);
            assert_eq!(out.len() as u64, write_frame_len(n as u64));
        }
    }

    #[test]
    fn decoded_write_points_at_its_data_in_the_log() {
        let mut log = b"some header".to_vec();
        let at = log.len();
        Rec::Write { ino: 1, off: 2, t: (3, 4), data: &b"payload"[..] }.frame_into(&mut log);
        match parse_frame(&log[at..], at as u64).unwrap() {
            Rec::Write { data, .. } => {
                let p = data.pos as usize;
                assert_eq!(&log[p..p + data.len as usize], b"payload");
            }
            r => panic!("decoded as {r:?}"),
        }
    }

    #[test]
    fn frame_with_a_zero_or_huge_length_is_torn() {
        assert_eq!(frame_len(&[0, 0, 0, 0]), Err(Stop::Torn));
        assert_eq!(frame_len(&u32::MAX.to_le_bytes()), Err(Stop::Torn));
        assert_eq!(frame_len(&[1, 0]), Err(Stop::Torn));
    }

    #[test]
    fn header_with_other_base_is_wrong_base() {
        let h = encode_header(b"base-A");
        assert_eq!(check_header(&h, b"base-A").unwrap(), h.len());
        let e = check_header(&h, b"base-B").unwrap_err();
        assert!(matches!(e, OverlayError::WrongBase { .. }), "{e}");
        let mut bad = h.clone();
        bad[17] ^= 0xff;
        assert!(matches!(
            check_header(&bad, b"base-A").unwrap_err(),
            OverlayError::CorruptHeader(_)
        ));
        assert!(matches!(
            check_header(b"NOTALOG!xxxxxxxxxxxxxxx", b"x").unwrap_err(),
            OverlayError::CorruptHeader(_)
        ));
    }
}
