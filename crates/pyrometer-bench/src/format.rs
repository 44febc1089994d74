//! Numbers for people: durations with a unit, percentages, counts.

use serde::{Deserialize, Serialize};

/// A time unit for reports (`-u`): timeit's names and the short ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Nanos,
    Micros,
    Millis,
    Seconds,
}

impl Unit {
    pub fn from_name(name: &str) -> Option<Unit> {
        Some(match name {
            "nsec" | "ns" => Unit::Nanos,
            "usec" | "us" | "µs" => Unit::Micros,
            "msec" | "ms" => Unit::Millis,
            "sec" | "s" => Unit::Seconds,
            _ => return None,
        })
    }

    pub fn scale(self) -> f64 {
        match self {
            Unit::Nanos => 1e9,
            Unit::Micros => 1e6,
            Unit::Millis => 1e3,
            Unit::Seconds => 1.0,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
        }
    }

    /// The unit that shows `seconds` with one to three digits before the point.
    pub fn auto(seconds: f64) -> Unit {
        let s = seconds.abs();
        if s < 1e-6 {
            Unit::Nanos
        } else if s < 1e-3 {
            Unit::Micros
        } else if s < 1.0 {
            Unit::Millis
        } else {
            Unit::Seconds
        }
    }
}

/// A number with 4 significant digits (at most 3 decimals).
pub fn sig4(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    format!("{x:.decimals$}")
}

/// `seconds` in `unit` (or the natural one), e.g. `1.234 µs`.
pub fn duration_in(seconds: f64, unit: Option<Unit>) -> String {
    if !seconds.is_finite() {
        return "-".into();
    }
    let unit = unit.unwrap_or_else(|| Unit::auto(seconds));
    format!("{} {}", sig4(seconds * unit.scale()), unit.symbol())
}

pub fn duration(seconds: f64) -> String {
    duration_in(seconds, None)
}

/// `0.1234` → `12.3%`.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p.abs() >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A p-value for a table.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(1.234e-7), "123.4 ns");
        assert_eq!(duration(1.2345e-6), "1.234 µs"); // rounds half to even on the binary value
        assert_eq!(duration(0.0456), "45.60 ms");
        assert_eq!(duration(12.0), "12.00 s");
        assert_eq!(duration_in(1.5e-6, Some(Unit::Nanos)), "1500 ns");
        assert_eq!(Unit::from_name("usec"), Some(Unit::Micros));
        assert_eq!(Unit::from_name("weeks"), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(percent(0.1234), "12%");
        assert_eq!(percent(0.01234), "1.2%");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(p_value(0.0001), "<0.001");
        assert_eq!(p_value(0.25), "0.250");
    }
}
