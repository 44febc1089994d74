//! The advisor's outputs: the "Advice" section of run reports, and the text, JSON and SARIF of
//! `pyrometer check --profile`.

use std::fmt::Write as _;
use std::path::Path;

use pyrometer_lint::{CostKind, Report};
use pyrometer_profile::{Metric, Mode};
use pyrometer_render::format;
use serde_json::{Value, json};

use crate::advice::{AdviceItem, FactValue};
use crate::findings::{Evidence, RankedFinding};
use crate::{Advice, Basis};

/// How the report section looks.
#[derive(Debug, Clone)]
pub struct SectionOptions {
    /// ANSI colour.
    pub color: bool,
    /// Hot findings shown at most (the rest are counted).
    pub max_findings: usize,
    /// Profile-only advice items shown at most.
    pub max_items: usize,
    /// The saved profile, to name in the hint that lists everything.
    pub profile_path: Option<String>,
}

impl Default for SectionOptions {
    fn default() -> Self {
        SectionOptions {
            color: false,
            max_findings: 10,
            max_items: 6,
            profile_path: None,
        }
    }
}

struct Style(bool);

impl Style {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn hot(&self, s: &str) -> String {
        self.wrap("31", s)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the share of a finding is a share of.
fn share_of(basis: &Basis) -> &'static str {
    match basis.metric {
        Some(Metric::AllocBytes) => "of all bytes allocated",
        Some(Metric::WallSamples) => "of the sampled wall time",
        _ => "of the run",
    }
}

/// The headline figure of a finding: its time, else its bytes.
fn headline(finding: &RankedFinding) -> String {
    let m = &finding.measured;
    if let Some(ns) = m.time_ns {
        format::duration(ns)
    } else if let Some(bytes) = m.alloc_bytes {
        format::bytes(bytes as f64)
    } else if let Some(samples) = m.samples {
        format!("{} samples", format::count(samples))
    } else {
        "-".to_string()
    }
}

fn kind_word(finding: &RankedFinding) -> &'static str {
    match finding.diagnostic.cost.map(|c| c.kind) {
        Some(CostKind::Loop) => "the loop",
        Some(CostKind::Comprehension) => "the comprehension",
        Some(CostKind::Function) => "the function",
        None => "the finding",
    }
}

/// The other figures (CPU, bytes), as ", x on a CPU, y allocated…".
fn extra_figures(finding: &RankedFinding, basis: &Basis) -> String {
    let m = &finding.measured;
    let mut out = String::new();
    if let Some(cpu) = m.cpu_ns {
        let _ = write!(out, ", {} of it on a CPU", format::duration(cpu));
    }
    if (m.time_ns.is_some() || basis.metric != Some(Metric::AllocBytes))
        && let Some(bytes) = m.alloc_bytes
    {
        let _ = write!(out, ", {} allocated", format::bytes(bytes as f64));
    }
    if let Some(bytes) = m.retained_bytes {
        let _ = write!(
            out,
            ", {} still allocated at the end",
            format::bytes(bytes as f64)
        );
    }
    out
}

/// What the figures of a finding are, in words (without the headline figure).
pub(crate) fn evidence_text(finding: &RankedFinding, basis: &Basis) -> String {
    let share = format!(
        "{} {}",
        share_text(finding.measured.percent),
        share_of(basis)
    );
    match &finding.evidence {
        Evidence::Lines { first, last } => {
            let lines = if first == last {
                format!("line {first}")
            } else {
                format!("lines {first}-{last}")
            };
            format!(
                "{} ({share}) while {lines} ({}) ran, callees included{}",
                headline(finding),
                kind_word(finding),
                extra_figures(finding, basis)
            )
        }
        Evidence::Function {
            qualname,
            line,
            whole,
            own,
        } => {
            let itself = own
                .time_ns
                .map(|ns| format!(", {} in itself", format::duration(ns)))
                .unwrap_or_default();
            if *whole {
                format!(
                    "{} ({share}) in `{qualname}` (line {line}) with its callees{itself}; \
                     per-function data",
                    headline(finding)
                )
            } else {
                format!(
                    "at most {} ({share}): all of `{qualname}` (line {line}), which contains \
                     these lines, with its callees{itself}; the profile has per-function data, \
                     so {}'s own share is not measured",
                    headline(finding),
                    kind_word(finding)
                )
            }
        }
        Evidence::NotRun => match basis.mode {
            Mode::Sample => "no samples on these lines (they ran briefly or not at all)".into(),
            Mode::Memory => "nothing measured on these lines".into(),
            _ => "these lines did not run in this profile".into(),
        },
        Evidence::NotInProfile => "not in the profile: this file did not run".into(),
    }
}

