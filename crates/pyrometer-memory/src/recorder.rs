//! What the hooks record, behind the hooks' lock: functions, the stack trie, threads, and per
//! (stack, thread) *sites* the sampled allocations are charged to; the map of live sampled
//! allocations; traced memory and its peak. Pure Rust: the hooks resolve Python frames into
//! [`CodeIdx`] and lines before calling in, so the whole recorder is tested without Python.

use pyrometer_profile::{FrameKind, Metric, Mode, ProfileBuilder};
use rustc_hash::FxHashMap;

use crate::poisson;

pub type CodeIdx = u32;
type NodeIdx = u32;
type SiteIdx = u32;
const NO_PARENT: NodeIdx = u32::MAX;

/// A function: what the profile's frame table needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub qualname: String,
    pub file: String,
    pub first_line: u32,
    pub kind: FrameKind,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    parent: NodeIdx,
    code: CodeIdx,
    line: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Site {
    node: NodeIdx,
    thread: u32,
    /// Horvitz–Thompson bytes and allocations of samples that were not certain.
    est_bytes: f64,
    est_count: f64,
    /// Sizes and number of allocations sampled with certainty (`poisson::is_certain`).
    certain_bytes: u64,
    certain_count: u64,
    /// Estimated bytes of this site's sampled allocations that are still alive.
    live: f64,
}

#[derive(Clone, Copy, Debug)]
struct Live {
    site: SiteIdx,
    weight: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadInfo {
    pub ident: u64,
    pub native_id: u64,
    /// The `threading` name read when the thread was first seen.
    pub name: Option<String>,
}

/// Traced memory now and at its peak, and allocation totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Estimated bytes of live allocations made while profiling.
    pub current: f64,
    /// The highest `current` seen, and when (nanoseconds since the start).
    pub peak: f64,
    pub peak_ns: u64,
    /// Allocated bytes and allocations counted exactly by the hooks.
    pub allocated_bytes: u64,
    pub allocations: u64,
    /// Allocations recorded (sampled).
    pub samples: u64,
}

/// One site's figures, as reports and the Python API read them.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteFigures {
    /// Frames of the stack, outermost first: (function, line).
    pub stack: Vec<(CodeIdx, u32)>,
    pub thread: u32,
    pub alloc_bytes: f64,
    pub alloc_count: f64,
    pub live: f64,
    pub peak: f64,
}

/// The recorder. Every method runs under the hooks' lock.
#[derive(Debug)]
pub struct Recorder {
    /// Mean sampling interval in bytes; 0 records every allocation.
    pub mean: u64,
    pub functions: Vec<Function>,
    nodes: Vec<Node>,
    node_index: FxHashMap<(NodeIdx, CodeIdx, u32), NodeIdx>,
    pub threads: Vec<ThreadInfo>,
    /// By (ident, native id): pthread idents are reused as soon as a thread ends.
    thread_index: FxHashMap<(u64, u64), u32>,
    sites: Vec<Site>,
    site_index: FxHashMap<(NodeIdx, u32), SiteIdx>,
    live: FxHashMap<usize, Live>,
    current: f64,
    peak: f64,
    peak_ns: u64,
    /// Live bytes per site when `current` last rose `1/PEAK_STEP` above the last snapshot.
    peak_sites: Vec<f64>,
    peak_snapshot: f64,
    samples: u64,
    /// Exact totals flushed by the threads' countdowns.
    pub allocated_bytes: u64,
    pub allocations: u64,
    /// The estimated bytes of the sampled native allocations (before calibration).
    pub native_bytes: f64,
    synthetic: FxHashMap<&'static str, CodeIdx>,
    thread_names_tried: u32,
}

/// A new peak snapshot is taken when traced memory exceeds the last one by 1/64 (1.6 %):
/// O(log(peak)) snapshots over a run, each a copy of the per-site live figures.
const PEAK_STEP: f64 = 64.0;
/// Below this, peaks are not worth a snapshot (start-up noise).
const PEAK_FLOOR: f64 = 64.0 * 1024.0;

impl Recorder {
    pub fn new(mean: u64) -> Recorder {
        Recorder {
            mean,
            functions: Vec::new(),
            nodes: Vec::new(),
            node_index: FxHashMap::default(),
            threads: Vec::new(),
            thread_index: FxHashMap::default(),
            sites: Vec::new(),
            site_index: FxHashMap::default(),
            live: FxHashMap::default(),
            current: 0.0,
            peak: 0.0,
            peak_ns: 0,
            peak_sites: Vec::new(),
            peak_snapshot: 0.0,
            samples: 0,
            allocated_bytes: 0,
            allocations: 0,
            native_bytes: 0.0,
            synthetic: FxHashMap::default(),
            thread_names_tried: 0,
        }
    }

