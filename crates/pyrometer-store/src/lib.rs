//! pyrometer's history store: every benchmark run, with its environment, results and raw
//! samples, in one SQLite file (`.pyrometer/store.sqlite` by default).
//!
//! The file says what it is (`PRAGMA application_id`) and which schema it has
//! (`PRAGMA user_version`); older schemas are migrated forward in a transaction, a newer one is
//! refused, and so is a database that is not pyrometer's. Every write is one transaction, so a
//! run killed while saving leaves the store as it was before the run (SQLite's journal rolls
//! the half-written transaction back on the next open).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pyrometer_bench::result::Document;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

/// "Pyro" in ASCII: the application id of pyrometer's store files.
pub const APPLICATION_ID: i32 = 0x5079_726f;
/// The schema this build writes.
pub const SCHEMA_VERSION: i32 = 1;
/// The store's file name inside the settings directory.
pub const FILE_NAME: &str = "store.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is corrupt or not a database")]
    Corrupt { path: String },
    #[error("{path} is an SQLite database, but not pyrometer's store")]
    Foreign { path: String },
    #[error(
        "{path} was written by a newer pyrometer (store schema {found}; this one knows up to {known})"
    )]
    Newer {
        path: String,
        found: i32,
        known: i32,
    },
    #[error("{path} is locked by another process")]
    Locked { path: String },
    #[error("cannot use {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("no saved run named '{0}'")]
    NoSuchName(String),
    #[error("no run #{0} in the store")]
    NoSuchRun(i64),
    #[error("the store has no runs yet")]
    Empty,
    #[error("a run in the store cannot be read: {0}")]
    Document(String),
}

/// One line of `pyrometer history`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub id: i64,
    pub started_unix_ns: i64,
    pub kind: String,
    /// The names this run is saved under.
    pub names: Vec<String>,
    pub benchmarks: Vec<String>,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub python_version: Option<String>,
    pub machine: String,
}

/// One benchmark of one run, for its history over time.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultPoint {
    pub run_id: i64,
    pub started_unix_ns: i64,
    pub median: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: i64,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
}