fn saving_text(finding: &RankedFinding) -> Option<String> {
    let saving = finding.saving?;
    let whose = match &finding.evidence {
        Evidence::Function {
            qualname,
            whole: false,
            ..
        } => format!("`{qualname}`'s"),
        _ => format!("{}'s", kind_word(finding)),
    };
    let growth = if saving.gain.superlinear {
        "; the cost grows faster than the input, so larger inputs gain more"
    } else {
        ""
    };
    Some(format!(
        "up to {} if all of {whose} time is this pattern ({} in {}{growth})",
        format::duration(saving.up_to_ns),
        saving.gain.stated,
        crate::gains::Gain::benchmark(finding.diagnostic.rule),
    ))
}

/// A share for reading: one decimal, `<0.1%` for a small non-zero share.
fn share_text(percent: f64) -> String {
    if percent > 0.0 && percent < 0.05 {
        "<0.1%".to_string()
    } else {
        format!("{percent:.1}%")
    }
}

fn display(path: &Path, base: Option<&str>) -> String {
    let text = path.to_string_lossy();
    format::short_path(&text, base).to_string()
}

/// Reflows `text` into lines of at most `width` characters (words longer than that stay
/// whole), the first starting with `first`, the others with `rest`.
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines
}

/// Writes `text` wrapped at `WIDTH` with a hanging indent, each line styled by `paint`.
fn write_wrapped(
    out: &mut String,
    text: &str,
    first: &str,
    rest: &str,
    paint: impl Fn(&str) -> String,
) {
    for line in wrap(text, WIDTH, first, rest) {
        let (lead, body) = line.split_at(line.len() - line.trim_start().len());
        let _ = writeln!(out, "{lead}{}", paint(body));
    }
}

/// The width report sections are wrapped to.
const WIDTH: usize = 100;

fn item_text(out: &mut String, item: &AdviceItem, style: &Style, indent: &str) {
    let _ = writeln!(out, "{indent}{} {}", style.hot("•"), item.summary);
    let deeper = format!("{indent}  ");
    write_wrapped(out, &item.evidence, &deeper, &deeper, |s| style.dim(s));
    write_wrapped(
        out,
        &item.suggestion,
        &format!("{deeper}→ "),
        &format!("{deeper}  "),
        |s| s.to_string(),
    );
}

