//! Bootstrap confidence intervals: for the median of one benchmark and for the ratio of the
//! medians of two.
//!
//! Values taken in the same worker process are not independent (they share its memory layout,
//! its hash seed, its place on the CPU), so when a benchmark ran in several processes the
//! bootstrap resamples whole processes, with all their values (a cluster bootstrap); the
//! interval then carries the process-to-process variation that makes one invocation differ from
//! the next. With fewer than [`MIN_CLUSTERS`] processes it resamples single values.

use crate::rng::Rng;
use crate::stats;

/// Below this many processes, values are resampled one by one.
pub const MIN_CLUSTERS: usize = 4;

/// Resamples per interval.
pub const RESAMPLES: usize = 2_000;

/// The resampling units: the processes' values, or every value on its own.
pub fn units(groups: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let groups: Vec<Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).cloned().collect();
    if groups.len() >= MIN_CLUSTERS {
        groups
    } else {
        groups.into_iter().flatten().map(|v| vec![v]).collect()
    }
}

fn resample_median(units: &[Vec<f64>], rng: &mut Rng, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    for _ in 0..units.len() {
        buf.extend_from_slice(&units[rng.below(units.len())]);
    }
    buf.sort_by(f64::total_cmp);
    stats::quantile_sorted(buf, 0.5)
}

fn percentile_interval(mut estimates: Vec<f64>, level: f64) -> (f64, f64) {
    estimates.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    (
        stats::quantile_sorted(&estimates, tail),
        stats::quantile_sorted(&estimates, 1.0 - tail),
    )
}

/// The percentile bootstrap interval of the median at `level` (e.g. 0.95).
pub fn median_ci(groups: &[Vec<f64>], level: f64, rng: &mut Rng) -> (f64, f64) {
    let units = units(groups);
    if units.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut buf = Vec::new();
    let estimates = (0..RESAMPLES)
        .map(|_| resample_median(&units, rng, &mut buf))
        .collect();
    percentile_interval(estimates, level)
}

/// The percentile bootstrap interval of median(new) / median(old), each side resampled on its
/// own (the two benchmarks' values are independent samples).
pub fn ratio_ci(old: &[Vec<f64>], new: &[Vec<f64>], level: f64, rng: &mut Rng) -> (f64, f64) {
    let (old, new) = (units(old), units(new));
    if old.is_empty() || new.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut buf = Vec::new();
    let estimates = (0..RESAMPLES)
        .map(|_| {
            let o = resample_median(&old, rng, &mut buf);
            let n = resample_median(&new, rng, &mut buf);
            n / o
        })
        .collect();
    percentile_interval(estimates, level)
}

/// The percentile bootstrap interval of median(new) / median(old) for paired units (the same
/// process, or the same round of it, measured both): units are resampled together, so what
/// they share (the process's layout and hash seed) cancels in the ratio.
pub fn paired_ratio_ci(pairs: &[(Vec<f64>, Vec<f64>)], level: f64, rng: &mut Rng) -> (f64, f64) {
    if pairs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let estimates = (0..RESAMPLES)
        .map(|_| {
            old.clear();
            new.clear();
            for _ in 0..pairs.len() {
                let (o, n) = &pairs[rng.below(pairs.len())];
                old.extend_from_slice(o);
                new.extend_from_slice(n);
            }
            old.sort_by(f64::total_cmp);
            new.sort_by(f64::total_cmp);
            stats::quantile_sorted(&new, 0.5) / stats::quantile_sorted(&old, 0.5)
        })
        .collect();
    percentile_interval(estimates, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_a_constant_is_the_constant() {
        let groups = vec![vec![2.0; 3]; 5];
        let (lo, hi) = median_ci(&groups, 0.95, &mut Rng::new(1));
        assert_eq!((lo, hi), (2.0, 2.0));
    }

    #[test]
    fn interval_covers_the_median_and_narrows_with_more_data() {
        let mut rng = Rng::new(7);
        // Uniform values in [1, 2): true median 1.5.
        let small: Vec<Vec<f64>> = (0..20)
            .map(|_| vec![1.0 + rng.next_u64() as f64 / u64::MAX as f64])
            .collect();
        let large: Vec<Vec<f64>> = (0..2000)
            .map(|_| vec![1.0 + rng.next_u64() as f64 / u64::MAX as f64])
            .collect();
        let (a, b) = median_ci(&small, 0.95, &mut Rng::new(3));
        let (c, d) = median_ci(&large, 0.95, &mut Rng::new(3));
        let flat = |g: &[Vec<f64>]| g.iter().flatten().copied().collect::<Vec<f64>>();
        let m = stats::median(&flat(&small));
        assert!(a <= m && m <= b, "{a} {m} {b}");
        let m = stats::median(&flat(&large));
        assert!(c <= m && m <= d, "{c} {m} {d}");
        assert!((m - 1.5).abs() < 0.05);
        assert!(d - c < (b - a) / 3.0);
        // Same seed, same interval.
        assert_eq!(median_ci(&small, 0.95, &mut Rng::new(3)), (a, b));
    }

    #[test]
    fn processes_are_resampled_whole() {
        // Two kinds of process, each internally constant: the interval must span both levels,
        // which resampling single values (60 of them) would hardly do.
        let mut groups = Vec::new();
        for i in 0..10 {
            groups.push(vec![if i % 2 == 0 { 1.0 } else { 1.2 }; 6]);
        }
        let (lo, hi) = median_ci(&groups, 0.95, &mut Rng::new(5));
        assert_eq!((lo, hi), (1.0, 1.2));
        // Fewer than MIN_CLUSTERS groups: values.
        assert_eq!(units(&[vec![1.0, 2.0], vec![3.0]]).len(), 3);
    }

    #[test]
    fn ratio_interval() {
        let old = vec![vec![1.0, 1.01, 0.99]; 6];
        let new = vec![vec![2.0, 2.02, 1.98]; 6];
        let (lo, hi) = ratio_ci(&old, &new, 0.95, &mut Rng::new(1));
        assert!(lo > 1.9 && hi < 2.1 && lo <= 2.0 && 2.0 <= hi, "{lo} {hi}");
    }
}
