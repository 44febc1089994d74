//! Threads waiting on the GIL, from the sampler's per-thread wall, CPU and GIL samples.
//!
//! A thread waiting for the GIL sleeps on a condition variable: it is neither holding the GIL
//! nor on a CPU. So is a thread blocked in I/O; what tells them apart is the line it is on. A
//! line that runs Python code holds the GIL in a fair share of its samples when several threads
//! compete (about 1/k with k threads running Python), while a line blocked in I/O or a sleep
//! almost never does. So, per (stack, thread) row of a process where k ≥ 2 threads ran Python
//! code:
//!
//! * the row *runs Python code* when it held the GIL in at least 1/(2k) of its samples;
//! * its estimated wait for the GIL is then its samples neither holding the GIL nor on a CPU:
//!   `wall − max(gil, cpu)`.
//!
//! This is an estimate, and the advice says so. It is advice when the waits add up to at least
//! 10% of those threads' time (and 20 samples).

use pyrometer_profile::Metric;

use super::{
    AdviceItem, AdviceKind, Fact, FactValue, pct, samples_fact, show_samples, user_frames,
};
use crate::measure::Join;

pub(crate) struct GilAnalysis {
    pub item: Option<AdviceItem>,
    /// For each row of the profile's samples, the estimated samples it waited for the GIL.
    pub wait_by_row: Vec<u64>,
}

const MIN_SAMPLES: u64 = 20;

pub(crate) fn analyse(join: &Join<'_>) -> GilAnalysis {
    let profile = join.profile;
    let samples = &profile.samples;
    let mut wait_by_row = vec![0u64; samples.len()];
    let (Some(wall), Some(cpu), Some(gil)) = (
        samples.column(Metric::WallSamples),
        samples.column(Metric::CpuSamples),
        samples.column(Metric::GilSamples),
    ) else {
        return GilAnalysis {
            item: None,
            wait_by_row,
        };
    };
    let threads = profile.threads.len();
    let mut thread_wall = vec![0u64; threads];
    let mut thread_gil = vec![0u64; threads];
    for (row, &thread) in samples.thread.iter().enumerate() {
        thread_wall[thread as usize] += wall[row];
        thread_gil[thread as usize] += gil[row];
    }
    // Threads that ran Python code, per process.
    let mut python_threads = vec![0u64; profile.processes.len()];
    for (t, thread) in profile.threads.iter().enumerate() {
        if thread_gil[t] > 0 {
            python_threads[thread.process as usize] += 1;
        }
    }
    let competing = |t: usize| python_threads[profile.threads[t].process as usize];
    let mut total_wait = 0u64;
    for (row, &thread) in samples.thread.iter().enumerate() {
        let k = competing(thread as usize);
        let (w, c, g) = (wall[row], cpu[row], gil[row]);
        if k >= 2 && g > 0 && g.saturating_mul(2 * k) >= w {
            let waited = w.saturating_sub(g.max(c));
            wait_by_row[row] = waited;
            total_wait += waited;
        }
    }
    let python_wall: u64 = (0..threads)
        .filter(|&t| thread_gil[t] > 0 && competing(t) >= 2)
        .map(|t| thread_wall[t])
        .sum();
    if total_wait < MIN_SAMPLES || total_wait * 10 < python_wall {
        return GilAnalysis {
            item: None,
            wait_by_row,
        };
    }
    // The process with the most waiting, and how busy its GIL was.
    let mut wait_by_process = vec![0u64; profile.processes.len()];
    for (row, &thread) in samples.thread.iter().enumerate() {
        wait_by_process[profile.threads[thread as usize].process as usize] += wait_by_row[row];
    }
    let process = (0..wait_by_process.len())
        .max_by_key(|&p| wait_by_process[p])
        .unwrap_or(0);
    let in_process = |t: usize| profile.threads[t].process as usize == process;
    let k = python_threads[process];
    let held: u64 = (0..threads)
        .filter(|&t| in_process(t))
        .map(|t| thread_gil[t])
        .sum();
    let ticks = if profile.processes.len() == 1 {
        profile.counter("samples")
    } else {
        None
    }
    .unwrap_or_else(|| {
        (0..threads)
            .filter(|&t| in_process(t))
            .map(|t| thread_wall[t])
            .max()
            .unwrap_or(0)
    });
    // Where the waiting happened, by the innermost user function.
    let user = user_frames(join);
    let mut by_function: rustc_hash::FxHashMap<u32, u64> = rustc_hash::FxHashMap::default();
    for (row, &stack) in samples.stack.iter().enumerate() {
        if wait_by_row[row] > 0
            && let Some(frame) = user[stack as usize]
        {
            *by_function.entry(frame).or_default() += wait_by_row[row];
        }
    }
    let mut functions: Vec<(u32, u64)> = by_function.into_iter().collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let places: Vec<String> = functions
        .iter()
        .take(3)
        .map(|&(frame, w)| {
            let subject = super::subject_of(profile, frame);
            format!(
                "{}: {}",
                super::label(join, &subject),
                show_samples(join, w)
            )
        })
        .collect();
    let total_wall: u64 = thread_wall.iter().sum();
    let held_pct = pct(held, ticks).min(100.0);
    let wait_pct = pct(total_wait, python_wall);
    let mut evidence = format!(
        "{k} threads ran Python code; the GIL was held in {held_pct:.0}% of the sampling ticks; \
         estimated wait for it {} ({wait_pct:.0}% of those threads' time: samples on lines that \
         run Python code, neither holding the GIL nor on a CPU)",
        show_samples(join, total_wait),
    );
    if !places.is_empty() {
        evidence.push_str("; mostly in ");
        evidence.push_str(&places.join(", "));
    }
    let subject = functions
        .first()
        .map(|&(frame, _)| super::subject_of(profile, frame));
    let item = AdviceItem {
        kind: AdviceKind::GilContention,
        subject,
        percent: pct(total_wait, total_wall),
        summary: format!(
            "{k} threads compete for the GIL: they waited an estimated {} for it",
            show_samples(join, total_wait)
        ),
        evidence,
        facts: vec![
            Fact {
                name: "threads",
                value: FactValue::Count(k),
            },
            Fact {
                name: "gil_held_percent",
                value: FactValue::Percent(held_pct),
            },
            Fact {
                name: if join.sample_ns().is_some() {
                    "gil_wait_ns"
                } else {
                    "gil_wait_samples"
                },
                value: samples_fact(join, total_wait),
            },
            Fact {
                name: "gil_wait_percent",
                value: FactValue::Percent(wait_pct),
            },
        ],
        suggestion: "Only one thread runs Python code at a time. For CPU-bound work use \
                     processes (concurrent.futures.ProcessPoolExecutor, multiprocessing), or \
                     move the hot loop into code that releases the GIL (numpy, a compiled \
                     extension); a free-threaded CPython build (3.13t) has no GIL."
            .to_string(),
    };
    GilAnalysis {
        item: Some(item),
        wait_by_row,
    }
}
