//! The memory report: allocations by line and by function, what held memory at the peak,
//! what was still alive at the end (leak candidates), and the timeline as sparklines.

use std::fmt::Write as _;

use pyrometer_profile::analysis::{Granularity, Shape, Table, percent, stack_values};
use pyrometer_profile::{Metric, Mode, Profile, Series};
use rustc_hash::FxHashMap;

use super::table::Grid;
use super::{Style, footer, table};
use crate::RenderOptions;
use crate::format;

/// Self values per line (location id) for a metric.
fn per_line(
    profile: &Profile,
    shape: &Shape,
    metric: Metric,
    options: &RenderOptions,
) -> FxHashMap<u32, u64> {
    if profile.samples.column(metric).is_none() {
        return FxHashMap::default();
    }
    Table::new(profile, shape, metric, &options.threads)
        .rows
        .into_iter()
        .filter(|r| r.self_value > 0)
        .map(|r| (r.key, r.self_value))
        .collect()
}

fn counter(profile: &Profile, name: &str) -> u64 {
    profile.counter(name).unwrap_or(0)
}

/// The lines of a sparkline: `width` cells, each the highest value in its time slice.
pub fn sparkline(series: &Series, width: usize, end_ns: u64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = series.points.iter().map(|p| p.1).fold(0.0, f64::max);
    if series.points.is_empty() || max <= 0.0 || width == 0 {
        return String::new();
    }
    let end = end_ns.max(series.points.last().map_or(1, |p| p.0)).max(1);
    let mut cells: Vec<Option<f64>> = vec![None; width];
    for &(t, v) in &series.points {
        let i = ((t as u128 * width as u128) / (end as u128 + 1)) as usize;
        let c = &mut cells[i.min(width - 1)];
        *c = Some(c.map_or(v, |old: f64| old.max(v)));
    }
    // Slices without a point carry the last value forward.
    let mut last = 0.0;
    cells
        .into_iter()
        .map(|c| {
            let v = c.unwrap_or(last);
            last = v;
            let level = ((v / max) * 7.0).round().clamp(0.0, 7.0) as usize;
            BARS[level]
        })
        .collect()
}

/// The call path of a stack, leaf first: `name (file:line) ← caller (file:line) ← …`, at most
/// `depth` frames.
fn path(profile: &Profile, stack: u32, depth: usize, base: Option<&str>) -> (String, String) {
    let locs = profile.stack_frames(stack);
    let mut parts = locs.iter().rev().map(|&l| {
        let loc = profile.locations[l as usize];
        (
            format::frame_location(profile, loc.frame, loc.line, base),
            format::frame_name(profile, loc.frame).to_string(),
        )
    });
    let (leaf_at, leaf_name) = parts.next().unwrap_or_default();
    let callers: Vec<String> = parts
        .take(depth)
        .map(|(at, name)| {
            if at.is_empty() {
                name
            } else {
                format!("{name} {at}")
            }
        })
        .collect();
    let mut detail = leaf_name;
    if !callers.is_empty() {
        detail.push_str(" ← ");
        detail.push_str(&callers.join(" ← "));
    }
    (leaf_at, detail)
}

/// The stacks holding the most of `metric`, with their call paths.
fn stack_table(
    profile: &Profile,
    metric: Metric,
    options: &RenderOptions,
    style: Style,
    whole: u64,
) -> String {
    let values = stack_values(profile, metric, &options.threads);
    let mut order: Vec<usize> = (0..values.len()).filter(|&s| values[s] > 0).collect();
    order.sort_by(|&a, &b| values[b].cmp(&values[a]));
    let shown = order.len().min(options.top);
    let mut grid = Grid::new(&["bytes", "share"], "line  function ← callers");
    for &s in &order[..shown] {
        let (at, detail) = path(profile, s as u32, 3, options.base_dir.as_deref());
        grid.push(
            vec![
                format::bytes(values[s] as f64),
                format::percent(percent(values[s], whole)),
            ],
            at,
            detail,
        );
    }
    grid.render(style, 3.min(shown))
}

