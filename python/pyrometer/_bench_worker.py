"""The worker process of ``pyrometer bench``: times Python code for the Rust side.

It uses nothing but the standard library, so that any interpreter can run it (``--python``
need not have pyrometer installed): the parent runs ``python -c <this file's source>``.

Protocol, one JSON object per line. The parent writes requests on the worker's stdin; the worker
answers on the file descriptor that was its stdout (fd 1 itself is pointed at stderr, so that
what the benchmarked code prints cannot corrupt the answers):

- ``{"op": "load", "kind": "statement", "candidates": [{"stmt": ..., "setup": ...}, ...],
  "timer": "perf_counter_ns" | "process_time_ns", "gc": false}``, or ``"kind": "file"`` with
  ``"path"`` and ``"names"`` (empty: every ``bench_*`` function) → ``{"names": [...],
  "python": {...}}``. Each candidate is run once (setup, then one loop) to report errors early.
- ``{"op": "time", "candidate": i, "loops": n}`` → ``{"ns": t}``: ``t`` nanoseconds for ``n``
  executions.
- An error answers ``{"error": "one line"}``; end of input ends the worker.
"""

import os
import signal

# Ctrl-C reaches the workers with the parent (one process group): leave at once and quietly
# (the parent reports "interrupted"). The parent starts the interpreter with -S so that no
# site import runs before this handler is in place (an interrupt there is a fatal error with
# a traceback); the site module runs now instead.
signal.signal(signal.SIGINT, lambda *_: os._exit(130))
import site  # noqa: E402

site.main()

import gc  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


class _Failure(Exception):
    """A one-line error for the parent."""


def _exception_line(what: str, error: BaseException) -> str:
    text = str(error).strip().splitlines()
    detail = f": {text[0]}" if text else ""
    return f"{what} raised {type(error).__name__}{detail}"


def _syntax_line(what: str, error: SyntaxError) -> str:
    where = f" (line {error.lineno})" if error.lineno else ""
    return f"syntax error in the {what}{where}: {error.msg}"


def _make_loop(stmt, setup, timer, globals_):
    """A function ``inner(loops) -> ns`` that runs setup once, then ``stmt`` ``loops`` times."""
    if callable(stmt):
        func = stmt

        def inner(loops: int) -> int:
            it = itertools.repeat(None, loops)
            t0 = timer()
            for _ in it:
                func()
            return timer() - t0

        return inner
    # The statement is compiled in a function body, like timeit's template, so that its names
    # are fast locals when the setup defines them.
    indent = " " * 8
    body = "\n".join(indent + line for line in stmt.splitlines()) or indent + "pass"
    set_up = "\n".join("    " + line for line in setup.splitlines()) or "    pass"
    source = (
        f"def __pyrometer_inner(__loops, __timer):\n{set_up}\n"
        f"    __it = __itertools.repeat(None, __loops)\n"
        f"    __t0 = __timer()\n"
        f"    for __i in __it:\n{body}\n"
        f"    return __timer() - __t0\n"
    )
    namespace = dict(globals_)
    namespace["__itertools"] = itertools
    exec(compile(source, "<pyrometer-bench>", "exec"), namespace)
    function = namespace["__pyrometer_inner"]
    return lambda loops: function(loops, timer)


def _load_statements(request, timer):
    inners = []
    names = []
    for candidate in request["candidates"]:
        stmt, setup = candidate.get("stmt", "pass"), candidate.get("setup", "pass")
        for what, text in (("setup", setup), ("statement", stmt)):
            try:
                compile(text, f"<{what}>", "exec")
            except SyntaxError as e:
                raise _Failure(_syntax_line(what, e)) from None
        try:
            inner = _make_loop(stmt, setup, timer, {"__name__": "__main__"})
        except SyntaxError as e:
            # Valid alone, not inside the loop's body (``return`` at module level, say).
            raise _Failure(_syntax_line("statement", e)) from None
        names.append(stmt)
        inners.append(inner)
    # Runs the setup on its own first, to tell its errors from the statement's.
    for candidate in request["candidates"]:
        namespace = {"__name__": "__main__"}
        try:
            exec(candidate.get("setup", "pass"), namespace)
        except Exception as e:
            raise _Failure(_exception_line("the setup", e)) from None
    return names, inners


def _load_file(request, timer):
    import importlib.util

    path = os.path.abspath(request["path"])
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = os.path.splitext(os.path.basename(path))[0] or "bench"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise _Failure(f"cannot import {request['path']}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except _Failure:
        raise
    except SyntaxError as e:
        where = f", line {e.lineno}" if e.lineno else ""
        raise _Failure(f"syntax error in {request['path']}{where}: {e.msg}") from None
    except Exception as e:
        raise _Failure(_exception_line(f"importing {request['path']}", e)) from None
    wanted = request.get("names") or []
    if wanted:
        missing = [n for n in wanted if not callable(getattr(module, n, None))]
        if missing:
            raise _Failure(f"{request['path']} has no function {missing[0]!r}")
        names = list(wanted)
    else:
        names = [
            name
            for name, value in vars(module).items()
            if name.startswith("bench_") and callable(value) and getattr(value, "__module__", None) == module_name
        ]
        if not names:
            raise _Failure(f"{request['path']} defines no bench_* function")
    inners = [_make_loop(getattr(module, n), "", timer, {}) for n in names]
    return names, inners


def _python_info():
    return {
        "executable": sys.executable,
        "version": ".".join(map(str, sys.version_info[:3])),
        "implementation": sys.implementation.name,
    }


def main() -> None:
    # The answers go to the original stdout; the benchmarked code's output goes to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.argv = ["-c"]

    def answer(obj) -> None:
        answers.write(json.dumps(obj) + "\n")
        answers.flush()

    inners = []
    use_gc = False
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "load":
                timer = time.process_time_ns if request.get("timer") == "process_time_ns" else time.perf_counter_ns
                use_gc = bool(request.get("gc"))
                if request.get("kind") == "file":
                    names, inners = _load_file(request, timer)
                else:
                    names, inners = _load_statements(request, timer)
                for i, inner in enumerate(inners):
                    try:
                        inner(1)
                    except Exception as e:
                        what = "the statement" if request.get("kind") != "file" else names[i]
                        raise _Failure(_exception_line(what, e)) from None
                answer({"names": names, "python": _python_info()})
            elif op == "time":
                inner = inners[request["candidate"]]
                enabled = gc.isenabled()
                if not use_gc:
                    gc.disable()
                try:
                    ns = inner(request["loops"])
                except Exception as e:
                    raise _Failure(_exception_line("the benchmarked code", e)) from None
                finally:
                    if enabled:
                        gc.enable()
                answer({"ns": ns})
            else:
                answer({"error": f"unknown request {op!r}"})
        except _Failure as e:
            answer({"error": str(e)})
        except BaseException as e:  # SystemExit, KeyboardInterrupt in the user's code
            answer({"error": _exception_line("the benchmarked code", e)})
            return


if __name__ == "__main__":
    main()
