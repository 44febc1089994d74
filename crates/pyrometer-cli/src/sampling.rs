//! Sampling from the CLI: the options `run`, `record` and `top` share, running the sampler in a
//! background thread next to a child we started, and making its errors one line with a hint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Args;
use pyrometer_profile::builder::cut_stacks;
use pyrometer_profile::{Profile, ProfileBuilder};
use pyrometer_sampler::{Sampler, SamplerConfig, SamplerError};

use crate::{UserError, user_error};

/// How to sample.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Samples per second, per thread
    #[arg(
        long,
        value_name = "HZ",
        default_value_t = 1000.0,
        help_heading = "Sampling"
    )]
    pub rate: f64,
    /// Stop the program's threads while each sample is read, for exact stacks (slower; the
    /// default reads them while they run and counts the rare torn read as dropped)
    #[arg(long, help_heading = "Sampling")]
    pub blocking: bool,
    /// Also sample the Python processes the program starts (subprocess, multiprocessing)
    #[arg(long, help_heading = "Sampling")]
    pub subprocesses: bool,
}

impl SamplingArgs {
    pub fn config(&self) -> Result<SamplerConfig, UserError> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 100_000.0) {
            return Err(user_error(format!(
                "--rate {} is not a sampling rate between 0 and 100000 Hz",
                self.rate
            )));
        }
        Ok(SamplerConfig {
            rate_hz: self.rate,
            blocking: self.blocking,
            subprocesses: self.subprocesses,
            ..SamplerConfig::default()
        })
    }
}

/// A sampler error as the user sees it: one line, and a hint when there is one.
pub fn sampler_error(error: &SamplerError) -> UserError {
    let mut e = user_error(error.to_string());
    e.hint = error.hint();
    e
}

/// A sampler attached to a child we started, running in a thread until the child ends.
pub struct ChildSampler {
    handle: JoinHandle<Result<Profile, SamplerError>>,
}

impl ChildSampler {
    /// Attaches as soon as the child's interpreter is up (it may still be starting) and
    /// samples it until it exits. The sampler never reaps the child.
    pub fn start(pid: u32, config: SamplerConfig) -> ChildSampler {
        let handle = std::thread::spawn(move || {
            let mut sampler = Sampler::attach_wait(pid, config, Duration::from_secs(30))?;
            sampler.run()?;
            Ok(sampler.finish())
        });
        ChildSampler { handle }
    }

    /// The samples, once the child has ended.
    pub fn finish(self) -> Result<Profile, SamplerError> {
        match self.handle.join() {
            Ok(result) => result,
            Err(_) => Err(SamplerError::Io {
                what: "sampling".into(),
                source: std::io::Error::other("the sampler thread failed"),
            }),
        }
    }
}

/// The file of `run`'s child bootstrap, whose frames come before the program's own (the end of
/// the installed module's path, and the whole name the standalone child is compiled under).
pub const LAUNCHER: &str = "pyrometer/_child.py";

/// Removes what `run`'s launcher put on the program's stacks: the `-c` bootstrap,
/// `pyrometer._child.main` (and `_run_plain`) before the program's first frame. Samples taken
/// while the launcher itself was working (importing pyrometer, preparing the program) are
/// dropped.
pub fn strip_launcher(profile: &Profile, launched_pid: u32) -> Profile {
    let frame_of = |loc: u32| &profile.frames[profile.locations[loc as usize].frame as usize];
    let is_launcher = |loc: u32| profile.string(frame_of(loc).file).ends_with(LAUNCHER);
    // The bootstrap's own frame: `python -c`'s module.
    let is_bootstrap = |loc: u32| {
        let f = frame_of(loc);
        profile.string(f.file) == "<string>" && profile.string(f.name) == "<module>"
    };
    let is_frozen = |loc: u32| profile.string(frame_of(loc).file).starts_with("<frozen ");
    cut_stacks(profile, |path, process| {
        if process.pid != launched_pid {
            return Some(0);
        }
        match path.iter().rposition(|&loc| is_launcher(loc)) {
            // Under the bootstrap but not yet in the program: the launcher starting up; or the
            // interpreter starting up (`site`, codecs: stacks rooted in a frozen module).
            None if path
                .first()
                .is_some_and(|&loc| is_bootstrap(loc) || is_frozen(loc)) =>
            {
                None
            }
            // Not under the launcher: a thread the program started, an atexit callback…
            None => Some(0),
            Some(i) => {
                let frame = &profile.frames[profile.locations[path[i] as usize].frame as usize];
                // The program runs from `main` (through the native `child_exec`) or, when
                // only sampled, from `_run_plain`; any other launcher function is preparing.
                let runs_program = matches!(profile.string(frame.name), "main" | "_run_plain");
                (runs_program && i + 1 < path.len()).then_some(i + 1)
            }
        }
    })
}

/// An empty sampled profile that says why it is empty.
pub fn empty_with_note(note: String) -> Profile {
    let mut profile = ProfileBuilder::new(Default::default()).finish();
    profile.meta.mode = pyrometer_profile::Mode::Sample;
    profile.meta.notes.push(note);
    profile
}

/// The stop flag the SIGINT/SIGTERM handler sets (`record`, `top`).
static STOP: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn request_stop(_signal: libc::c_int) {
    let flag = STOP.load(Ordering::Relaxed);
    if !flag.is_null() {
        // SAFETY: the pointer comes from an Arc that `StopOnSignals` keeps alive while the
        // handler is installed; storing to an atomic is async-signal-safe.
        unsafe { (*flag).store(true, Ordering::Relaxed) };
    }
}

const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// While alive, Ctrl-C, SIGTERM and SIGHUP set a flag instead of ending pyrometer (so what
/// was sampled is still saved and reported); dropping it puts back the handlers there were
/// before (the CLI may run inside a Python process that has its own, `_native.main`).
pub struct StopOnSignals {
    flag: Option<Arc<AtomicBool>>,
    previous: [libc::sigaction; 3],
}

/// The flag of the last [`StopOnSignals`], kept after it is dropped: a handler that was
/// already running on another thread may still store to it. The next one replaces it, so at
/// most one is kept.
static LAST_FLAG: std::sync::Mutex<Option<Arc<AtomicBool>>> = std::sync::Mutex::new(None);

/// Installs [`StopOnSignals`] for `flag`.
pub fn stop_on_signals(flag: Arc<AtomicBool>) -> StopOnSignals {
    STOP.store(Arc::as_ptr(&flag).cast_mut(), Ordering::Relaxed);
    // SAFETY: an all-zero sigaction is a valid value, overwritten by sigaction below.
    let mut previous: [libc::sigaction; 3] = unsafe { std::mem::zeroed() };
    for (signal, old) in STOP_SIGNALS.iter().zip(previous.iter_mut()) {
        // SAFETY: an all-zero sigaction with a handler is a valid action; the handler only
        // stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(*signal, &action, old);
        }
    }
    StopOnSignals {
        flag: Some(flag),
        previous,
    }
}

impl Drop for StopOnSignals {
    fn drop(&mut self) {
        for (signal, old) in STOP_SIGNALS.iter().zip(self.previous.iter()) {
            // SAFETY: restoring the action sigaction gave us.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
        STOP.store(std::ptr::null_mut(), Ordering::Relaxed);
        let mut last = LAST_FLAG.lock().unwrap_or_else(|e| e.into_inner());
        *last = self.flag.take();
    }
}
