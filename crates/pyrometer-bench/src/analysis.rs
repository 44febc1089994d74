//! From raw samples to a summary, outliers, instability warnings; and from two benchmarks to a
//! comparison with a significance test and the interval of the ratio.

use crate::bootstrap::{self, MIN_CLUSTERS};
use crate::format::{duration, percent};
use crate::outliers;
use crate::result::{
    Benchmark, ComparisonRow, Definition, Kind, Method, Sample, Summary, Verdict, groups, measured,
};
use crate::rng::{DEFAULT_SEED, Rng};
use crate::significance;
use crate::stats;

/// The confidence level of every interval.
pub const CI_LEVEL: f64 = 0.95;
/// The significance level of comparisons.
pub const ALPHA: f64 = 0.05;
pub const CI_METHOD: &str = "percentile bootstrap of the median, 2000 resamples, resampling whole processes when there are 4 or more";
pub const TEST: &str = "candidates of one run (interleaved): Wilcoxon signed-rank, two-sided, on the log ratios of paired per-process medians (6 processes or more) or of paired rounds; benchmarks of two runs: Mann-Whitney U, two-sided, on per-process medians (4 processes or more on both sides) or on values; significant when p < 0.05";
/// Paired comparisons use processes as units from this many on.
pub const MIN_PAIRED_PROCESSES: usize = 6;

/// Thresholds of the instability warnings.
pub const MAX_CV: f64 = 0.10;
pub const MAX_EXTREME: f64 = 0.50;
pub const MIN_SAMPLE_NS: u64 = 1_000_000;
pub const MAX_CI_HALF_WIDTH: f64 = 0.02;
pub const MIN_VALUES: usize = 5;

/// The summary of the measured values of `samples` (warm-ups left out).
pub fn summarize(samples: &[Sample], rng: &mut Rng) -> Summary {
    let values = measured(samples);
    let groups = groups(samples);
    let s = stats::sorted(&values);
    let (ci_low, ci_high) = bootstrap::median_ci(&groups, CI_LEVEL, rng);
    Summary {
        n: values.len(),
        processes: groups.len(),
        mean: stats::mean(&values),
        std: stats::std_dev(&values),
        median: stats::quantile_sorted(&s, 0.5),
        mad: stats::mad(&values),
        min: s.first().copied().unwrap_or(f64::NAN),
        max: s.last().copied().unwrap_or(f64::NAN),
        q1: stats::quantile_sorted(&s, 0.25),
        q3: stats::quantile_sorted(&s, 0.75),
        ci_low,
        ci_high,
    }
}

/// Builds a benchmark from its raw samples: summary, outliers, warnings.
pub fn analyze(
    name: String,
    definition: Definition,
    loops: u64,
    calibration: Vec<[u64; 2]>,
    samples: Vec<Sample>,
    method: &Method,
) -> Benchmark {
    let summary = summarize(&samples, &mut Rng::new(DEFAULT_SEED));
    let outliers = outliers::detect(&measured(&samples), method.outliers);
    let mut benchmark = Benchmark {
        name,
        definition,
        loops,
        calibration,
        samples,
        summary,
        outliers,
        warnings: Vec::new(),
    };
    benchmark.warnings = instability(&benchmark, method.kind);
    benchmark
}

/// Why a result may be unstable, one sentence each (empty when it looks sound).
pub fn instability(b: &Benchmark, kind: Kind) -> Vec<String> {
    let s = &b.summary;
    let mut warnings = Vec::new();
    if s.n < MIN_VALUES {
        warnings.push(format!(
            "only {} value{}: too few to estimate the spread",
            s.n,
            if s.n == 1 { "" } else { "s" }
        ));
    }
    if s.n >= 2 && s.mean > 0.0 && s.std / s.mean >= MAX_CV {
        warnings.push(format!(
            "the standard deviation is {} of the mean (10% or more): the values vary a lot",
            percent(s.std / s.mean)
        ));
    }
    if s.median > 0.0 && s.max >= s.median * (1.0 + MAX_EXTREME) {
        warnings.push(format!(
            "the slowest value ({}) is {} above the median",
            duration(s.max),
            percent(s.max / s.median - 1.0)
        ));
    }
    if s.median > 0.0 && s.min <= s.median * (1.0 - MAX_EXTREME) {
        warnings.push(format!(
            "the fastest value ({}) is {} below the median",
            duration(s.min),
            percent(1.0 - s.min / s.median)
        ));
    }
    if kind != Kind::Command
        && let Some(shortest) = b.samples.iter().filter(|x| !x.warmup).map(|x| x.ns).min()
        && shortest < MIN_SAMPLE_NS
    {
        warnings.push(format!(
            "the shortest value lasted {} (under 1 ms): the clock and the loop itself weigh on it; let calibration choose the loops or raise --min-time",
            duration(shortest as f64 / 1e9)
        ));
    }
    if s.n >= MIN_VALUES && s.median > 0.0 {
        let half = (s.ci_high - s.ci_low) / 2.0 / s.median;
        if half >= MAX_CI_HALF_WIDTH {
            warnings.push(format!(
                "the 95% confidence interval of the median is ±{}: more processes or values would narrow it (--rigorous)",
                percent(half)
            ));
        }
    }
    warnings
}

