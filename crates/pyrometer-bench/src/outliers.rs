//! Outliers are flagged, never removed: the summary shows how many there are and by which rule,
//! and the raw values keep their flag.

use serde::{Deserialize, Serialize};

use crate::stats;

/// The rule that flags outliers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutlierMethod {
    /// Tukey's fences: below Q1 − 1.5·IQR or above Q3 + 1.5·IQR (pyperf's and
    /// pytest-benchmark's rule).
    Tukey,
    /// The modified z-score 0.6745·|x − median| / MAD above 3.5 (Iglewicz and Hoaglin).
    ModifiedZ,
}

impl OutlierMethod {
    pub fn describe(self) -> &'static str {
        match self {
            OutlierMethod::Tukey => "Tukey's fences: outside Q1 − 1.5·IQR … Q3 + 1.5·IQR",
            OutlierMethod::ModifiedZ => "modified z-score 0.6745·|x − median| / MAD > 3.5",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outliers {
    pub method: OutlierMethod,
    /// Values below this are low outliers.
    pub low_fence: f64,
    /// Values above this are high outliers.
    pub high_fence: f64,
    pub low: usize,
    pub high: usize,
    /// Positions of the outliers among the measured (non-warm-up) values.
    pub indices: Vec<usize>,
}

/// Flags the outliers of `values` by `method`.
pub fn detect(values: &[f64], method: OutlierMethod) -> Outliers {
    let (low_fence, high_fence) = match method {
        OutlierMethod::Tukey => {
            let s = stats::sorted(values);
            let (q1, q3) = (
                stats::quantile_sorted(&s, 0.25),
                stats::quantile_sorted(&s, 0.75),
            );
            let iqr = q3 - q1;
            (q1 - 1.5 * iqr, q3 + 1.5 * iqr)
        }
        OutlierMethod::ModifiedZ => {
            let (m, mad) = (stats::median(values), stats::mad(values));
            let reach = 3.5 * mad / 0.6745;
            (m - reach, m + reach)
        }
    };
    let mut out = Outliers {
        method,
        low_fence,
        high_fence,
        low: 0,
        high: 0,
        indices: Vec::new(),
    };
    for (i, &v) in values.iter().enumerate() {
        if v < low_fence {
            out.low += 1;
            out.indices.push(i);
        } else if v > high_fence {
            out.high += 1;
            out.indices.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tukey_fences() {
        // Q1 = 2.75, Q3 = 7.25 (type 7) → IQR 4.5, fences −4 and 14.
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        v.push(30.0);
        v.push(-10.0);
        let o = detect(&v, OutlierMethod::Tukey);
        assert_eq!((o.low, o.high), (1, 1));
        assert_eq!(o.indices, vec![9, 10]);
        let o = detect(&[1.0, 1.0, 1.0, 1.0], OutlierMethod::Tukey);
        assert!(o.indices.is_empty());
    }

    #[test]
    fn modified_z() {
        let v = [10.0, 10.1, 9.9, 10.0, 10.2, 9.8, 14.0];
        let o = detect(&v, OutlierMethod::ModifiedZ);
        assert_eq!(o.indices, vec![6]);
        assert_eq!(o.high, 1);
    }
}
