//! The top tables: functions by self and inclusive value, lines, threads.

use std::fmt::Write as _;

use pyrometer_profile::analysis::{Granularity, Row, Shape, Table, percent};
use pyrometer_profile::{Metric, Profile};

use super::Style;
use crate::format::{self, ValueFormat};
use crate::{RenderOptions, SortKey};

/// A plain text table: right-aligned numeric columns, then a free text column.
pub(crate) struct Grid {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Per row: the free text column's main part and its dim suffix.
    labels: Vec<(String, String)>,
    label_header: String,
}

impl Grid {
    pub fn new(headers: &[&str], label_header: &str) -> Grid {
        Grid {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            labels: Vec::new(),
            label_header: label_header.into(),
        }
    }

    pub fn push(&mut self, cells: Vec<String>, label: String, detail: String) {
        self.rows.push(cells);
        self.labels.push((label, detail));
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self, style: Style, hot_rows: usize) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut head = String::new();
        for (h, w) in self.headers.iter().zip(&widths) {
            let _ = write!(head, "{h:>w$}  ");
        }
        head.push_str(&self.label_header);
        let _ = writeln!(out, "{}", style.dim(head.trim_end()));
        for (i, (row, (label, detail))) in self.rows.iter().zip(&self.labels).enumerate() {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                let _ = write!(line, "{cell:>w$}  ");
            }
            let label = if i < hot_rows {
                style.hot(label)
            } else {
                label.clone()
            };
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!("  {}", style.dim(detail))
            };
            let _ = writeln!(out, "{line}{label}{detail}");
        }
        out
    }
}

fn calls_cell(row: &Row) -> String {
    if row.calls == row.primitive_calls {
        format::count(row.calls)
    } else {
        format!(
            "{}/{}",
            format::count(row.calls),
            format::count(row.primitive_calls)
        )
    }
}

fn sort_rows(profile: &Profile, table: &Table, rows: &mut [Row], key: SortKey) {
    match key {
        SortKey::SelfTime => rows.sort_by(|a, b| {
            b.self_value
                .cmp(&a.self_value)
                .then(b.total_value.cmp(&a.total_value))
        }),
        SortKey::TotalTime => rows.sort_by(|a, b| {
            b.total_value
                .cmp(&a.total_value)
                .then(b.self_value.cmp(&a.self_value))
        }),
        SortKey::Calls => rows.sort_by(|a, b| {
            b.calls
                .cmp(&a.calls)
                .then(b.total_value.cmp(&a.total_value))
        }),
        SortKey::Name => rows.sort_by(|a, b| {
            let (fa, fb) = (
                table.frame_of(profile, a.key),
                table.frame_of(profile, b.key),
            );
            format::frame_name(profile, fa).cmp(format::frame_name(profile, fb))
        }),
        SortKey::File => rows.sort_by(|a, b| {
            let (fa, fb) = (
                table.frame_of(profile, a.key),
                table.frame_of(profile, b.key),
            );
            let file = |f: u32| profile.string(profile.frames[f as usize].file);
            file(fa).cmp(file(fb)).then(
                profile.frames[fa as usize]
                    .line
                    .cmp(&profile.frames[fb as usize].line),
            )
        }),
    }
}

/// One table of functions sorted by `key`.
fn function_table(
    profile: &Profile,
    table: &Table,
    key: SortKey,
    options: &RenderOptions,
    style: Style,
) -> String {
    let vf = ValueFormat::new(profile, table.metric);
    let base = options.base_dir.as_deref();
    let mut rows: Vec<Row> = table
        .rows
        .iter()
        .filter(|r| r.self_value > 0 || r.total_value > 0 || r.calls > 0)
        .cloned()
        .collect();
    sort_rows(profile, table, &mut rows, key);
    let shown = rows.len().min(options.top);
    let per_call_header = if key == SortKey::SelfTime {
        "self/call"
    } else {
        "total/call"
    };
    let mut headers = Vec::new();
    if table.has_calls {
        headers.push("calls");
    }
    headers.extend(["self", "self%", "total", "total%"]);
    if table.has_calls {
        headers.push(per_call_header);
    }
    let mut grid = Grid::new(&headers, "function");
    for row in &rows[..shown] {
        let frame = table.frame_of(profile, row.key);
        let mut cells = Vec::new();
        if table.has_calls {
            cells.push(calls_cell(row));
        }
        cells.push(vf.show(row.self_value));
        cells.push(format::percent(percent(row.self_value, table.grand_total)));
        cells.push(vf.show(row.total_value));
        cells.push(format::percent(percent(row.total_value, table.grand_total)));
        if table.has_calls {
            let per_call = if key == SortKey::SelfTime {
                (row.calls > 0).then(|| row.self_value as f64 / row.calls as f64)
            } else {
                (row.primitive_calls > 0)
                    .then(|| row.total_value as f64 / row.primitive_calls as f64)
            };
            cells.push(per_call.map_or_else(|| "-".into(), |v| vf.show_f(v)));
        }
        let line = profile.frames[frame as usize].line;
        grid.push(
            cells,
            format::frame_name(profile, frame).to_string(),
            format::frame_location(profile, frame, line, base),
        );
    }
    let mut out = grid.render(style, 3.min(shown));
    if rows.len() > shown {
        let _ = writeln!(
            out,
            "{}",
            style.dim(&format!(
                "… {} more functions (--top to show more)",
                rows.len() - shown
            ))
        );
    }
    out
}