/// The schema, one migration per version: migration i takes the schema from version i to i + 1.
const MIGRATIONS: &[&str] = &[
    // 0 → 1
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_unix_ns INTEGER NOT NULL,
        duration_ns INTEGER NOT NULL,
        tool TEXT NOT NULL,
        kind TEXT NOT NULL,
        argv TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE TABLE environments (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        python_executable TEXT,
        python_version TEXT,
        python_implementation TEXT,
        cpu TEXT NOT NULL,
        cores INTEGER NOT NULL,
        machine TEXT NOT NULL,
        os TEXT NOT NULL,
        git_commit TEXT,
        git_dirty INTEGER,
        git_branch TEXT,
        cwd TEXT NOT NULL
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        loops INTEGER NOT NULL,
        n INTEGER NOT NULL,
        mean REAL NOT NULL,
        std REAL NOT NULL,
        median REAL NOT NULL,
        mad REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        ci_low REAL NOT NULL,
        ci_high REAL NOT NULL,
        outliers INTEGER NOT NULL,
        warnings INTEGER NOT NULL
    );
    CREATE INDEX results_by_name ON results(name, run_id);
    CREATE TABLE samples (
        result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        process INTEGER NOT NULL,
        warmup INTEGER NOT NULL,
        loops INTEGER NOT NULL,
        ns INTEGER NOT NULL,
        PRIMARY KEY (result_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE saved (
        name TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        saved_unix_ns INTEGER NOT NULL
    );",
];

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Store {
    /// The store file of a settings directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Opens the store in `dir`, creating the directory and the file if needed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        Store::open_file(&Store::path_in(dir))
    }

    /// Opens the store in `dir` if there is one.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>, StoreError> {
        let path = Store::path_in(dir);
        if !path.exists() {
            return Ok(None);
        }
        Store::open_file(&path).map(Some)
    }

    /// Opens (or creates) a store file and brings its schema up to date.
    pub fn open_file(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|e| map_error(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.prepare().map_err(|e| store.err(e))?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_error(&self.path, e)
    }

    fn prepare(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.display().to_string();
        let (app, version, tables) = {
            let q = |sql: &str| -> Result<i64, StoreError> {
                self.conn
                    .query_row(sql, [], |r| r.get(0))
                    .map_err(|e| self.err(e))
            };
            (
                q("PRAGMA application_id")? as i32,
                q("PRAGMA user_version")? as i32,
                q("SELECT count(*) FROM sqlite_schema")?,
            )
        };
        if app != APPLICATION_ID && !(app == 0 && tables == 0) {
            return Err(StoreError::Foreign { path });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path,
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        for v in version..SCHEMA_VERSION {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| map_error(&self.path, e))?;
            let step = || -> rusqlite::Result<()> {
                tx.execute_batch(MIGRATIONS[v as usize])?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", v + 1)?;
                Ok(())
            };
            step().map_err(|e| map_error(&self.path, e))?;
            tx.commit().map_err(|e| map_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Saves a run (under `name` too, when given, replacing an earlier run of that name) in one
    /// transaction; returns its id.
    pub fn save(&mut self, doc: &Document, name: Option<&str>) -> Result<i64, StoreError> {
        let json = serde_json::to_string(doc).map_err(|e| StoreError::Document(e.to_string()))?;
        let path = self.path.clone();
        let fail = |e| map_error(&path, e);
        let tx = self.conn.transaction().map_err(fail)?;
        let kind = serde_json::to_value(doc.method.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO runs (started_unix_ns, duration_ns, tool, kind, argv, document)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                doc.started_unix_ns as i64,
                doc.duration_ns as i64,
                doc.tool,
                kind,
                serde_json::to_string(&doc.environment.argv).unwrap_or_default(),
                json
            ],
        )
        .map_err(fail)?;
        let run_id = tx.last_insert_rowid();
        let env = &doc.environment;
        let py = env.python.as_ref();
        tx.execute(
            "INSERT INTO environments (run_id, python_executable, python_version,
                python_implementation, cpu, cores, machine, os, git_commit, git_dirty, git_branch, cwd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                run_id,
                py.map(|p| p.executable.clone()),
                py.map(|p| p.version.clone()),
                py.map(|p| p.implementation.clone()),
                env.cpu,
                env.cores,
                env.machine,
                env.os,
                env.git.as_ref().map(|g| g.commit.clone()),
                env.git.as_ref().map(|g| g.dirty),
                env.git.as_ref().and_then(|g| g.branch.clone()),
                env.cwd,
            ],
        )
        .map_err(fail)?;
        for (position, b) in doc.benchmarks.iter().enumerate() {
            let s = &b.summary;
            tx.execute(
                "INSERT INTO results (run_id, position, name, definition, loops, n, mean, std,
                    median, mad, min, max, ci_low, ci_high, outliers, warnings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    run_id,
                    position as i64,
                    b.name,
                    serde_json::to_string(&b.definition).unwrap_or_default(),
                    b.loops as i64,
                    s.n as i64,
                    s.mean,
                    s.std,
                    s.median,
                    s.mad,
                    s.min,
                    s.max,
                    s.ci_low,
                    s.ci_high,
                    b.outliers.indices.len() as i64,
                    b.warnings.len() as i64,
                ],
            )
            .map_err(fail)?;
            let result_id = tx.last_insert_rowid();
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO samples (result_id, seq, process, warmup, loops, ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(fail)?;
            for (seq, sample) in b.samples.iter().enumerate() {
                insert
                    .execute(params![
                        result_id,
                        seq as i64,
                        sample.process,
                        sample.warmup,
                        sample.loops as i64,
                        sample.ns as i64
                    ])
                    .map_err(fail)?;
            }
        }
        if let Some(name) = name {
            tx.execute(
                "INSERT INTO saved (name, run_id, saved_unix_ns) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET run_id = excluded.run_id, saved_unix_ns = excluded.saved_unix_ns",
                params![name, run_id, now_ns()],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(run_id)
    }

    /// The run saved under `name`.
    pub fn saved(&self, name: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT run_id FROM saved WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NoSuchName(name.to_string()))
    }

    /// The saved names, with their runs, newest first.
    pub fn names(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, run_id FROM saved ORDER BY saved_unix_ns DESC, name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The most recent run, if `exclude` is not it (a run compared with its baseline should not
    /// be its own baseline).
    pub fn latest(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT max(id) FROM runs", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::Empty)
    }

    /// The document of run `id`.
    pub fn load(&self, id: i64) -> Result<Document, StoreError> {
        let text: String = self
            .conn
            .query_row("SELECT document FROM runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::NoSuchRun(id))?;
        pyrometer_bench::parse_document(&text, &format!("run #{id}"))
            .map_err(|e| StoreError::Document(e.to_string()))
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunInfo>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.started_unix_ns, r.kind, e.git_commit, e.git_dirty, e.python_version, e.machine
                 FROM runs r LEFT JOIN environments e ON e.run_id = r.id
                 ORDER BY r.id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut runs: Vec<RunInfo> = stmt
            .query_map([limit as i64], |r| {
                Ok(RunInfo {
                    id: r.get(0)?,
                    started_unix_ns: r.get(1)?,
                    kind: r.get(2)?,
                    names: Vec::new(),
                    benchmarks: Vec::new(),
                    git_commit: r.get(3)?,
                    git_dirty: r.get(4)?,
                    python_version: r.get(5)?,
                    machine: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        for run in &mut runs {
            run.benchmarks = self.strings(
                "SELECT name FROM results WHERE run_id = ?1 ORDER BY position",
                run.id,
            )?;
            run.names = self.strings(
                "SELECT name FROM saved WHERE run_id = ?1 ORDER BY name",
                run.id,
            )?;
        }
        Ok(runs)
    }

    fn strings(&self, sql: &str, id: i64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        stmt.query_map([id], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))
    }

    /// One benchmark's results over the runs, newest first.
    pub fn history_of(&self, name: &str, limit: usize) -> Result<Vec<ResultPoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.started_unix_ns, x.median, x.ci_low, x.ci_high, x.n, e.git_commit, e.git_dirty
                 FROM results x JOIN runs r ON r.id = x.run_id
                 LEFT JOIN environments e ON e.run_id = r.id
                 WHERE x.name = ?1 ORDER BY r.id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![name, limit as i64], |r| {
            Ok(ResultPoint {
                run_id: r.get(0)?,
                started_unix_ns: r.get(1)?,
                median: r.get(2)?,
                ci_low: r.get(3)?,
                ci_high: r.get(4)?,
                n: r.get(5)?,
                git_commit: r.get(6)?,
                git_dirty: r.get(7)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// The raw samples stored for a run's benchmark, in order: (process, warmup, loops, ns).
    pub fn samples(
        &self,
        run_id: i64,
        name: &str,
    ) -> Result<Vec<(i64, bool, i64, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.process, s.warmup, s.loops, s.ns FROM samples s
                 JOIN results x ON x.id = s.result_id
                 WHERE x.run_id = ?1 AND x.name = ?2 ORDER BY s.seq",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![run_id, name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }
}

fn map_error(path: &Path, e: rusqlite::Error) -> StoreError {
    let path = path.display().to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        _ => StoreError::Io {
            path,
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
