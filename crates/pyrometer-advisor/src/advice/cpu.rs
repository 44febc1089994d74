//! On the CPU or off it: where a hot function's wall time goes, from the sampler's wall and CPU
//! samples.
//!
//! Each sample row is charged to the innermost *user* function on its stack (the library code
//! it was in, such as `socket.py`, counts for the user's function that called it). A function
//! is hot when it has at least 5% of all wall samples (and 20 samples). Its wall samples split
//! into:
//!
//! * running: on a CPU (`cpu_samples`) or holding the GIL (`gil_samples`): a thread holding
//!   the GIL is running Python code even when the kernel has it waiting (descheduled on a busy
//!   machine, a page fault), while blocking calls and sleeps release it — per row, the larger
//!   of the two;
//! * waiting for the GIL (the estimate of the `gil` module), which is not I/O;
//! * waiting for other threads, processes or the event loop: the leaf is in `threading`,
//!   `queue`, `concurrent.futures`, `multiprocessing` or `asyncio` (joins, queues, locks,
//!   futures, an idle event loop) — not advice-worthy by itself;
//! * the rest: off the CPU in I/O, sleeps or other blocking calls.
//!
//! Off-CPU advice when that rest is at least half the wall time; on-CPU advice when running is
//! at least 80%, split by the GIL's share of the running samples into Python code (holding the
//! GIL) and native code that released it.

use pyrometer_profile::{FrameKind, LocId, Metric};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{
    AdviceItem, AdviceKind, Fact, FactValue, location_label, pct, samples_fact, show_samples,
    subject_of, user_frames,
};
use crate::measure::Join;
use crate::sources::is_stdlib;

const HOT_PERCENT: f64 = 5.0;
const MIN_SAMPLES: u64 = 20;

#[derive(Default)]
struct FunctionTime {
    wall: u64,
    cpu: u64,
    gil: u64,
    running: u64,
    gil_wait: u64,
    sync_wait: u64,
    off: u64,
    threads: FxHashSet<u32>,
    off_at: FxHashMap<LocId, u64>,
}

/// The standard-library module of a file, as a path below `lib/pythonX.Y/`.
fn stdlib_module(file: &str) -> Option<&str> {
    if !is_stdlib(file) {
        return None;
    }
    let i = file.rfind("/lib/python")?;
    let rest = &file[i + "/lib/python".len()..];
    rest.split_once('/').map(|(_, module)| module)
}

fn is_sync_module(module: &str) -> bool {
    module == "threading.py"
        || module == "queue.py"
        || module.starts_with("concurrent/futures/")
        || module.starts_with("multiprocessing/")
        || module.starts_with("asyncio/")
}