/// The functions tables: by self and by inclusive value, or one table in the asked order.
pub(crate) fn function_tables(
    profile: &Profile,
    metric: Metric,
    options: &RenderOptions,
    style: Style,
) -> String {
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, metric, &options.threads);
    let what = format::metric_title(metric);
    let mut out = String::new();
    let sorts: Vec<(SortKey, String)> = match options.sort {
        None => vec![
            (SortKey::SelfTime, format!("Top functions by self {what}")),
            (
                SortKey::TotalTime,
                format!("Top functions by inclusive {what}"),
            ),
        ],
        Some(key) => {
            let by = match key {
                SortKey::SelfTime => format!("self {what}"),
                SortKey::TotalTime => format!("inclusive {what}"),
                SortKey::Calls => "calls".into(),
                SortKey::Name => "name".into(),
                SortKey::File => "file".into(),
            };
            vec![(key, format!("Functions by {by}"))]
        }
    };
    for (i, (key, title)) in sorts.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", style.bold(&title));
        out.push_str(&function_table(profile, &table, key, options, style));
    }
    out
}

/// The hottest lines, by self value.
pub(crate) fn line_table(
    profile: &Profile,
    metric: Metric,
    options: &RenderOptions,
    style: Style,
) -> String {
    let shape = Shape::new(profile, Granularity::Line);
    let table = Table::new(profile, &shape, metric, &options.threads);
    let vf = ValueFormat::new(profile, metric);
    let base = options.base_dir.as_deref();
    let mut rows: Vec<Row> = table
        .rows
        .iter()
        .filter(|r| r.self_value > 0)
        .cloned()
        .collect();
    rows.sort_by(|a, b| {
        b.self_value
            .cmp(&a.self_value)
            .then(b.total_value.cmp(&a.total_value))
    });
    let shown = rows.len().min(options.top);
    let mut grid = Grid::new(&["self", "self%", "total", "total%"], "line");
    for row in &rows[..shown] {
        let loc = profile.locations[row.key as usize];
        grid.push(
            vec![
                vf.show(row.self_value),
                format::percent(percent(row.self_value, table.grand_total)),
                vf.show(row.total_value),
                format::percent(percent(row.total_value, table.grand_total)),
            ],
            format::frame_location(profile, loc.frame, loc.line, base),
            format::frame_name(profile, loc.frame).to_string(),
        );
    }
    let mut out = format!(
        "{}\n",
        style.bold(&format!(
            "Top lines by self {}",
            format::metric_title(metric)
        ))
    );
    out.push_str(&grid.render(style, 3.min(shown)));
    out
}

/// Each thread's share.
pub(crate) fn thread_table(
    profile: &Profile,
    metric: Metric,
    _options: &RenderOptions,
    style: Style,
) -> String {
    let vf = ValueFormat::new(profile, metric);
    let total = profile.total(metric);
    let mut per_thread = vec![0u64; profile.threads.len()];
    if let Some(values) = profile.samples.column(metric) {
        for (&t, &v) in profile.samples.thread.iter().zip(values) {
            per_thread[t as usize] += v;
        }
    }
    let mut order: Vec<usize> = (0..per_thread.len()).collect();
    order.sort_by(|&a, &b| per_thread[b].cmp(&per_thread[a]));
    let several = profile.processes.len() > 1;
    let mut grid = Grid::new(&[format::metric_title(metric), "share"], "thread");
    for t in order {
        let thread = &profile.threads[t];
        let mut detail = if thread.native_id != 0 {
            format!("tid {}", thread.native_id)
        } else {
            String::new()
        };
        if several && let Some(process) = profile.processes.get(thread.process as usize) {
            detail = format!("pid {}  {detail}", process.pid)
                .trim_end()
                .to_string();
        }
        grid.push(
            vec![
                vf.show(per_thread[t]),
                format::percent(percent(per_thread[t], total)),
            ],
            profile.string(thread.name).to_string(),
            detail,
        );
    }
    let mut out = String::new();
    if several {
        out.push_str(&process_table(profile, metric, &per_thread, total, style));
        out.push('\n');
    }
    out.push_str(&format!(
        "{}\n{}",
        style.bold("Threads"),
        grid.render(style, 0)
    ));
    out
}

/// Each process's share, for a run that followed subprocesses: pid, parent and command line.
fn process_table(
    profile: &Profile,
    metric: Metric,
    per_thread: &[u64],
    total: u64,
    style: Style,
) -> String {
    let vf = ValueFormat::new(profile, metric);
    let mut per_process = vec![0u64; profile.processes.len()];
    for (thread, value) in profile.threads.iter().zip(per_thread) {
        if let Some(slot) = per_process.get_mut(thread.process as usize) {
            *slot += value;
        }
    }
    let mut order: Vec<usize> = (0..per_process.len()).collect();
    order.sort_by(|&a, &b| per_process[b].cmp(&per_process[a]).then(a.cmp(&b)));
    let mut grid = Grid::new(&[format::metric_title(metric), "share"], "process");
    for p in order {
        let process = &profile.processes[p];
        let parent = process
            .parent
            .and_then(|i| profile.processes.get(i as usize))
            .map_or(String::new(), |parent| {
                format!("(child of {})  ", parent.pid)
            });
        // One line per process: a `-c` program's newlines are shown as `⏎`.
        let mut command = process.command.join(" ").replace('\n', "⏎");
        if command.chars().count() > 60 {
            command = command.chars().take(59).collect::<String>() + "…";
        }
        grid.push(
            vec![
                vf.show(per_process[p]),
                format::percent(percent(per_process[p], total)),
            ],
            format!("pid {}", process.pid),
            format!("{parent}{command}").trim_end().to_string(),
        );
    }
    format!(
        "{}\n{}",
        style.bold("Processes (--process PID reports one)"),
        grid.render(style, 0)
    )
}
