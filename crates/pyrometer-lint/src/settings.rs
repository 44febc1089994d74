//! Rule selection and file exclusion, from code or from `[tool.pyrometer.check]`.
//!
//! Selection follows ruff's model with one twist for rules that are off by default:
//!
//! * `select` empty: the default rules (those with `default_enabled`).
//! * `select` entries are exact codes (`PYR101`), prefixes (`PYR1`, `PYR`), or `ALL`. An exact
//!   code or `ALL` enables rules whether or not they are on by default; a prefix enables only the
//!   default-on rules it matches (so `PYR5` does not turn on the noisy micro-optimisation rules;
//!   name them one by one).
//! * `extend-select` adds to whatever `select` chose, with the same matching.
//! * `ignore` removes matching rules (prefixes match every rule, default or not) and wins over
//!   `select`.
//!
//! `exclude` holds glob patterns (gitignore-like `*`, `**`, `?`, `[...]`) matched against each
//! path met while walking a directory, relative to the directory given, and against its last
//! component. Files named explicitly are always checked.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::codes::{RULES, Rule, RuleSet};

/// Errors from building settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A selector matches no rule.
    #[error(
        "unknown rule selector `{0}` (expected a code such as PYR101, a prefix such as PYR1, or ALL)"
    )]
    UnknownSelector(String),
    /// An exclude pattern is not a valid glob.
    #[error("invalid exclude pattern `{pattern}`: {source}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// Why.
        #[source]
        source: globset::Error,
    },
    /// pyproject.toml could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// pyproject.toml is not valid TOML, or the table has unknown keys or wrong types.
    #[error("invalid [tool.pyrometer.check] in {path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The raw options, as written in `[tool.pyrometer.check]` (kebab-case keys) or given by the
/// CLI. Merge CLI over file with [`CheckOptions::merge`], then build [`Settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CheckOptions {
    /// Rules to enable (codes, prefixes, `ALL`); empty or absent means the defaults.
    pub select: Option<Vec<String>>,
    /// Rules to enable in addition to `select`.
    pub extend_select: Option<Vec<String>>,
    /// Rules to disable.
    pub ignore: Option<Vec<String>>,
    /// Glob patterns of paths to skip while walking directories.
    pub exclude: Option<Vec<String>>,
}

impl CheckOptions {
    /// `self` where set, else `base` (e.g. CLI options over pyproject options).
    #[must_use]
    pub fn merge(self, base: CheckOptions) -> CheckOptions {
        CheckOptions {
            select: self.select.or(base.select),
            extend_select: self.extend_select.or(base.extend_select),
            ignore: self.ignore.or(base.ignore),
            exclude: self.exclude.or(base.exclude),
        }
    }

    /// Reads `[tool.pyrometer.check]` from a pyproject.toml's text. A file without the table
    /// gives default options.
    pub fn from_pyproject_str(text: &str, path: &Path) -> Result<CheckOptions, SettingsError> {
        #[derive(Deserialize)]
        struct Pyproject {
            tool: Option<Tool>,
        }
        #[derive(Deserialize)]
        struct Tool {
            pyrometer: Option<Pyrometer>,
        }
        #[derive(Deserialize)]
        struct Pyrometer {
            check: Option<CheckOptions>,
        }
        let parsed: Pyproject = toml::from_str(text).map_err(|error| SettingsError::Toml {
            path: path.to_path_buf(),
            message: error.message().to_string(),
        })?;
        Ok(parsed
            .tool
            .and_then(|tool| tool.pyrometer)
            .and_then(|pyrometer| pyrometer.check)
            .unwrap_or_default())
    }

    /// Reads `[tool.pyrometer.check]` from a pyproject.toml file.
    pub fn from_pyproject(path: &Path) -> Result<CheckOptions, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pyproject_str(&text, path)
    }
}

/// The nearest `pyproject.toml` in `start` or its ancestors.
pub fn find_pyproject(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("pyproject.toml"))
        .find(|candidate| candidate.is_file())
}

/// Resolved settings: the enabled rules and the exclude matcher.
#[derive(Debug, Clone)]
pub struct Settings {
    rules: RuleSet,
    exclude: GlobSet,
    exclude_patterns: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rules: RuleSet::defaults(),
            exclude: GlobSet::empty(),
            exclude_patterns: Vec::new(),
        }
    }
}

impl Settings {
    /// Validates options and resolves the rule selection.
    pub fn from_options(options: &CheckOptions) -> Result<Settings, SettingsError> {
        let mut rules = match options.select.as_deref() {
            None | Some([]) => RuleSet::defaults(),
            Some(selectors) => select(RuleSet::empty(), selectors)?,
        };
        if let Some(extra) = &options.extend_select {
            rules = select(rules, extra)?;
        }
        for selector in options.ignore.iter().flatten() {
            for rule in matching(selector)? {
                rules = rules.without(rule);
            }
        }
        let patterns = options.exclude.clone().unwrap_or_default();
        let mut builder = GlobSetBuilder::new();
        for pattern in &patterns {
            let glob = Glob::new(pattern).map_err(|source| SettingsError::BadGlob {
                pattern: pattern.clone(),
                source,
            })?;
            builder.add(glob);
        }
        let exclude = builder.build().map_err(|source| SettingsError::BadGlob {
            pattern: patterns.join(", "),
            source,
        })?;
        Ok(Settings {
            rules,
            exclude,
            exclude_patterns: patterns,
        })
    }

