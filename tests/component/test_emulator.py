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
