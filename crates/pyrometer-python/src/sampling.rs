//! In-process sampling (`pyrometer.profile()`, the default mode): the out-of-process reader
//! pointed at this very process, from a plain Rust thread that Python does not know about (it
//! needs no GIL, and never shows up in the samples).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::prelude::*;
use pyrometer_profile::Profile;
use pyrometer_sampler::{Sampler, SamplerConfig};

use crate::{ProfileData, describe_run, error};

/// A sampler of this process: `start()`, `stop()`, and what was collected across every
/// start/stop cycle.
#[pyclass(module = "pyrometer._native")]
pub struct SelfSampler {
    rate_hz: f64,
    running: Option<Running>,
    collected: Option<Profile>,
}

struct Running {
    stop: Arc<AtomicBool>,
    /// The latest snapshot, refreshed a few times a second, for `snapshot()` while running.
    latest: Arc<Mutex<Option<Profile>>>,
    thread: JoinHandle<Result<Profile, String>>,
}

fn merged(a: Option<Profile>, b: Profile) -> Profile {
    match a {
        Some(a) => pyrometer_profile::builder::merge(&[&a, &b]),
        None => b,
    }
}

#[pymethods]
impl SelfSampler {
    #[new]
    #[pyo3(signature = (rate_hz=1000.0))]
    fn new(rate_hz: f64) -> PyResult<SelfSampler> {
        if !(rate_hz.is_finite() && rate_hz > 0.0 && rate_hz <= 100_000.0) {
            return Err(error(format!(
                "rate_hz={rate_hz} is not a sampling rate between 0 and 100000"
            )));
        }
        Ok(SelfSampler {
            rate_hz,
            running: None,
            collected: None,
        })
    }

    /// Starts sampling every thread of this process (returns once the first sample can be
    /// taken).
    fn start(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let config = SamplerConfig {
            rate_hz: self.rate_hz,
            ..SamplerConfig::default()
        };
        // Attaching reads our own maps and ELF headers: do it without holding the GIL.
        let sampler = py
            .detach(|| Sampler::attach(std::process::id(), config))
            .map_err(|e| error(e.to_string()))?;
        let stop = sampler.stop_flag();
        let latest = Arc::new(Mutex::new(None));
        let published = latest.clone();
        let thread = std::thread::Builder::new()
            .name("pyrometer-sampler".into())
            .spawn(move || {
                let mut sampler = sampler;
                sampler
                    .run_with(Duration::from_millis(250), |s| {
                        if let Ok(mut slot) = published.lock() {
                            *slot = Some(s.snapshot());
                        }
                        std::ops::ControlFlow::Continue(())
                    })
                    .map_err(|e| e.to_string())?;
                Ok(sampler.finish())
            })
            .map_err(|e| error(format!("cannot start the sampling thread: {e}")))?;
        self.running = Some(Running {
            stop,
            latest,
            thread,
        });
        Ok(())
    }

    /// Stops sampling; what was collected is kept.
    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        running.stop.store(true, Ordering::Relaxed);
        let result = py.detach(|| running.thread.join());
        let mut profile = match result {
            Ok(Ok(profile)) => profile,
            Ok(Err(message)) => return Err(error(format!("sampling failed: {message}"))),
            Err(_) => return Err(error("the sampling thread failed")),
        };
        describe_run(py, &mut profile);
        self.collected = Some(merged(self.collected.take(), profile));
        Ok(())
    }

    /// What was collected so far (while running: up to the last quarter of a second).
    fn snapshot(&self, py: Python<'_>) -> PyResult<ProfileData> {
        let live = self
            .running
            .as_ref()
            .and_then(|r| r.latest.lock().ok().and_then(|slot| slot.clone()));
        let mut inner = match (self.collected.clone(), live) {
            (Some(c), Some(l)) => merged(Some(c), l),
            (Some(c), None) => c,
            (None, Some(l)) => l,
            (None, None) => {
                let mut empty = Profile::default();
                empty.meta.mode = pyrometer_profile::Mode::Sample;
                empty
            }
        };
        describe_run(py, &mut inner);
        Ok(ProfileData { inner })
    }

    #[getter]
    fn running(&self) -> bool {
        self.running.is_some()
    }
}

impl Drop for SelfSampler {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::Relaxed);
            let _ = running.thread.join();
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SelfSampler>()
}