impl Advice {
    /// The "Advice" section of a run report: the hot findings ranked, the profile-only advice,
    /// and counts of what was left out.
    pub fn render_section(&self, options: &SectionOptions) -> String {
        let style = Style(options.color);
        let base = self.base_dir();
        let base = base.as_deref();
        let mut out = String::new();
        let files = self.report.files_checked;
        let ranked_by = match (self.basis.metric, self.basis.line_level) {
            (Some(Metric::AllocBytes), _) => "ranked by the bytes allocated on their lines",
            (Some(_), true) => "ranked by the time measured on their lines",
            (Some(_), false) => {
                "ranked by the time of the functions that contain them (per-function data)"
            }
            (None, _) => "this profile has no time or memory figures to rank them by",
        };
        let hot: Vec<&RankedFinding> = self.hot().collect();
        let _ = writeln!(
            out,
            "{} {}",
            style.bold("Advice"),
            style.dim(&format!(
                "· pyrometer check rules on {} of the program, {ranked_by}",
                plural(files, "source file", "source files")
            ))
        );
        if self.sources.files.is_empty() {
            let _ = writeln!(
                out,
                "  no source files of the program in the profile (only the standard library, \
                 installed packages or generated code ran)"
            );
        }
        for finding in hot.iter().take(options.max_findings) {
            let start = finding.diagnostic.span.start;
            let place = format!(
                "{}:{}:{}",
                display(&finding.path, base),
                start.line,
                start.column
            );
            let _ = writeln!(
                out,
                "  {:>9} {:>6}  {}  {}  {}",
                style.hot(&headline(finding)),
                share_text(finding.measured.percent),
                place,
                style.bold(finding.diagnostic.rule.code()),
                finding.diagnostic.message
            );
            let mut detail = evidence_text(finding, &self.basis);
            if let Some(saving) = saving_text(finding) {
                let _ = write!(detail, "; saving {saving}");
            }
            let indent = " ".repeat(20);
            write_wrapped(&mut out, &detail, &indent, &indent, |s| style.dim(s));
        }
        if !self.items.is_empty() {
            let _ = writeln!(out, "  {}", style.bold("From the profile:"));
            for item in self.items.iter().take(options.max_items) {
                item_text(&mut out, item, &style, "  ");
            }
        }
        let mut left_out = Vec::new();
        if hot.len() > options.max_findings {
            left_out.push(format!(
                "{} more in hot code",
                hot.len() - options.max_findings
            ));
        }
        let cold: Vec<&RankedFinding> = self.findings.iter().filter(|f| f.cold).collect();
        let not_run = cold
            .iter()
            .filter(|f| matches!(f.evidence, Evidence::NotRun | Evidence::NotInProfile))
            .count();
        let under = cold.len() - not_run;
        if under > 0 {
            left_out.push(format!(
                "{} in code under {}% {}",
                plural(under, "finding", "findings"),
                self.basis.cold_percent,
                share_of(&self.basis)
            ));
        }
        if not_run > 0 {
            let where_ = if self.basis.mode == Mode::Sample {
                "no samples fell"
            } else {
                "nothing ran"
            };
            left_out.push(format!(
                "{} where {where_}",
                plural(not_run, "finding", "findings")
            ));
        }
        if self.items.len() > options.max_items {
            left_out.push(format!(
                "{} more from the profile",
                self.items.len() - options.max_items
            ));
        }
        if hot.is_empty() && self.items.is_empty() && !self.sources.files.is_empty() {
            let none = if self.findings.is_empty() {
                "no findings"
            } else {
                "no findings in code that took a measurable share"
            };
            let _ = writeln!(out, "  {none}");
        }
        if !left_out.is_empty() {
            let listing = match &options.profile_path {
                Some(path) => format!("pyrometer check --profile {path}"),
                None => "pyrometer check --profile RUN.pyro".to_string(),
            };
            let text = format!(
                "not shown: {} ({listing} lists everything)",
                left_out.join(", ")
            );
            write_wrapped(&mut out, &text, "  ", "    ", |s| style.dim(s));
        }
        self.notes(&mut out, base, &style);
        out
    }

