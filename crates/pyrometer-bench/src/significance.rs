//! Significance tests for the difference between two benchmarks.
//!
//! The verdict uses the Mann–Whitney U test (two-sided): it compares the whole distributions
//! through ranks, so one slow outlier cannot make or unmake a difference, and it assumes no
//! normality, which timing values rarely have. Welch's t-test (unequal variances) is computed
//! too and kept in the JSON, for readers used to pyperf's t-test.

use crate::dist;
use crate::stats;

/// Up to this many values on each side (and no ties), the U test's p-value is exact.
pub const EXACT_LIMIT: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The statistic: U of the first sample, or Welch's t.
    pub statistic: f64,
    pub p_value: f64,
    /// Whether the p-value is exact (U test without ties on small samples).
    pub exact: bool,
}

/// Midranks (1-based) of `values`, and the sizes of the groups of ties.
fn ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        let midrank = (i + j + 1) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = midrank;
        }
        if j - i > 1 {
            ties.push(j - i);
        }
        i = j;
    }
    (ranks, ties)
}

/// The Mann–Whitney U test, two-sided: exact for small samples without ties, else the normal
/// approximation with the tie correction and a continuity correction of ½.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> TestResult {
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return TestResult {
            statistic: f64::NAN,
            p_value: 1.0,
            exact: false,
        };
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = ranks(&all);
    let rank_sum_x: f64 = ranks[..n].iter().sum();
    let u = rank_sum_x - (n * (n + 1)) as f64 / 2.0;
    if ties.is_empty() && n <= EXACT_LIMIT && m <= EXACT_LIMIT {
        let counts = dist::mann_whitney_counts(n, m);
        let total: f64 = counts.iter().sum();
        let u_index = u.round() as usize;
        let below: f64 = counts[..=u_index].iter().sum::<f64>() / total;
        let above: f64 = counts[u_index..].iter().sum::<f64>() / total;
        return TestResult {
            statistic: u,
            p_value: (2.0 * below.min(above)).min(1.0),
            exact: true,
        };
    }
    let (nf, mf) = (n as f64, m as f64);
    let big_n = nf + mf;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>();
    let variance = nf * mf / 12.0 * ((big_n + 1.0) - tie_term / (big_n * (big_n - 1.0)));
    let p_value = if variance <= 0.0 {
        1.0
    } else {
        let z = ((u - nf * mf / 2.0).abs() - 0.5).max(0.0) / variance.sqrt();
        (2.0 * (1.0 - dist::normal_cdf(z))).clamp(0.0, 1.0)
    };
    TestResult {
        statistic: u,
        p_value,
        exact: false,
    }
}

/// Welch's two-sample t-test (unequal variances), two-sided, with the Welch–Satterthwaite
/// degrees of freedom.
pub fn welch_t(x: &[f64], y: &[f64]) -> TestResult {
    let (n, m) = (x.len() as f64, y.len() as f64);
    let not_testable = TestResult {
        statistic: f64::NAN,
        p_value: 1.0,
        exact: false,
    };
    if n < 2.0 || m < 2.0 {
        return not_testable;
    }
    let (vx, vy) = (stats::std_dev(x).powi(2) / n, stats::std_dev(y).powi(2) / m);
    let diff = stats::mean(y) - stats::mean(x);
    if vx + vy == 0.0 {
        let p_value = if diff == 0.0 { 1.0 } else { 0.0 };
        return TestResult {
            statistic: if diff == 0.0 { 0.0 } else { f64::INFINITY },
            p_value,
            exact: true,
        };
    }
    let t = diff / (vx + vy).sqrt();
    let df = (vx + vy).powi(2) / (vx * vx / (n - 1.0) + vy * vy / (m - 1.0));
    TestResult {
        statistic: t,
        p_value: dist::t_two_sided_p(t, df),
        exact: false,
    }
}

/// The number of ways each rank sum W+ can arise under the null hypothesis of the signed-rank
/// test with `n` non-zero differences without ties (index = W+, from 0 to n(n+1)/2).
pub fn signed_rank_counts(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0.0; max + 1];
    counts[0] = 1.0;
    for rank in 1..=n {
        for w in (rank..=max).rev() {
            counts[w] += counts[w - rank];
        }
    }
    counts
}

