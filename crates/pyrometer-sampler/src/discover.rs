//! Finding the CPython runtime in a process: which mapped file is the interpreter, where its
//! `_PyRuntime` structure and its `Py_Version` constant are.
//!
//! CPython's own method (`remote_debug.h`): in `/proc/PID/maps`, take mappings at file offset 0
//! whose file name contains "python" (`python3.X`, `libpython3.X.so.1.0`); in the ELF file, the
//! section `.PyRuntime` holds `_PyRuntime`, at
//! `map_start + sh_addr - (first PT_LOAD p_vaddr rounded down to p_align)`. This works for
//! shared-library builds (PIE, `.so`) and static non-PIE executables alike. The `.dynsym` /
//! `.symtab` symbol `_PyRuntime` is the fallback.

use std::path::{Path, PathBuf};

use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol};

use pyrometer_cpython::this_process::DEBUG_BUILD_SYMBOLS;

use crate::error::{Result, SamplerError, proc_error};

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub path: String,
}

/// Parses `/proc/PID/maps` text.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(offset), Some(_dev), Some(_inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let path = fields.next().unwrap_or("").trim_start().to_owned();
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end), Ok(offset)) = (
            u64::from_str_radix(start, 16),
            u64::from_str_radix(end, 16),
            u64::from_str_radix(offset, 16),
        ) else {
            continue;
        };
        out.push(Mapping {
            start,
            end,
            perms: perms.to_owned(),
            offset,
            path,
        });
    }
    out
}