    pub fn add_function(&mut self, f: Function) -> CodeIdx {
        self.functions.push(f);
        (self.functions.len() - 1) as CodeIdx
    }

    /// A synthetic frame (`<no Python frame>`, `<deeper frames>`), made once.
    pub fn synthetic(&mut self, label: &'static str) -> CodeIdx {
        if let Some(&c) = self.synthetic.get(label) {
            return c;
        }
        let c = self.add_function(Function {
            name: label.into(),
            qualname: label.into(),
            file: "~".into(),
            first_line: 0,
            kind: FrameKind::Synthetic,
        });
        self.synthetic.insert(label, c);
        c
    }

    /// Whether the thread `t` was just added by [`Recorder::thread`] (its name not looked for).
    pub fn is_new_thread(&self, t: u32) -> bool {
        self.thread_names_tried <= t
    }

    pub fn set_thread_name(&mut self, t: u32, name: Option<String>) {
        if let Some(info) = self.threads.get_mut(t as usize) {
            info.name = name;
        }
        self.thread_names_tried = self.thread_names_tried.max(t + 1);
    }

    pub fn thread(&mut self, ident: u64, native_id: u64) -> u32 {
        if let Some(&t) = self.thread_index.get(&(ident, native_id)) {
            return t;
        }
        self.threads.push(ThreadInfo {
            ident,
            native_id,
            name: None,
        });
        let t = (self.threads.len() - 1) as u32;
        self.thread_index.insert((ident, native_id), t);
        t
    }

    /// The site of a stack (frames outermost first) on a thread.
    pub fn site(&mut self, frames: impl Iterator<Item = (CodeIdx, u32)>, thread: u32) -> u32 {
        let mut node = NO_PARENT;
        for (code, line) in frames {
            let next = self.nodes.len() as NodeIdx;
            node = *self
                .node_index
                .entry((node, code, line))
                .or_insert_with(|| {
                    self.nodes.push(Node {
                        parent: node,
                        code,
                        line,
                    });
                    next
                });
        }
        let next = self.sites.len() as SiteIdx;
        *self.site_index.entry((node, thread)).or_insert_with(|| {
            self.sites.push(Site {
                node,
                thread,
                ..Site::default()
            });
            next
        })
    }

    /// Records a sampled allocation of `size` bytes at `ptr`, charged to `site`, at `now_ns`.
    pub fn allocated(&mut self, ptr: usize, size: u64, site: u32, now_ns: u64) {
        let (bytes, count) = poisson::weights(size, self.mean);
        let s = &mut self.sites[site as usize];
        if poisson::is_certain(size, self.mean) {
            s.certain_bytes += size;
            s.certain_count += 1;
        } else {
            s.est_bytes += bytes;
            s.est_count += count;
        }
        s.live += bytes;
        self.samples += 1;
        if let Some(old) = self.live.insert(
            ptr,
            Live {
                site,
                weight: bytes,
            },
        ) {
            // The allocator gave out an address we still thought alive: its free went past us
            // (a free through another allocator). Forget the old one.
            self.release(old);
        }
        self.current += bytes;
        if self.current > self.peak {
            self.peak = self.current;
            self.peak_ns = now_ns;
            if self.current >= PEAK_FLOOR
                && self.current > self.peak_snapshot * (1.0 + 1.0 / PEAK_STEP)
            {
                self.peak_snapshot = self.current;
                self.peak_sites.clear();
                self.peak_sites.extend(self.sites.iter().map(|s| s.live));
            }
        }
    }

    /// Counts a sampled allocation just recorded as native (made through `malloc` and co., not
    /// PyMem) in the estimate of native bytes.
    pub fn native_allocated(&mut self, size: u64) {
        self.native_bytes += poisson::weights(size, self.mean).0;
    }

    /// A free of a pointer that may have been sampled: true when it was.
    pub fn freed(&mut self, ptr: usize) -> bool {
        match self.live.remove(&ptr) {
            Some(old) => {
                self.release(old);
                true
            }
            None => false,
        }
    }

