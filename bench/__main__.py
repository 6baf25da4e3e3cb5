"""`make bench`: every benchmark, a table on stdout, bench/results.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import (
    coldstart,
    limiter,
    localhttp,
    mixedload,
    overhead,
    propagation,
    roundtrips,
    webhooks,
)

GOALS = {
    "roundtrips": "DynamoDB round trips per authenticated GET: goal <= 2 (floor 1)",
    "coldstart": "import app as packaged (with bytecode) vs bare Chalice+boto3 (median): "
                 "goal <= 1.2x (issue 8); from source reported",
    "overhead": "full pipeline vs bare route, in-process against moto: ratio",
    "limiter": "N threads x M requests vs limit L over HTTP: over-admissions must be 0",
    "propagation": "an owner's rights change (PUT /users/{id} roles) vs an email change, "
                   "owners of 0/25/100 keys: ms, ratio, DynamoDB calls (report)",
    "localhttp": "local stack over HTTP: keep-alive vs new connection, GET /api/health and an "
                 "authenticated GET (p50 ms); goal: keep-alive health <= 2 ms",
    "webhooks": "DynamoDB calls and our CPU per delivery (moto's subtracted), throughput "
                "against a 5 ms model store vs the receiver's limit (goal >= 50%), a burst "
                "of 200 orders through the local stack, retry timer error",
    "mixedload": mixedload.GOAL,
}


def main() -> int:
    results: dict[str, Any] = {}
    for name, module in (("coldstart", coldstart), ("roundtrips", roundtrips),
                         ("overhead", overhead), ("limiter", limiter),
                         ("propagation", propagation), ("localhttp", localhttp),
                         ("mixedload", mixedload), ("webhooks", webhooks)):
        print(f"running {name} ...", flush=True)
        results[name] = module.run()
    rt = results["roundtrips"]
    rows = [
        ("round trips, bearer GET", rt["bearer"].get("roundTrips"), "<= 2"),
        ("round trips, API key GET", rt["api_key"].get("roundTrips"), "<= 2"),
        ("cold import ratio, as packaged", f"{results['coldstart']['ratio']}x "
         f"({results['coldstart']['appMedianMs']} / {results['coldstart']['bareMedianMs']} ms)",
         "<= 1.2x"),
        ("  from source (compiling)", f"{results['coldstart']['fromSourceRatio']}x "
         f"({results['coldstart']['fromSourceMedianMs']} ms)", "report"),
        ("pipeline overhead ratio", f"{results['overhead']['ratio']}x "
         f"({results['overhead']['pipelineMedianMs']} / {results['overhead']['bareMedianMs']} ms)",
         "report"),
        ("  of which DynamoDB (moto)", f"{results['overhead']['dynamoMsPerRequest']} ms; "
         f"the rest {results['overhead']['pipelineWithoutDynamoMs']} ms", "report"),
        ("limiter over-admissions", f"{results['limiter']['overAdmissions']} "
         f"({results['limiter']['admitted']} admitted of "
         f"{results['limiter']['threads'] * results['limiter']['perThread']}, "
         f"limit {results['limiter']['limit']})", "0"),
    ]
    for size, fig in results["propagation"].items():
        rows.append((f"owner change reaching {size} keys", f"{fig['rightsChangeMs']} ms vs "
                     f"{fig['emailChangeMs']} ms ({fig['ratio']}x), {fig['dynamoCalls']} calls",
                     "report"))
    lh = results["localhttp"]
    rows += [
        ("local stack, GET /api/health", f"keep-alive p50 {lh['health']['keepAliveP50Ms']} ms, "
         f"new connection {lh['health']['newConnectionP50Ms']} ms", "keep-alive <= 2 ms"),
        ("local stack, authenticated GET", f"keep-alive p50 "
         f"{lh['authenticatedGet']['keepAliveP50Ms']} ms, new connection "
         f"{lh['authenticatedGet']['newConnectionP50Ms']} ms", "report"),
    ]
    rows += mixedload.rows(results["mixedload"])
    rows += webhooks.rows(results["webhooks"])
    width = max(len(r[0]) for r in rows)
    print(f"\n{'benchmark'.ljust(width)}  {'measured':<40}  goal")
    for name, value, goal in rows:
        print(f"{name.ljust(width)}  {str(value):<40}  {goal}")
    out = Path(__file__).resolve().parent / "results.json"
    out.write_text(json.dumps({"goals": GOALS, "results": results}, indent=2))
    print(f"\nwritten {out}")
    ok = (results["limiter"]["overAdmissions"] == 0
          and results["mixedload"]["lostWrites"] == results["mixedload"]["serverErrors"] == 0
          and all(isinstance(rt[k].get("roundTrips"), int) and rt[k]["roundTrips"] <= 2
                  for k in ("bearer", "api_key")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
