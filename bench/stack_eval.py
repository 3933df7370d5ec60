"""Benchmark: evaluate the whole Pulumi program under mocks for 1, 4 and 17 regions.

Each size runs in a fresh subprocess (so peak RSS is that evaluation's own), with two
VPCs discovered per region through the mocked `aws:ec2/getVpcs`. Reported per size:
wall time of the evaluation (program + every registration + outputs resolved), the
process's wall time including imports, resources registered, and peak RSS.

    .venv/bin/python bench/stack_eval.py                 # table on stdout
    .venv/bin/python bench/stack_eval.py --markdown FILE # also write the results file

Target on the 2-core build machine: 17 regions in under 5 s and under 600 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGIONS = [
    "eu-west-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
    "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
    "ap-southeast-2", "sa-east-1",
]
SIZES = (1, 4, 17)

NOTES = """
## Where the time goes, and what was changed

- Columns: *SDK imports* is `components.mockrun.prepare()` (pulumi_aws loads its
  submodules lazily; the 13 the program uses plus the components and runbook steps),
  a once-per-process cost. *Evaluation* is `evaluate()`: running `__main__.py`, every
  registration through the mock monitor, and resolving the stack outputs.
- Per resource, most CPU is Pulumi's Python SDK itself: the stack trace it captures
  for every registration, protobuf (de)serialisation of inputs and outputs, and the
  asyncio tasks behind `Output.all`/`apply`. Among the components, AlertRouting
  (11 EventBridge rules + targets, 3 topics with policies, a queue) is the largest share
  of program-construction time (about half of it in a cProfile run of 17 regions).
- Changed while profiling: the evaluation freezes the objects that exist before it
  (`gc.freeze()`; the imported SDK is hundreds of thousands of objects that every full
  collection re-traversed) and raises the young-generation threshold; in-process on
  this host, 17 regions went from 20.9 s to 14.0 s wall under the same load. The
  recorder no longer deserialises every registration's inputs a second time, and the
  mocks return only computed values (the SDK keeps each input's value, as it does with
  the engine's state) instead of echoing every input back through serialisation. The
  lazy SDK imports are done up front by `prepare()` instead of inside the first
  evaluation.
- Wall times here depend on the other jobs sharing the two cores (see the load
  average); the CPU column is the evaluation's own work. On an idle host the wall time
  of a single-threaded evaluation is close to its CPU time.
"""
TARGET_SECONDS = 5.0
TARGET_MB = 600


def config_for(n: int) -> dict[str, str]:
    regions = REGIONS[:n]
    return {
        "aws:region": regions[0],
        "ir:regions": json.dumps(regions),
        "ir:responderPrincipals": json.dumps(["arn:aws:iam::123456789012:role/SecurityOnCall"]),
        "ir:alertSubscriptions": json.dumps(
            {"critical": [{"protocol": "email", "endpoint": "soc@example.com"}]}
        ),
        "ir:forensicAccess": json.dumps({"cidrs": ["10.99.0.0/24"]}),
        "ir:backup": json.dumps({"copyToRegion": regions[1]} if n > 1 else {}),
    }


def child(n: int) -> None:
    """Run one evaluation and print a JSON line with its measurements."""
    import resource

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from components.mockrun import ReadinessMocks, evaluate, prepare

    prepare()  # pulumi_aws submodules: a per-process cost, reported on its own
    imported = time.perf_counter()
    cpu_before = time.process_time()
    mocks = ReadinessMocks(vpcs_per_region=2, default_region=REGIONS[0])
    evaluation = evaluate(config_for(n), mocks=mocks)
    finished = time.perf_counter()
    cpu = time.process_time() - cpu_before
    manifests = evaluation.outputs.get("manifests", {})
    assert len(manifests) == n, f"expected {n} manifests, got {len(manifests)}"
    vpcs = sum(len(m["quarantine"]) for m in manifests.values())
    assert vpcs == 2 * n, f"expected {2 * n} quarantined VPCs, got {vpcs}"
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "regions": n,
        "resources": len(evaluation.resources),
        "evaluation_s": round(finished - imported, 3),
        "evaluation_cpu_s": round(cpu, 3),
        "imports_s": round(imported - started, 3),
        "process_s": round(finished - started, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }))


def run(repeats: int) -> list[dict[str, float]]:
    rows = []
    for n in SIZES:
        runs = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n)],
                check=True, capture_output=True, text=True, cwd=ROOT,
            ).stdout.strip().splitlines()[-1]
            runs.append(json.loads(out))
        best = dict(min(runs, key=lambda r: r["evaluation_s"]))
        best["median_evaluation_s"] = statistics.median(r["evaluation_s"] for r in runs)
        rows.append(best)
    return rows


def markdown(rows: list[dict[str, float]], repeats: int) -> str:
    lines = [
        "# Stack evaluation benchmark (`bench/stack_eval.py`)",
        "",
        "Whole program (`__main__.py`) evaluated under Pulumi mocks (`components.mockrun`,",
        "`preview=False`), two VPCs discovered per region, fresh process per size, "
        f"{repeats} runs each (best and median wall; the other columns are from the best",
        f"run). Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, shared 2-core build host.",
        "",
        "| regions | resources | evaluation wall, best (s) | evaluation wall, median (s) "
        "| evaluation CPU (s) | SDK imports (s) | process total (s) | peak RSS (MB) |",
        "|--------:|----------:|----------:|----------:|----------:|----------:|----------:"
        "|--------:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['regions']} | {r['resources']} | {r['evaluation_s']:.2f} | "
            f"{r['median_evaluation_s']:.2f} | "
            f"{r['evaluation_cpu_s']:.2f} | {r['imports_s']:.2f} | "
            f"{r['process_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    big = rows[-1]
    ok_time = big["evaluation_s"] < TARGET_SECONDS
    ok_mem = big["peak_rss_mb"] < TARGET_MB
    load = os.getloadavg()
    lines += [
        "",
        f"Load average while measuring: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"({os.cpu_count()} CPUs, shared with other jobs); wall times above include waiting "
        "for the CPU, the CPU column does not.",
        "",
        f"Target for 17 regions: < {TARGET_SECONDS:.0f} s and < {TARGET_MB} MB. "
        f"Result: time {'met' if ok_time else 'NOT met'} ({big['evaluation_s']:.2f} s), "
        f"memory {'met' if ok_mem else 'NOT met'} ({big['peak_rss_mb']:.0f} MB). "
        f"Counting the one-off SDK imports as well (process total), 17 regions took "
        f"{big['process_s']:.2f} s.",
    ]
    lines += ["", NOTES.strip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rows = run(args.repeats)
    text = markdown(rows, args.repeats)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
