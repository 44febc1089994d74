//! Checking sources and paths, and the [`Report`] that collects the results.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::checker::{Finding, check_module};
use crate::codes::Rule;
use crate::diagnostic::{Cost, Diagnostic, FileError, FileErrorKind, FileReport};
use crate::noqa::NoqaMap;
use crate::outline::{Outline, outline_suite};
use crate::parse::parse_module;
use crate::settings::Settings;
use crate::source::SourceIndex;

/// Stack the checker wants free before it starts: deeply nested sources recurse deeply in the
/// walk and when the syntax tree is dropped. Threads with less get a fresh stack segment.
const STACK_WANTED: usize = 48 << 20;
const STACK_SEGMENT: usize = 64 << 20;

/// Checks one source text. Never fails: unparsable sources give a report with a parse error.
pub fn check_source(path: &Path, source: &str, settings: &Settings) -> FileReport {
    check_source_guarded(path, source, settings, false).0
}

/// [`check_source`] plus the module's [`Outline`] (functions, classes, constructor calls) from
/// the same parse; the outline is `None` when the source does not parse.
pub fn check_source_outlined(
    path: &Path,
    source: &str,
    settings: &Settings,
) -> (FileReport, Option<Outline>) {
    check_source_guarded(path, source, settings, true)
}

fn check_source_guarded(
    path: &Path,
    source: &str,
    settings: &Settings,
    outline: bool,
) -> (FileReport, Option<Outline>) {
    let guarded = catch_unwind(AssertUnwindSafe(|| {
        stacker::maybe_grow(STACK_WANTED, STACK_SEGMENT, || {
            check_source_inner(path, source, settings, outline)
        })
    }));
    guarded.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let report = FileReport {
            path: path.to_path_buf(),
            diagnostics: Vec::new(),
            error: Some(FileError {
                kind: FileErrorKind::Internal,
                message: format!("internal error (please report): {message}"),
                position: None,
            }),
        };
        (report, None)
    })
}

fn check_source_inner(
    path: &Path,
    source: &str,
    settings: &Settings,
    want_outline: bool,
) -> (FileReport, Option<Outline>) {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let index = SourceIndex::new(source);
    let parsed = match parse_module(source) {
        Ok(parsed) => parsed,
        Err(failure) => {
            let report = FileReport {
                path: path.to_path_buf(),
                diagnostics: Vec::new(),
                error: Some(FileError {
                    kind: FileErrorKind::Parse,
                    message: failure.message,
                    position: Some(index.position(failure.range.start())),
                }),
            };
            return (report, None);
        }
    };
    let findings = check_module(source, parsed.suite(), settings.rules());
    let diagnostics = if findings.is_empty() {
        Vec::new()
    } else {
        let noqa = NoqaMap::from_comments(source, parsed.comment_ranges(), &index);
        to_diagnostics(findings, &index, &noqa)
    };
    let outline = want_outline.then(|| outline_suite(parsed.suite(), &index));
    let report = FileReport {
        path: path.to_path_buf(),
        diagnostics,
        error: None,
    };
    (report, outline)
}

fn to_diagnostics(
    findings: Vec<Finding>,
    index: &SourceIndex<'_>,
    noqa: &NoqaMap,
) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = findings
        .into_iter()
        .filter_map(|finding| {
            let span = index.span(finding.range);
            if noqa.suppresses(span.start.line, finding.rule) {
                return None;
            }
            let cost = finding.cost.map(|cost| Cost {
                kind: cost.kind,
                span: index.span(cost.range),
                lines: (index.line(cost.lines.start()), index.last_line(cost.lines)),
            });
            Some(Diagnostic {
                rule: finding.rule,
                message: finding.message,
                fix: finding.fix,
                source_line: index.line_text(span.start.line).to_string(),
                span,
                cost,
            })
        })
        .collect();
    diagnostics.sort_by_key(|a| (a.span, a.rule));
    diagnostics.dedup_by(|a, b| a.span == b.span && a.rule == b.rule);
    diagnostics
}

/// Reads and checks one file.
pub fn check_file(path: &Path, settings: &Settings) -> FileReport {
    read_and_check(path, settings, false).0
}

/// [`check_file`] plus the module's [`Outline`] from the same parse (see
/// [`check_source_outlined`]).
pub fn check_file_outlined(path: &Path, settings: &Settings) -> (FileReport, Option<Outline>) {
    read_and_check(path, settings, true)
}

fn read_and_check(
    path: &Path,
    settings: &Settings,
    outline: bool,
) -> (FileReport, Option<Outline>) {
    let io_error = |message: String| {
        let report = FileReport {
            path: path.to_path_buf(),
            diagnostics: Vec::new(),
            error: Some(FileError {
                kind: FileErrorKind::Io,
                message,
                position: None,
            }),
        };
        (report, None)
    };
    match std::fs::read(path) {
        Ok(bytes) => match crate::encoding::decode(bytes) {
            Ok(source) => check_source_guarded(path, &source, settings, outline),
            Err(error) => io_error(error.to_string()),
        },
        Err(error) => io_error(error.to_string()),
    }
}

