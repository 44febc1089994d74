//! Shared formatting: numbers, durations, sizes, function labels and source locations.

use pyrometer_profile::{FrameId, FrameKind, Metric, Profile, Unit};

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration with three significant digits in a unit that suits it.
pub fn duration(ns: f64) -> String {
    let abs = ns.abs();
    if abs < 1e3 {
        format!("{ns:.0} ns")
    } else if abs < 1e6 {
        sig3(ns / 1e3, "µs")
    } else if abs < 1e9 {
        sig3(ns / 1e6, "ms")
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// Parses a size: a number of bytes with an optional K/M/G suffix (binary: `512K` = 524288,
/// `1M`, `2MiB`, `64kb`), or `exact` / `0` for recording every allocation.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "exact" {
        return Ok(0);
    }
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a size (try 512K, 1M, or exact)"))?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("'{text}' is not a size (try 512K, 1M, or exact)")),
    };
    n.checked_mul(1 << shift)
        .filter(|&v| v <= 1 << 40)
        .ok_or_else(|| format!("'{text}' is too large a sampling interval"))
}

/// A byte count in binary units.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        sig3(v, UNITS[unit])
    }
}

fn sig3(v: f64, unit: &str) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

pub fn percent(p: f64) -> String {
    format!("{p:.1}%")
}

/// How values of a metric read to a person: time for time and samples (when the sampling
/// interval is known), bytes for memory, plain counts otherwise.
#[derive(Clone, Copy, Debug)]
pub struct ValueFormat {
    unit: Unit,
    /// Nanoseconds per unit when the values stand for time.
    ns_per_unit: Option<f64>,
}

impl ValueFormat {
    pub fn new(profile: &Profile, metric: Metric) -> ValueFormat {
        let ns_per_unit = match metric {
            Metric::SelfTime => Some(1.0),
            Metric::WallSamples | Metric::CpuSamples | Metric::GilSamples => {
                profile.meta.sample_interval_ns.map(|ns| ns as f64)
            }
            _ => None,
        };
        ValueFormat {
            unit: metric.unit(),
            ns_per_unit,
        }
    }

    pub fn is_time(&self) -> bool {
        self.ns_per_unit.is_some()
    }

    /// The value in nanoseconds, when it stands for time.
    pub fn ns(&self, v: u64) -> Option<f64> {
        self.ns_per_unit.map(|k| v as f64 * k)
    }

    pub fn show(&self, v: u64) -> String {
        self.show_f(v as f64)
    }

    pub fn show_f(&self, v: f64) -> String {
        if let Some(k) = self.ns_per_unit {
            return duration(v * k);
        }
        match self.unit {
            Unit::Bytes => bytes(v),
            Unit::Nanoseconds => duration(v),
            Unit::Count if v.fract() == 0.0 => count(v as u64),
            Unit::Count => format!("{v:.1}"),
        }
    }
}

/// What a metric is called in a report heading.
pub fn metric_title(metric: Metric) -> &'static str {
    match metric {
        Metric::SelfTime => "time",
        Metric::WallSamples => "wall time",
        Metric::CpuSamples => "CPU time",
        Metric::GilSamples => "time holding the GIL",
        Metric::Calls => "calls",
        Metric::AllocBytes => "allocated bytes",
        Metric::AllocCount => "allocations",
        Metric::RetainedBytes => "retained bytes",
        Metric::LineHits => "line hits",
        Metric::PeakBytes => "bytes at the peak",
    }
}

/// A path for display: relative to `base` when inside it; for installed packages and the
/// standard library, the path below `site-packages/` or `lib/pythonX.Y/` (`json/decoder.py`),
/// which is how Python people name those files.
pub fn short_path<'a>(path: &'a str, base: Option<&str>) -> &'a str {
    if let Some(base) = base {
        let base = base.trim_end_matches('/');
        if !base.is_empty()
            && let Some(rest) = path.strip_prefix(base)
            && let Some(rest) = rest.strip_prefix('/')
        {
            return rest;
        }
    }
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(i) = path.rfind(marker) {
            return &path[i + marker.len()..];
        }
    }
    if let Some(i) = path.rfind("/lib/python3.") {
        let rest = &path[i + "/lib/python3.".len()..];
        if let Some(slash) = rest.find('/') {
            return &rest[slash + 1..];
        }
    }
    path
}

/// The name people read for a frame.
pub fn frame_name(profile: &Profile, frame: FrameId) -> &str {
    let f = &profile.frames[frame as usize];
    profile.string(f.qualname)
}

/// Where a frame is: `file:line`, or `built-in`.
pub fn frame_location(profile: &Profile, frame: FrameId, line: u32, base: Option<&str>) -> String {
    let f = &profile.frames[frame as usize];
    match f.kind {
        FrameKind::Builtin => "built-in".into(),
        FrameKind::Synthetic => String::new(),
        FrameKind::Python | FrameKind::Native => {
            let file = short_path(profile.string(f.file), base);
            let line = if line != 0 { line } else { f.line };
            if line == 0 {
                file.to_string()
            } else {
                format!("{file}:{line}")
            }
        }
    }
}

/// `name (file:line)`: a frame label for flame graphs and collapsed stacks.
pub fn frame_label(profile: &Profile, frame: FrameId, line: u32, base: Option<&str>) -> String {
    let name = frame_name(profile, frame);
    let location = frame_location(profile, frame, line, base);
    if location.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({location})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(duration(512.0), "512 ns");
        assert_eq!(duration(1530.0), "1.53 µs");
        assert_eq!(duration(12_345_678.0), "12.3 ms");
        assert_eq!(duration(1_234_567_890.0), "1.235 s");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(3.5 * 1024.0 * 1024.0), "3.50 MiB");
        assert_eq!(short_path("/a/b/c.py", Some("/a/")), "b/c.py");
        assert_eq!(short_path("/a/b/c.py", Some("/x")), "/a/b/c.py");
        assert_eq!(
            short_path("/usr/lib/python3.11/json/decoder.py", None),
            "json/decoder.py"
        );
        assert_eq!(
            short_path("/v/lib/python3.12/site-packages/numpy/core/x.py", None),
            "numpy/core/x.py"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("exact"), Ok(0));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12Q").is_err() && parse_size("").is_err() && parse_size("-1").is_err());
    }
}
