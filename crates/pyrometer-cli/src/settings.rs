//! Settings, resolved once: command line > environment (`PYROMETER_*`) > `[tool.pyrometer]` in
//! the nearest pyproject.toml > defaults.

use std::path::{Path, PathBuf};

use pyrometer_render::SortKey;
use serde::Deserialize;

use crate::{UserError, user_error};

/// The `[tool.pyrometer]` table. Other tables below it (`[tool.pyrometer.check]`, …) belong to
/// other commands and are ignored here.
#[derive(Debug, Default, Deserialize)]
struct FileSettings {
    top: Option<usize>,
    sort: Option<String>,
    min_share: Option<f64>,
    dir: Option<PathBuf>,
    advice: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct Tool {
    pyrometer: Option<FileSettings>,
}

#[derive(Debug, Default, Deserialize)]
struct PyProject {
    tool: Option<Tool>,
}

/// Values the command line did not give, from the environment, pyproject.toml or defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub top: usize,
    pub sort: Option<SortKey>,
    pub min_share: f64,
    /// Where runs are saved: `.pyrometer/` of the working directory by default.
    pub dir: PathBuf,
    /// Whether reports end with the Advice section (`advice`, `PYROMETER_ADVICE`).
    pub advice: bool,
}

fn find_pyproject(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join("pyproject.toml"))
        .find(|p| p.is_file())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, UserError> {
    value
        .parse()
        .map_err(|_| user_error(format!("{name}={value} is not a valid value")))
}

fn sort_key(origin: &str, value: &str) -> Result<SortKey, UserError> {
    SortKey::from_name(value).ok_or_else(|| {
        user_error(format!(
            "{origin}: unknown sort key '{value}' (expected one of: self, total, calls, name, file)"
        ))
    })
}

impl Settings {
    pub fn load(cwd: &Path) -> Result<Settings, UserError> {
        let mut file = FileSettings::default();
        let mut file_dir = cwd.to_path_buf();
        if let Some(path) = find_pyproject(cwd) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| user_error(format!("cannot read {}: {e}", path.display())))?;
            let project: PyProject = toml::from_str(&text).map_err(|e| {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                user_error(format!(
                    "{}: invalid [tool.pyrometer] settings: {first}",
                    path.display()
                ))
            })?;
            if let Some(settings) = project.tool.and_then(|t| t.pyrometer) {
                file = settings;
                file_dir = path.parent().unwrap_or(cwd).to_path_buf();
            }
        }
        let top = match env("PYROMETER_TOP") {
            Some(v) => parse("PYROMETER_TOP", &v)?,
            None => file.top.unwrap_or(20),
        };
        let sort = match env("PYROMETER_SORT") {
            Some(v) => Some(sort_key("PYROMETER_SORT", &v)?),
            None => file
                .sort
                .as_deref()
                .map(|v| sort_key("[tool.pyrometer] sort", v))
                .transpose()?,
        };
        let min_share = match env("PYROMETER_MIN_SHARE") {
            Some(v) => parse("PYROMETER_MIN_SHARE", &v)?,
            None => file.min_share.unwrap_or(0.5),
        };
        let dir = match env("PYROMETER_DIR") {
            Some(v) => cwd.join(v),
            None => file
                .dir
                .map_or_else(|| cwd.join(".pyrometer"), |d| file_dir.join(d)),
        };
        let advice = match env("PYROMETER_ADVICE") {
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(
                        user_error(format!("PYROMETER_ADVICE={v} is not a valid value"))
                            .hint("use 1 or 0"),
                    );
                }
            },
            None => file.advice.unwrap_or(true),
        };
        Ok(Settings {
            top,
            sort,
            min_share,
            dir,
            advice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_settings_apply_and_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("pkg/sub");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname='x'\n[tool.pyrometer]\ntop = 7\nsort = 'total'\n[tool.pyrometer.check]\nselect=['PYR']\n").unwrap();
        let s = Settings::load(&nested).unwrap();
        assert_eq!(s.top, 7);
        assert_eq!(s.sort, Some(SortKey::TotalTime));
        assert_eq!(s.dir, nested.join(".pyrometer"));
        assert!(s.advice);
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.pyrometer]\nadvice = false\n",
        )
        .unwrap();
        assert!(!Settings::load(&nested).unwrap().advice);
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.pyrometer]\nsort = 'fastest'\n",
        )
        .unwrap();
        let err = Settings::load(&nested).unwrap_err();
        assert!(
            err.message.contains("unknown sort key 'fastest'"),
            "{}",
            err.message
        );
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.pyrometer\n").unwrap();
        assert!(
            Settings::load(&nested)
                .unwrap_err()
                .message
                .contains("invalid")
        );
    }
}
