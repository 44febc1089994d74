//! Renderers: every output pyrometer writes, from a [`Profile`] and nothing else.
//!
//! Adding a format is one new module implementing [`Renderer`] plus one line in
//! [`Format::renderer`].

pub mod collapsed;
pub mod flamegraph;
pub mod format;
pub mod marshal;
pub mod pstats;
pub mod speedscope;
pub mod text;
pub mod timeline;

use std::io::{self, Write};
use std::path::Path;

use pyrometer_profile::analysis::ThreadFilter;
use pyrometer_profile::{Metric, Profile};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The terminal report (top tables).
    Text,
    /// cProfile's marshalled stats, read by `pstats.Stats`, snakeviz, gprof2dot.
    Pstats,
    /// speedscope's JSON file format.
    Speedscope,
    /// Collapsed stacks (`a;b;c 42`), read by flamegraph.pl, inferno, speedscope.
    Collapsed,
    /// An interactive flame graph (SVG).
    FlameGraph,
    /// pyrometer's own JSON export.
    Json,
    /// The memory timeline (traced memory and RSS over time) as an SVG line chart.
    Timeline,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Text,
        Format::Pstats,
        Format::Speedscope,
        Format::Collapsed,
        Format::FlameGraph,
        Format::Json,
        Format::Timeline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Pstats => "pstats",
            Format::Speedscope => "speedscope",
            Format::Collapsed => "collapsed",
            Format::FlameGraph => "svg",
            Format::Json => "json",
            Format::Timeline => "timeline",
        }
    }

    /// Parses a format name (`pstats`, `speedscope`, `collapsed`, `svg`/`flamegraph`, `json`,
    /// `text`, `timeline`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "text" | "txt" => Some(Format::Text),
            "pstats" | "prof" | "cprofile" => Some(Format::Pstats),
            "speedscope" => Some(Format::Speedscope),
            "collapsed" | "folded" => Some(Format::Collapsed),
            "svg" | "flamegraph" | "flame" => Some(Format::FlameGraph),
            "json" => Some(Format::Json),
            "timeline" => Some(Format::Timeline),
            _ => None,
        }
    }

    /// The format a file name implies: `.prof`/`.pstats`, `.speedscope.json`, `.collapsed`/
    /// `.folded`, `.timeline.svg`, `.svg`, `.json`, `.txt`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".speedscope.json") {
            return Some(Format::Speedscope);
        }
        if name.ends_with(".timeline.svg") {
            return Some(Format::Timeline);
        }
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "prof" | "pstats" => Some(Format::Pstats),
            "collapsed" | "folded" => Some(Format::Collapsed),
            "svg" => Some(Format::FlameGraph),
            "json" => Some(Format::Json),
            "txt" => Some(Format::Text),
            _ => None,
        }
    }

    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Pstats)
    }

    pub fn renderer(self) -> &'static dyn Renderer {
        match self {
            Format::Text => &text::TopReport,
            Format::Pstats => &pstats::Pstats,
            Format::Speedscope => &speedscope::Speedscope,
            Format::Collapsed => &collapsed::Collapsed,
            Format::FlameGraph => &flamegraph::FlameGraph,
            Format::Json => &JsonExport,
            Format::Timeline => &timeline::Timeline,
        }
    }
}

/// How to order the rows of a function table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    SelfTime,
    TotalTime,
    Calls,
    Name,
    File,
}

impl SortKey {
    pub fn from_name(name: &str) -> Option<SortKey> {
        match name.to_ascii_lowercase().as_str() {
            "self" | "tottime" | "time" => Some(SortKey::SelfTime),
            "total" | "cumulative" | "cumtime" | "inclusive" => Some(SortKey::TotalTime),
            "calls" | "ncalls" => Some(SortKey::Calls),
            "name" => Some(SortKey::Name),
            "file" | "filename" => Some(SortKey::File),
            _ => None,
        }
    }
}

/// Options every renderer may read.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Rows per table.
    pub top: usize,
    /// `None`: one table by self time and one by inclusive time. `Some`: one table, so sorted.
    pub sort: Option<SortKey>,
    /// The metric to report; the profile's time metric when `None`.
    pub metric: Option<Metric>,
    pub threads: ThreadFilter,
    /// ANSI colours in text output.
    pub color: bool,
    /// Paths are shown relative to this directory when they are inside it.
    pub base_dir: Option<String>,
    /// Tree reports hide nodes below this share of the total (percent).
    pub min_share: f64,
    /// Tree reports stop at this depth.
    pub max_depth: usize,
    /// A title for graphical outputs.
    pub title: Option<String>,
    /// Line-level reports: seconds per unit of the Time and Per Hit columns (1e-6 if `None`).
    pub unit: Option<f64>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            top: 20,
            sort: None,
            metric: None,
            threads: ThreadFilter::All,
            color: false,
            base_dir: None,
            min_share: 0.5,
            max_depth: 64,
            title: None,
            unit: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the profile has no {0} to show")]
    Empty(&'static str),
    #[error("{0}")]
    Other(String),
}

/// Writes one output format.
pub trait Renderer: Sync {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError>;
}

/// Renders `profile` in `format` into a byte vector.
pub fn render_to_vec(
    format: Format,
    profile: &Profile,
    options: &RenderOptions,
) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    format.renderer().render(profile, options, &mut out)?;
    Ok(out)
}

/// Renders `profile` in `format` into a file, atomically.
pub fn render_to_file(
    format: Format,
    profile: &Profile,
    options: &RenderOptions,
    path: &Path,
) -> Result<(), RenderError> {
    let bytes = render_to_vec(format, profile, options)?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

/// pyrometer's JSON export.
pub struct JsonExport;

impl Renderer for JsonExport {
    fn render(
        &self,
        profile: &Profile,
        _: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        out.write_all(pyrometer_profile::json::to_json(profile).as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
