//! Running the profiled program in a child interpreter, and surviving whatever it does.
//!
//! The child runs `python -c <bootstrap> ARGS…`; the bootstrap (`pyrometer._child`) reads its
//! instructions from `PYROMETER_CHILD_*` variables (and removes them), sets up `sys.argv`,
//! `sys.path[0]` and `__main__` as `python` would, and writes what it collected into a work
//! directory: `profile.pyro`, or `error.txt` when the program could not even start.
//!
//! While the child runs, the parent ignores the terminal's Ctrl-C (the child gets it too and
//! saves its profile) and forwards SIGTERM, SIGHUP, SIGQUIT and explicitly sent SIGINTs to the
//! child, so that killing `pyrometer run` still leaves a profile. A signal the parent was
//! started ignoring (`nohup`, a background job) stays ignored, in the child too.

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pyrometer_profile::Exit;

use crate::user_error;

/// What the child runs.
#[derive(Clone, Debug)]
pub enum Target {
    Script(String),
    Module(String),
    Code(String),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Script(_) => "script",
            Target::Module(_) => "module",
            Target::Code(_) => "code",
        }
    }

    fn value(&self) -> &str {
        match self {
            Target::Script(v) | Target::Module(v) | Target::Code(v) => v,
        }
    }

    /// The command as the user would type it after `python`.
    pub fn command(&self, args: &[String]) -> Vec<String> {
        let mut command = match self {
            Target::Script(s) => vec![s.clone()],
            Target::Module(m) => vec!["-m".into(), m.clone()],
            Target::Code(c) => vec!["-c".into(), c.clone()],
        };
        command.extend(args.iter().cloned());
        command
    }

    /// A short name for file names: the script's stem, the module, or `code`.
    pub fn stem(&self) -> String {
        let raw = match self {
            Target::Script(s) => Path::new(s)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Target::Module(m) => m.clone(),
            Target::Code(_) => "code".into(),
        };
        let clean: String = raw
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            "run".into()
        } else {
            clean
        }
    }
}

pub struct Request<'a> {
    pub python: &'a Path,
    pub mode: &'a str,
    /// Whether the child collects anything itself (tracing, lines, memory), which needs
    /// pyrometer's native module in its interpreter; sampling alone does not.
    pub native: bool,
    pub builtins: bool,
    pub checkpoint_seconds: f64,
    pub target: &'a Target,
    pub args: &'a [String],
    pub work_dir: &'a Path,
    /// More `PYROMETER_CHILD_*` variables for the mode (lines mode's file choice).
    pub env: Vec<(&'static str, String)>,
}

pub struct Outcome {
    pub exit: Exit,
    pub wall: Duration,
}

/// The bootstrap the child interpreter runs (`python -c`).
const BOOTSTRAP: &str = "import pyrometer._child\npyrometer._child.main()\n";

/// The launcher's own text, for children that need nothing else of pyrometer's (sampling): run
/// from `PYROMETER_CHILD_SOURCE` by [`standalone_bootstrap`], in a module of its own, so the
/// program's interpreter need not have pyrometer installed.
const CHILD_SOURCE: &str = include_str!("../../../python/pyrometer/_child.py");

/// Compiles and runs [`CHILD_SOURCE`] under the file name `sampling::strip_launcher` knows.
fn standalone_bootstrap() -> String {
    format!(
        "import os, sys\n\
         child = type(sys)('pyrometer._child')\n\
         source = os.environ.pop('PYROMETER_CHILD_SOURCE')\n\
         exec(compile(source, {:?}, 'exec'), child.__dict__)\n\
         child.main()\n",
        crate::sampling::LAUNCHER
    )
}

static CHILD_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    let pid = CHILD_PID.load(Ordering::Relaxed);
    if pid <= 0 {
        return;
    }
    // A Ctrl-C from the terminal reaches the whole process group, the child included: only
    // forward an interrupt that a process sent to us alone.
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    if signal == libc::SIGINT && !info.is_null() && unsafe { (*info).si_pid() } == 0 {
        return;
    }
    // SAFETY: kill is async-signal-safe.
    unsafe { libc::kill(pid, signal) };
}

/// Signal handlers installed for the child's lifetime, restored on drop.
struct Forwarding {
    saved: Vec<(c_int, libc::sigaction)>,
}

impl Forwarding {
    fn install() -> Forwarding {
        let mut saved = Vec::new();
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            // A signal this process was started ignoring (SIGHUP under nohup, SIGINT for a
            // background job of a shell without job control) stays ignored, and the child
            // inherits that, as it would under plain python: a handler here would be reset to
            // the default in the child by exec.
            // SAFETY: sigaction with a null new action only reads the current one.
            let ignored = unsafe {
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut current) == 0
                    && current.sa_sigaction == libc::SIG_IGN
            };
            if ignored {
                continue;
            }
            // SAFETY: sigaction with a zeroed struct, our handler and SA_SIGINFO is well defined;
            // the old action is kept to be restored.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = forward as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    saved.push((signal, old));
                }
            }
        }
        Forwarding { saved }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        CHILD_PID.store(0, Ordering::Relaxed);
        for (signal, old) in &self.saved {
            // SAFETY: restoring an action that sigaction gave us.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    }
}