    fn release(&mut self, old: Live) {
        let s = &mut self.sites[old.site as usize];
        s.live -= old.weight;
        self.current -= old.weight;
        if self.current < 0.0 {
            self.current = 0.0;
        }
    }

    /// Starts measuring the peak afresh from traced memory now.
    pub fn reset_peak(&mut self, now_ns: u64) {
        self.peak = self.current;
        self.peak_ns = now_ns;
        self.peak_snapshot = self.current;
        self.peak_sites.clear();
        self.peak_sites.extend(self.sites.iter().map(|s| s.live));
    }

    pub fn stats(&self) -> Stats {
        Stats {
            current: self.current,
            peak: self.peak,
            peak_ns: self.peak_ns,
            allocated_bytes: self.allocated_bytes,
            allocations: self.allocations,
            samples: self.samples,
        }
    }

    /// Copies into `t` what a profile is built from, refreshing an earlier copy in place: the
    /// tables that only grow (functions, stack nodes, threads) from where `t` stops, the
    /// per-site figures whole (plain numbers: no allocation once `t` has grown to them). Made
    /// for the hooks' lock: it holds the lock for a copy, and the profile is built from `t`
    /// after it is released. A thread's name is set in the same hold of the lock that adds it.
    pub fn copy_into(&self, t: &mut Tables) {
        t.mean = self.mean;
        if t.functions.len() > self.functions.len()
            || t.nodes.len() > self.nodes.len()
            || t.threads.len() > self.threads.len()
        {
            // A copy of another recorder: start afresh.
            *t = Tables::default();
            t.mean = self.mean;
        }
        t.functions
            .extend_from_slice(&self.functions[t.functions.len()..]);
        t.nodes.extend_from_slice(&self.nodes[t.nodes.len()..]);
        t.threads
            .extend_from_slice(&self.threads[t.threads.len()..]);
        t.sites.clear();
        t.sites.extend_from_slice(&self.sites);
        t.peak_sites.clear();
        t.peak_sites.extend_from_slice(&self.peak_sites);
        t.stats = self.stats();
        t.peak_snapshot = self.peak_snapshot;
        t.native_bytes = self.native_bytes;
    }

    /// A fresh copy of what a profile is built from.
    pub fn tables(&self) -> Tables {
        let mut t = Tables::default();
        self.copy_into(&mut t);
        t
    }
}

/// What a profile is built from: a copy of the recorder's tables ([`Recorder::copy_into`]), so
/// that building, which takes milliseconds for a large profile, happens without the hooks' lock
/// that every sampled allocation and every free of a sampled block takes.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    pub mean: u64,
    pub functions: Vec<Function>,
    nodes: Vec<Node>,
    pub threads: Vec<ThreadInfo>,
    sites: Vec<Site>,
    peak_sites: Vec<f64>,
    pub stats: Stats,
    peak_snapshot: f64,
    /// The estimated bytes of the sampled native allocations (before calibration).
    pub native_bytes: f64,
}

impl Tables {
    /// How much each not-certain estimate is scaled so the totals match the exact counts the
    /// hooks keep (a post-stratified ratio estimator: the certain stratum is exact, the other
    /// is scaled to its exactly known total). `(bytes factor, count factor)`; 1 when the exact
    /// totals are unknown or inconsistent.
    pub fn calibration(&self) -> (f64, f64) {
        if self.mean == 0 {
            return (1.0, 1.0);
        }
        let (mut est_b, mut est_c, mut cert_b, mut cert_c) = (0f64, 0f64, 0u64, 0u64);
        for s in &self.sites {
            est_b += s.est_bytes;
            est_c += s.est_count;
            cert_b += s.certain_bytes;
            cert_c += s.certain_count;
        }
        let factor = |exact: u64, certain: u64, est: f64| {
            let rest = exact.saturating_sub(certain) as f64;
            if est > 0.0 && rest > 0.0 {
                let f = rest / est;
                // Far from 1 only when the exact count missed threads still running: then the
                // plain estimate is the better one.
                if (0.5..2.0).contains(&f) { f } else { 1.0 }
            } else {
                1.0
            }
        };
        (
            factor(self.stats.allocated_bytes, cert_b, est_b),
            factor(self.stats.allocations, cert_c, est_c),
        )
    }

    fn stack_of(&self, mut node: NodeIdx) -> Vec<(CodeIdx, u32)> {
        let mut out = Vec::new();
        while node != NO_PARENT {
            let n = self.nodes[node as usize];
            out.push((n.code, n.line));
            node = n.parent;
        }
        out.reverse();
        out
    }

