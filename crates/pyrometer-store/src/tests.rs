use super::*;
use pyrometer_bench::analysis::analyze;
use pyrometer_bench::result::{Definition, Environment, GitInfo, Kind, Sample};
use pyrometer_bench::run::{Plan, method};

fn doc(names: &[&str], base_ns: u64) -> Document {
    let m = method(Kind::Statement, &Plan::fast(), "perf_counter_ns");
    let benchmarks = names
        .iter()
        .map(|name| {
            let samples = (0..12)
                .map(|i| Sample {
                    process: i / 3,
                    warmup: i % 3 == 0,
                    loops: 10,
                    ns: base_ns + i as u64,
                })
                .collect();
            analyze(
                name.to_string(),
                Definition::Statement {
                    stmt: name.to_string(),
                    setup: "pass".into(),
                },
                10,
                vec![[1, 5]],
                samples,
                &m,
            )
        })
        .collect();
    Document {
        format: pyrometer_bench::result::FORMAT.into(),
        version: pyrometer_bench::result::VERSION,
        tool: "pyrometer test".into(),
        started_unix_ns: 1,
        duration_ns: 2,
        environment: Environment {
            git: Some(GitInfo {
                commit: "abc".into(),
                dirty: true,
                branch: None,
            }),
            machine: "box".into(),
            ..Environment::default()
        },
        method: m,
        benchmarks,
        comparisons: vec![],
    }
}

#[test]
fn save_load_name_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join(".pyrometer")).unwrap();
    let a = store.save(&doc(&["x", "y"], 1000), None).unwrap();
    let b = store.save(&doc(&["x"], 2000), Some("main")).unwrap();
    assert!(b > a);
    assert_eq!(store.saved("main").unwrap(), b);
    assert_eq!(store.latest().unwrap(), b);
    let loaded = store.load(a).unwrap();
    assert_eq!(loaded.benchmarks.len(), 2);
    assert_eq!(
        loaded.benchmarks[0].samples,
        doc(&["x"], 1000).benchmarks[0].samples
    );
    // Saving again under the same name moves the name.
    let c = store.save(&doc(&["x"], 3000), Some("main")).unwrap();
    assert_eq!(store.saved("main").unwrap(), c);
    assert_eq!(store.names().unwrap(), vec![("main".to_string(), c)]);
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [c, b, a]);
    assert_eq!(runs[0].names, ["main"]);
    assert_eq!(runs[2].benchmarks, ["x", "y"]);
    assert_eq!(runs[0].git_dirty, Some(true));
    let history = store.history_of("x", 10).unwrap();
    assert_eq!(history.len(), 3);
    assert!(history[0].median > history[2].median);
    let samples = store.samples(a, "y").unwrap();
    assert_eq!(samples.len(), 12);
    assert_eq!(samples[1], (0, false, 10, 1001));
    assert!(matches!(
        store.saved("nope"),
        Err(StoreError::NoSuchName(_))
    ));
    assert!(matches!(store.load(999), Err(StoreError::NoSuchRun(999))));
    drop(store);
    // Reopening keeps everything.
    let store = Store::open_existing(&dir.path().join(".pyrometer"))
        .unwrap()
        .unwrap();
    assert_eq!(store.runs(10).unwrap().len(), 3);
    assert!(Store::open_existing(dir.path()).unwrap().is_none());
}

#[test]
fn empty_store_has_no_latest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(store.latest(), Err(StoreError::Empty)));
}

#[test]
fn corrupt_foreign_and_newer_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(
        &path,
        b"this is not a database at all, just text, long enough ........",
    )
    .unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().ends_with("is corrupt or not a database"));

    std::fs::remove_file(&path).unwrap();
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (x)").unwrap();
    }
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");

    std::fs::remove_file(&path).unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 7).unwrap();
    }
    let err = Store::open(dir.path()).err().unwrap();
    assert!(
        matches!(
            err,
            StoreError::Newer {
                found: 7,
                known: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_failed_save_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.save(&doc(&["kept"], 1000), Some("main")).unwrap();
    // A trigger makes the 5th sample insert fail, half-way through the run.
    store
        .conn
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON samples WHEN NEW.ns = 5004
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    assert!(store.save(&doc(&["lost"], 5000), Some("main")).is_err());
    let count = |table: &str| -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("runs"), 1);
    assert_eq!(count("environments"), 1);
    assert_eq!(count("results"), 1);
    assert_eq!(count("samples"), 12);
    assert_eq!(store.saved("main").unwrap(), 1);
}
