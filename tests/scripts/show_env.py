"""Prints what a program can see of how it was started, for comparison with plain python."""

import json
import os
import re
import sys

import __main__

main_globals = sorted(k for k in vars(__main__) if k not in ("json", "os", "re", "sys", "__main__"))
info = {
    "argv": sys.argv,
    "path0": sys.path[0],
    "name": __name__,
    "file": globals().get("__file__"),
    "co_filename": sys._getframe().f_code.co_filename,
    "main_is_module": sys.modules["__main__"] is __main__,
    "main_globals": main_globals,
    "loader": type(globals().get("__loader__")).__name__,
    "spec": re.sub(" at 0x[0-9a-f]+", "", repr(globals().get("__spec__"))),
    "package": globals().get("__package__"),
    "cached": globals().get("__cached__"),
    "env_leak": sorted(k for k in os.environ if k.startswith("PYROMETER_CHILD")),
    "stdin_tty": sys.stdin.isatty(),
    "stdin": sys.stdin.read(),
}
print(json.dumps(info, sort_keys=True))
sys.stderr.write("to stderr\n")
