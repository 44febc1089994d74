//! Sampling allocations by bytes: a Poisson process over the stream of allocated bytes.
//!
//! Every allocated byte is a potential sample point; the distances between sample points are
//! independent exponential variables with mean `m` (the *sampling interval*). An allocation is
//! sampled when a sample point falls inside it. Because the exponential distribution is
//! memoryless, an allocation of `s` bytes is sampled with probability
//!
//! ```text
//! p(s) = 1 − exp(−s / m)
//! ```
//!
//! whatever came before it, so each sampled allocation is given the Horvitz–Thompson weight
//! `s / p(s)` bytes and `1 / p(s)` allocations: the sums of the weights of the sampled
//! allocations are unbiased estimates of the bytes and the number of allocations (the
//! estimator of tcmalloc's and heapprofd's heap profilers). Large allocations (`s ≫ m`) have
//! `p ≈ 1` and weight `≈ s`: they are recorded exactly; a small one stands for about `m`
//! bytes. With `m = 0` every allocation is recorded with its own size (the exact mode).

/// The relative size above which an allocation is sampled with certainty for all practical
/// purposes: `p(12 m) = 1 − 6·10⁻⁶`. Certain allocations are exact and left out of the
/// calibration; at 20 m, 1 MiB blocks at a 64 KiB interval (16 m, `p = 1 − 10⁻⁷`) were scaled
/// with the small allocations and inherited their sampling noise (2.6% on 64 MiB of them in
/// one test run).
pub const CERTAIN_FACTOR: u64 = 12;

/// Horvitz–Thompson weights of a sampled allocation of `size` bytes at mean interval `mean`:
/// `(bytes, allocations)` it stands for.
pub fn weights(size: u64, mean: u64) -> (f64, f64) {
    if mean == 0 || size == 0 {
        return (size as f64, 1.0);
    }
    let s = size as f64;
    // -expm1(-x) = 1 - exp(-x), accurate for small x.
    let p = -(-s / mean as f64).exp_m1();
    if p <= 0.0 {
        return (mean as f64, mean as f64 / s.max(1.0));
    }
    (s / p, 1.0 / p)
}

/// Whether an allocation of `size` bytes is (all but) certain to be sampled at `mean`.
pub fn is_certain(size: u64, mean: u64) -> bool {
    mean == 0 || size >= mean.saturating_mul(CERTAIN_FACTOR)
}

/// xorshift64*: a small, fast generator, one per thread; statistical quality is ample for
/// drawing sampling intervals.
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams; never zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    /// Resumes a generator from [`Rng::state`].
    pub fn from_state(state: u64) -> Rng {
        Rng(if state == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            state
        })
    }

    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// The distance in bytes to the next sample point: `Exp(mean)`, at least 1.
    pub fn interval(&mut self, mean: u64) -> i64 {
        if mean == 0 {
            return 0;
        }
        let d = -self.unit().ln() * mean as f64;
        d.clamp(1.0, (i64::MAX / 4) as f64) as i64
    }
}

/// The per-thread byte countdown, as the hooks use it: the pure arithmetic, for tests.
#[derive(Clone, Copy, Debug)]
pub struct Countdown {
    pub remaining: i64,
}

impl Countdown {
    /// Takes `size` bytes; true when a sample point falls inside them (the caller then draws
    /// a new distance with [`Countdown::reset`]).
    #[inline]
    pub fn take(&mut self, size: u64) -> bool {
        let left = self.remaining - size as i64;
        if left > 0 {
            self.remaining = left;
            false
        } else {
            true
        }
    }

    /// A fresh distance after a sample (memorylessness: the overshoot is not carried over).
    pub fn reset(&mut self, rng: &mut Rng, mean: u64) {
        self.remaining = rng.interval(mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_exact_for_large_and_mean_like_for_small() {
        let m = 65536;
        let (b, c) = weights(512 << 20, m);
        assert!((b - (512u64 << 20) as f64).abs() < 1e-6);
        assert!((c - 1.0).abs() < 1e-9);
        let (b, c) = weights(32, m);
        assert!((b - (m as f64 + 16.0)).abs() < 0.1, "{b}");
        assert!((c - b / 32.0).abs() < 1e-9);
        assert_eq!(weights(100, 0), (100.0, 1.0));
        assert!(is_certain(12 * m, m) && !is_certain(12 * m - 1, m) && is_certain(1, 0));
    }

    #[test]
    fn intervals_have_the_asked_mean() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let mean = 4096u64;
        let sum: f64 = (0..n).map(|_| rng.interval(mean) as f64).sum();
        let got = sum / n as f64;
        // The standard error of the mean of n exponentials is mean / sqrt(n) (~0.22% here).
        assert!((got / mean as f64 - 1.0).abs() < 0.015, "{got}");
    }

    /// The whole scheme, simulated: many small and a few large allocations, sampled through
    /// the countdown and weighted, estimate the true bytes and counts without bias.
    #[test]
    fn the_estimates_are_unbiased() {
        let mean = 8192u64;
        let mut rng = Rng::new(42);
        let mut cd = Countdown { remaining: 0 };
        cd.reset(&mut rng, mean);
        let sizes = [24u64, 56, 100, 1000, 4096, 100_000];
        let (mut true_bytes, mut true_count) = (0f64, 0f64);
        let (mut est_bytes, mut est_count) = (0f64, 0f64);
        let mut sizer = Rng::new(3);
        for _ in 0..2_000_000 {
            let s = sizes[(sizer.next_u64() % sizes.len() as u64) as usize];
            true_bytes += s as f64;
            true_count += 1.0;
            if cd.take(s) {
                cd.reset(&mut rng, mean);
                let (b, c) = weights(s, mean);
                est_bytes += b;
                est_count += c;
            }
        }
        assert!(
            (est_bytes / true_bytes - 1.0).abs() < 0.01,
            "{est_bytes} vs {true_bytes}"
        );
        assert!(
            (est_count / true_count - 1.0).abs() < 0.02,
            "{est_count} vs {true_count}"
        );
    }
}
