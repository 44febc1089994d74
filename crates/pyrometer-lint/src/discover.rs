//! Finding the Python files to check.

use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// Directory names never entered while walking (files named explicitly are still checked).
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".venv",
    ".eggs",
    "node_modules",
    "site-packages",
    "__pypackages__",
    "buck-out",
    "_build",
    ".direnv",
    ".ipynb_checkpoints",
];

/// A path that could not be walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalkError {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

/// The `*.py` files under `paths`, sorted and deduplicated. A path that is a file is taken as
/// is (whatever its extension); directories are walked, skipping VCS and cache directories,
/// virtual environments (`.venv`, or any directory holding a `pyvenv.cfg`: a package named
/// `venv`, like the stdlib's, is walked), `site-packages`, and paths
/// matching the settings' `exclude` globs. Unreadable paths are returned as errors.
pub(crate) fn python_files(
    paths: &[PathBuf],
    settings: &Settings,
) -> (Vec<PathBuf>, Vec<WalkError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, path, settings, &mut files, &mut errors),
            Ok(_) => files.push(path.clone()),
            Err(error) => errors.push(WalkError {
                path: path.clone(),
                message: error.to_string(),
            }),
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

fn walk(
    root: &Path,
    dir: &Path,
    settings: &Settings,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<WalkError>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(WalkError {
                path: dir.to_path_buf(),
                message: error.to_string(),
            });
            return;
        }
    };
    let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
    children.sort_by_key(std::fs::DirEntry::file_name);
    for entry in children {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path);
        if settings.is_excluded(relative) {
            continue;
        }
        // `file_type` does not follow symlinks; a symlinked directory is not entered (no
        // cycles), a symlinked file is checked.
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() {
            if SKIPPED_DIRS.contains(&name.as_ref()) || path.join("pyvenv.cfg").is_file() {
                continue;
            }
            walk(root, &path, settings, files, errors);
        } else if name.ends_with(".py") && (file_type.is_file() || path.is_file()) {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::CheckOptions;

    #[test]
    fn walks_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "a.py",
            "b.txt",
            "pkg/c.py",
            "pkg/__pycache__/c.py",
            ".git/x.py",
            "env/lib/site-packages/d.py",
            "venv2/pyvenv.cfg",
            "venv2/e.py",
            "venv/__init__.py",
            ".venv/g.py",
            "gen/f_pb2.py",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let settings = Settings::from_options(&CheckOptions {
            exclude: Some(vec!["*_pb2.py".into()]),
            ..CheckOptions::default()
        })
        .unwrap();
        let (files, errors) = python_files(&[root.to_path_buf()], &settings);
        assert!(errors.is_empty());
        let names: Vec<_> = files
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        // A package named `venv` (the stdlib's) is not a virtual environment: no `pyvenv.cfg`.
        assert_eq!(names, ["a.py", "pkg/c.py", "venv/__init__.py"]);
        // An explicitly given site-packages directory is walked.
        let (files, _) = python_files(&[root.join("env/lib/site-packages")], &settings);
        assert_eq!(files.len(), 1);
    }
}