/// The units the significance test compares: per-process medians when both sides ran in enough
/// processes (values of one process are not independent), else the values.
fn test_units(a: &Benchmark, b: &Benchmark) -> (Vec<f64>, Vec<f64>, &'static str) {
    let (ga, gb) = (a.groups(), b.groups());
    if ga.len() >= MIN_CLUSTERS && gb.len() >= MIN_CLUSTERS && (a.summary.n > ga.len()) {
        let medians = |g: &[Vec<f64>]| g.iter().map(|v| stats::median(v)).collect();
        (medians(&ga), medians(&gb), "processes")
    } else {
        (a.values(), b.values(), "values")
    }
}

/// Compares `other` with `reference`.
pub fn compare(reference: &Benchmark, other: &Benchmark) -> ComparisonRow {
    compare_with(reference, other, &mut Rng::new(DEFAULT_SEED))
}

pub fn compare_with(reference: &Benchmark, other: &Benchmark, rng: &mut Rng) -> ComparisonRow {
    let (x, y, unit) = test_units(reference, other);
    let u = significance::mann_whitney_u(&x, &y);
    let welch = significance::welch_t(&x, &y);
    let ratio = other.summary.median / reference.summary.median;
    let (lo, hi) = bootstrap::ratio_ci(&reference.groups(), &other.groups(), CI_LEVEL, rng);
    let significant = u.p_value < ALPHA && ratio != 1.0;
    let verdict = match (significant, ratio > 1.0) {
        (false, _) => Verdict::Same,
        (true, true) => Verdict::Slower,
        (true, false) => Verdict::Faster,
    };
    ComparisonRow {
        name: other.name.clone(),
        reference: reference.name.clone(),
        reference_median: reference.summary.median,
        median: other.summary.median,
        ratio,
        ratio_ci_low: lo,
        ratio_ci_high: hi,
        p_value: u.p_value,
        welch_p_value: welch.p_value,
        test_unit: unit.to_string(),
        significant,
        verdict,
    }
}

/// The values of two candidates in one unit (a process, or a round of one).
type Pair = (Vec<f64>, Vec<f64>);

/// Pairs of units measured in the same conditions: per process (medians of each candidate's
/// values in it) when there are enough processes, else per round (the k-th measured value of
/// each candidate in the same process). `None` when the two were not measured together.
fn paired_units(a: &Benchmark, b: &Benchmark) -> Option<(Vec<Pair>, &'static str)> {
    let measured = |x: &Benchmark| -> Vec<(u32, f64)> {
        x.samples
            .iter()
            .filter(|s| !s.warmup)
            .map(|s| (s.process, s.value()))
            .collect()
    };
    let (ma, mb) = (measured(a), measured(b));
    let procs = |m: &[(u32, f64)]| {
        let mut p: Vec<u32> = m.iter().map(|x| x.0).collect();
        p.dedup();
        p
    };
    let (pa, pb) = (procs(&ma), procs(&mb));
    if pa != pb || ma.len() != mb.len() || pa.is_empty() {
        return None;
    }
    let of = |m: &[(u32, f64)], p: u32| -> Vec<f64> {
        m.iter().filter(|x| x.0 == p).map(|x| x.1).collect()
    };
    if pa.len() >= MIN_PAIRED_PROCESSES {
        Some((
            pa.iter().map(|&p| (of(&ma, p), of(&mb, p))).collect(),
            "paired processes",
        ))
    } else {
        let mut pairs = Vec::new();
        for &p in &pa {
            let (va, vb) = (of(&ma, p), of(&mb, p));
            if va.len() != vb.len() {
                return None;
            }
            pairs.extend(va.into_iter().zip(vb).map(|(x, y)| (vec![x], vec![y])));
        }
        Some((pairs, "paired rounds"))
    }
}