    /// Every site with its calibrated figures.
    pub fn figures(&self) -> Vec<SiteFigures> {
        let (fb, fc) = self.calibration();
        self.sites
            .iter()
            .enumerate()
            .map(|(i, s)| SiteFigures {
                stack: self.stack_of(s.node),
                thread: s.thread,
                alloc_bytes: s.est_bytes * fb + s.certain_bytes as f64,
                alloc_count: s.est_count * fc + s.certain_count as f64,
                live: s.live.max(0.0),
                peak: self.peak_sites.get(i).copied().unwrap_or(0.0).max(0.0),
            })
            .collect()
    }

    /// Fills a profile builder: frames, stacks, threads, and the memory columns.
    pub fn build(
        &self,
        builder: &mut ProfileBuilder,
        process: u32,
        thread_name: &dyn Fn(&ThreadInfo) -> (String, bool),
    ) {
        let meta = builder.meta_mut();
        meta.mode = Mode::Memory;
        for metric in [
            Metric::AllocBytes,
            Metric::AllocCount,
            Metric::RetainedBytes,
            Metric::PeakBytes,
        ] {
            builder.declare(metric);
        }
        let frames: Vec<u32> = self
            .functions
            .iter()
            .map(|f| builder.frame(&f.name, &f.qualname, &f.file, f.first_line, f.kind))
            .collect();
        let threads: Vec<u32> = self
            .threads
            .iter()
            .map(|t| {
                let (name, is_main) = thread_name(t);
                builder.thread(process, t.ident, t.native_id, &name, is_main)
            })
            .collect();
        let mut path = Vec::new();
        for fig in self.figures() {
            path.clear();
            path.extend(
                fold_recursion(&fig.stack)
                    .into_iter()
                    .map(|(code, line)| builder.location(frames[code as usize], line)),
            );
            let Some(stack) = builder.stack_from_path(&path) else {
                continue;
            };
            let thread = threads[fig.thread as usize];
            let round = |v: f64| v.max(0.0).round() as u64;
            builder.add(stack, thread, Metric::AllocBytes, round(fig.alloc_bytes));
            builder.add(stack, thread, Metric::AllocCount, round(fig.alloc_count));
            builder.add(stack, thread, Metric::RetainedBytes, round(fig.live));
            builder.add(stack, thread, Metric::PeakBytes, round(fig.peak));
        }
        let stats = self.stats;
        let meta = builder.meta_mut();
        for (name, value) in [
            ("sample_interval_bytes", self.mean),
            ("allocated_bytes", stats.allocated_bytes),
            ("allocations", stats.allocations),
            ("samples", stats.samples),
            ("peak_bytes", stats.peak.round() as u64),
            ("peak_at_ns", stats.peak_ns),
            ("current_bytes", stats.current.round() as u64),
            ("peak_snapshot_bytes", self.peak_snapshot.round() as u64),
        ] {
            meta.counters.push(pyrometer_profile::Counter {
                name: name.into(),
                value,
            });
        }
    }
}

