//! What `bench`, `bench compare`, `history` and `gate` share: the store, references to runs,
//! output formats, error mapping.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use pyrometer_bench::format::Unit;
use pyrometer_bench::render::{self, Options};
use pyrometer_bench::{BenchError, Document};
use pyrometer_store::{Store, StoreError};

use crate::{UserError, user_error};

/// How a report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
}

impl OutputFormat {
    /// The format of a file, by its extension: `.json`, `.md`, else text.
    pub fn of_path(path: &Path) -> OutputFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => OutputFormat::Json,
            Some("md" | "markdown") => OutputFormat::Markdown,
            _ => OutputFormat::Text,
        }
    }
}

pub fn parse_unit(s: &str) -> Result<Unit, String> {
    Unit::from_name(s)
        .ok_or_else(|| format!("unknown unit '{s}' (expected one of: nsec, usec, msec, sec)"))
}

/// A run's report in a format.
pub fn render_document(doc: &Document, format: OutputFormat, options: &Options) -> String {
    match format {
        OutputFormat::Text => render::text::report(doc, options),
        OutputFormat::Markdown => render::markdown::report(doc, options),
        OutputFormat::Json => pyrometer_bench::to_json(doc),
    }
}

/// Writes to stdout, treating a closed pipe as success.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| user_error(format!("cannot write {}: {e}", path.display())).into())
}

/// A store error as the user sees it.
pub fn store_error(e: StoreError) -> UserError {
    let hint = match &e {
        StoreError::Corrupt { path } | StoreError::Foreign { path } => Some(format!(
            "move {path} away to start a new history, or run with --no-store"
        )),
        StoreError::Newer { .. } => Some("upgrade pyrometer to read this history".to_string()),
        StoreError::NoSuchName(_) => {
            Some("save a run under a name with `pyrometer bench … --save NAME`".into())
        }
        StoreError::Empty => Some("run `pyrometer bench …` first".into()),
        _ => None,
    };
    let error = user_error(e.to_string());
    match hint {
        Some(h) => error.hint(h),
        None => error,
    }
}

/// A benchmark error as the user sees it: status 2 for what the user can fix, 1 for the rest.
pub fn bench_error(e: BenchError) -> anyhow::Error {
    match e {
        BenchError::Protocol(_) => anyhow::Error::from(e),
        BenchError::CommandFailed { .. } => user_error(e.to_string())
            .hint("use --ignore-failure to time it anyway, --show-output to see what it printed")
            .into(),
        other => user_error(other.to_string()).into(),
    }
}

/// Opens the store of the settings directory (creating it).
pub fn open_store(dir: &Path) -> Result<Store, UserError> {
    Store::open(dir).map_err(store_error)
}

/// Opens the store if there is one; says there is none otherwise.
pub fn open_existing_store(dir: &Path) -> Result<Store, UserError> {
    match Store::open_existing(dir).map_err(store_error)? {
        Some(store) => Ok(store),
        None => Err(
            user_error(format!("no benchmark history in {} yet", dir.display()))
                .hint("run `pyrometer bench …` first; every run is recorded there"),
        ),
    }
}

/// A run named on the command line: a result JSON file, `#ID` or a number (a stored run), or
/// a name a run was saved under. Returns the document and how to call it.
pub fn resolve_run(reference: &str, dir: &Path) -> Result<(Document, String), UserError> {
    let path = Path::new(reference);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| user_error(format!("cannot read {reference}: {e}")))?;
        let doc = pyrometer_bench::parse_document(&text, reference)
            .map_err(|e| user_error(e.to_string()))?;
        return Ok((doc, reference.to_string()));
    }
    let id = reference
        .strip_prefix('#')
        .unwrap_or(reference)
        .parse::<i64>()
        .ok();
    if id.is_none() && (reference.contains('/') || reference.ends_with(".json")) {
        return Err(user_error(format!("cannot read {reference}: no such file")));
    }
    let store = open_existing_store(dir)?;
    let id = match id {
        Some(id) => id,
        None => store.saved(reference).map_err(|e| match e {
            StoreError::NoSuchName(_) => user_error(format!(
                "no file, and no run saved as '{reference}' in the history"
            ))
            .hint("`pyrometer history` lists the runs and their names"),
            other => store_error(other),
        })?,
    };
    let doc = store.load(id).map_err(store_error)?;
    let label = if reference.starts_with('#') || reference.parse::<i64>().is_ok() {
        format!("run #{id}")
    } else {
        format!("'{reference}' (run #{id})")
    };
    Ok((doc, label))
}

/// Report options from the shared flags.
pub fn options(unit: Option<Unit>, verbose: bool) -> Options {
    Options { unit, verbose }
}

/// `YYYY-mm-dd HH:MM` in local time.
pub fn local_time(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    // SAFETY: localtime_r writes into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = secs;
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}