    fn notes(&self, out: &mut String, base: Option<&str>, style: &Style) {
        let errors: Vec<_> = self.report.errors().collect();
        if !errors.is_empty() {
            let names: Vec<String> = errors
                .iter()
                .take(3)
                .map(|(path, error)| format!("{} ({})", display(path, base), error.kind.as_str()))
                .collect();
            let more = if errors.len() > 3 {
                format!(", and {} more", errors.len() - 3)
            } else {
                String::new()
            };
            write_wrapped(
                out,
                &format!(
                    "note: {} could not be checked: {}{more}",
                    plural(errors.len(), "source file", "source files"),
                    names.join(", ")
                ),
                "  ",
                "    ",
                |s| style.dim(s),
            );
        }
        let changed: Vec<String> = self
            .sources
            .changed()
            .map(|f| display(&f.path, base))
            .collect();
        if !changed.is_empty() {
            write_wrapped(
                out,
                &format!(
                    "note: changed since the run: {}; the advisor reads the sources as they are \
                     now, so lines may not match what was measured",
                    changed.join(", ")
                ),
                "  ",
                "    ",
                |s| style.dim(s),
            );
        }
        if !self.sources.missing.is_empty() {
            write_wrapped(
                out,
                &format!(
                    "note: {} of the run not found here (not checked)",
                    plural(self.sources.missing.len(), "source file", "source files")
                ),
                "  ",
                "    ",
                |s| style.dim(s),
            );
        }
    }

    fn base_dir(&self) -> Option<String> {
        std::env::current_dir()
            .ok()
            .map(|d| d.to_string_lossy().into_owned())
    }

    /// `pyrometer check --profile` as text: every finding in rank order (the ruff-like block
    /// with what was measured and the saving), cold ones after a separator, the profile-only
    /// advice, then the summary.
    pub fn render_text(&self) -> String {
        let style = Style(false);
        let mut out = String::new();
        let mut cold_started = false;
        for finding in &self.findings {
            if finding.cold && !cold_started {
                cold_started = true;
                let _ = writeln!(
                    out,
                    "── cold: findings in code under {}% {}, or where nothing was measured ──\n",
                    self.basis.cold_percent,
                    share_of(&self.basis)
                );
            }
            let block = Report::render_finding_text(&finding.path, &finding.diagnostic);
            let pad = " ".repeat(finding.diagnostic.span.start.line.to_string().len());
            out.push_str(block.trim_end());
            out.push('\n');
            let _ = writeln!(
                out,
                "{pad} = measured: {}",
                evidence_text(finding, &self.basis)
            );
            if let Some(saving) = saving_text(finding).filter(|_| !finding.cold) {
                let _ = writeln!(out, "{pad} = saving: {saving}");
            }
            if finding.changed {
                let _ = writeln!(
                    out,
                    "{pad} = note: the file changed after the run; these lines may not be the \
                     ones measured"
                );
            }
            out.push('\n');
        }
        if !self.items.is_empty() {
            let _ = writeln!(out, "From the profile:");
            for item in &self.items {
                item_text(&mut out, item, &style, "");
            }
            out.push('\n');
        }
        out.push_str(&self.report.render_text_summary());
        if !self.findings.is_empty() {
            let hot = self.hot().count();
            let _ = writeln!(
                out,
                "Ranked by the profile: {} in hot code, {} cold (under {}% {}, or not measured).",
                hot,
                self.findings.len() - hot,
                self.basis.cold_percent,
                share_of(&self.basis)
            );
        }
        let mut notes = String::new();
        self.notes(&mut notes, self.base_dir().as_deref(), &style);
        for line in notes.lines() {
            let _ = writeln!(out, "{}", line.trim_start());
        }
        out
    }

    /// `pyrometer check --profile --format json`: the lint JSON document (version 1) with the
    /// findings in rank order, each with a `profile` object, plus top-level `profile` (the
    /// basis) and `advice` (the profile-only items).
    pub fn render_json(&self) -> String {
        let mut document: Value =
            serde_json::from_str(&self.report.render_json()).unwrap_or_else(|_| json!({}));
        let findings = document["findings"].as_array().cloned().unwrap_or_default();
        let ranked: Vec<Value> = self
            .findings
            .iter()
            .enumerate()
            .map(|(rank, finding)| {
                let mut value = findings.get(finding.order).cloned().unwrap_or(Value::Null);
                value["profile"] = self.finding_json(rank + 1, finding);
                value
            })
            .collect();
        document["findings"] = Value::Array(ranked);
        document["profile"] = basis_json(&self.basis);
        document["advice"] = Value::Array(self.items.iter().map(item_json).collect());
        document["sources"] = json!({
            "files": self.sources.files.iter().map(|f| json!({
                "path": f.path.to_string_lossy(),
                "changed_since_run": f.changed,
            })).collect::<Vec<_>>(),
            "missing": self.sources.missing,
        });
        let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }

