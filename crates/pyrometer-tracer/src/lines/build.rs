//! Turning the line counters into a [`Profile`]: one row per (function, line) and thread, a
//! stack of one location each, with `line_hits` and `self_time`; and the source of every
//! measured function, so the saved run annotates it later.

use pyo3_ffi::*;
use pyrometer_profile::{Counter, FrameId, FrameKind, Meta, Metric, Mode, Profile, ProfileBuilder};

use super::LinesState;
use crate::names;
use crate::py::{self, Gil};
use crate::snapshot::{find_thread_object, is_main_thread, thread_name};

pub(super) fn build(gil: &Gil, state: &mut LinesState) -> Profile {
    let ns_per_tick = state.calibration.ns_per_tick();
    let meta = Meta {
        mode: Mode::Lines,
        clock: state.clock.name().into(),
        start_unix_ns: state.start_unix_ns,
        duration_ns: state.calibration.elapsed_ns(),
        ..Meta::default()
    };
    let mut b = ProfileBuilder::new(meta);
    b.declare(Metric::LineHits);
    b.declare(Metric::SelfTime);
    let process = b.process(std::process::id(), None, Vec::new());

    let mut frames: Vec<Option<FrameId>> = vec![None; state.codes.len()];
    let mut used = vec![false; state.codes.len()];
    for &record in &state.threads {
        // SAFETY: records are owned by the state, which the caller holds exclusively.
        let record = unsafe { &mut *record };
        if record.thread.is_null() {
            record.thread = find_thread_object(gil, record.ident);
        }
        if record.counters.iter().all(|c| c.hits == 0 && c.ticks == 0) {
            continue;
        }
        let is_main = is_main_thread(record.native_id);
        let name = thread_name(gil, record.thread, record.ident, is_main);
        let thread = b.thread(process, record.ident, record.native_id, &name, is_main);
        for (slot, c) in record.counters.iter().enumerate() {
            if c.hits == 0 && c.ticks == 0 {
                continue;
            }
            let Some(&(index, line)) = state.slot_lines.get(slot) else {
                continue;
            };
            let Some(entry) = state.codes.get(index as usize) else {
                continue;
            };
            used[index as usize] = true;
            let frame = *frames[index as usize].get_or_insert_with(|| {
                // SAFETY: GIL held; the state holds a strong reference to the code object.
                let n = unsafe { names::describe_code(gil, entry.code) };
                b.frame(
                    &n.name,
                    &n.qualname,
                    &n.file,
                    n.first_line,
                    FrameKind::Python,
                )
            });
            let location = b.location(frame, line);
            let stack = b.stack(None, location);
            b.add(stack, thread, Metric::LineHits, c.hits);
            b.add(
                stack,
                thread,
                Metric::SelfTime,
                (c.ticks as f64 * ns_per_tick).round() as u64,
            );
        }
    }
    add_sources(gil, state, &used, &mut b);
    let unused: Vec<String> = state
        .filter
        .as_ref()
        .map(|f| f.unused_includes())
        .unwrap_or_default();
    let meta = b.meta_mut();
    meta.counters = vec![
        Counter {
            name: "threads".into(),
            value: state.threads.len() as u64,
        },
        Counter {
            name: "functions".into(),
            value: state.codes.len() as u64,
        },
    ];
    for pattern in unused {
        meta.notes.push(format!(
            "--include '{pattern}' matched no file the program ran"
        ));
    }
    b.finish()
}

/// Keeps the source lines of every measured code object that ran, from its first line to its
/// last, out of the texts the state holds (given at start or read by `read_sources`; no
/// Python code runs here).
fn add_sources(gil: &Gil, state: &LinesState, used: &[bool], b: &mut ProfileBuilder) {
    for (entry, _) in state.codes.iter().zip(used).filter(|(_, u)| **u) {
        let Some(file) = py::attr_string(gil, entry.code, "co_filename") else {
            continue;
        };
        let Some(lines) = state.texts.get(&file) else {
            continue;
        };
        let from = entry.first.max(1) as usize - 1;
        let to = ((entry.first + entry.len) as usize - 1).min(lines.len());
        if from >= to {
            continue;
        }
        let block: Vec<&str> = lines[from..to]
            .iter()
            .map(|l| l.trim_end_matches(['\n', '\r']))
            .collect();
        b.source(&file, entry.first.max(1), &block);
    }
}

/// The lines of `file` as `linecache.getlines` gives them (runs Python code).
pub(super) fn file_lines(gil: &Gil, linecache: *mut PyObject, file: &str) -> Option<Vec<String>> {
    let name = py::string(gil, file).ok()?;
    let lines = py::call_method(gil, linecache, "getlines", &[name.as_ptr()]).ok()?;
    // SAFETY: GIL held; `lines` is checked to be a list; items are borrowed while it lives.
    unsafe {
        if PyList_Check(lines.as_ptr()) == 0 {
            return None;
        }
        let n = PyList_Size(lines.as_ptr());
        Some(
            (0..n)
                .map(|i| py::str_of(PyList_GetItem(lines.as_ptr(), i)).unwrap_or_default())
                .collect(),
        )
    }
}