/// Compares two candidates measured together (interleaved in the same processes): a paired
/// comparison, in which what a process does to both cancels. Falls back to [`compare`] when
/// they were not measured together.
pub fn compare_paired(reference: &Benchmark, other: &Benchmark) -> ComparisonRow {
    let Some((pairs, unit)) = paired_units(reference, other) else {
        return compare(reference, other);
    };
    let mut rng = Rng::new(DEFAULT_SEED);
    let diffs: Vec<f64> = pairs
        .iter()
        .map(|(x, y)| stats::median(y).ln() - stats::median(x).ln())
        .collect();
    let test = significance::wilcoxon_signed_rank(&diffs);
    let (xs, ys): (Vec<f64>, Vec<f64>) = pairs
        .iter()
        .map(|(x, y)| (stats::median(x), stats::median(y)))
        .unzip();
    let welch = significance::welch_t(&xs, &ys);
    let ratio = other.summary.median / reference.summary.median;
    let (lo, hi) = bootstrap::paired_ratio_ci(&pairs, CI_LEVEL, &mut rng);
    let significant = test.p_value < ALPHA && ratio != 1.0;
    let verdict = match (significant, ratio > 1.0) {
        (false, _) => Verdict::Same,
        (true, true) => Verdict::Slower,
        (true, false) => Verdict::Faster,
    };
    ComparisonRow {
        name: other.name.clone(),
        reference: reference.name.clone(),
        reference_median: reference.summary.median,
        median: other.summary.median,
        ratio,
        ratio_ci_low: lo,
        ratio_ci_high: hi,
        p_value: test.p_value,
        welch_p_value: welch.p_value,
        test_unit: unit.to_string(),
        significant,
        verdict,
    }
}

