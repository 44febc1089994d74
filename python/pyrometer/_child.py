"""The bootstrap of ``pyrometer run``'s child interpreter.

The parent runs ``python -c "import pyrometer._child; pyrometer._child.main()" ARGS...`` and
passes its instructions in ``PYROMETER_CHILD_*`` environment variables, which are removed
before the program starts. The program then runs as ``python`` would run it: the same
``sys.argv``, ``sys.path[0]``, ``__main__`` module, standard streams and exit status.

In sample mode (without ``--memory``) nothing is collected in this process, the parent reads
its stacks from outside, and this file is all the child needs: the parent passes its text in
``PYROMETER_CHILD_SOURCE`` and runs it, so the interpreter need not have pyrometer installed.
It then imports nothing of pyrometer's.

What the tracer collects is written to the work directory the parent gave: ``profile.pyro``;
``error.txt`` (one line) when the program cannot start (no such module, a syntax error);
``started`` once the program is about to run.
"""

import os
import sys

_PRELOADED = frozenset(sys.modules)

# The names the interpreter puts in ``__main__`` before running anything.
_MAIN_KEYS = ("__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__", "__builtins__")


def _fail(work_dir: str, message: str) -> None:
    with open(os.path.join(work_dir, "error.txt"), "w", encoding="utf-8") as f:
        f.write(message)
    raise SystemExit(2)


def _syntax_error(target: str, error: SyntaxError) -> str:
    where = f"{target}, line {error.lineno}" if error.lineno else target
    return f"cannot run {where}: {error.msg}"


# Python stopped setting `__cached__` on `__main__` in 3.15.
_SETS_CACHED = sys.version_info < (3, 15)


def _module_code(work_dir: str, name: str, globals_: dict) -> object:
    """What ``runpy._run_module_as_main`` does before it runs the module's code."""
    import runpy

    try:
        if name == "__main__":  # a directory or zip file given as the script
            _, spec, code = runpy._get_main_module_details(runpy._Error)
        else:
            _, spec, code = runpy._get_module_details(name, runpy._Error)
    except runpy._Error as e:
        _fail(work_dir, f"cannot run module '{name}': {e}")
    except SyntaxError as e:
        _fail(work_dir, _syntax_error(e.filename or name, e))
    globals_.update(
        __name__="__main__",
        __file__=spec.origin,
        __doc__=None,
        __loader__=spec.loader,
        __package__=spec.parent,
        __spec__=spec,
    )
    if _SETS_CACHED:
        globals_["__cached__"] = spec.cached
    return code


def _nested_code(code: object) -> list[object]:
    """A code object and every code object compiled with it (functions, classes, lambdas and
    comprehensions, at any depth), found in their ``co_consts``."""
    found = [code]
    for each in found:
        found.extend(c for c in each.co_consts if type(c) is type(code))
    return found


def _start_lines(work_dir: str, kind: str, target: str, path: str, code: object) -> None:
    """Lines mode: measures the program's own code (files under its directory, or what the
    --include/--exclude globs say, or only @profile functions) and provides ``profile``. The
    ``-c`` code is measured as the code objects compiled from its text: other code without a
    file of its own (``<string>``: dataclass and namedtuple methods, ``exec``) is not."""
    import builtins

    from pyrometer import _lines, _native

    env = os.environ
    include = [p for p in env.pop("PYROMETER_CHILD_INCLUDE", "").split("\n") if p]
    exclude = [p for p in env.pop("PYROMETER_CHILD_EXCLUDE", "").split("\n") if p]
    decorated = env.pop("PYROMETER_CHILD_DECORATED", "0") == "1"
    if os.path.isdir(path):
        roots = [path, os.path.realpath(path)]
    else:
        roots = [os.path.dirname(path), os.path.dirname(os.path.realpath(path))]
    codes = _nested_code(code) if kind == "code" and not decorated else []
    sources = [("<string>", target)] if kind == "code" else []
    # The standard library and pyrometer itself are never measured unless --include names them.
    excluded = [os.path.dirname(os.__file__), os.path.dirname(_native.__file__)]
    try:
        _native.child_lines_start(roots, codes, include, exclude, excluded, sources, decorated)
    except _native.PyrometerError as e:
        _fail(work_dir, str(e))
    builtins.profile = _lines.profile


def _at_exit_after_the_program(callback) -> None:
    """Registers ``callback`` before the program runs, so that it runs after the program's own
    atexit callbacks (and after non-daemon threads have finished). The callbacks live in the
    interpreter, not in the module: forgetting the module leaves ``sys.modules`` as the program
    expects it."""
    import atexit

    atexit.register(callback)
    if "atexit" not in _PRELOADED:
        del sys.modules["atexit"]


