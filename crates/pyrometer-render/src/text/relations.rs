//! Callers and callees of a named function, with the figures of each edge (as pstats'
//! `print_callers` / `print_callees` give them).

use std::fmt::Write as _;
use std::io::Write;

use pyrometer_profile::analysis::{Edge, Granularity, Shape, Table, percent};
use pyrometer_profile::{FrameId, Profile};

use super::table::Grid;
use super::{Style, header, report_metric};
use crate::format::{self, ValueFormat};
use crate::{RenderError, RenderOptions, Renderer};

/// The frames a query names, trying in turn: the exact qualified name, the exact short name,
/// a qualified name ending in `.query`, then any name containing the query.
pub fn find_functions(profile: &Profile, query: &str) -> Vec<FrameId> {
    let frames = 0..profile.frames.len() as FrameId;
    let qual = |f: FrameId| profile.string(profile.frames[f as usize].qualname);
    let name = |f: FrameId| profile.string(profile.frames[f as usize].name);
    let rules: [&dyn Fn(FrameId) -> bool; 4] = [
        &|f| qual(f) == query,
        &|f| name(f) == query,
        &|f| qual(f).ends_with(&format!(".{query}")),
        &|f| qual(f).contains(query) || name(f).contains(query),
    ];
    for rule in rules {
        let found: Vec<FrameId> = frames.clone().filter(|&f| rule(f)).collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Callers and/or callees of the functions matching `query`.
pub struct Relations {
    pub query: String,
    pub callers: bool,
    pub callees: bool,
}

fn edge_grid(
    profile: &Profile,
    edges: &[&Edge],
    grand_total: u64,
    vf: ValueFormat,
    other: impl Fn(&Edge) -> FrameId,
    has_calls: bool,
    options: &RenderOptions,
) -> Grid {
    let headers: Vec<&str> = if has_calls {
        vec!["calls", "self", "total", "total%"]
    } else {
        vec!["self", "total", "total%"]
    };
    let mut grid = Grid::new(&headers, "function");
    for e in edges {
        let f = other(e);
        let mut cells = Vec::new();
        if has_calls {
            cells.push(if e.calls == e.primitive_calls {
                format::count(e.calls)
            } else {
                format!(
                    "{}/{}",
                    format::count(e.calls),
                    format::count(e.primitive_calls)
                )
            });
        }
        cells.push(vf.show(e.self_value));
        cells.push(vf.show(e.total_value));
        cells.push(format::percent(percent(e.total_value, grand_total)));
        let line = profile.frames[f as usize].line;
        grid.push(
            cells,
            format::frame_name(profile, f).to_string(),
            format::frame_location(profile, f, line, options.base_dir.as_deref()),
        );
    }
    grid
}

impl Renderer for Relations {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let style = Style::new(options.color);
        let metric = report_metric(profile, options)?;
        let matches = find_functions(profile, &self.query);
        if matches.is_empty() {
            return Err(RenderError::Other(format!(
                "no function in the profile matches '{}'",
                self.query
            )));
        }
        let shape = Shape::new(profile, Granularity::Function);
        let table = Table::new(profile, &shape, metric, &options.threads);
        let vf = ValueFormat::new(profile, metric);
        let mut text = header(profile, metric, style);
        for f in matches {
            let Some(row) = table.rows.iter().find(|r| r.key == f) else {
                continue;
            };
            let line = profile.frames[f as usize].line;
            let _ = writeln!(
                text,
                "\n{}  {}",
                style.bold(format::frame_name(profile, f)),
                style.dim(&format::frame_location(
                    profile,
                    f,
                    line,
                    options.base_dir.as_deref()
                ))
            );
            let mut facts = vec![
                format!(
                    "self {} ({})",
                    vf.show(row.self_value),
                    format::percent(percent(row.self_value, table.grand_total))
                ),
                format!(
                    "total {} ({})",
                    vf.show(row.total_value),
                    format::percent(percent(row.total_value, table.grand_total))
                ),
            ];
            if table.has_calls {
                facts.insert(
                    0,
                    format!(
                        "{} calls ({} primitive)",
                        format::count(row.calls),
                        format::count(row.primitive_calls)
                    ),
                );
            }
            let _ = writeln!(text, "{}", facts.join(" · "));
            let mut sections = Vec::new();
            if self.callers {
                let mut edges: Vec<&Edge> = table.edges.iter().filter(|e| e.callee == f).collect();
                edges.sort_by_key(|e| std::cmp::Reverse(e.total_value));
                sections.push((
                    "called by",
                    edge_grid(
                        profile,
                        &edges,
                        table.grand_total,
                        vf,
                        |e| e.caller,
                        table.has_calls,
                        options,
                    ),
                ));
            }
            if self.callees {
                let mut edges: Vec<&Edge> = table.edges.iter().filter(|e| e.caller == f).collect();
                edges.sort_by_key(|e| std::cmp::Reverse(e.total_value));
                sections.push((
                    "calls",
                    edge_grid(
                        profile,
                        &edges,
                        table.grand_total,
                        vf,
                        |e| e.callee,
                        table.has_calls,
                        options,
                    ),
                ));
            }
            for (title, grid) in sections {
                if grid.is_empty() {
                    let _ = writeln!(
                        text,
                        "  {}",
                        style.dim(&format!("{title}: nothing recorded"))
                    );
                } else {
                    let _ = writeln!(text, "  {}", style.bold(title));
                    for line in grid.render(style, 0).lines() {
                        let _ = writeln!(text, "  {line}");
                    }
                }
            }
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}