/// The `(major, minor)` in an interpreter file name: `python3.10`, `libpython2.7.so.1.0`.
pub fn version_from_name(path: &str) -> Option<(u32, u32)> {
    let name = Path::new(path).file_name()?.to_str()?;
    let rest = &name[name.find("python")? + "python".len()..];
    let (major, rest) = rest.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The error for a process whose interpreter is too old to have what we read, if its file
/// names say so.
fn too_old(pid: u32, paths: &[&str]) -> Option<SamplerError> {
    let (major, minor) = paths.iter().find_map(|p| version_from_name(p))?;
    ((major, minor) < (3, 11)).then(|| SamplerError::UnsupportedVersion {
        pid,
        version: format!("{major}.{minor}"),
        reason: "only CPython 3.11 and later keep frames the way this sampler reads them".into(),
    })
}

/// Where the runtime is, and how it was found.
#[derive(Clone, Debug)]
pub struct RuntimeLocation {
    /// The ELF file that holds `_PyRuntime` (the executable or `libpython3.X.so`).
    pub binary: PathBuf,
    /// The address of `_PyRuntime` in the target.
    pub runtime_addr: u64,
    /// The size of the `.PyRuntime` section (that is, of `_PyRuntime`), when found that way.
    pub runtime_size: Option<u64>,
    /// The address of `Py_Version` (a `u32` `PY_VERSION_HEX`), when the symbol exists.
    pub py_version_addr: Option<u64>,
    /// `section` (the `.PyRuntime` ELF section) or `symbol` (the `_PyRuntime` symbol).
    pub method: &'static str,
    /// The binary exports what only a debug build (`Py_DEBUG`) has.
    pub debug_build: bool,
}

/// What the ELF file says, relative to its link-time addresses.
#[derive(Debug, Default)]
struct ElfFacts {
    /// The `.PyRuntime` section's address and size.
    runtime_section: Option<(u64, u64)>,
    runtime_symbol: Option<u64>,
    py_version: Option<u64>,
    /// First PT_LOAD `p_vaddr` rounded down to its `p_align`.
    first_load: u64,
    debug_build: bool,
}

fn elf_facts(path: &Path, data: &[u8]) -> Result<ElfFacts> {
    let elf = ElfFile64::<Endianness>::parse(data).map_err(|e| SamplerError::Elf {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let endian = elf.endian();
    let mut facts = ElfFacts::default();
    let first_load = elf
        .elf_program_headers()
        .iter()
        .find(|ph| ph.p_type(endian) == PT_LOAD)
        .ok_or_else(|| SamplerError::Elf {
            path: path.display().to_string(),
            reason: "no PT_LOAD segment".into(),
        })?;
    let align = first_load.p_align(endian).max(1);
    facts.first_load = first_load.p_vaddr(endian) & !(align - 1);
    if let Some(section) = elf.section_by_name(".PyRuntime") {
        facts.runtime_section = Some((section.address(), section.size()));
    }
    for sym in elf.dynamic_symbols().chain(elf.symbols()) {
        match sym.name() {
            Ok("_PyRuntime") if facts.runtime_symbol.is_none() => {
                facts.runtime_symbol = Some(sym.address())
            }
            Ok("Py_Version") if facts.py_version.is_none() => {
                facts.py_version = Some(sym.address())
            }
            Ok(name) if DEBUG_BUILD_SYMBOLS.contains(&name) => facts.debug_build = true,
            _ => {}
        }
    }
    Ok(facts)
}

/// A read-only memory map of a whole file (only the pages the ELF parser touches are read
/// from disk: libpython is tens of megabytes, its headers and symbol tables far less).
struct MappedFile {
    ptr: *mut libc::c_void,
    len: usize,
}

impl MappedFile {
    fn open(path: &Path) -> std::io::Result<MappedFile> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len == 0 {
            return Err(std::io::Error::other("empty file"));
        }
        // SAFETY: mapping a file we opened read-only, private, at an address the kernel
        // picks; the mapping outlives the descriptor and is unmapped in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MappedFile { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes owned by `self`. (Were the
        // file truncated while mapped, reads past its end would fault; interpreter binaries
        // are not rewritten in place.)
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `open`, no longer borrowed.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The path to open for a file mapped by `pid`: through `/proc/PID/root` when it exists (the
/// target may live in another mount namespace), else the path as written.
fn openable_path(pid: u32, path: &str) -> PathBuf {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let via_root = PathBuf::from(format!("/proc/{pid}/root{path}"));
    if via_root.exists() {
        via_root
    } else {
        PathBuf::from(path)
    }
}

/// Reads `/proc/PID/maps`, mapping errors to typed variants.
pub fn read_maps(pid: u32) -> Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| proc_error(pid, "/proc/PID/maps", e))?;
    Ok(parse_maps(&text))
}

/// Finds `_PyRuntime` in process `pid`.
pub fn locate_runtime(pid: u32) -> Result<RuntimeLocation> {
    let maps = read_maps(pid)?;
    if maps.is_empty() {
        // Kernel threads and zombies have no maps.
        return Err(SamplerError::NotPython {
            pid,
            reason: "it has no memory mappings (a zombie or a kernel thread?)".into(),
        });
    }
    let mut candidates: Vec<&Mapping> = maps
        .iter()
        .filter(|m| m.offset == 0 && m.path.starts_with('/'))
        .filter(|m| {
            Path::new(&m.path)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("python"))
        })
        .collect();
    // Prefer libpython (a shared build's executable has no runtime of its own).
    candidates.sort_by_key(|m| !m.path.contains("libpython"));
    candidates.dedup_by(|a, b| a.path == b.path);
    let mut tried = Vec::new();
    for m in candidates {
        let path = openable_path(pid, &m.path);
        let Ok(data) = MappedFile::open(&path) else {
            tried.push(format!("{} (unreadable)", m.path));
            continue;
        };
        let Ok(facts) = elf_facts(&path, data.bytes()) else {
            tried.push(format!("{} (not ELF)", m.path));
            continue;
        };
        let bias = m.start.wrapping_sub(facts.first_load);
        let (addr, runtime_size, method) = match (facts.runtime_section, facts.runtime_symbol) {
            (Some((a, size)), _) => (a, Some(size), "section"),
            (None, Some(a)) => (a, None, "symbol"),
            (None, None) => {
                tried.push(format!("{} (no .PyRuntime, no _PyRuntime)", m.path));
                continue;
            }
        };
        if facts.py_version.is_none()
            && let Some(e) = too_old(pid, &[m.path.as_str()])
        {
            return Err(e);
        }
        return Ok(RuntimeLocation {
            binary: PathBuf::from(&m.path),
            runtime_addr: addr.wrapping_add(bias),
            runtime_size,
            py_version_addr: facts.py_version.map(|a| a.wrapping_add(bias)),
            method,
            debug_build: facts.debug_build,
        });
    }
    let names: Vec<&str> = maps
        .iter()
        .filter(|m| m.offset == 0)
        .map(|m| m.path.as_str())
        .collect();
    if !tried.is_empty()
        && let Some(e) = too_old(pid, &names)
    {
        return Err(e);
    }
    Err(SamplerError::NotPython {
        pid,
        reason: if tried.is_empty() {
            "no mapped file named like python".into()
        } else {
            format!("no CPython runtime in {}", tried.join(", "))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let text = "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234 /usr/bin/python3.11\n\
                    7f00-7f10 rw-p 00000000 00:00 0 \n\
                    7f10-7f20 r-xp 00001000 08:01 99 /lib/libpython3.12.so.1.0 (deleted)\n";
        let maps = parse_maps(text);
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].start, 0x55d0c0a00000);
        assert_eq!(maps[0].path, "/usr/bin/python3.11");
        assert_eq!(maps[1].path, "");
        assert_eq!(maps[2].offset, 0x1000);
        assert_eq!(maps[2].path, "/lib/libpython3.12.so.1.0 (deleted)");
    }

    #[test]
    fn versions_from_file_names() {
        assert_eq!(version_from_name("/usr/bin/python3.11"), Some((3, 11)));
        assert_eq!(
            version_from_name("/x/lib/libpython3.10.so.1.0"),
            Some((3, 10))
        );
        assert_eq!(
            version_from_name("/x/lib/libpython2.7.so.1.0"),
            Some((2, 7))
        );
        assert_eq!(version_from_name("/x/bin/python3.13t"), Some((3, 13)));
        assert_eq!(version_from_name("/usr/bin/python"), None);
    }

    #[test]
    fn our_own_process_is_not_python() {
        match locate_runtime(std::process::id()) {
            Err(SamplerError::NotPython { .. }) => {}
            other => panic!("expected NotPython, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_process_is_reported_as_such() {
        match locate_runtime(0x3fff_fff0) {
            Err(SamplerError::NoSuchProcess { .. }) => {}
            other => panic!("expected NoSuchProcess, got {other:?}"),
        }
    }
}