    fn finding_json(&self, rank: usize, finding: &RankedFinding) -> Value {
        let m = &finding.measured;
        let evidence = match &finding.evidence {
            Evidence::Lines { first, last } => json!({
                "kind": "lines", "lines": {"first": first, "last": last},
            }),
            Evidence::Function {
                qualname,
                line,
                whole,
                own,
            } => json!({
                "kind": "function",
                "function": qualname,
                "line": line,
                "exact": whole,
                "self_time_ns": own.time_ns,
            }),
            Evidence::NotRun => json!({"kind": "not_run"}),
            Evidence::NotInProfile => json!({"kind": "not_in_profile"}),
        };
        json!({
            "rank": rank,
            "cold": finding.cold,
            "evidence": evidence,
            "time_ns": m.time_ns,
            "samples": m.samples,
            "cpu_ns": m.cpu_ns,
            "alloc_bytes": m.alloc_bytes,
            "alloc_count": m.alloc_count,
            "retained_bytes": m.retained_bytes,
            "percent": m.percent,
            "saving": finding.saving.map(|s| json!({
                "up_to_ns": s.up_to_ns,
                "speedup": s.gain.speedup,
                "benchmark": crate::gains::Gain::benchmark(finding.diagnostic.rule),
            })),
            "source_changed_since_run": finding.changed,
            "text": evidence_text(finding, &self.basis),
        })
    }

    /// `pyrometer check --profile --format sarif`: the lint SARIF log with results in rank
    /// order, each with `rank` (its share of the run, 0–100) and a `profile` property bag.
    pub fn render_sarif(&self) -> String {
        let mut log: Value =
            serde_json::from_str(&self.report.render_sarif()).unwrap_or_else(|_| json!({}));
        let results = log["runs"][0]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let ranked: Vec<Value> = self
            .findings
            .iter()
            .enumerate()
            .map(|(rank, finding)| {
                let mut value = results.get(finding.order).cloned().unwrap_or(Value::Null);
                value["rank"] = json!(finding.measured.percent.clamp(0.0, 100.0));
                if !value["properties"].is_object() {
                    value["properties"] = json!({});
                }
                value["properties"]["profile"] = self.finding_json(rank + 1, finding);
                value
            })
            .collect();
        log["runs"][0]["results"] = Value::Array(ranked);
        let mut text = serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }
}

fn basis_json(basis: &Basis) -> Value {
    json!({
        "mode": basis.mode.as_str(),
        "metric": basis.metric.map(|m| m.as_str()),
        "total": basis.total,
        "total_ns": basis.total_ns,
        "line_level": basis.line_level,
        "cold_percent": basis.cold_percent,
    })
}

fn item_json(item: &AdviceItem) -> Value {
    let mut facts = serde_json::Map::new();
    for fact in &item.facts {
        let value = match &fact.value {
            FactValue::Nanoseconds(v) | FactValue::Percent(v) => json!(v),
            FactValue::Bytes(v) | FactValue::Count(v) => json!(v),
            FactValue::Text(v) => json!(v),
        };
        facts.insert(fact.name.to_string(), value);
    }
    json!({
        "kind": item.kind.as_str(),
        "subject": item.subject.as_ref().map(|s| json!({
            "file": s.file, "line": s.line, "name": s.name,
        })),
        "percent": item.percent,
        "summary": item.summary,
        "evidence": item.evidence,
        "facts": facts,
        "suggestion": item.suggestion,
    })
}
