"""The standalone build's entry point: the same ``inkwell`` command as the pip install's.

The app starts its helpers as ``sys.executable -m MODULE ARGS`` (QProcess: model import and
download, export, training). In the standalone build ``sys.executable`` is this program, so it
runs ``-m MODULE`` as Python would; a helper that needs PyTorch, which this build leaves out,
(or any other missing package) says so in one line on stderr (the line the app shows) instead of a traceback.
"""

import runpy
import sys

from app.cli import main


def run_module(module: str, args: list) -> int:
    sys.argv = [sys.argv[0], *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except ModuleNotFoundError as exc:
        from app.tools import missing_package

        message = missing_package(exc)
        if message is None:
            raise
        print(f"{module}: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "-m":
        sys.exit(run_module(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