    /// Settings from `[tool.pyrometer.check]` of a pyproject.toml.
    pub fn from_pyproject(path: &Path) -> Result<Settings, SettingsError> {
        Self::from_options(&CheckOptions::from_pyproject(path)?)
    }

    /// Settings that run exactly these rules.
    pub fn only(rules: RuleSet) -> Settings {
        Settings {
            rules,
            ..Settings::default()
        }
    }

    /// The same settings (excludes included) running `rules` instead.
    #[must_use]
    pub fn with_rules(&self, rules: RuleSet) -> Settings {
        Settings {
            rules,
            ..self.clone()
        }
    }

    /// Whether `path` (relative to the directory it was found from) matches an `exclude`
    /// pattern, as a whole or by its file name. A directory walk applies this to every path it
    /// meets; callers that check files by name can apply it themselves.
    pub fn excludes(&self, path: &Path) -> bool {
        self.is_excluded(path)
    }

    /// The enabled rules.
    pub fn rules(&self) -> RuleSet {
        self.rules
    }

    /// The exclude patterns as given.
    pub fn exclude_patterns(&self) -> &[String] {
        &self.exclude_patterns
    }

    /// Whether a walked path is excluded (matched as given relative path or by file name).
    pub(crate) fn is_excluded(&self, relative: &Path) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        self.exclude.is_match(relative)
            || relative
                .file_name()
                .is_some_and(|name| self.exclude.is_match(Path::new(name)))
    }
}

fn select(mut rules: RuleSet, selectors: &[String]) -> Result<RuleSet, SettingsError> {
    for selector in selectors {
        let exact = Rule::from_code(selector).is_some() || selector.eq_ignore_ascii_case("ALL");
        for rule in matching(selector)? {
            if exact || rule.info().default_enabled {
                rules = rules.with(rule);
            }
        }
    }
    Ok(rules)
}

/// Every rule a selector names (regardless of defaults).
fn matching(selector: &str) -> Result<Vec<Rule>, SettingsError> {
    let selector = selector.trim();
    if selector.eq_ignore_ascii_case("ALL") {
        return Ok(RULES.iter().map(|info| info.rule).collect());
    }
    let upper = selector.to_ascii_uppercase();
    let found: Vec<Rule> = RULES
        .iter()
        .filter(|info| !upper.is_empty() && info.code.starts_with(&upper))
        .map(|info| info.rule)
        .collect();
    if found.is_empty() {
        return Err(SettingsError::UnknownSelector(selector.to_string()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(select: &[&str], ignore: &[&str]) -> CheckOptions {
        CheckOptions {
            select: Some(select.iter().map(ToString::to_string).collect()),
            ignore: Some(ignore.iter().map(ToString::to_string).collect()),
            ..CheckOptions::default()
        }
    }

    #[test]
    fn prefixes_select_default_rules_and_codes_select_any() {
        let settings = Settings::from_options(&options(&["PYR5", "PYR503"], &[])).unwrap();
        let rules: Vec<_> = settings.rules().iter().map(Rule::code).collect();
        assert_eq!(rules, ["PYR503"]);
        let settings = Settings::from_options(&options(&["PYR1"], &["PYR103"])).unwrap();
        assert!(settings.rules().contains(Rule::StringConcatInLoop));
        assert!(!settings.rules().contains(Rule::ListMembershipInLoop));
        let all = Settings::from_options(&options(&["ALL"], &["PYR5"])).unwrap();
        assert!(all.rules().contains(Rule::ManualAnyAll));
        assert!(!all.rules().contains(Rule::GlobalLookupInLoop));
    }

    #[test]
    fn unknown_selector_is_an_error() {
        assert!(matches!(
            Settings::from_options(&options(&["E501"], &[])),
            Err(SettingsError::UnknownSelector(_))
        ));
    }

    #[test]
    fn reads_pyproject_table() {
        let text = r#"
[project]
name = "x"

[tool.pyrometer.check]
select = ["PYR1", "PYR501"]
ignore = ["PYR101"]
exclude = ["build/**", "*_pb2.py"]
"#;
        let options = CheckOptions::from_pyproject_str(text, Path::new("pyproject.toml")).unwrap();
        let settings = Settings::from_options(&options).unwrap();
        assert!(settings.rules().contains(Rule::GlobalLookupInLoop));
        assert!(!settings.rules().contains(Rule::StringConcatInLoop));
        assert!(settings.is_excluded(Path::new("build/lib/a.py")));
        assert!(settings.is_excluded(Path::new("pkg/foo_pb2.py")));
        assert!(!settings.is_excluded(Path::new("pkg/foo.py")));
    }

    #[test]
    fn rejects_unknown_keys() {
        let text = "[tool.pyrometer.check]\nselct = [\"PYR1\"]\n";
        let error = CheckOptions::from_pyproject_str(text, Path::new("p.toml")).unwrap_err();
        assert!(error.to_string().contains("selct"), "{error}");
    }

    #[test]
    fn missing_table_is_default() {
        let options = CheckOptions::from_pyproject_str("[project]\n", Path::new("p")).unwrap();
        assert_eq!(options, CheckOptions::default());
    }
}
