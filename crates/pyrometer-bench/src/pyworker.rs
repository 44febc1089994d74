//! Python worker processes: `python -S -c <_bench_worker.py>`, one per process of the plan. The
//! worker's source is compiled into this crate, so any interpreter can be a worker, with or
//! without pyrometer installed. Requests and answers are JSON lines (the protocol is described
//! at the top of `python/pyrometer/_bench_worker.py`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::BenchError;
use crate::result::PythonInfo;
use crate::run::{Spawner, Worker};

/// The worker's source, run with `python -c`.
pub const WORKER_SOURCE: &str = include_str!("../../../python/pyrometer/_bench_worker.py");

/// What the workers load.
#[derive(Clone, Debug)]
pub enum Load {
    /// Statements with their setups (timeit's kind).
    Statements(Vec<(String, String)>),
    /// Functions of a file: those named, or every `bench_*` one.
    File { path: PathBuf, names: Vec<String> },
}

/// One worker process.
pub struct PythonWorker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
}

impl PythonWorker {
    fn spawn(python: &PathBuf) -> Result<PythonWorker, BenchError> {
        let mut child = Command::new(python)
            .arg("-S") // the worker imports `site` itself, once it handles Ctrl-C
            .arg("-c")
            .arg(WORKER_SOURCE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Spawn {
                python: python.display().to_string(),
                reason: match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".into(),
                    _ => e.to_string(),
                },
            })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(PythonWorker {
            child,
            stdin,
            stdout,
            python: python.clone(),
        })
    }

    /// Sends one request and reads its answer; a worker error becomes [`BenchError::Code`].
    fn request(&mut self, request: &Value) -> Result<Value, BenchError> {
        let mut line = request.to_string();
        line.push('\n');
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        let mut answer = String::new();
        let read = match sent {
            Ok(()) => self.stdout.read_line(&mut answer),
            Err(e) => Err(e),
        };
        if !matches!(read, Ok(n) if n > 0) {
            return Err(self.died());
        }
        let value: Value = serde_json::from_str(&answer).map_err(|_| {
            BenchError::Protocol(format!(
                "the worker answered {:?}",
                answer.chars().take(80).collect::<String>()
            ))
        })?;
        if let Some(message) = value.get("error").and_then(Value::as_str) {
            return Err(BenchError::Code(message.to_string()));
        }
        Ok(value)
    }

    fn died(&mut self) -> BenchError {
        self.stdin = None;
        let status = self.child.wait().ok();
        let how = match status {
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(c), _) => format!("with exit status {c}"),
                    (None, Some(sig)) => format!("by signal {sig}"),
                    _ => String::new(),
                }
            }
            None => String::new(),
        };
        BenchError::WorkerDied {
            python: self.python.display().to_string(),
            how,
        }
    }

    /// Loads the candidates; returns their names and the interpreter's facts.
    pub fn load(
        &mut self,
        load: &Load,
        timer: &str,
        gc: bool,
    ) -> Result<(Vec<String>, PythonInfo), BenchError> {
        let request = match load {
            Load::Statements(list) => json!({
                "op": "load", "kind": "statement", "timer": timer, "gc": gc,
                "candidates": list.iter().map(|(stmt, setup)| json!({"stmt": stmt, "setup": setup})).collect::<Vec<_>>(),
            }),
            Load::File { path, names } => json!({
                "op": "load", "kind": "file", "timer": timer, "gc": gc,
                "path": path.to_string_lossy(), "names": names,
            }),
        };
        let answer = self.request(&request)?;
        let names = answer
            .get("names")
            .and_then(|n| serde_json::from_value(n.clone()).ok())
            .ok_or_else(|| BenchError::Protocol("the worker's answer has no names".into()))?;
        let python = answer
            .get("python")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default();
        Ok((names, python))
    }
}

impl Worker for PythonWorker {
    fn time(&mut self, candidate: usize, loops: u64) -> Result<u64, BenchError> {
        let answer =
            self.request(&json!({"op": "time", "candidate": candidate, "loops": loops}))?;
        answer
            .get("ns")
            .and_then(Value::as_u64)
            .ok_or_else(|| BenchError::Protocol("the worker's answer has no time".into()))
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        // End of input ends the worker; if it is stuck in the user's code, kill it.
        self.stdin = None;
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the worker of each process. The first one is started by [`PythonSpawner::probe`],
/// which learns the candidates' names (a file's `bench_*` functions) and the interpreter.
pub struct PythonSpawner {
    pub python: PathBuf,
    pub load: Load,
    pub timer: String,
    pub gc: bool,
    first: Option<PythonWorker>,
}

impl PythonSpawner {
    pub fn new(python: PathBuf, load: Load, timer: &str, gc: bool) -> PythonSpawner {
        PythonSpawner {
            python,
            load,
            timer: timer.into(),
            gc,
            first: None,
        }
    }

    /// Starts the first worker and loads the code: errors in it show here, before any timing.
    pub fn probe(&mut self) -> Result<(Vec<String>, PythonInfo), BenchError> {
        let mut worker = PythonWorker::spawn(&self.python)?;
        let loaded = worker.load(&self.load, &self.timer, self.gc)?;
        self.first = Some(worker);
        Ok(loaded)
    }
}

impl Spawner for PythonSpawner {
    fn spawn(&mut self, process: u32) -> Result<Box<dyn Worker + '_>, BenchError> {
        if process == 0
            && let Some(first) = self.first.take()
        {
            return Ok(Box::new(first));
        }
        let mut worker = PythonWorker::spawn(&self.python)?;
        worker.load(&self.load, &self.timer, self.gc)?;
        Ok(Box::new(worker))
    }
}
