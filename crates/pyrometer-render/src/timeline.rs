//! The memory timeline as an SVG line chart: traced memory and RSS over the run, with time and
//! byte axes in human units, a legend, and the peak of traced memory marked. Hand-written,
//! self-contained SVG (no script, no external style), well-formed XML.

use std::fmt::Write as _;
use std::io::Write;

use pyrometer_profile::{Profile, Series};

use crate::{RenderError, RenderOptions, Renderer, format};

pub struct Timeline;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 48.0;
const FONT: &str = "font-family=\"Verdana, DejaVu Sans, sans-serif\"";

/// Display name and colour of the series pyrometer records; others get a neutral colour.
fn look(series: &Series) -> (&str, &'static str) {
    match series.name.as_str() {
        "traced" => ("traced memory (Python allocators)", "#1f6fb4"),
        "rss" => ("RSS (resident set size)", "#e8710a"),
        other => (other, "#6a6a6a"),
    }
}

/// `&`, `<`, `>` and `"` escaped for XML text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A step of 1, 2 or 5 times a power of `base` that cuts `max` into at most about `parts`.
fn nice_step(max: f64, parts: f64, base: f64) -> f64 {
    let raw = (max / parts).max(f64::MIN_POSITIVE);
    let mut unit = 1.0;
    while unit * base <= raw {
        unit *= base;
    }
    // Within the unit, steps are 1, 2, 5 times a power of ten.
    let mut decade = 1.0;
    while unit * decade * 10.0 <= raw {
        decade *= 10.0;
    }
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| unit * decade * m)
        .find(|&s| s >= raw)
        .unwrap_or(unit * decade * 10.0)
}

/// Labels of byte ticks: every tick in one binary unit, the one the step is counted in
/// (`0 B`, `256 MiB`, `512 MiB`, …).
fn byte_label(v: f64, step: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scale = 1.0;
    while step >= scale * 1024.0 && unit < UNITS.len() - 1 {
        scale *= 1024.0;
        unit += 1;
    }
    let n = v / scale;
    if n.fract().abs() < 1e-9 {
        format!("{n:.0} {}", UNITS[unit])
    } else {
        format!("{n:.1} {}", UNITS[unit])
    }
}

/// Labels of time ticks in the unit that suits the whole run (`0 s`, `0.5 s`, `1 s`, …).
fn time_label(ns: f64, step_ns: f64, end_ns: f64) -> String {
    let (scale, unit) = if end_ns >= 1e9 {
        (1e9, "s")
    } else if end_ns >= 1e6 {
        (1e6, "ms")
    } else if end_ns >= 1e3 {
        (1e3, "µs")
    } else {
        (1.0, "ns")
    };
    let decimals = (-(step_ns / scale).log10().floor()).max(0.0) as usize;
    format!("{:.*} {unit}", decimals, ns / scale)
}