/// A regression for the gate: significantly slower, by more than `threshold` (0.05 = 5%).
pub fn is_regression(row: &ComparisonRow, threshold: f64) -> bool {
    row.significant && row.verdict == Verdict::Slower && row.ratio > 1.0 + threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Kind;

    pub(crate) fn method() -> Method {
        crate::run::method(
            Kind::Statement,
            &crate::run::Plan::fast(),
            "perf_counter_ns",
        )
    }

    fn samples(values_ns: &[&[u64]]) -> Vec<Sample> {
        let mut out = Vec::new();
        for (p, vs) in values_ns.iter().enumerate() {
            out.push(Sample {
                process: p as u32,
                warmup: true,
                loops: 1000,
                ns: 99_000_000,
            });
            for &ns in *vs {
                out.push(Sample {
                    process: p as u32,
                    warmup: false,
                    loops: 1000,
                    ns,
                });
            }
        }
        out
    }

    fn bench(name: &str, values_ns: &[&[u64]]) -> Benchmark {
        analyze(
            name.into(),
            Definition::Statement {
                stmt: "pass".into(),
                setup: "pass".into(),
            },
            1000,
            vec![],
            samples(values_ns),
            &method(),
        )
    }

    #[test]
    fn summary_of_known_values_ignores_warmups() {
        // Per loop: 10, 11, 12, 13, 14 µs … in two processes.
        let b = bench(
            "x",
            &[
                &[10_000_000, 12_000_000, 14_000_000],
                &[11_000_000, 13_000_000],
            ],
        );
        let s = &b.summary;
        assert_eq!((s.n, s.processes), (5, 2));
        assert!((s.mean - 12e-6).abs() < 1e-15);
        assert!((s.median - 12e-6).abs() < 1e-15);
        assert!((s.mad - 1e-6).abs() < 1e-15);
        assert!((s.min - 10e-6).abs() < 1e-15 && (s.max - 14e-6).abs() < 1e-15);
        assert!(s.ci_low <= s.median && s.median <= s.ci_high);
        assert_eq!(b.values().len(), 5);
    }

    #[test]
    fn stable_values_give_no_warning_and_noisy_ones_say_why() {
        let steady: Vec<u64> = (0..3).map(|i| 100_000_000 + i * 10_000).collect();
        let b = bench("steady", &[&steady[..]; 6]);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        let b = bench(
            "noisy",
            &[
                &[100_000_000, 300_000_000, 101_000_000],
                &[40_000_000, 100_000_000, 99_000_000],
            ],
        );
        let all = b.warnings.join("\n");
        assert!(all.contains("standard deviation"), "{all}");
        assert!(all.contains("slowest value"), "{all}");
        assert!(all.contains("fastest value"), "{all}");
        let short = bench("short", &[&[500_000, 500_000, 500_000, 500_000, 500_000]]);
        assert!(short.warnings.iter().any(|w| w.contains("under 1 ms")));
        let few = bench("few", &[&[100_000_000, 100_000_000]]);
        assert!(few.warnings[0].starts_with("only 2 values"));
    }

    #[test]
    fn comparison_detects_a_real_difference_and_not_noise() {
        let base: Vec<u64> = vec![100_000_000, 101_000_000, 99_000_000];
        let slow: Vec<u64> = vec![120_000_000, 121_000_000, 119_000_000];
        let a = bench("a", &[&base[..]; 6]);
        let b = bench("b", &[&slow[..]; 6]);
        let row = compare(&a, &b);
        assert_eq!(row.test_unit, "processes");
        assert!(row.significant && row.verdict == Verdict::Slower);
        assert!((row.ratio - 1.2).abs() < 1e-9);
        assert!(row.ratio_ci_low <= 1.2 && 1.2 <= row.ratio_ci_high);
        assert!((row.speedup() - 1.0 / 1.2).abs() < 1e-12);
        assert!(is_regression(&row, 0.05));
        assert!(!is_regression(&row, 0.25));
        let back = compare(&b, &a);
        assert_eq!(back.verdict, Verdict::Faster);
        assert!(!is_regression(&back, 0.0));
        // The same distribution in a different order: not significant.
        let a2 = bench(
            "a2",
            &[
                &[101_000_000, 99_000_000, 100_000_000],
                &[99_000_000, 100_000_000, 101_000_000],
                &[100_000_000, 101_000_000, 99_000_000],
                &[101_000_000, 100_000_000, 99_000_000],
                &[99_000_000, 101_000_000, 100_000_000],
                &[100_000_000, 99_000_000, 101_000_000],
            ],
        );
        let same = compare(&a, &a2);
        assert_eq!(same.verdict, Verdict::Same);
        assert!(!same.significant);
    }

    #[test]
    fn paired_comparison_cancels_process_effects() {
        // Processes differ by up to 30% (layout, hash seed), but in each one `b` is 3.0 to 3.7% slower
        // than `a`: unpaired, the difference drowns; paired, it is plain.
        let mut a_runs = Vec::new();
        let mut b_runs = Vec::new();
        for p in 0..8u64 {
            let base = 100_000_000 + p * 4_000_000;
            a_runs.push(vec![base, base + 100_000, base - 100_000]);
            let slower = base * (1030 + p) / 1000;
            b_runs.push(vec![slower, slower + 50_000, slower - 50_000]);
        }
        let a_refs: Vec<&[u64]> = a_runs.iter().map(|v| v.as_slice()).collect();
        let b_refs: Vec<&[u64]> = b_runs.iter().map(|v| v.as_slice()).collect();
        let a = bench("a", &a_refs);
        let b = bench("b", &b_refs);
        let unpaired = compare(&a, &b);
        assert!(!unpaired.significant, "{}", unpaired.p_value);
        let paired = compare_paired(&a, &b);
        assert_eq!(paired.test_unit, "paired processes");
        assert!(paired.significant && paired.verdict == Verdict::Slower);
        assert!((paired.p_value - 2.0 / 256.0).abs() < 1e-12);
        assert!(
            paired.ratio_ci_low > 1.0 && paired.ratio_ci_high < 1.06,
            "{paired:?}"
        );
        // One process: the rounds are paired.
        let a1 = bench("a", &[&[100, 101, 102, 103, 104, 105, 106]]);
        let b1 = bench("b", &[&[110, 111, 112, 113, 114, 115, 116]]);
        let row = compare_paired(&a1, &b1);
        assert_eq!(row.test_unit, "paired rounds");
        assert!(row.significant);
    }
}
