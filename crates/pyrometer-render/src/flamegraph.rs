//! An interactive flame graph (SVG, drawn by inferno) from the collapsed stacks.

use std::io::Write;

use pyrometer_profile::{Metric, Profile};

use crate::collapsed;
use crate::text::report_metric;
use crate::{RenderError, RenderOptions, Renderer};

pub struct FlameGraph;

impl Renderer for FlameGraph {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let metric = report_metric(profile, options)?;
        let lines = collapsed::lines(profile, metric, options);
        if lines.is_empty() {
            return Err(RenderError::Empty("samples or calls"));
        }
        let mut opts = inferno::flamegraph::Options::default();
        opts.title = options.title.clone().unwrap_or_else(|| {
            let command = profile.meta.command.join(" ");
            if command.is_empty() {
                "pyrometer".into()
            } else {
                format!("pyrometer — {command}")
            }
        });
        opts.subtitle = Some(format!(
            "{} mode · width is {}",
            profile.meta.mode.as_str(),
            crate::format::metric_title(metric)
        ));
        opts.count_name = match metric {
            Metric::SelfTime => "ns".into(),
            Metric::AllocBytes | Metric::RetainedBytes | Metric::PeakBytes => "bytes".into(),
            Metric::WallSamples | Metric::CpuSamples | Metric::GilSamples => "samples".into(),
            m => m.as_str().into(),
        };
        opts.colors = inferno::flamegraph::color::Palette::Multi(
            inferno::flamegraph::color::MultiPalette::Python,
        );
        opts.hash = true;
        opts.deterministic = true;
        inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
            .map_err(|e| RenderError::Other(format!("drawing the flame graph: {e}")))?;
        Ok(())
    }
}
