//! Descriptive statistics of timing values: mean and standard deviation, median and MAD,
//! quantiles. Every function takes the values in any order and never panics on an empty slice
//! (it returns NaN, which the callers never store: a benchmark has at least one value).

/// The arithmetic mean.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The sample standard deviation (divisor n − 1); 0 for fewer than two values.
pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// A sorted copy (NaNs, which timings never are, sort last).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The `q` quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly between the two
/// nearest ranks (Hyndman and Fan's type 7, the default of R and NumPy).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The median: the middle value, or the mean of the two middle values.
pub fn median(xs: &[f64]) -> f64 {
    quantile_sorted(&sorted(xs), 0.5)
}

/// The median absolute deviation from the median, unscaled (multiply by 1.4826 for an
/// estimate of the standard deviation of normal data).
pub fn mad(xs: &[f64]) -> f64 {
    let m = median(xs);
    let deviations: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn known_values() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(mean(&xs), 5.0));
        // Sum of squares 32, n − 1 = 7.
        assert!(close(std_dev(&xs), (32.0f64 / 7.0).sqrt()));
        assert!(close(median(&xs), 4.5));
        // |x − 4.5| = 2.5 0.5 0.5 0.5 0.5 0.5 2.5 4.5 → median 0.5
        assert!(close(mad(&xs), 0.5));
        assert!(close(median(&[3.0, 1.0, 2.0]), 2.0));
        assert!(close(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), 1.0));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let s = sorted(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(quantile_sorted(&s, 0.25), 1.75));
        assert!(close(quantile_sorted(&s, 0.75), 3.25));
        assert!(close(quantile_sorted(&s, 0.0), 1.0));
        assert!(close(quantile_sorted(&s, 1.0), 4.0));
        assert!(close(quantile_sorted(&[7.0], 0.3), 7.0));
    }

    #[test]
    fn degenerate_inputs() {
        assert!(mean(&[]).is_nan());
        assert!(median(&[]).is_nan());
        assert_eq!(std_dev(&[1.0]), 0.0);
        assert_eq!(mad(&[5.0]), 0.0);
    }
}
