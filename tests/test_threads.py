"""Every thread is traced under `pyrometer run`, including threads started after tracing
began; the counts are exact by construction."""

from __future__ import annotations

import json

from conftest import SCRIPTS, saved_profile
from pyrometer import ProfileData


def test_thread_counts_are_exact(pyrometer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = pyrometer("run", "--mode", "trace", str(SCRIPTS / "threads.py"))
    assert result.returncode == 0, str(result)
    assert "Threads" in result.stdout and "worker-2" in result.stdout
    doc = json.loads(ProfileData.load(str(saved_profile(result))).render("json"))["profile"]
    strings, frames, locations, stacks = doc["strings"], doc["frames"], doc["locations"], doc["stacks"]
    calls = next(c["values"] for c in doc["samples"]["columns"] if c["metric"] == "calls")
    per_thread: dict[str, dict[str, int]] = {}
    for stack, thread, n in zip(doc["samples"]["stack"], doc["samples"]["thread"], calls, strict=True):
        name = strings[frames[locations[stacks[stack]["location"]]["frame"]]["qualname"]]
        thread_name = strings[doc["threads"][thread]["name"]]
        per_thread.setdefault(thread_name, {}).setdefault(name, 0)
        per_thread[thread_name][name] += n
    assert per_thread["early"]["leaf"] == 100
    for k in range(3):
        assert per_thread[f"worker-{k}"]["worker"] == 1
        assert per_thread[f"worker-{k}"]["leaf"] == 1000 * (k + 1)
    assert per_thread["MainThread"]["leaf"] == 10
    assert per_thread["MainThread"]["main"] == 1
    main = [t for t in doc["threads"] if t["is_main"]]
    assert len(main) == 1 and strings[main[0]["name"]] == "MainThread"