/// Checks that `python` is a CPython pyrometer supports, with pyrometer importable when the
/// child is to collect anything itself (`native`).
pub fn preflight(python: &Path, native: bool) -> Result<()> {
    let probe = "import sys\nv = sys.version_info\nif sys.implementation.name != 'cpython' or not (3, 11) <= v < (3, 16) or 't' in sys.abiflags or 'd' in sys.abiflags:\n    kind = ' (free-threaded build)' if 't' in sys.abiflags else ' (debug build)' if 'd' in sys.abiflags else ''\n    print(f'{sys.implementation.name} {v.major}.{v.minor}.{v.micro}{kind}'); sys.exit(3)\nif sys.argv[1] == 'native':\n    try:\n        import pyrometer._native\n    except ImportError as e:\n        print(e); sys.exit(4)\n";
    let output = Command::new(python)
        .args(["-c", probe, if native { "native" } else { "version" }])
        .output()
        .map_err(|e| {
            user_error(format!(
                "cannot run the interpreter {}: {e}",
                python.display()
            ))
        })?;
    let said = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match output.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(user_error(format!(
            "{} is {said}; pyrometer supports {}",
            python.display(),
            pyrometer_cpython::layout::SUPPORTED
        ))
        .into()),
        Some(4) => Err(user_error(format!(
            "{} cannot import pyrometer ({said})",
            python.display()
        ))
        .hint(format!(
            "this mode collects inside the program: install pyrometer into that interpreter \
             ({} -m pip install pyrometer); sampling, the default mode, needs nothing there",
            python.display()
        ))
        .into()),
        _ => Err(user_error(format!(
            "{} does not look like a working Python interpreter",
            python.display()
        ))
        .into()),
    }
}

/// A child that is running, with the parent's signal forwarding in place.
pub struct Running {
    child: std::process::Child,
    started: Instant,
    forwarding: Forwarding,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to end.
    pub fn wait(mut self) -> Result<Outcome> {
        let status = self
            .child
            .wait()
            .context("waiting for the profiled program")?;
        let wall = self.started.elapsed();
        drop(self.forwarding);
        use std::os::unix::process::ExitStatusExt;
        let exit = match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Code(1),
        };
        Ok(Outcome { exit, wall })
    }
}

/// Starts the child.
pub fn spawn(request: &Request) -> Result<Running> {
    let mut command = Command::new(request.python);
    if request.native {
        command.arg("-c").arg(BOOTSTRAP);
    } else {
        command
            .arg("-c")
            .arg(standalone_bootstrap())
            .env("PYROMETER_CHILD_SOURCE", CHILD_SOURCE);
    }
    command
        .args(request.args)
        .env("PYROMETER_CHILD_DIR", request.work_dir)
        .env("PYROMETER_CHILD_MODE", request.mode)
        .env(
            "PYROMETER_CHILD_BUILTINS",
            if request.builtins { "1" } else { "0" },
        )
        .env(
            "PYROMETER_CHILD_CHECKPOINT",
            request.checkpoint_seconds.to_string(),
        )
        .env("PYROMETER_CHILD_KIND", request.target.kind())
        .env("PYROMETER_CHILD_TARGET", request.target.value())
        .envs(request.env.iter().map(|(k, v)| (k, v)));
    let forwarding = Forwarding::install();
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| user_error(format!("cannot start {}: {e}", request.python.display())))?;
    CHILD_PID.store(child.id() as i32, Ordering::Relaxed);
    Ok(Running {
        child,
        started,
        forwarding,
    })
}

/// The files the child leaves in the work directory.
pub struct Leftovers {
    pub profile: Option<PathBuf>,
    pub error: Option<String>,
    pub started: bool,
}

pub fn leftovers(work_dir: &Path) -> Leftovers {
    let profile = work_dir.join("profile.pyro");
    let error = std::fs::read_to_string(work_dir.join("error.txt"))
        .ok()
        .map(|s| s.trim().to_string());
    Leftovers {
        profile: profile.is_file().then_some(profile),
        error,
        started: work_dir.join("started").exists(),
    }
}

/// Ends this process the way the child ended: the same exit status, or the same signal.
pub fn exit_like(exit: Exit) -> i32 {
    match exit {
        Exit::Code(code) => code,
        Exit::Signal(signal) => {
            // Signals that end a process without a core dump are re-raised, so that a shell (or
            // a parent process) sees exactly what the program did; others become 128 + signal.
            if [
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGHUP,
                libc::SIGKILL,
                libc::SIGPIPE,
                libc::SIGUSR1,
                libc::SIGUSR2,
                libc::SIGALRM,
            ]
            .contains(&signal)
            {
                use std::io::Write;
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                // SAFETY: resetting the disposition and signalling ourselves is well defined.
                unsafe {
                    libc::signal(signal, libc::SIG_DFL);
                    libc::raise(signal);
                }
            }
            128 + signal
        }
    }
}
