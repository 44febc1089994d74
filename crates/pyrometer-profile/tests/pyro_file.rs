//! The .pyro file: exact round trips and clear errors for damaged files.

use pyrometer_profile::{
    Counter, Exit, FileError, FrameKind, Meta, Metric, Mode, Profile, ProfileBuilder, PythonInfo,
    Series, json, pyro,
};

fn sample_profile() -> Profile {
    let meta = Meta {
        tool: "pyrometer test".into(),
        mode: Mode::Trace,
        command: vec!["script.py".into(), "--n".into(), "3".into()],
        cwd: "/tmp".into(),
        python: Some(PythonInfo {
            version: "3.12.1".into(),
            implementation: "cpython".into(),
            executable: "/usr/bin/python3".into(),
        }),
        host: "box".into(),
        start_unix_ns: 1_700_000_000_000_000_000,
        duration_ns: 1_234_567,
        sample_interval_ns: None,
        clock: "tsc".into(),
        exit: Some(Exit::Signal(15)),
        counters: vec![Counter {
            name: "dropped".into(),
            value: 3,
        }],
        notes: vec!["a note".into()],
    };
    let mut b = ProfileBuilder::new(meta);
    let p = b.process(42, None, vec!["python".into()]);
    let t0 = b.thread(p, 1, 42, "MainThread", true);
    let t1 = b.thread(p, 2, 43, "worker", false);
    let f = b.frame("f", "Outer.f", "/src/a.py", 3, FrameKind::Python);
    let len = b.frame(
        "<built-in method builtins.len>",
        "builtins.len",
        "~",
        0,
        FrameKind::Builtin,
    );
    let (lf, ll) = (b.location(f, 0), b.location(len, 0));
    for i in 0..2000u64 {
        let extra = b.frame(
            &format!("g{i}"),
            &format!("g{i}"),
            "/src/b.py",
            i as u32,
            FrameKind::Python,
        );
        let le = b.location(extra, 0);
        let s = b.stack_from_path(&[lf, le, ll]).unwrap();
        b.add(
            s,
            if i % 2 == 0 { t0 } else { t1 },
            Metric::SelfTime,
            i * 1000 + 7,
        );
        b.add(s, t0, Metric::Calls, i);
    }
    b.source("/src/a.py", 3, &["def f():", "    return len([])"]);
    b.add_series(Series {
        name: "rss".into(),
        unit: "bytes".into(),
        points: vec![(0, 1.5), (10, 2.5)],
    });
    b.finish()
}

#[test]
fn round_trip_is_exact() {
    let profile = sample_profile();
    let bytes = pyro::encode(&profile);
    assert_eq!(pyro::decode(&bytes).unwrap(), profile);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/run.pyro");
    pyro::write(&path, &profile).unwrap();
    assert_eq!(pyro::read(&path).unwrap(), profile);
}

#[test]
fn json_round_trip_is_exact_and_readable_as_a_profile() {
    let profile = sample_profile();
    let text = json::to_json(&profile);
    assert!(text.contains("\"format\": \"pyrometer-profile\""));
    assert_eq!(json::from_json(text.as_bytes()).unwrap(), profile);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    std::fs::write(&path, text).unwrap();
    assert_eq!(pyro::read(&path).unwrap(), profile);
}

#[test]
fn compression_keeps_files_small() {
    let profile = sample_profile();
    let (binary, text) = (pyro::encode(&profile).len(), json::to_json(&profile).len());
    assert!(
        binary * 8 < text,
        "{binary} bytes against {text} bytes of JSON"
    );
}

#[test]
fn damaged_files_are_clear_errors() {
    let bytes = pyro::encode(&sample_profile());
    assert!(matches!(
        pyro::decode(b"hello world, not a profile"),
        Err(FileError::NotAProfile)
    ));
    assert!(matches!(pyro::decode(&[]), Err(FileError::NotAProfile)));
    for cut in [10, 31, 40, bytes.len() - 1] {
        let err = pyro::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, FileError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
    }
    let mut newer = bytes.clone();
    newer[8] = 99;
    assert!(matches!(
        pyro::decode(&newer),
        Err(FileError::TooNew { found: 99 })
    ));
    // Flip bytes in the compressed body: the zstd checksum or the decoder must notice.
    for at in [40, bytes.len() / 2, bytes.len() - 2] {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x5a;
        let err = pyro::decode(&corrupt).unwrap_err();
        assert!(matches!(err, FileError::Corrupt(_)), "flip at {at}: {err}");
    }
    // A structurally valid file whose tables do not agree.
    let mut bad = sample_profile();
    bad.stacks[0].location = 9999;
    let err = pyro::decode(&pyro::encode(&bad)).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    let mut truncated_json = json::to_json(&sample_profile());
    truncated_json.truncate(100);
    assert!(matches!(
        json::from_json(truncated_json.as_bytes()),
        Err(FileError::Corrupt(_))
    ));
}

#[test]
fn version_1_files_still_read() {
    // A version 1 payload is a version 2 payload without the trailing `sources` table (an
    // empty sequence is the single byte 0 in postcard).
    let mut profile = sample_profile();
    profile.sources.clear();
    let v2 = pyro::encode(&profile);
    let raw_len = u64::from_le_bytes(v2[16..24].try_into().unwrap()) as usize;
    let mut payload = Vec::new();
    std::io::Read::read_to_end(
        &mut zstd::stream::Decoder::new(&v2[32..]).unwrap(),
        &mut payload,
    )
    .unwrap();
    assert_eq!((payload.len(), payload.last()), (raw_len, Some(&0)));
    payload.pop();
    let mut v1 = pyro::SIGNATURE.to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&0u16.to_le_bytes());
    v1.extend_from_slice(&0u32.to_le_bytes());
    v1.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    v1.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    v1.extend_from_slice(&payload);
    assert_eq!(pyro::decode(&v1).unwrap(), profile);
}

#[test]
fn source_lines_are_found_by_file_and_line() {
    let profile = sample_profile();
    let file = profile.frames[0].file;
    assert_eq!(profile.source_line(file, 4), Some("    return len([])"));
    assert_eq!(profile.source_line(file, 2), None);
    assert_eq!(profile.source_line(file, 5), None);
}

#[test]
fn one_process_of_several_is_kept_apart() {
    let mut b = ProfileBuilder::new(Meta::default());
    let parent = b.process(100, None, vec!["main.py".into()]);
    let child = b.process(200, Some(parent), vec!["-c".into(), "work()".into()]);
    let t_parent = b.thread(parent, 1, 100, "MainThread", true);
    let t_child = b.thread(child, 1, 200, "MainThread", true);
    let f = b.frame("f", "f", "/src/a.py", 1, FrameKind::Python);
    let l = b.location(f, 3);
    let s = b.stack_from_path(&[l]).unwrap();
    b.add(s, t_parent, Metric::CpuSamples, 30);
    b.add(s, t_child, Metric::CpuSamples, 70);
    let profile = b.finish();
    assert_eq!(profile.total(Metric::CpuSamples), 100);

    let only_child = profile.only_process(200).unwrap();
    assert_eq!(only_child.total(Metric::CpuSamples), 70);
    assert!(only_child.samples.thread.iter().all(|&t| t == t_child));
    assert_eq!(only_child.processes, profile.processes);
    only_child.validate().unwrap();
    assert_eq!(
        profile.only_process(100).unwrap().total(Metric::CpuSamples),
        30
    );
    assert!(profile.only_process(300).is_none());
}
