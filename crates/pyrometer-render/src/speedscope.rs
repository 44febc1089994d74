//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>): one
//! "sampled" profile per thread, each distinct call path a sample weighted by its value.

use std::io::Write;

use pyrometer_profile::analysis::{ThreadFilter, stack_values};
use pyrometer_profile::{FrameKind, Metric, Profile, Unit};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::format::{frame_name, short_path};
use crate::text::report_metric;
use crate::{RenderError, RenderOptions, Renderer};

pub struct Speedscope;

#[derive(Serialize)]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared,
    profiles: Vec<SampledProfile>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: &'a str,
}

#[derive(Serialize)]
struct Shared {
    frames: Vec<Frame>,
}

#[derive(Serialize)]
struct Frame {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct SampledProfile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

impl Renderer for Speedscope {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let metric = report_metric(profile, options)?;
        // Time-like metrics are exported in nanoseconds (samples times the interval).
        let (unit, scale) = match (metric, metric.unit()) {
            (Metric::SelfTime, _) => ("nanoseconds", 1),
            (Metric::WallSamples | Metric::CpuSamples | Metric::GilSamples, _) => {
                match profile.meta.sample_interval_ns {
                    Some(ns) => ("nanoseconds", ns),
                    None => ("none", 1),
                }
            }
            (_, Unit::Bytes) => ("bytes", 1),
            _ => ("none", 1),
        };
        let base = options.base_dir.as_deref();
        let mut frames = Vec::new();
        let mut frame_index: FxHashMap<u32, usize> = FxHashMap::default();
        let mut index_of = |loc_id: u32| -> usize {
            *frame_index.entry(loc_id).or_insert_with(|| {
                let loc = profile.locations[loc_id as usize];
                let f = &profile.frames[loc.frame as usize];
                let (file, line) = match f.kind {
                    FrameKind::Python | FrameKind::Native => (
                        Some(short_path(profile.string(f.file), base).to_string()),
                        Some(if loc.line != 0 { loc.line } else { f.line }),
                    ),
                    FrameKind::Builtin | FrameKind::Synthetic => (None, None),
                };
                frames.push(Frame {
                    name: frame_name(profile, loc.frame).to_string(),
                    file,
                    line,
                });
                frames.len() - 1
            })
        };
        let threads: Vec<Option<u32>> = match &options.threads {
            ThreadFilter::All if !profile.threads.is_empty() => {
                (0..profile.threads.len() as u32).map(Some).collect()
            }
            _ => vec![None],
        };
        let mut profiles = Vec::new();
        for t in threads {
            let filter = match t {
                Some(t) => ThreadFilter::Only(vec![t]),
                None => options.threads.clone(),
            };
            let values = stack_values(profile, metric, &filter);
            let mut samples = Vec::new();
            let mut weights = Vec::new();
            for (s, &v) in values.iter().enumerate() {
                if v == 0 {
                    continue;
                }
                let path: Vec<usize> = profile
                    .stack_frames(s as u32)
                    .into_iter()
                    .map(&mut index_of)
                    .collect();
                samples.push(path);
                weights.push(v * scale);
            }
            if samples.is_empty() {
                continue;
            }
            let name = match t {
                Some(t) => {
                    let thread = &profile.threads[t as usize];
                    format!("{} (tid {})", profile.string(thread.name), thread.native_id)
                }
                None => "all threads".into(),
            };
            let end_value = weights.iter().sum();
            profiles.push(SampledProfile {
                kind: "sampled",
                name,
                unit,
                start_value: 0,
                end_value,
                samples,
                weights,
            });
        }
        if profiles.is_empty() {
            return Err(RenderError::Empty("samples or calls"));
        }
        let command = profile.meta.command.join(" ");
        let file = File {
            schema: "https://www.speedscope.app/file-format-schema.json",
            shared: Shared { frames },
            profiles,
            name: if command.is_empty() {
                "pyrometer profile".into()
            } else {
                command
            },
            active_profile_index: 0,
            exporter: &profile.meta.tool,
        };
        serde_json::to_writer(&mut *out, &file).map_err(|e| RenderError::Other(e.to_string()))?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