/// The Wilcoxon signed-rank test, two-sided, of paired differences (zeros dropped, as Wilcoxon
/// did): exact for up to [`EXACT_LIMIT`] differences without ties, else the normal
/// approximation with the tie correction and a continuity correction of ½. The statistic is
/// W+, the sum of the ranks of the positive differences.
pub fn wilcoxon_signed_rank(differences: &[f64]) -> TestResult {
    let d: Vec<f64> = differences
        .iter()
        .copied()
        .filter(|x| *x != 0.0 && x.is_finite())
        .collect();
    let n = d.len();
    if n == 0 {
        return TestResult {
            statistic: 0.0,
            p_value: 1.0,
            exact: true,
        };
    }
    let magnitudes: Vec<f64> = d.iter().map(|x| x.abs()).collect();
    let (ranks, ties) = ranks(&magnitudes);
    let w_plus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    if ties.is_empty() && n <= EXACT_LIMIT {
        let counts = signed_rank_counts(n);
        let total: f64 = counts.iter().sum();
        let w = w_plus.round() as usize;
        let below = counts[..=w].iter().sum::<f64>() / total;
        let above = counts[w..].iter().sum::<f64>() / total;
        return TestResult {
            statistic: w_plus,
            p_value: (2.0 * below.min(above)).min(1.0),
            exact: true,
        };
    }
    let nf = n as f64;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>();
    let variance = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    let p_value = if variance <= 0.0 {
        1.0
    } else {
        let z = ((w_plus - nf * (nf + 1.0) / 4.0).abs() - 0.5).max(0.0) / variance.sqrt();
        (2.0 * (1.0 - dist::normal_cdf(z))).clamp(0.0, 1.0)
    };
    TestResult {
        statistic: w_plus,
        p_value,
        exact: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_test_exact_small_samples() {
        // Completely separated samples of 4 and 4: U = 0, p = 2/70.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!(r.exact);
        assert_eq!(r.statistic, 0.0);
        assert!((r.p_value - 2.0 / 70.0).abs() < 1e-12);
        // x = [1, 3, 5], y = [2, 4, 6, 7]: ranks of x 1, 3, 5 → U = 9 − 6 = 3.
        // P(U ≤ 3) for n = 3, m = 4 = (1 + 1 + 2 + 3) / 35 = 7/35, so p = 14/35 = 0.4.
        let r = mann_whitney_u(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0, 7.0]);
        assert_eq!(r.statistic, 3.0);
        assert!((r.p_value - 0.4).abs() < 1e-12, "{}", r.p_value);
    }

    #[test]
    fn u_test_normal_approximation_with_ties() {
        let x: Vec<f64> = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0].repeat(6);
        let y: Vec<f64> = [3.0, 4.0, 4.0, 5.0, 6.0, 7.0].repeat(6);
        let r = mann_whitney_u(&x, &y);
        assert!(!r.exact);
        // U counts the pairs in which x is larger, ties counting one half.
        let pairs: f64 = x
            .iter()
            .flat_map(|a| y.iter().map(move |b| (a, b)))
            .map(|(a, b)| {
                if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                }
            })
            .sum();
        assert_eq!(r.statistic, pairs);
        // The normal approximation written out: ties are the repeated values.
        let (n, m) = (36.0f64, 36.0f64);
        let all: Vec<f64> = x.iter().chain(&y).copied().collect();
        let mut counts = std::collections::BTreeMap::new();
        for v in &all {
            *counts.entry(v.to_bits()).or_insert(0usize) += 1;
        }
        let tie: f64 = counts.values().map(|&t| (t * t * t - t) as f64).sum();
        let var = n * m / 12.0 * ((n + m + 1.0) - tie / ((n + m) * (n + m - 1.0)));
        let z = ((pairs - n * m / 2.0).abs() - 0.5) / var.sqrt();
        assert!((r.p_value - 2.0 * (1.0 - crate::dist::normal_cdf(z))).abs() < 1e-12);
        assert!(r.p_value < 1e-3, "{}", r.p_value);
        // Identical samples: nothing to see.
        assert!(mann_whitney_u(&x, &x).p_value > 0.9);
    }

    #[test]
    fn signed_rank_exact_and_approximate() {
        // n = 3: W+ ∈ {0, 1, 2, 3, 3, 4, 5, 6} over the 8 sign patterns.
        assert_eq!(
            signed_rank_counts(3),
            vec![1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]
        );
        assert_eq!(signed_rank_counts(10).iter().sum::<f64>(), 1024.0);
        // Six positive differences: W+ = 21, the most extreme of 64 patterns: p = 2/64.
        let r = wilcoxon_signed_rank(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert!(r.exact);
        assert_eq!(r.statistic, 21.0);
        assert!((r.p_value - 2.0 / 64.0).abs() < 1e-12);
        // Five: at best 2/32 = 0.0625, never significant at 0.05.
        assert!(wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).p_value > 0.05);
        // Symmetric differences: no evidence.
        let r = wilcoxon_signed_rank(&[-3.0, -2.0, -1.0, 1.5, 2.5, 3.5]);
        assert!(r.p_value > 0.5, "{}", r.p_value);
        // Ties take the normal approximation.
        let r = wilcoxon_signed_rank(&[1.0; 40]);
        assert!(!r.exact && r.p_value < 1e-6);
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]).p_value, 1.0);
    }

    #[test]
    fn welch_known_value() {
        // x = 1..=5 (mean 3, var 2.5), y = 3,5,7,9,11 (mean 7, var 10):
        // t = 4 / sqrt(0.5 + 2) = 2.5298, df = 6.25 / (0.0625 + 1) = 5.882…
        let r = welch_t(&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 5.0, 7.0, 9.0, 11.0]);
        assert!((r.statistic - 2.529_822_128).abs() < 1e-6);
        // Integrating the t density numerically over both tails gives p = 0.04546.
        assert!((r.p_value - 0.045_4).abs() < 1e-3, "{}", r.p_value);
        let same = welch_t(&[1.0, 1.0], &[1.0, 1.0]);
        assert_eq!(same.p_value, 1.0);
    }
}