pub(crate) fn advice(join: &Join<'_>, gil_wait_by_row: &[u64]) -> Vec<AdviceItem> {
    let profile = join.profile;
    let samples = &profile.samples;
    let (Some(wall), Some(cpu)) = (
        samples.column(Metric::WallSamples),
        samples.column(Metric::CpuSamples),
    ) else {
        return Vec::new();
    };
    let gil = samples.column(Metric::GilSamples);
    let user = user_frames(join);
    // Per stack: is its leaf a wait for other threads, processes or an idle event loop?
    let mut in_asyncio = vec![false; profile.stacks.len()];
    let mut sync = vec![false; profile.stacks.len()];
    for (s, node) in profile.stacks.iter().enumerate() {
        let frame = &profile.frames[profile.locations[node.location as usize].frame as usize];
        let module = (frame.kind == FrameKind::Python)
            .then(|| stdlib_module(profile.string(frame.file)))
            .flatten();
        in_asyncio[s] = module.is_some_and(|m| m.starts_with("asyncio/"))
            || node.parent.is_some_and(|p| in_asyncio[p as usize]);
        sync[s] =
            module.is_some_and(|m| is_sync_module(m) || (m == "selectors.py" && in_asyncio[s]));
    }
    let mut functions: FxHashMap<u32, FunctionTime> = FxHashMap::default();
    let mut total_wall = 0u64;
    for (row, (&stack, &thread)) in samples.stack.iter().zip(&samples.thread).enumerate() {
        total_wall += wall[row];
        let Some(frame) = user[stack as usize] else {
            continue;
        };
        let entry = functions.entry(frame).or_default();
        let w = wall[row];
        let c = cpu[row].min(w);
        let g = gil.map_or(0, |g| g[row].min(w));
        // Running: on a CPU, or holding the GIL (a thread that holds it runs Python code even
        // when the kernel has it waiting; blocking calls and sleeps release it).
        let running = c.max(g);
        let gil_wait = gil_wait_by_row
            .get(row)
            .copied()
            .unwrap_or(0)
            .min(w - running);
        entry.wall += w;
        entry.cpu += c;
        entry.gil += g;
        entry.running += running;
        entry.gil_wait += gil_wait;
        if w > 0 {
            entry.threads.insert(thread);
        }
        let off = w - running - gil_wait;
        if sync[stack as usize] {
            entry.sync_wait += off;
        } else if off > 0 {
            entry.off += off;
            let location = profile.stacks[stack as usize].location;
            *entry.off_at.entry(location).or_default() += off;
        }
    }
    let mut items = Vec::new();
    let mut ordered: Vec<(u32, FunctionTime)> = functions.into_iter().collect();
    ordered.sort_by(|a, b| b.1.wall.cmp(&a.1.wall).then(a.0.cmp(&b.0)));
    for (frame, time) in ordered {
        let share = pct(time.wall, total_wall);
        if share < HOT_PERCENT || time.wall < MIN_SAMPLES {
            continue;
        }
        let subject = subject_of(profile, frame);
        let name = super::label(join, &subject);
        let cpu_pct = pct(time.cpu, time.wall);
        let running_pct = pct(time.running, time.wall);
        let wall_fact = Fact {
            name: if join.sample_ns().is_some() {
                "wall_ns"
            } else {
                "wall_samples"
            },
            value: samples_fact(join, time.wall),
        };
        let threads = time.threads.len() as u64;
        let in_threads = if threads > 1 {
            format!(" in {threads} threads")
        } else {
            String::new()
        };
        if time.off * 2 >= time.wall {
            let off_pct = pct(time.off, time.wall);
            let mut places: Vec<(LocId, u64)> = time.off_at.into_iter().collect();
            places.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut evidence = format!(
                "{} of wall time{in_threads} ({share:.1}% of all threads' wall time): {} \
                 running ({running_pct:.0}%: on a CPU or holding the GIL), {} off the CPU \
                 without the GIL, in I/O, sleeps or other blocking calls ({off_pct:.0}%)",
                show_samples(join, time.wall),
                show_samples(join, time.running),
                show_samples(join, time.off),
            );
            if time.gil_wait + time.sync_wait > 0 {
                evidence.push_str(&format!(
                    ", {} waiting for the GIL, other threads or processes",
                    show_samples(join, time.gil_wait + time.sync_wait)
                ));
            }
            if let Some(&(location, n)) = places.first() {
                evidence.push_str(&format!(
                    "; most of it at {} ({})",
                    location_label(join, location),
                    show_samples(join, n)
                ));
            }
            let suggestion = if threads > 1 {
                format!(
                    "It waits rather than computes, and already runs in {threads} threads: more \
                     concurrent waits (a larger thread pool, or asyncio) overlap more of them; \
                     fewer waits (batching, caching, a faster service) shorten them."
                )
            } else {
                "It waits rather than computes: overlapping the waits helps — threads \
                 (concurrent.futures.ThreadPoolExecutor) or asyncio — and so do fewer waits \
                 (batching, caching)."
                    .to_string()
            };
            items.push(AdviceItem {
                kind: AdviceKind::OffCpu,
                subject: Some(subject),
                percent: share,
                summary: format!("{name} spends {off_pct:.0}% of its wall time off the CPU"),
                evidence,
                facts: vec![
                    wall_fact,
                    Fact {
                        name: "cpu_percent",
                        value: FactValue::Percent(cpu_pct),
                    },
                    Fact {
                        name: "off_cpu_percent",
                        value: FactValue::Percent(off_pct),
                    },
                    Fact {
                        name: "threads",
                        value: FactValue::Count(threads),
                    },
                ],
                suggestion,
            });
        } else if time.running * 10 >= time.wall * 8 {
            let gil_of_running = gil.map(|_| pct(time.gil, time.running));
            let evidence = format!(
                "{} of wall time{in_threads} ({share:.1}% of all threads' wall time), running \
                 {running_pct:.0}% of it: {} on a CPU ({cpu_pct:.0}%){}",
                show_samples(join, time.wall),
                show_samples(join, time.cpu),
                match gil_of_running {
                    Some(_) => format!(
                        ", {} holding the GIL ({:.0}%)",
                        show_samples(join, time.gil),
                        pct(time.gil, time.wall)
                    ),
                    None => String::new(),
                }
            );
            let suggestion = match gil_of_running {
                Some(g) if g < 50.0 => "Most of its CPU time is native code that released the \
                     GIL: threads can run it in parallel on several cores."
                    .to_string(),
                _ => "It computes in Python (holding the GIL): threads will not speed it up. \
                     Processes (concurrent.futures.ProcessPoolExecutor) use more cores; \
                     vectorising with numpy or a compiled extension (Cython, mypyc, Rust) makes \
                     each step cheaper."
                    .to_string(),
            };
            let mut facts = vec![
                wall_fact,
                Fact {
                    name: "cpu_percent",
                    value: FactValue::Percent(cpu_pct),
                },
            ];
            facts.push(Fact {
                name: "running_percent",
                value: FactValue::Percent(running_pct),
            });
            if let Some(g) = gil_of_running {
                facts.push(Fact {
                    name: "gil_percent_of_running",
                    value: FactValue::Percent(g),
                });
            }
            items.push(AdviceItem {
                kind: AdviceKind::OnCpu,
                subject: Some(subject),
                percent: share,
                summary: format!("{name} is CPU-bound: running {running_pct:.0}% of its wall time"),
                evidence,
                facts,
                suggestion,
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_modules() {
        assert_eq!(
            stdlib_module("/usr/lib/python3.12/concurrent/futures/_base.py"),
            Some("concurrent/futures/_base.py")
        );
        assert_eq!(stdlib_module("/home/me/app.py"), None);
        assert!(is_sync_module("threading.py"));
        assert!(!is_sync_module("socket.py"));
    }
}
