"""Benchmark 2: cold import of the app against a bare Chalice app importing boto3.

Measured as deployed: `make package` ships each module's bytecode (infra/bytecode.py),
so the app is imported from a copy of app.py and chalicelib/ compiled the same way (the
bare app's libraries have theirs from pip). The import from source, which compiles every
module, is reported beside it."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BARE = "import boto3, chalice; app = chalice.Chalice('bare')"
APP = "import app"


def _time(code: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True)
    return time.perf_counter() - start


def _packaged(into: Path) -> Path:
    from infra.bytecode import compile_tree

    shutil.copy2(ROOT / "app.py", into / "app.py")
    shutil.copytree(ROOT / "chalicelib", into / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    compile_tree(into)
    return into


def run(rounds: int = 9) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        packaged = _packaged(Path(tmp))
        for code, cwd in ((APP, packaged), (APP, ROOT), (BARE, ROOT)):
            _time(code, cwd)  # warm the file cache
        app_times, source_times, bare_times = [], [], []
        for _ in range(rounds):  # interleaved so machine noise hits all alike
            bare_times.append(_time(BARE, ROOT))
            app_times.append(_time(APP, packaged))
            source_times.append(_time(APP, ROOT))
    app_med, bare_med = statistics.median(app_times), statistics.median(bare_times)
    source_med = statistics.median(source_times)
    return {"appMedianMs": round(app_med * 1000, 1), "bareMedianMs": round(bare_med * 1000, 1),
            "ratio": round(app_med / bare_med, 2),
            "fromSourceMedianMs": round(source_med * 1000, 1),
            "fromSourceRatio": round(source_med / bare_med, 2), "rounds": rounds}