impl Renderer for Timeline {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        // traced, then rss, then anything else recorded.
        let mut series: Vec<&Series> = profile
            .timeline
            .iter()
            .filter(|s| !s.points.is_empty())
            .collect();
        series.sort_by_key(|s| match s.name.as_str() {
            "traced" => 0,
            "rss" => 1,
            _ => 2,
        });
        if series.is_empty() {
            return Err(RenderError::Empty(
                "timeline (only runs that profile memory record one)",
            ));
        }
        let end_ns = series
            .iter()
            .filter_map(|s| s.points.last())
            .map(|p| p.0)
            .max()
            .unwrap_or(0)
            .max(profile.meta.duration_ns)
            .max(1) as f64;
        let max_v = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max)
            .max(1.0);
        let y_step = nice_step(max_v, 5.0, 1024.0);
        let y_top = (max_v / y_step).ceil() * y_step;
        let x_step = nice_step(end_ns, 8.0, 10.0);
        let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let x = |t: f64| LEFT + t / end_ns * plot_w;
        let y = |v: f64| TOP + plot_h - v / y_top * plot_h;

        let title = options.title.clone().unwrap_or_else(|| {
            let command = profile.meta.command.join(" ");
            if command.is_empty() {
                "Memory over time".into()
            } else {
                format!("Memory over time — {command}")
            }
        });
        // The heading spans the plot's width at most.
        let title = if title.chars().count() > 96 {
            format!("{}…", title.chars().take(95).collect::<String>())
        } else {
            title
        };
        let mut svg = String::new();
        let _ = writeln!(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" {FONT} font-size=\"12\">"
        );
        let _ = writeln!(svg, "<title>{}</title>", escape(&title));
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
            escape(&title)
        );

        // Grid and axes.
        let _ = writeln!(svg, "<g class=\"axis y\" fill=\"#444444\">");
        let mut v = 0.0;
        while v <= y_top + y_step / 2.0 {
            let py = y(v);
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                py + 4.0,
                byte_label(v, y_step)
            );
            v += y_step;
        }
        let _ = writeln!(svg, "</g>");
        let _ = writeln!(svg, "<g class=\"axis x\" fill=\"#444444\">");
        let mut t = 0.0;
        while t <= end_ns + x_step / 1000.0 {
            let px = x(t);
            let _ = writeln!(
                svg,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#888888\"/>\
                 <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                TOP + plot_h,
                TOP + plot_h + 5.0,
                TOP + plot_h + 18.0,
                time_label(t, x_step, end_ns)
            );
            t += x_step;
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time since the start of the run</text>",
            LEFT + plot_w / 2.0,
            HEIGHT - 8.0
        );
        let _ = writeln!(svg, "</g>");
        let _ = writeln!(
            svg,
            "<path d=\"M{LEFT},{TOP} V{:.1} H{:.1}\" fill=\"none\" stroke=\"#444444\"/>",
            TOP + plot_h,
            WIDTH - RIGHT
        );

        // The series, each a polyline.
        for s in &series {
            let (_, color) = look(s);
            let mut points = String::new();
            for &(t, v) in &s.points {
                let _ = write!(points, "{:.1},{:.1} ", x(t as f64), y(v));
            }
            let _ = writeln!(
                svg,
                "<polyline class=\"series\" id=\"series-{}\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" stroke-linejoin=\"round\"/>",
                escape(&s.name),
                points.trim_end()
            );
        }

        // The peak of traced memory (the first series when there is no traced one).
        if let Some(s) = series.first()
            && let Some(&(t, v)) = s
                .points
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        {
            let (px, py) = (x(t as f64), y(v));
            let label = format!(
                "peak {} at {}",
                format::bytes(v),
                format::duration(t as f64)
            );
            let anchor = if px > LEFT + plot_w * 0.7 {
                "end"
            } else {
                "start"
            };
            let dx = if anchor == "end" { -8.0 } else { 8.0 };
            let _ = writeln!(
                svg,
                "<g class=\"peak\"><circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"#c62828\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#c62828\">{}</text></g>",
                px + dx,
                (py - 6.0).max(TOP + 10.0),
                escape(&label)
            );
        }

        // Legend, under the title.
        let _ = writeln!(svg, "<g class=\"legend\">");
        let mut lx = LEFT;
        for s in &series {
            let (name, color) = look(s);
            let _ = writeln!(
                svg,
                "<line x1=\"{lx:.1}\" y1=\"42\" x2=\"{:.1}\" y2=\"42\" stroke=\"{color}\" stroke-width=\"3\"/>\
                 <text x=\"{:.1}\" y=\"46\">{}</text>",
                lx + 22.0,
                lx + 28.0,
                escape(name)
            );
            lx += 28.0 + 7.0 * name.chars().count() as f64 + 24.0;
        }
        let _ = writeln!(svg, "</g>");
        let _ = writeln!(svg, "</svg>");
        out.write_all(svg.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            timeline: vec![
                Series {
                    name: "traced".into(),
                    unit: "bytes".into(),
                    points: vec![
                        (0, 0.0),
                        (500_000_000, 300.0 * 1048576.0),
                        (900_000_000, 1e6),
                    ],
                },
                Series {
                    name: "rss".into(),
                    unit: "bytes".into(),
                    points: vec![(0, 2e7), (500_000_000, 3.4e8), (900_000_000, 4e7)],
                },
            ],
            ..Profile::default()
        }
    }

    #[test]
    fn draws_both_series_the_peak_and_axes() {
        let mut out = Vec::new();
        let mut p = profile();
        p.meta.command = vec!["a<b>.py".into()];
        Timeline
            .render(&p, &RenderOptions::default(), &mut out)
            .unwrap();
        let svg = String::from_utf8(out).unwrap();
        assert!(svg.contains("id=\"series-traced\"") && svg.contains("id=\"series-rss\""));
        assert!(svg.contains("peak 300 MiB at 500 ms"), "{svg}");
        assert!(svg.contains("a&lt;b&gt;.py") && !svg.contains("a<b>"));
        assert!(svg.contains(">0 ms<") && svg.contains(">300 MiB<"), "{svg}");
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    }

    #[test]
    fn no_timeline_is_an_empty_error() {
        let err = Timeline
            .render(
                &Profile::default(),
                &RenderOptions::default(),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(matches!(err, RenderError::Empty(_)));
    }

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(340.0 * 1048576.0, 5.0, 1024.0), 100.0 * 1048576.0);
        assert_eq!(nice_step(900e6, 8.0, 10.0), 200e6);
        assert_eq!(byte_label(512.0 * 1024.0, 256.0 * 1024.0), "512 KiB");
        assert_eq!(time_label(1.5e9, 5e8, 3e9), "1.5 s");
        assert_eq!(time_label(2e8, 1e8, 9e8), "200 ms");
    }
}