def _mark_started(work_dir: str) -> None:
    with open(os.path.join(work_dir, "started"), "w"):
        pass


def _run_plain(work_dir: str, code: object, globals_: dict) -> None:
    """Runs the program with nothing of pyrometer's around it, as ``python`` would: an uncaught
    exception is printed from the program's own frame on and exits with status 1; an uncaught
    KeyboardInterrupt ends the process by SIGINT, after the atexit callbacks."""
    interrupted = []

    def exit_like_python() -> None:
        if interrupted:
            import _signal

            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
            os.kill(os.getpid(), _signal.SIGINT)

    _at_exit_after_the_program(exit_like_python)
    _mark_started(work_dir)
    try:
        exec(code, globals_)
    except SystemExit:
        raise
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            interrupted.append(True)
        # This frame is the traceback's first entry: the program's frames follow it.
        traceback = e.__traceback__.tb_next if e.__traceback__ is not None else None
        sys.excepthook(type(e), e.with_traceback(traceback), traceback)
        raise SystemExit(1) from None


def main() -> None:
    env = os.environ
    work_dir = env.pop("PYROMETER_CHILD_DIR")
    # In sample mode the parent reads the stacks from outside: the child only runs the program.
    mode = env.pop("PYROMETER_CHILD_MODE", "trace")
    trace = mode == "trace"
    # Memory mode, or sample mode with --memory: the mean bytes between sampled allocations
    # (0: every allocation); absent when memory is not profiled.
    memory_interval = env.pop("PYROMETER_CHILD_MEMORY_INTERVAL", None)
    memory = int(memory_interval) if memory_interval is not None else None
    builtins = env.pop("PYROMETER_CHILD_BUILTINS", "1") == "1"
    checkpoint = float(env.pop("PYROMETER_CHILD_CHECKPOINT", "0") or 0)
    kind = env.pop("PYROMETER_CHILD_KIND")
    target = env.pop("PYROMETER_CHILD_TARGET")
    args = sys.argv[1:]

    globals_ = sys.modules["__main__"].__dict__
    for key in list(globals_):
        if key not in _MAIN_KEYS:
            del globals_[key]

    if kind == "script" and os.path.isdir(target):
        path = os.path.join(os.getcwd(), target)
        sys.argv[:] = [target, *args]
        sys.path[0] = path
        code = _module_code(work_dir, "__main__", globals_)
    elif kind == "script":
        # As python does: the working directory put before a relative path, nothing
        # normalized (`./` and `..` stay in `__file__` and in code file names).
        path = target if os.path.isabs(target) else os.path.join(os.getcwd(), target)
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as e:
            _fail(work_dir, f"cannot run '{target}': {e.strerror}")
        try:
            code = compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as e:
            _fail(work_dir, _syntax_error(target, e))
        except ValueError as e:
            _fail(work_dir, f"cannot run '{target}': {e}")
        sys.argv[:] = [target, *args]
        sys.path[0] = os.path.dirname(os.path.realpath(path))
        loader_class = sys.modules["_frozen_importlib_external"].SourceFileLoader
        globals_["__loader__"] = loader_class("__main__", path)
        globals_["__file__"] = path
        if _SETS_CACHED:
            globals_["__cached__"] = None
    elif kind == "module":
        sys.argv[:] = ["-m", *args]
        sys.path[0] = os.getcwd()
        code = _module_code(work_dir, target, globals_)
        sys.argv[0] = globals_["__file__"]
    else:
        try:
            code = compile(target, "<string>", "exec", dont_inherit=True)
        except SyntaxError as e:
            _fail(work_dir, _syntax_error("the -c code", e))
        sys.argv[:] = ["-c", *args]

    if mode == "sample" and memory is None:
        _run_plain(work_dir, code, globals_)
        return

    import _signal

    from pyrometer import _native

    _at_exit_after_the_program(_native.child_finish)
    os.register_at_fork(after_in_child=_native.child_forget)
    for signum in (_signal.SIGTERM, _signal.SIGHUP):
        if _signal.getsignal(signum) == _signal.SIG_DFL:
            _signal.signal(signum, _native.child_signal)
    os._exit = _native.child_os_exit
    if mode == "lines":
        _start_lines(work_dir, kind, target, path if kind == "script" else os.getcwd(), code)
    _mark_started(work_dir)
    _native.child_exec(code, globals_, work_dir, builtins, checkpoint, trace, memory)
