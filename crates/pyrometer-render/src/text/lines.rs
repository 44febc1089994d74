//! The report of a line-level profile: each measured function's source annotated with hits,
//! time, time per hit and share of the function (line_profiler's layout, which its users read
//! at a glance), then the hottest lines of the whole program.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use pyrometer_profile::{FrameId, Metric, Profile};

use super::{Style, footer};
use crate::format;
use crate::{RenderError, RenderOptions, Renderer};

/// The unit of the Time and Per Hit columns when none is asked for: microseconds.
pub const DEFAULT_UNIT: f64 = 1e-6;

/// Parses `--unit`: `s`, `ms`, `us`/`µs`, `ns`, or seconds as a number (`1e-6`).
pub fn parse_unit(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let unit = match t {
        "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        _ => t.parse::<f64>().map_err(|_| {
            format!("unknown unit '{text}' (expected s, ms, us, ns or a number of seconds)")
        })?,
    };
    if unit.is_finite() && unit > 0.0 {
        Ok(unit)
    } else {
        Err(format!("unit '{text}' is not a positive number of seconds"))
    }
}

/// Per function: line → (hits, nanoseconds), threads summed.
pub(crate) type FunctionLines = BTreeMap<FrameId, BTreeMap<u32, (u64, u64)>>;

pub(crate) fn collect(profile: &Profile) -> FunctionLines {
    let mut out = FunctionLines::new();
    let hits = profile.samples.column(Metric::LineHits);
    let times = profile.samples.column(Metric::SelfTime);
    for (row, &stack) in profile.samples.stack.iter().enumerate() {
        let line = profile.line_of_stack(stack);
        if line == 0 {
            continue;
        }
        let frame = profile.frame_of_stack(stack);
        let cell = out.entry(frame).or_default().entry(line).or_default();
        cell.0 += hits.map_or(0, |h| h[row]);
        cell.1 += times.map_or(0, |t| t[row]);
    }
    out
}

/// A number of nanoseconds in `unit` seconds, as line_profiler prints it (one decimal).
fn in_unit(ns: f64, unit: f64) -> String {
    format!("{:.1}", ns * 1e-9 / unit)
}