/// Walks `paths` (files and directories) and checks every Python file found, in parallel.
/// Results are sorted by path, so output is deterministic.
pub fn check_paths(paths: &[PathBuf], settings: &Settings) -> Report {
    walk_and_check(paths, settings, false).0
}

/// [`check_paths`] plus the [`Outline`] of every file that parsed, by path as in the report.
pub fn check_paths_outlined(
    paths: &[PathBuf],
    settings: &Settings,
) -> (Report, BTreeMap<PathBuf, Outline>) {
    walk_and_check(paths, settings, true)
}

fn walk_and_check(
    paths: &[PathBuf],
    settings: &Settings,
    outline: bool,
) -> (Report, BTreeMap<PathBuf, Outline>) {
    let (files, walk_errors) = crate::discover::python_files(paths, settings);
    let check = |files: &[PathBuf]| -> Vec<(FileReport, Option<Outline>)> {
        files
            .par_iter()
            .map(|path| read_and_check(path, settings, outline))
            .collect()
    };
    // Deeply nested code recurses deeply: give the workers roomy stacks.
    let checked = match rayon::ThreadPoolBuilder::new().stack_size(64 << 20).build() {
        Ok(pool) => pool.install(|| check(&files)),
        Err(_) => files
            .iter()
            .map(|path| read_and_check(path, settings, outline))
            .collect(),
    };
    let mut outlines = BTreeMap::new();
    let mut reports = Vec::with_capacity(checked.len() + walk_errors.len());
    for (report, file_outline) in checked {
        if let Some(file_outline) = file_outline {
            outlines.insert(report.path.clone(), file_outline);
        }
        reports.push(report);
    }
    reports.extend(walk_errors.into_iter().map(|error| FileReport {
        path: error.path,
        diagnostics: Vec::new(),
        error: Some(FileError {
            kind: FileErrorKind::Io,
            message: error.message,
            position: None,
        }),
    }));
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    let report = Report {
        files_checked: files.len(),
        files: reports,
    };
    (report, outlines)
}

/// The results of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Every file checked (and every path that could not be read), sorted by path.
    pub files: Vec<FileReport>,
    /// Number of Python files found and checked.
    pub files_checked: usize,
}

impl Report {
    /// A report of already-checked files (e.g. from [`check_source`]), sorted by path.
    pub fn from_files(mut files: Vec<FileReport>) -> Report {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Report {
            files_checked: files.len(),
            files,
        }
    }

    /// Every finding with its file, in path then position order.
    pub fn diagnostics(&self) -> impl Iterator<Item = (&Path, &Diagnostic)> {
        self.files.iter().flat_map(|file| {
            file.diagnostics
                .iter()
                .map(move |diagnostic| (file.path.as_path(), diagnostic))
        })
    }

    /// Files that could not be read or parsed.
    pub fn errors(&self) -> impl Iterator<Item = (&Path, &FileError)> {
        self.files.iter().filter_map(|file| {
            file.error
                .as_ref()
                .map(|error| (file.path.as_path(), error))
        })
    }

    /// Number of findings.
    pub fn finding_count(&self) -> usize {
        self.files.iter().map(|file| file.diagnostics.len()).sum()
    }

    /// Number of findings per rule.
    pub fn counts(&self) -> BTreeMap<Rule, usize> {
        let mut counts = BTreeMap::new();
        for (_, diagnostic) in self.diagnostics() {
            *counts.entry(diagnostic.rule).or_insert(0) += 1;
        }
        counts
    }

    /// 1 when there is any finding, else 0. Files that could not be read or parsed do not
    /// change the exit code (they are listed in every output format).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.finding_count() > 0)
    }

    /// ruff-like text: one block per finding, then the files that could not be checked, then a
    /// summary with counts per code.
    pub fn render_text(&self) -> String {
        crate::render::text::render(self)
    }

    /// The ruff-like text block of one finding (location, code and message, the source line
    /// with a marker, the fix), as [`render_text`](Report::render_text) prints it.
    pub fn render_finding_text(path: &Path, diagnostic: &Diagnostic) -> String {
        let mut out = String::new();
        crate::render::text::render_diagnostic(
            &mut out,
            &crate::render::display_path(path),
            diagnostic,
        );
        out
    }

    /// The end of [`render_text`](Report::render_text): the files that could not be checked,
    /// the summary line and the counts per code.
    pub fn render_text_summary(&self) -> String {
        crate::render::text::render_summary(self)
    }

    /// The JSON document described in the crate documentation (`"version": 1`).
    pub fn render_json(&self) -> String {
        crate::render::json::render(self)
    }

    /// A SARIF 2.1.0 log for GitHub code scanning and other SARIF consumers.
    pub fn render_sarif(&self) -> String {
        crate::render::sarif::render(self)
    }
}
