//! Which source files line profiling measures when no function list is given: every file under
//! the program's directory, never the standard library or installed packages, narrowed or
//! widened by `--include` / `--exclude` globs.
//!
//! Glob rules (as in `.gitignore`): a pattern without `/` matches any single path component
//! (`tests`, `*_test.py`); a pattern with `/` matches a path from its start — absolute, or
//! relative to the working directory — and selects everything below a directory it matches
//! (`src/app` selects `src/app/models.py`). `*` and `?` stay within a component, `**` crosses
//! components, `[abc]` / `[!abc]` match one character of a set.

use std::cell::Cell;

/// A compiled choice of files.
#[derive(Debug, Default)]
pub struct FileFilter {
    /// Directories (ending in `/`) whose files are measured when no `--include` is given.
    roots: Vec<String>,
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    /// Directories (ending in `/`) never measured unless an include pattern names them: the
    /// standard library, pyrometer itself.
    excluded_dirs: Vec<String>,
    /// The working directory (ending in `/`), for relative patterns.
    cwd: String,
}

#[derive(Debug)]
struct Pattern {
    text: String,
    matched: Cell<bool>,
}

fn with_slash(dir: &str) -> String {
    if dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    }
}

impl FileFilter {
    pub fn new(
        roots: &[String],
        include: &[String],
        exclude: &[String],
        excluded_dirs: &[String],
        cwd: &str,
    ) -> Result<FileFilter, String> {
        let compile = |list: &[String], flag: &str| {
            list.iter()
                .map(|p| {
                    let text = p.trim().trim_end_matches('/').to_string();
                    if text.is_empty() {
                        return Err(format!("{flag} needs a pattern, got '{p}'"));
                    }
                    if text.matches('[').count() != text.matches(']').count() {
                        return Err(format!("{flag} '{p}': unbalanced [ ]"));
                    }
                    Ok(Pattern {
                        text,
                        matched: Cell::new(false),
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(FileFilter {
            roots: roots.iter().map(|r| with_slash(r)).collect(),
            include: compile(include, "--include")?,
            exclude: compile(exclude, "--exclude")?,
            excluded_dirs: excluded_dirs.iter().map(|r| with_slash(r)).collect(),
            cwd: with_slash(cwd),
        })
    }

    /// Whether the code of `file` (a `co_filename`) is measured. Code with no file of its own
    /// (`<string>`, `<frozen …>`) never is: `-c` code is given as code objects instead.
    pub fn selects(&self, file: &str) -> bool {
        if file.starts_with('<') || file.is_empty() {
            return false;
        }
        if self.exclude.iter().any(|p| self.matches(p, file)) {
            return false;
        }
        if !self.include.is_empty() {
            return self.include.iter().any(|p| self.matches(p, file));
        }
        let installed = file
            .split('/')
            .any(|c| c == "site-packages" || c == "dist-packages");
        if installed || self.excluded_dirs.iter().any(|d| file.starts_with(d)) {
            return false;
        }
        self.roots.iter().any(|r| file.starts_with(r))
    }

    /// The include patterns that matched no file seen so far.
    pub fn unused_includes(&self) -> Vec<String> {
        self.include
            .iter()
            .filter(|p| !p.matched.get())
            .map(|p| p.text.clone())
            .collect()
    }

    fn matches(&self, pattern: &Pattern, file: &str) -> bool {
        let p = pattern.text.as_bytes();
        let hit = if !pattern.text.contains('/') {
            file.split('/').any(|c| glob(p, c.as_bytes()))
        } else if pattern.text.starts_with('/') {
            prefix_match(p, file)
        } else {
            file.strip_prefix(&self.cwd)
                .is_some_and(|rel| prefix_match(p, rel))
                || (pattern.text.starts_with("**/") && prefix_match(p, file))
        };
        if hit {
            pattern.matched.set(true);
        }
        hit
    }
}

/// Whether `pattern` matches `path` or one of its leading directories.
fn prefix_match(pattern: &[u8], path: &str) -> bool {
    let bytes = path.as_bytes();
    (0..=bytes.len())
        .filter(|&i| i == bytes.len() || bytes[i] == b'/')
        .any(|i| glob(pattern, &bytes[..i]))
}

/// Matches a glob against a whole string (`**` crosses `/`, `*` and `?` do not).
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            // `**/` also matches no directory at all.
            let rest = &p[2..];
            let rest_after_slash = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=s.len()).any(|i| glob(rest, &s[i..]))
                || (rest.len() != rest_after_slash.len() && glob(rest_after_slash, s))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == b'/' {
                    break;
                }
            }
            false
        }
        Some(b'?') => s.first().is_some_and(|&c| c != b'/') && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().position(|&c| c == b']') else {
                return s.first() == Some(&b'[') && glob(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let set = &p[1..end];
            let (negated, set) = match set.first() {
                Some(b'!' | b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut found = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    found |= (set[i]..=set[i + 2]).contains(&c);
                    i += 3;
                } else {
                    found |= set[i] == c;
                    i += 1;
                }
            }
            found != negated && c != b'/' && glob(&p[end + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> FileFilter {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FileFilter::new(
            &own(&["/proj"]),
            &own(include),
            &own(exclude),
            &own(&["/usr/lib/python3.12", "/proj/python/pyrometer"]),
            "/proj",
        )
        .unwrap()
    }

    #[test]
    fn default_is_the_program_directory_without_installed_code() {
        let f = filter(&[], &[]);
        assert!(f.selects("/proj/app.py"));
        assert!(f.selects("/proj/pkg/deep/mod.py"));
        assert!(!f.selects("<string>"));
        assert!(!f.selects("/projection/app.py"));
        assert!(!f.selects("/usr/lib/python3.12/json/__init__.py"));
        assert!(!f.selects("/proj/.venv/lib/python3.12/site-packages/x.py"));
        assert!(!f.selects("/proj/python/pyrometer/profiler.py"));
        assert!(!f.selects("<frozen importlib._bootstrap>"));
    }

    #[test]
    fn globs_follow_gitignore_rules() {
        let f = filter(&[], &["tests", "*_gen.py"]);
        assert!(f.selects("/proj/app.py"));
        assert!(!f.selects("/proj/tests/test_app.py"));
        assert!(!f.selects("/proj/pkg/schema_gen.py"));
        let f = filter(&["pkg/**/m?.py", "/usr/lib/python3.12/json"], &[]);
        assert!(f.selects("/proj/pkg/a/b/m1.py"));
        assert!(f.selects("/proj/pkg/m2.py"));
        assert!(!f.selects("/proj/pkg/m10.py"));
        assert!(!f.selects("/proj/app.py"));
        assert!(f.selects("/usr/lib/python3.12/json/decoder.py"));
        let f = filter(&["src/[a-c]*.py", "lib"], &[]);
        assert!(f.selects("/proj/src/b.py"));
        assert!(!f.selects("/proj/src/d.py"));
        assert!(!f.selects("/proj/src/sub/b.py"));
        assert_eq!(f.unused_includes(), vec!["lib".to_string()]);
        assert!(f.selects("/proj/lib/x.py"));
        assert!(f.unused_includes().is_empty());
    }

    #[test]
    fn bad_patterns_are_errors() {
        let bad = FileFilter::new(&[], &["src/[ab".into()], &[], &[], "/");
        assert!(bad.unwrap_err().contains("unbalanced"));
        assert!(FileFilter::new(&[], &[], &["".into()], &[], "/").is_err());
    }
}