/// A unit as Python prints a float (`1e-06`, `0.001`, `1.0`), as line_profiler shows it.
fn unit_label(unit: f64) -> String {
    if (1e-4..1e16).contains(&unit) {
        let s = format!("{unit}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{unit:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// The annotated source of one function.
fn function_block(
    profile: &Profile,
    frame: FrameId,
    lines: &BTreeMap<u32, (u64, u64)>,
    unit: f64,
    options: &RenderOptions,
    style: Style,
) -> String {
    let f = &profile.frames[frame as usize];
    let total: u64 = lines.values().map(|v| v.1).sum();
    let file = format::short_path(profile.string(f.file), options.base_dir.as_deref());
    let mut out = String::new();
    let _ = writeln!(out, "Total time: {:.6} s", total as f64 * 1e-9);
    let _ = writeln!(out, "File: {file}");
    let _ = writeln!(
        out,
        "Function: {} at line {}",
        style.bold(profile.string(f.qualname)),
        f.line
    );
    let _ = writeln!(out);
    let head = format!(
        "{:>6} {:>9} {:>12} {:>8} {:>8}  {}",
        "Line #", "Hits", "Time", "Per Hit", "% Time", "Line Contents"
    );
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "{}", "=".repeat(head.chars().count()));
    let first = f.line.max(1);
    let measured_last = lines.keys().next_back().copied().unwrap_or(first);
    // The function's saved block: the shortest one starting at its first line that holds
    // every measured line (a module and a function defined on its first line both start
    // there).
    let block = profile
        .sources
        .iter()
        .filter(|s| s.file == f.file && s.first_line == first)
        .filter(|s| first + s.lines.len() as u32 > measured_last)
        .min_by_key(|s| s.lines.len());
    let has_source = block.is_some();
    let last = match block {
        Some(s) => first + s.lines.len() as u32 - 1,
        None => measured_last,
    };
    let mut line = if has_source {
        first
    } else {
        lines.keys().next().copied().unwrap_or(first)
    };
    while line <= last {
        let text = profile.source_line(f.file, line);
        match lines.get(&line) {
            Some(&(hits, ns)) => {
                let share = if total > 0 {
                    100.0 * ns as f64 / total as f64
                } else {
                    0.0
                };
                let per_hit = if hits > 0 {
                    ns as f64 / hits as f64
                } else {
                    0.0
                };
                let row = format!(
                    "{line:>6} {hits:>9} {:>12} {:>8} {share:>8.1}  {}",
                    in_unit(ns as f64, unit),
                    in_unit(per_hit, unit),
                    text.unwrap_or("")
                );
                let _ = writeln!(out, "{}", if share >= 20.0 { style.hot(&row) } else { row });
            }
            None if has_source || text.is_some() => {
                let _ = writeln!(out, "{line:>6} {:>40}  {}", "", text.unwrap_or(""));
            }
            None => {}
        }
        line += 1;
    }
    out
}

/// The lines with the most time across the program.
fn hot_lines(
    profile: &Profile,
    all: &FunctionLines,
    options: &RenderOptions,
    style: Style,
) -> String {
    let mut rows: Vec<(u64, u64, FrameId, u32)> = all
        .iter()
        .flat_map(|(&frame, lines)| lines.iter().map(move |(&l, &(h, t))| (t, h, frame, l)))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
    let wall = profile.meta.duration_ns;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.bold("Hottest lines (a line's time includes the calls it makes)")
    );
    let _ = writeln!(
        out,
        "{:>10} {:>7} {:>11} {:>9}  line",
        "time", "of run", "hits", "per hit"
    );
    for &(ns, hits, frame, line) in rows.iter().take(options.top.max(1)) {
        let location = format::frame_location(profile, frame, line, options.base_dir.as_deref());
        let name = format::frame_name(profile, frame);
        let share = if wall > 0 {
            format::percent(100.0 * ns as f64 / wall as f64)
        } else {
            String::new()
        };
        let per_hit = if hits > 0 {
            format::duration(ns as f64 / hits as f64)
        } else {
            String::new()
        };
        let text = profile
            .source_line(profile.frames[frame as usize].file, line)
            .map(str::trim)
            .unwrap_or("");
        let _ = writeln!(
            out,
            "{:>10} {share:>7} {:>11} {per_hit:>9}  {location} {}  {}",
            format::duration(ns as f64),
            format::count(hits),
            style.dim(name),
            text
        );
    }
    out
}

/// What ran, how long, how much was measured.
fn header(profile: &Profile, all: &FunctionLines, style: Style) -> String {
    let meta = &profile.meta;
    let mut line = format!("pyrometer {}", meta.mode.as_str());
    if !meta.command.is_empty() {
        let _ = write!(line, " · {}", meta.command.join(" "));
    }
    if let Some(python) = &meta.python {
        let _ = write!(line, " · Python {}", python.version);
    }
    let mut facts = Vec::new();
    if meta.duration_ns > 0 {
        facts.push(format!(
            "{} elapsed",
            format::duration(meta.duration_ns as f64)
        ));
    }
    let lines: usize = all.values().map(BTreeMap::len).sum();
    let hits: u64 = all.values().flat_map(|l| l.values().map(|v| v.0)).sum();
    facts.push(format!(
        "{} functions · {} lines · {} line hits",
        format::count(all.len() as u64),
        format::count(lines as u64),
        format::count(hits)
    ));
    if profile.threads.len() > 1 {
        facts.push(format!("{} threads", profile.threads.len()));
    }
    format!("{}\n{}\n", style.bold(&line), style.dim(&facts.join(" · ")))
}

/// The line-level report.
pub struct LineReport;

impl Renderer for LineReport {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let style = Style::new(options.color);
        let all = collect(profile);
        let unit = options.unit.unwrap_or(DEFAULT_UNIT);
        let mut text = header(profile, &all, style);
        let _ = writeln!(text, "Timer unit: {} s", unit_label(unit));
        if all.is_empty() {
            let _ = writeln!(
                text,
                "\nNo line of the measured functions ran{}.",
                if profile.counter("functions") == Some(0) {
                    " (no function was chosen)"
                } else {
                    ""
                }
            );
        }
        // Functions by their total time, most first.
        let mut functions: Vec<(u64, FrameId)> = all
            .iter()
            .map(|(&f, lines)| (lines.values().map(|v| v.1).sum(), f))
            .collect();
        functions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let shown = options.top.max(1);
        for &(_, frame) in functions.iter().take(shown) {
            text.push('\n');
            text.push_str(&function_block(
                profile,
                frame,
                &all[&frame],
                unit,
                options,
                style,
            ));
        }
        if functions.len() > shown {
            let _ = writeln!(
                text,
                "\n{}",
                style.dim(&format!(
                    "{} more functions with less time are not shown (--top N shows more)",
                    functions.len() - shown
                ))
            );
        }
        if !all.is_empty() {
            text.push('\n');
            text.push_str(&hot_lines(profile, &all, options, style));
        }
        let footer = footer(profile, Metric::SelfTime, style);
        if !footer.is_empty() {
            text.push('\n');
            text.push_str(&footer);
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use pyrometer_profile::{FrameKind, Meta, Mode, ProfileBuilder};

    use super::*;

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new(Meta {
            mode: Mode::Lines,
            duration_ns: 2_000_000_000,
            ..Meta::default()
        });
        b.declare(Metric::LineHits);
        b.declare(Metric::SelfTime);
        let p = b.process(1, None, vec![]);
        let t = b.thread(p, 1, 1, "MainThread", true);
        let f = b.frame("work", "work", "/src/app.py", 3, FrameKind::Python);
        for (line, hits, ns) in [(4, 1, 1_000), (5, 1000, 900_000_000), (6, 1, 99_999_000)] {
            let loc = b.location(f, line);
            let s = b.stack(None, loc);
            b.add(s, t, Metric::LineHits, hits);
            b.add(s, t, Metric::SelfTime, ns);
        }
        b.source(
            "/src/app.py",
            3,
            &[
                "def work(n):",
                "    total = 0",
                "    for i in range(n):",
                "        total += i",
                "    return total",
            ],
        );
        b.finish()
    }

    #[test]
    fn annotates_source_and_ranks_lines() {
        let options = RenderOptions {
            base_dir: Some("/src".into()),
            ..RenderOptions::default()
        };
        let mut out = Vec::new();
        LineReport.render(&profile(), &options, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Timer unit: 1e-06 s"), "{text}");
        assert!(text.contains("Total time: 1.000000 s"), "{text}");
        assert!(text.contains("Function: work at line 3"), "{text}");
        assert!(
            text.contains("1 functions · 3 lines · 1,002 line hits"),
            "{text}"
        );
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("     ") && !l.contains("per hit"))
            .collect();
        assert_eq!(
            rows,
            [
                "     3                                           def work(n):",
                "     4         1          1.0      1.0      0.0      total = 0",
                "     5      1000     900000.0    900.0     90.0      for i in range(n):",
                "     6         1      99999.0  99999.0     10.0          total += i",
                "     7                                               return total",
            ]
        );
        let hot = text.split("Hottest lines").nth(1).unwrap();
        let first = hot.lines().nth(2).unwrap();
        assert!(
            first.contains("app.py:5") && first.contains("45.0%"),
            "{first}"
        );
    }

    #[test]
    fn units_parse() {
        assert_eq!(parse_unit("ms"), Ok(1e-3));
        assert_eq!(parse_unit("1e-9"), Ok(1e-9));
        assert!(parse_unit("fortnight").is_err());
        assert!(parse_unit("0").is_err());
        assert_eq!(unit_label(1e-6), "1e-06");
        assert_eq!(unit_label(1.0), "1.0");
        assert_eq!(unit_label(1e-3), "0.001");
        assert_eq!(unit_label(1e-9), "1e-09");
    }
}
