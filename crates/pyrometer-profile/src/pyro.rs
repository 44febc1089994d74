//! The `.pyro` file: a fixed header, then the profile encoded with postcard and compressed with
//! zstd. The layout is specified in `docs/file-format.md`; keep the two in step.
//!
//! ```text
//! offset  size  field
//!      0     8  signature  89 50 59 52 4F 0D 0A 1A   ("\x89PYRO\r\n\x1a")
//!      8     2  format version, little-endian u16 (this code writes 2)
//!     10     2  flags, u16: bit 0 = payload is zstd-compressed; other bits 0
//!     12     4  reserved, 0
//!     16     8  payload length before compression, u64
//!     24     8  payload length as stored, u64
//!     32     …  payload: postcard-encoded `Profile` (zstd frame with content checksum)
//! ```
//!
//! Every reader accepts every older format version: when the model changes, the old model is
//! frozen in a module of its own and converted on read.

use std::io::{Read, Write};
use std::path::Path;

use crate::model::{Frame, Location, Meta, Process, Profile, Samples, Series, Stack, Thread};

/// Version 1 of the model: the same tables without `sources` (added in version 2).
#[derive(serde::Deserialize)]
struct ProfileV1 {
    meta: Meta,
    strings: Vec<String>,
    frames: Vec<Frame>,
    locations: Vec<Location>,
    stacks: Vec<Stack>,
    processes: Vec<Process>,
    threads: Vec<Thread>,
    samples: Samples,
    timeline: Vec<Series>,
}

impl From<ProfileV1> for Profile {
    fn from(v1: ProfileV1) -> Profile {
        Profile {
            meta: v1.meta,
            strings: v1.strings,
            frames: v1.frames,
            locations: v1.locations,
            stacks: v1.stacks,
            processes: v1.processes,
            threads: v1.threads,
            samples: v1.samples,
            timeline: v1.timeline,
            sources: Vec::new(),
        }
    }
}

pub const SIGNATURE: [u8; 8] = *b"\x89PYRO\r\n\x1a";
/// The format version this code writes.
pub const FORMAT_VERSION: u16 = 2;
const FLAG_ZSTD: u16 = 1;
const HEADER_LEN: usize = 32;
/// A bound on the decompressed size, so a corrupt length cannot make us allocate without limit.
const MAX_PAYLOAD: u64 = 4 << 30;
const ZSTD_LEVEL: i32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not a pyrometer profile (it does not start with the .pyro signature)")]
    NotAProfile,
    #[error(
        "the profile was written by a newer pyrometer (file format {found}; this version reads up to {FORMAT_VERSION}); upgrade pyrometer to read it"
    )]
    TooNew { found: u16 },
    #[error("the profile is truncated (expected {expected} bytes of data, found {found})")]
    Truncated { expected: u64, found: u64 },
    #[error("the profile is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Encodes a profile as the bytes of a `.pyro` file.
pub fn encode(profile: &Profile) -> Vec<u8> {
    let payload = postcard::to_stdvec(profile).expect("the profile model always serializes");
    let mut compressed = Vec::with_capacity(payload.len() / 4 + 64);
    {
        let mut encoder = zstd::stream::Encoder::new(&mut compressed, ZSTD_LEVEL)
            .expect("zstd accepts this level");
        encoder.include_checksum(true).expect("zstd checksum flag");
        encoder.write_all(&payload).expect("writing to memory");
        encoder.finish().expect("finishing a zstd frame in memory");
    }
    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&FLAG_ZSTD.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

/// Decodes the bytes of a `.pyro` file, checking the model's invariants.
pub fn decode(bytes: &[u8]) -> Result<Profile, FileError> {
    if bytes.len() < SIGNATURE.len() || bytes[..SIGNATURE.len()] != SIGNATURE {
        return Err(FileError::NotAProfile);
    }
    if bytes.len() < HEADER_LEN {
        return Err(FileError::Truncated {
            expected: HEADER_LEN as u64,
            found: bytes.len() as u64,
        });
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let version = u16_at(8);
    let flags = u16_at(10);
    let raw_len = u64_at(16);
    let stored_len = u64_at(24);
    if version == 0 {
        return Err(FileError::Corrupt("format version 0".into()));
    }
    if version > FORMAT_VERSION {
        return Err(FileError::TooNew { found: version });
    }
    if flags & !FLAG_ZSTD != 0 {
        return Err(FileError::Corrupt(format!("unknown flags {flags:#x}")));
    }
    if raw_len > MAX_PAYLOAD {
        return Err(FileError::Corrupt(format!(
            "implausible payload length {raw_len}"
        )));
    }
    let body = &bytes[HEADER_LEN..];
    if (body.len() as u64) < stored_len {
        return Err(FileError::Truncated {
            expected: stored_len,
            found: body.len() as u64,
        });
    }
    let body = &body[..stored_len as usize];
    let payload = if flags & FLAG_ZSTD != 0 {
        let mut out = Vec::with_capacity(raw_len as usize);
        zstd::stream::Decoder::new(body)
            .and_then(|d| d.take(raw_len + 1).read_to_end(&mut out))
            .map_err(|e| FileError::Corrupt(format!("compressed data: {e}")))?;
        out
    } else {
        body.to_vec()
    };
    if payload.len() as u64 != raw_len {
        return Err(FileError::Corrupt(format!(
            "payload is {} bytes, the header says {raw_len}",
            payload.len()
        )));
    }
    let corrupt = |e: postcard::Error| FileError::Corrupt(format!("data: {e}"));
    let profile: Profile = match version {
        1 => postcard::from_bytes::<ProfileV1>(&payload)
            .map_err(corrupt)?
            .into(),
        2 => postcard::from_bytes(&payload).map_err(corrupt)?,
        _ => unreachable!("versions above FORMAT_VERSION were rejected"),
    };
    profile.validate().map_err(FileError::Corrupt)?;
    Ok(profile)
}

/// Reads a profile: a `.pyro` file, or the JSON export (`pyrometer view` accepts both).
pub fn read(path: &Path) -> Result<Profile, FileError> {
    let bytes = std::fs::read(path)?;
    if bytes.first() == Some(&b'{') {
        return crate::json::from_json(&bytes);
    }
    decode(&bytes)
}

/// Writes a `.pyro` file atomically (a temporary file renamed into place), creating parent
/// directories as needed.
pub fn write(path: &Path, profile: &Profile) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("pyro.tmp{}", std::process::id()));
    std::fs::write(&tmp, encode(profile))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
