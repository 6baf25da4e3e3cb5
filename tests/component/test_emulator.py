"""The local stack's emulator: its DynamoDB transactions keep DynamoDB's semantics while
costing what they touch (moto's own copies the whole table each time)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_transactions_all_or_nothing_with_item_level_rollback():
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.emulator_transactions"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["both_written"], got
    # A failed condition cancels all, with a reason per op, in order.
    assert got["reasons"] == ["None", "ConditionalCheckFailed", "None"], got
    assert got["c_absent"] and got["b_after_cancel"] == 1, got
    # An update that cannot apply undoes the writes before it.
    assert got["invalid_error"] == "ValidationException", got
    assert got["d_absent"] and got["b_restored"] == 1 and got["a_unchanged"] == "text", got


def test_patched_moto_answers_as_moto_does_and_stays_atomic():
    """devstack/moto_patches/ changes what moto's hot paths cost, never what they
    answer: every data-plane call (items of every type, queries of the table and of a
    global index while items move between its partitions, paging, transactions, errors)
    answers the same with and without them. Calls answered in-process
    (devstack/inprocess.py) answer as the port does, the app's SQS and Secrets Manager
    calls included. And the DynamoDB lock holds whichever way a call arrives:
    in-process (as the local stack's own) or over the port (the CLI)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.emulator_patches"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["calls"] > 40 and got["patchedVsShipped"] == [], got["patchedVsShipped"]
    assert got["inProcessVsPort"] == [], got["inProcessVsPort"]
    assert got["otherServices"] >= 10 and got["otherInProcessVsPort"] == [], got
    assert got["otherPatchedVsShipped"] == [], got
    # In-process calls went in-process; the clients told to use the port did.
    expected = 2 * got["calls"] + got["otherServices"]
    assert got["answeredInProcess"] >= expected and got["portCallsInProcess"] == 0, got
    race = got["race"]
    assert race["won"] == race["final"] > 0 and race["won"] + race["lost"] == 16 * 15, race
