//! The memory timeline: a plain thread (Python never sees it) that records traced memory and
//! the process's resident set size at a steady pace. Points are kept under a bound by
//! dropping every other one and doubling the interval, so a long run stays small.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyrometer_profile::Series;

use crate::hooks::CURRENT;

/// The most points a series keeps before it is thinned.
const MAX_POINTS: usize = 2048;

/// (ns since start, traced bytes, RSS bytes)
pub type Point = (u64, f64, f64);

pub struct Timeline {
    stop: Arc<AtomicBool>,
    points: Arc<Mutex<Vec<Point>>>,
    thread: Option<JoinHandle<()>>,
}

/// Resident set size of this process, bytes (`/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}

impl Timeline {
    pub fn start(start: Instant, interval: Duration) -> Timeline {
        let stop = Arc::new(AtomicBool::new(false));
        let points = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (stop.clone(), points.clone());
        let thread = std::thread::Builder::new()
            .name("pyrometer-memory".into())
            .spawn(move || {
                let mut every = interval.max(Duration::from_millis(1));
                while !s.load(Ordering::Relaxed) {
                    let point = sample(start);
                    if let Ok(mut v) = p.lock() {
                        v.push(point);
                        if v.len() >= MAX_POINTS {
                            thin(&mut v);
                            every *= 2;
                        }
                    }
                    // Sleep in short steps so that stopping is prompt.
                    let until = Instant::now() + every;
                    while !s.load(Ordering::Relaxed) && Instant::now() < until {
                        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
                    }
                }
            })
            .ok();
        Timeline {
            stop,
            points,
            thread,
        }
    }

    /// The points so far (and one for now).
    pub fn points(&self, start: Instant) -> Vec<Point> {
        let mut v = self.points.lock().map(|v| v.clone()).unwrap_or_default();
        v.push(sample(start));
        v
    }

    pub fn finish(mut self, start: Instant) -> Vec<Point> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.points(start)
    }
}

fn sample(start: Instant) -> Point {
    (
        start.elapsed().as_nanos() as u64,
        CURRENT.load(Ordering::Relaxed) as f64,
        rss_bytes().unwrap_or(0) as f64,
    )
}

/// Drops every other point (keeping the last).
fn thin(v: &mut Vec<Point>) {
    let last = v.last().copied();
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        i % 2 == 1
    });
    if let (Some(l), Some(k)) = (last, v.last())
        && k.0 != l.0
    {
        v.push(l);
    }
}

/// The two series of a profile: `traced` and `rss`, with the traced peak inserted at its time
/// (the pace of the thread could miss a short spike).
pub fn series(points: &[Point], peak: Option<(u64, f64)>) -> Vec<Series> {
    let mut traced: Vec<(u64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
    if let Some((at, value)) = peak.filter(|p| p.1 > 0.0) {
        let i = traced.partition_point(|p| p.0 <= at);
        traced.insert(i, (at, value));
    }
    let rss = points
        .iter()
        .filter(|p| p.2 > 0.0)
        .map(|p| (p.0, p.2))
        .collect();
    vec![
        Series {
            name: "traced".into(),
            unit: "bytes".into(),
            points: traced,
        },
        Series {
            name: "rss".into(),
            unit: "bytes".into(),
            points: rss,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_ends() {
        let mut v: Vec<Point> = (0..10).map(|i| (i, i as f64, 0.0)).collect();
        thin(&mut v);
        assert_eq!(v.first().unwrap().0, 0);
        assert_eq!(v.last().unwrap().0, 9);
        assert_eq!(v.len(), 6);
    }

    #[test]
    fn the_peak_is_inserted_in_order() {
        let pts = vec![(0, 1.0, 5.0), (10, 2.0, 6.0), (20, 1.0, 7.0)];
        let s = series(&pts, Some((15, 9.0)));
        assert_eq!(s[0].points, vec![(0, 1.0), (10, 2.0), (15, 9.0), (20, 1.0)]);
        assert_eq!(s[1].points.len(), 3);
        assert!(rss_bytes().unwrap() > 0);
    }
}