/// A stack with recursion folded: each function keeps its outermost frame, and the allocating
/// (innermost) frame stays as it is. Recursive code reaches the same allocation through ever
/// new paths (a tree walked by recursive generators makes one per sample), which made the
/// saved stacks grow with the run; folded, their number is bounded by the code. Per-line
/// figures (the leaf) and per-function inclusive figures (every function is still on the
/// stack) are unchanged; a flame graph shows one level of each recursion.
fn fold_recursion(stack: &[(CodeIdx, u32)]) -> Vec<(CodeIdx, u32)> {
    let Some((&leaf, callers)) = stack.split_last() else {
        return Vec::new();
    };
    let mut out: Vec<(CodeIdx, u32)> = Vec::with_capacity(stack.len());
    for &(code, line) in callers {
        if out.iter().all(|&(c, _)| c != code) {
            out.push((code, line));
        }
    }
    out.push(leaf);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(mean: u64) -> (Recorder, CodeIdx, CodeIdx) {
        let mut r = Recorder::new(mean);
        let f = |n: &str| Function {
            name: n.into(),
            qualname: n.into(),
            file: "t.py".into(),
            first_line: 1,
            kind: FrameKind::Python,
        };
        let a = r.add_function(f("main"));
        let b = r.add_function(f("work"));
        (r, a, b)
    }

    #[test]
    fn exact_mode_keeps_exact_figures_and_the_peak() {
        let (mut r, a, b) = (rec(0).0, 0, 1);
        r.add_function(Function {
            name: "x".into(),
            qualname: "x".into(),
            file: "t.py".into(),
            first_line: 1,
            kind: FrameKind::Python,
        });
        let t = r.thread(1, 10);
        let s1 = r.site([(a, 3), (b, 7)].into_iter(), t);
        let s2 = r.site([(a, 4)].into_iter(), t);
        assert_eq!(r.site([(a, 3), (b, 7)].into_iter(), t), s1);
        r.allocated(0x1000, 1 << 20, s1, 5);
        r.allocated(0x2000, 1 << 20, s2, 6);
        assert!(r.freed(0x1000));
        assert!(!r.freed(0x1000));
        r.allocated(0x3000, 100, s2, 7);
        let st = r.stats();
        assert_eq!(st.current, (1 << 20) as f64 + 100.0);
        assert_eq!(st.peak, (2 << 20) as f64);
        assert_eq!(st.peak_ns, 6);
        let figs = r.tables().figures();
        assert_eq!(figs[s1 as usize].stack, vec![(a, 3), (b, 7)]);
        assert_eq!(figs[s1 as usize].alloc_bytes, (1 << 20) as f64);
        assert_eq!(figs[s1 as usize].live, 0.0);
        assert_eq!(figs[s1 as usize].peak, (1 << 20) as f64);
        assert_eq!(figs[s2 as usize].live, (1 << 20) as f64 + 100.0);
        assert_eq!(figs[s2 as usize].alloc_count, 2.0);
    }

    #[test]
    fn a_refreshed_copy_equals_a_fresh_one() {
        let (mut r, a, b) = rec(1000);
        let t = r.thread(1, 1);
        let s = r.site([(a, 1)].into_iter(), t);
        r.allocated(1, 10, s, 0);
        let mut copy = r.tables();
        // Everything grows and changes after the first copy.
        let c = r.synthetic("<no Python frame>");
        let u = r.thread(2, 2);
        r.set_thread_name(u, Some("worker".into()));
        let s2 = r.site([(a, 1), (b, 2), (c, 0)].into_iter(), u);
        r.allocated(2, 1_000_000, s2, 5);
        assert!(r.freed(1));
        r.allocated_bytes = 1_000_010;
        r.allocations = 2;
        r.copy_into(&mut copy);
        let fresh = r.tables();
        assert_eq!(copy.figures(), fresh.figures());
        assert_eq!(copy.functions, fresh.functions);
        assert_eq!(copy.threads, fresh.threads);
        assert_eq!(copy.stats, r.stats());
        assert_eq!(copy.threads[u as usize].name.as_deref(), Some("worker"));
        // A copy of another recorder starts afresh.
        let other = Recorder::new(1000);
        other.copy_into(&mut copy);
        assert!(copy.functions.is_empty() && copy.figures().is_empty());
    }

    #[test]
    fn recursion_is_folded_to_each_functions_outermost_frame() {
        let (main, walk, leaf) = (0, 1, 2);
        let stack = [
            (main, 9),
            (walk, 3),
            (walk, 4),
            (leaf, 7),
            (walk, 3),
            (leaf, 8),
        ];
        assert_eq!(
            fold_recursion(&stack),
            vec![(main, 9), (walk, 3), (leaf, 7), (leaf, 8)]
        );
        assert_eq!(fold_recursion(&[(main, 1)]), vec![(main, 1)]);
        assert!(fold_recursion(&[]).is_empty());
    }

    #[test]
    fn calibration_scales_the_uncertain_stratum_to_the_exact_total() {
        let (mut r, a, _) = rec(1000);
        let t = r.thread(1, 1);
        let s = r.site([(a, 1)].into_iter(), t);
        let big = r.site([(a, 2)].into_iter(), t);
        r.allocated(1, 10, s, 0); // weight ~1005
        r.allocated(2, 1_000_000, big, 0); // certain
        r.allocated_bytes = 1_000_000 + 1100;
        r.allocations = 1 + 110;
        let (fb, _) = r.tables().calibration();
        let figs = r.tables().figures();
        assert!((figs[s as usize].alloc_bytes - 1100.0).abs() < 1e-6, "{fb}");
        assert_eq!(figs[big as usize].alloc_bytes, 1_000_000.0);
        assert!((figs[s as usize].alloc_count - 110.0).abs() < 1e-6);
    }
}