/// How many allocations the memory collector sampled: its `samples` counter in a memory
/// profile; `memory_samples` in a sampled profile that also profiled memory (`run --memory`),
/// where `samples` is the stack sampler's.
fn memory_samples(profile: &Profile) -> u64 {
    if profile.meta.mode == Mode::Memory {
        counter(profile, "samples")
    } else {
        counter(profile, "memory_samples")
    }
}

/// Allocated bytes and count, the traced peak and the RSS peak, for a summary line.
fn summary(profile: &Profile) -> Vec<String> {
    let peak = counter(profile, "peak_bytes");
    let rss_peak = profile
        .timeline
        .iter()
        .find(|s| s.name == "rss")
        .map(|s| s.points.iter().map(|p| p.1).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let mut facts = vec![
        format!(
            "{} allocated in {} allocations",
            format::bytes(profile.total(Metric::AllocBytes) as f64),
            format::count(profile.total(Metric::AllocCount))
        ),
        format!("peak {} traced", format::bytes(peak as f64)),
    ];
    if rss_peak > 0.0 {
        facts.push(format!("RSS peak {}", format::bytes(rss_peak)));
    }
    facts
}

/// The report of a memory profile: header, the memory sections, footer.
pub(crate) fn report(profile: &Profile, options: &RenderOptions, style: Style) -> String {
    let meta = &profile.meta;
    let mut text = String::new();
    let mut line = "pyrometer memory".to_string();
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
    facts.extend(summary(profile));
    if profile.threads.len() > 1 {
        facts.push(format!("{} threads", profile.threads.len()));
    }
    let _ = writeln!(
        text,
        "{}\n{}\n",
        style.bold(&line),
        style.dim(&facts.join(" · "))
    );
    text.push_str(&sections(profile, options, style));
    let foot = footer(profile, Metric::AllocBytes, style);
    if !foot.is_empty() {
        text.push_str(&foot);
    }
    text
}

/// The memory part of a sampled report whose run also profiled memory (`run --memory`): a
/// heading with the summary, then the memory sections. The caller adds the footer.
pub(crate) fn appended(profile: &Profile, options: &RenderOptions, style: Style) -> String {
    format!(
        "{}\n{}\n\n{}",
        style.bold("Memory"),
        style.dim(&summary(profile).join(" · ")),
        sections(profile, options, style)
    )
}

/// Top lines, functions, the peak, leak candidates, per-thread figures, the timeline, and how
/// memory was measured.
fn sections(profile: &Profile, options: &RenderOptions, style: Style) -> String {
    let meta = &profile.meta;
    let base = options.base_dir.as_deref();
    let mut text = String::new();
    let allocated = profile.total(Metric::AllocBytes);
    let peak = counter(profile, "peak_bytes");
    if allocated == 0 {
        text.push_str("No allocation was recorded.\n");
    } else {
        // Top lines.
        let shape = Shape::new(profile, Granularity::Line);
        let alloc = per_line(profile, &shape, Metric::AllocBytes, options);
        let count = per_line(profile, &shape, Metric::AllocCount, options);
        let retained = per_line(profile, &shape, Metric::RetainedBytes, options);
        let at_peak = per_line(profile, &shape, Metric::PeakBytes, options);
        let mut lines: Vec<(u32, u64)> = alloc.iter().map(|(&k, &v)| (k, v)).collect();
        lines.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown = lines.len().min(options.top);
        let mut grid = Grid::new(
            &["allocated", "share", "allocations", "at peak", "at exit"],
            "line",
        );
        let get = |m: &FxHashMap<u32, u64>, k: u32| m.get(&k).copied().unwrap_or(0);
        for &(key, v) in &lines[..shown] {
            let loc = profile.locations[key as usize];
            grid.push(
                vec![
                    format::bytes(v as f64),
                    format::percent(percent(v, allocated)),
                    format::count(get(&count, key)),
                    format::bytes(get(&at_peak, key) as f64),
                    format::bytes(get(&retained, key) as f64),
                ],
                format::frame_location(profile, loc.frame, loc.line, base),
                format::frame_name(profile, loc.frame).to_string(),
            );
        }
        let _ = writeln!(text, "{}", style.bold("Top lines by allocated memory"));
        text.push_str(&grid.render(style, 3.min(shown)));
        text.push('\n');
        text.push_str(&table::function_tables(
            profile,
            Metric::AllocBytes,
            options,
            style,
        ));

        // The peak.
        let peak_total = profile.total(Metric::PeakBytes);
        if peak_total > 0 {
            let at = format::duration(counter(profile, "peak_at_ns") as f64);
            let _ = writeln!(
                text,
                "\n{}",
                style.bold(&format!(
                    "At the peak ({} traced, {at} into the run), memory was held by",
                    format::bytes(peak as f64)
                ))
            );
            text.push_str(&stack_table(
                profile,
                Metric::PeakBytes,
                options,
                style,
                peak_total,
            ));
        }

        // Leak candidates.
        let retained_total = profile.total(Metric::RetainedBytes);
        let _ = writeln!(
            text,
            "\n{}",
            style.bold(&format!(
                "Leak candidates: allocated while profiling and still alive at the end ({})",
                format::bytes(retained_total as f64)
            ))
        );
        if retained_total == 0 {
            text.push_str("none\n");
        } else {
            text.push_str(&stack_table(
                profile,
                Metric::RetainedBytes,
                options,
                style,
                retained_total,
            ));
        }
        if profile.threads.len() > 1 {
            text.push('\n');
            text.push_str(&table::thread_table(
                profile,
                Metric::AllocBytes,
                options,
                style,
            ));
        }
    }
    // Timeline.
    let series: Vec<&Series> = ["traced", "rss"]
        .iter()
        .filter_map(|n| profile.timeline.iter().find(|s| s.name == *n))
        .filter(|s| s.points.len() > 1)
        .collect();
    if !series.is_empty() {
        let end = meta.duration_ns.max(
            series
                .iter()
                .filter_map(|s| s.points.last())
                .map(|p| p.0)
                .max()
                .unwrap_or(0),
        );
        let _ = writeln!(
            text,
            "\n{}",
            style.bold(&format!(
                "Memory over time (0 to {})",
                format::duration(end as f64)
            ))
        );
        for s in series {
            let max = s.points.iter().map(|p| p.1).fold(0.0, f64::max);
            let label = if s.name == "rss" { "RSS" } else { "traced" };
            let _ = writeln!(
                text,
                "{label:>6} {}  max {}",
                sparkline(s, 60, end),
                format::bytes(max)
            );
        }
    }
    // How it was measured.
    let interval = counter(profile, "sample_interval_bytes");
    let how = if interval == 0 {
        "every allocation recorded".to_string()
    } else {
        let samples = memory_samples(profile);
        let live_error = if peak > 0 {
            // A live estimate built from small allocations has a relative standard error of
            // about sqrt(interval / bytes).
            format!(
                "; live and peak figures are estimates (±{:.1}% at the peak, 1σ)",
                100.0 * (interval as f64 / peak as f64).sqrt()
            )
        } else {
            String::new()
        };
        format!(
            "allocations sampled every {} on average ({} samples); allocated totals are exact{live_error}",
            format::bytes(interval as f64),
            format::count(samples)
        )
    };
    let _ = writeln!(text, "\n{}", style.dim(&how));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum() {
        let s = Series {
            name: "traced".into(),
            unit: "bytes".into(),
            points: vec![(0, 0.0), (50, 50.0), (99, 100.0)],
        };
        let line = sparkline(&s, 4, 99);
        assert_eq!(line.chars().count(), 4);
        assert!(line.starts_with('▁') && line.ends_with('█'), "{line}");
    }
}
