"""Benchmark 2: cold import of the app against a bare Chalice app importing boto3."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BARE = "import boto3, chalice; app = chalice.Chalice('bare')"
APP = "import app"


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - start


def run(rounds: int = 9) -> dict[str, Any]:
    _time(APP)
    _time(BARE)  # warm the file cache for both
    app_times, bare_times = [], []
    for _ in range(rounds):  # interleaved so machine noise hits both alike
        bare_times.append(_time(BARE))
        app_times.append(_time(APP))
    app_med, bare_med = statistics.median(app_times), statistics.median(bare_times)
    return {"appMedianMs": round(app_med * 1000, 1), "bareMedianMs": round(bare_med * 1000, 1),
            "ratio": round(app_med / bare_med, 2), "rounds": rounds}
