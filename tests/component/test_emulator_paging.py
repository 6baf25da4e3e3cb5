"""The local stack's emulator pages through a large global index partition as moto
does, reading each page's items rather than the whole partition for each page
(devstack/moto_patches/queries.py, _Window)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_paging_a_large_index_partition_answers_as_moto_and_reads_the_page():
    """Ten pagings (limits, both directions, 1 MB pages, sort key conditions, a filter,
    COUNT, a projection) with items put, moved, re-keyed and deleted between pages:
    every page the same with and without the patches; and moto's query sorted a few
    times a page's items with them, the whole partition without; and the items answered
    are not kept after (moto lists every Item it makes)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.emulator_paging"],
                         capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["pagings"] == 10 and got["differ"] == [], got["differ"]
    pages = got["pages"]
    assert pages[0] > 80 and pages[9] > 140, pages  # Limit 7 and 4 over ~590 items
    assert pages[2] == pages[3] == 2, pages  # 1 MB pages: the size cap ended the first
    patched, shipped = got["sortedMost"]["patched"], got["sortedMost"]["shipped"]
    assert min(shipped) > 580, shipped
    # Limit 7, Limit 10 within a BETWEEN, Limit 4: at most the window widened once.
    assert patched[0] <= 4 * (7 + 3) and patched[4] <= 4 * (10 + 3), patched
    assert patched[9] <= 4 * (4 + 3), patched
    # moto keeps a copy of every item it answers for good; patched, none
    assert got["itemsKept"]["patched"] == 0 and got["itemsKept"]["shipped"] > 1000, got
