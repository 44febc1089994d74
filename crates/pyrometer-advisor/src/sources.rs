//! The user's source files named in a profile: which frames belong to them, where they are now,
//! and whether they changed after the run started.
//!
//! A frame's file is the user's when it is Python code in a real file outside the standard
//! library and installed packages: names such as `<frozen importlib._bootstrap>`, `<string>` or
//! `<stdin>` are skipped, and so are paths inside `site-packages/`, `dist-packages/` and
//! `lib/pythonX.Y/`, and pyrometer's own package (the directory of its `pyrometer/_child.py`
//! bootstrap, which a sampled stack starts in when pyrometer is installed in place). Relative
//! names are resolved against the run's working directory. Only files that exist now are kept
//! (the others are counted in [`Sources::missing`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use pyrometer_profile::{FrameId, FrameKind, Profile};

/// One user source file of the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file as the profile names it (`co_filename`).
    pub name: String,
    /// Where it is now (canonical when it could be resolved).
    pub path: PathBuf,
    /// Its frames in the profile.
    pub frames: Vec<FrameId>,
    /// Modified after the run started (its lines may not be the ones that were measured).
    pub changed: bool,
}

/// The user's source files of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Files that exist now, by path.
    pub files: Vec<SourceFile>,
    /// User files the profile names that do not exist (any more, or on this machine).
    pub missing: Vec<String>,
    /// For each frame of the profile, the index of its file in `files`, if it is one of them.
    pub file_of_frame: Vec<Option<u32>>,
}

impl Sources {
    /// Finds the user's files among the frames of `profile`.
    pub fn of_profile(profile: &Profile) -> Sources {
        let cwd = Path::new(&profile.meta.cwd);
        let start_ns = profile.meta.start_unix_ns;
        // pyrometer's own package: where its child bootstrap is.
        let own_dirs: Vec<&str> = profile
            .frames
            .iter()
            .map(|frame| profile.string(frame.file))
            .filter_map(|file| file.strip_suffix("/_child.py"))
            .filter(|dir| dir.ends_with("/pyrometer"))
            .collect();
        let is_own = |name: &str| {
            own_dirs.iter().any(|dir| {
                name.strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        let mut by_name: BTreeMap<&str, Option<u32>> = BTreeMap::new();
        let mut by_path: BTreeMap<PathBuf, u32> = BTreeMap::new();
        let mut sources = Sources {
            file_of_frame: vec![None; profile.frames.len()],
            ..Sources::default()
        };
        for (id, frame) in profile.frames.iter().enumerate() {
            if frame.kind != FrameKind::Python {
                continue;
            }
            let name = profile.string(frame.file);
            let index = *by_name.entry(name).or_insert_with(|| {
                if !is_user_file(name) || is_own(name) {
                    return None;
                }
                let Some(path) = resolve(name, cwd) else {
                    sources.missing.push(name.to_string());
                    return None;
                };
                if let Some(&existing) = by_path.get(&path) {
                    return Some(existing);
                }
                by_path.insert(path.clone(), sources.files.len() as u32);
                sources.files.push(SourceFile {
                    name: name.to_string(),
                    changed: modified_after(&path, start_ns),
                    path,
                    frames: Vec::new(),
                });
                Some((sources.files.len() - 1) as u32)
            });
            if let Some(index) = index {
                sources.files[index as usize].frames.push(id as FrameId);
                sources.file_of_frame[id] = Some(index);
            }
        }
        sources
    }

    /// The index of the file at `path` (compared canonically), if the profile has it.
    pub fn find(&self, path: &Path) -> Option<usize> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.files.iter().position(|f| f.path == canonical)
    }

    /// The files changed since the run started.
    pub fn changed(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().filter(|f| f.changed)
    }
}

/// Whether a `co_filename` names user code: a real file outside the standard library and
/// installed packages.
pub fn is_user_file(name: &str) -> bool {
    if name.is_empty() || name.starts_with('<') || name == "~" {
        return false;
    }
    if name.contains("/site-packages/") || name.contains("/dist-packages/") {
        return false;
    }
    !is_stdlib(name)
}

/// Whether a path is inside a `lib/pythonX.Y/` directory (the standard library).
pub fn is_stdlib(name: &str) -> bool {
    let mut rest = name;
    while let Some(i) = rest.find("/lib/python") {
        let after = &rest[i + "/lib/python".len()..];
        let version_len = after
            .find('/')
            .filter(|&end| {
                let version = &after[..end];
                !version.is_empty()
                    && version.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && version.starts_with(|c: char| c.is_ascii_digit())
            })
            .unwrap_or(0);
        if version_len > 0 {
            return true;
        }
        rest = after;
    }
    false
}

fn resolve(name: &str, cwd: &Path) -> Option<PathBuf> {
    let path = Path::new(name);
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    if !full.is_file() {
        return None;
    }
    Some(std::fs::canonicalize(&full).unwrap_or(full))
}

fn modified_after(path: &Path, start_unix_ns: u64) -> bool {
    if start_unix_ns == 0 {
        return false;
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .is_some_and(|since| since.as_nanos() > u128::from(start_unix_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_files() {
        assert!(is_user_file("/home/me/app/main.py"));
        assert!(is_user_file("app/main.py"));
        assert!(!is_user_file("<frozen importlib._bootstrap>"));
        assert!(!is_user_file("<string>"));
        assert!(!is_user_file("~"));
        assert!(!is_user_file(
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py"
        ));
        assert!(!is_user_file("/usr/lib/python3.12/threading.py"));
        assert!(!is_user_file(
            "/v/lib/python3.12/site-packages/numpy/core/x.py"
        ));
        assert!(!is_user_file("/usr/lib/python3/dist-packages/apt/x.py"));
        // A project directory that merely starts like one is the user's.
        assert!(is_user_file("/srv/lib/pythonic/app.py"));
    }
}
