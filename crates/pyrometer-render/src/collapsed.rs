//! Collapsed stacks: one line per call path, `outer;…;leaf value`, the input of flamegraph.pl,
//! inferno and speedscope. Frames read `name (file:line)`; threads are merged.

use std::io::Write;

use pyrometer_profile::analysis::stack_values;
use pyrometer_profile::{Metric, Profile};

use crate::format::frame_label;
use crate::text::report_metric;
use crate::{RenderError, RenderOptions, Renderer};

pub struct Collapsed;

/// The collapsed lines of a profile for `metric`, in stack order.
pub fn lines(profile: &Profile, metric: Metric, options: &RenderOptions) -> Vec<String> {
    let values = stack_values(profile, metric, &options.threads);
    let base = options.base_dir.as_deref();
    let labels: Vec<String> = profile
        .stacks
        .iter()
        .map(|s| {
            let loc = profile.locations[s.location as usize];
            frame_label(profile, loc.frame, loc.line, base)
                .replace(';', ":")
                .replace(['\n', '\r'], " ")
        })
        .collect();
    let mut out = Vec::new();
    for (s, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let mut path = Vec::new();
        let mut cur = Some(s as u32);
        while let Some(c) = cur {
            path.push(labels[c as usize].as_str());
            cur = profile.stacks[c as usize].parent;
        }
        path.reverse();
        out.push(format!("{} {v}", path.join(";")));
    }
    out
}

impl Renderer for Collapsed {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let metric = report_metric(profile, options)?;
        for line in lines(profile, metric, options) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}
