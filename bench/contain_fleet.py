"""Benchmark (issue #21): fleet containment measured against EC2's own request limits.

`irctl contain instance --apply` (the real CLI, a subprocess) of N instances against the
emulator's moto server with 100 ms per call, behind `bench/_ec2_throttle.py` (one token
bucket per EC2 API, sizes from the EC2 developer guide, answering 503
`RequestLimitExceeded` when empty, as EC2 does). Every instance has one or two ENIs
(every other instance a second one) and two EBS volumes. Recorded per N:

* calls per EC2 API (admitted, and throttled answers);
* the floor: max over APIs of (calls - burst) / refill, i.e. the time EC2's buckets
  alone need for the calls the run made, whatever the client does; `isolated floor` counts
  the calls admitted up to the `isolated` moment, `done floor` all of them;
* `isolated` (the last ENI entered its isolation group, from the CLI's JSON `timing`) and
  `done` (the process exited), both from the process's start, and their ratio to the floor;
* the longest time any ENI spent in the allow-all conversion group (measured by the
  throttling layer, between the two calls it admitted for that ENI);
* failed targets, exit code, the CLI's peak memory (max RSS), the machine and its load.

    nice .venv/bin/python bench/contain_fleet.py                  # N = 10 100 300 1000
    .venv/bin/python bench/contain_fleet.py --sizes 10 --no-write

Every run is appended to `bench/results/contain_fleet.jsonl`; the table of the latest run
of each N is written to `bench/results/contain_fleet.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._ec2_throttle import Ec2RequestLimits  # noqa: E402
from bench._emulator import environment, world_on  # noqa: E402
from rehearsal.emulator.server import EmulatorServer, classify_request  # noqa: E402
from tests.runbooks.conftest import Readiness  # noqa: E402

RESULTS = REPO / "bench" / "results"
DWELL_BOUND = 2.0
"""The bound set for the conversion-group dwell (`runbooks.core.pacing.DEFAULT_DWELL_BOUND`)."""
MNIA = "ModifyNetworkInterfaceAttribute"
CHILD = ("import atexit, resource, runpy, sys\n"
         "atexit.register(lambda: sys.stderr.write('MAXRSS_KB %d\\n' % "
         "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
         "sys.argv = ['irctl'] + sys.argv[1:]\n"
         "runpy.run_module('runbooks', run_name='__main__', alter_sys=True)\n")


class MeasuredLimits(Ec2RequestLimits):
    """The throttling layer, also recording when each call was admitted and how long each
    ENI stayed in a conversion group."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.admitted: list[tuple[float, str]] = []
        self.conversion_groups: set[str] = set()
        self.converted_at: dict[str, float] = {}
        self.dwell: list[float] = []
        self.local = threading.local()

    def admit(self, operation: str, filtered: bool) -> bool:
        ok = super().admit(operation, filtered)
        self.local.admitted = ok
        if ok and self.enabled:
            with self._lock:
                self.admitted.append((time.monotonic(), operation))
        return ok

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        service, operation, body = classify_request(environ)
        self.local.admitted = False
        answer = super().__call__(environ, start_response)
        if self.enabled and service == "ec2" and operation == MNIA and self.local.admitted:
            form = parse_qs(body.decode("utf-8", "replace"))
            eni = (form.get("NetworkInterfaceId") or [""])[0]
            group = (form.get("SecurityGroupId.1") or [""])[0]
            now = time.monotonic()
            with self._lock:
                if group in self.conversion_groups:
                    self.converted_at[eni] = now
                elif eni in self.converted_at:
                    self.dwell.append(now - self.converted_at.pop(eni))
        return answer

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.admitted.clear()
            self.converted_at.clear()
            self.dwell.clear()


def floor(counts: Counter[str], layer: Ec2RequestLimits) -> tuple[float, str]:
    """max over APIs of (calls - burst) / refill, and the API that sets it."""
    best, api = 0.0, "-"
    for operation, calls in counts.items():
        capacity, refill = layer.limit_of(operation, True)
        seconds = max(0.0, (calls - capacity) / refill)
        if seconds > best:
            best, api = seconds, operation
    return best, api


_subnets = iter(range(1, 32))


def seed_fleet(world: Readiness, n: int) -> list[str]:
    """`n` instances, two volumes each; every other one with a second ENI (a fresh /21
    subnet of the quarantined VPC per run: 2,043 addresses)."""
    ec2 = world.client("ec2")
    subnet = ec2.create_subnet(VpcId=world.vpc_id, CidrBlock=f"10.0.{8 * next(_subnets)}.0/21"
                               )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"app-{n}-{time.time_ns()}",
                                      Description="app", VpcId=world.vpc_id)["GroupId"]
    mappings = [{"DeviceName": d, "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}
                for d in ("/dev/sda1", "/dev/sdf")]
    ids: list[str] = []
    for index in range(n):
        interfaces = [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}]
        if index % 2:
            interfaces.append({"DeviceIndex": 1, "SubnetId": subnet, "Groups": [group]})
        ids.append(ec2.run_instances(
            ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
            NetworkInterfaces=interfaces, BlockDeviceMappings=mappings,
        )["Instances"][0]["InstanceId"])
    return ids


def run_once(server: EmulatorServer, layer: MeasuredLimits, world: Readiness, n: int,
             latency_ms: float, case_dir: str) -> dict[str, Any]:
    layer.enabled = False
    server.latency_ms = 0
    ids = seed_fleet(world, n)
    ec2 = world.client("ec2")
    enis = [e for i in range(0, len(ids), 200) for e in ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": ids[i:i + 200]}]
    )["NetworkInterfaces"]]
    quarantine = world.manifest["quarantine"][world.vpc_id]
    layer.conversion_groups = {quarantine["conversionSecurityGroupId"]}
    layer.reset()
    server.reset_calls()
    server.latency_ms = layer.latency_ms = latency_ms
    layer.enabled = True
    case = f"bench-fleet-{n}-{int(time.time())}"
    # The emulator shares 2 CPUs with other work: at N=1000 it once left a read unanswered
    # past the 15 s default (run of 21:44, in contain_fleet.jsonl); a loaded local server
    # is not what this measures, so reads may take up to 60 s here.
    env = {**environment(server.endpoint_url, case_dir), "AWS_RETRY_MODE": "adaptive",
           "IR_AWS_READ_TIMEOUT": "60"}
    load_before = os.getloadavg()
    started_wall = datetime.now(timezone.utc)
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-c", CHILD, "--output", "json", "--case", case, "contain",
         "instance", *ids, "--apply"], env=env, capture_output=True, text=True, cwd=REPO,
        check=False)
    done = time.monotonic() - started
    load_after = os.getloadavg()
    layer.enabled = False
    server.latency_ms = 0
    report = json.loads(process.stdout) if process.stdout.strip() else {}
    timing = next((r.get("timing") for r in report.get("runs", [])
                   if r.get("kind") == "instance"), None) or {}
    isolated = None
    if timing.get("isolatedAt"):
        isolated = (datetime.fromisoformat(timing["isolatedAt"]) - started_wall
                    ).total_seconds()
    cut_moment = started + (isolated if isolated is not None else done)
    before_cut: Counter[str] = Counter(op for at, op in layer.admitted if at <= cut_moment)
    all_calls: Counter[str] = Counter(op for _, op in layer.admitted)
    isolated_floor, isolated_api = floor(before_cut, layer)
    done_floor, done_api = floor(all_calls, layer)
    # what done could not beat if the later steps waited for every cut (the order before
    # 2026-12-07): their own floor (buckets unused before the cut are full again) after it
    after_cut_floor, after_cut_api = floor(all_calls - before_cut, layer)
    sequential_floor = isolated_floor + after_cut_floor
    isolation = quarantine["isolationSecurityGroupId"]
    live = [e for i in range(0, len(ids), 200) for e in ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": ids[i:i + 200]}]
    )["NetworkInterfaces"]]
    in_isolation = sum(1 for e in live if [g["GroupId"] for g in e["Groups"]] == [isolation])
    failed = [t for r in report.get("runs", []) for t in r.get("targets", [])
              if t.get("error")]
    maxrss = [line.split()[1] for line in process.stderr.splitlines()
              if line.startswith("MAXRSS_KB ")]
    return {
        "n": n, "enis": len(enis), "latency_ms": latency_ms,
        "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "exit": process.returncode, "isolated": isolated, "done": done,
        "isolated_in_run": timing.get("isolatedSeconds"), "done_in_run": timing.get("doneSeconds"),
        "isolated_floor": isolated_floor, "isolated_floor_api": isolated_api,
        "done_floor": done_floor, "done_floor_api": done_api,
        "after_cut_floor": after_cut_floor, "after_cut_floor_api": after_cut_api,
        "sequential_floor": sequential_floor,
        "done_sequential_ratio": (done / sequential_floor) if sequential_floor else None,
        "isolated_ratio": (isolated / isolated_floor) if isolated and isolated_floor else None,
        "done_ratio": (done / done_floor) if done_floor else None,
        "enis_in_isolation": in_isolation, "failed_targets": len(failed),
        "errors": sorted({str(t.get("error"))[:200] for t in failed})[:3],
        "calls": dict(layer.calls), "admitted": dict(all_calls),
        "throttled": dict(layer.throttled),
        "other_calls": {f"{s}:{o}": c for (s, o), c in server.calls().items() if s != "ec2"},
        "longest_dwell": max(layer.dwell) if layer.dwell else None,
        "dwell_count": len(layer.dwell), "dwell_bound": DWELL_BOUND,
        "peak_rss_mb": round(int(maxrss[-1]) / 1024, 1) if maxrss else None,
        "load_before": load_before, "load_after": load_after,
        "machine": machine(),
        "stderr": process.stderr[-1500:] if process.returncode else "",
    }


def machine() -> str:
    return (f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs shared with "
            f"other work, {platform.system()} {platform.release()}, Python "
            f"{sys.version.split()[0]}")


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def every_run(records: list[dict[str, Any]]) -> list[str]:
    lines = ["## Every run recorded (`contain_fleet.jsonl`)", "",
             "| recorded | N | exit | failed | isolated s | done s | throttled | longest dwell s "
             "| first error |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        lines.append(f"| {r['recorded']} | {r['n']} | {r['exit']} | {r['failed_targets']} | "
                     f"{fmt(r['isolated'])} | {fmt(r['done'])} | "
                     f"{sum(r['throttled'].values())} | {fmt(r['longest_dwell'], 2)} | "
                     f"{(r['errors'] or ['-'])[-1][:120]} |")
    lines += ["", "Development runs with `--no-write` before these (same script, same load): "
              "N=10 at 21:05 (isolated 12.1 s, done 15.4 s), N=100 at 21:10 (isolated 48.7 s, "
              "done 86.7 s, 1 throttled, dwell 0.31 s); both exit 0.", ""]
    return lines


def markdown(runs: list[dict[str, Any]], records: list[dict[str, Any]] | None = None
             ) -> str:
    lines = [
        "# Benchmark: fleet containment against EC2's request limits (issue #21)",
        "",
        "Recorded by `bench/contain_fleet.py`; every run is also in `contain_fleet.jsonl`.",
        "The real CLI (`irctl --output json contain instance ID... --apply`, a subprocess)",
        "against the emulator's moto server with 100 ms per call, behind",
        "`bench/_ec2_throttle.py`: a token bucket per EC2 API with the EC2 developer guide's",
        "sizes (ModifyNetworkInterfaceAttribute 100 / 5 per s, ModifyInstanceAttribute 50 / 5,",
        "CreateTags 100 / 10, CreateSnapshots 100 / 5, non-mutating 100 / 20), full at the",
        "start, answering 503 RequestLimitExceeded when empty. irctl paces itself with the",
        "same default sizes (`runbooks/core/pacing.py`). Each instance: two EBS volumes, one",
        "ENI (every other instance two), no instance profile, no Auto Scaling group.",
        "",
        "`floor` = max over EC2 APIs of (calls - burst) / refill: the time EC2's buckets alone",
        "need for the calls made. `isolated` = the last ENI entered its isolation group;",
        "`done` = the CLI exited; both from the process's start (Python start-up, manifest,",
        "plan included). Dwell = time between the two calls admitted for an ENI (conversion,",
        f"then isolation); bound set: {DWELL_BOUND:g} s.",
        "",
        "A target's later steps (profile, snapshots, attributes) start once its own cut is",
        "made and overlap the other targets' remaining cuts (runs from 2026-12-07 on); before",
        "that every later step waited for every cut. `cuts-then-rest floor` = isolated floor +",
        "the floor of the calls made after the cut: what `done` could not beat with that older",
        "order (their buckets' time adds up), kept for comparison.",
        "",
        "| N | ENIs | exit | failed | isolated s | isolated floor s (API) | ratio | done s | "
        "done floor s (API) | ratio | cuts-then-rest floor s | ratio | throttled | "
        "longest dwell s | peak RSS MB | load 1 min before / after | recorded |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['n']} | {r['enis']} | {r['exit']} | {r['failed_targets']} | "
            f"{fmt(r['isolated'])} | {fmt(r['isolated_floor'])} ({r['isolated_floor_api']}) | "
            f"{fmt(r['isolated_ratio'], 2)} | {fmt(r['done'])} | {fmt(r['done_floor'])} "
            f"({r['done_floor_api']}) | {fmt(r['done_ratio'], 2)} | "
            f"{fmt(r.get('sequential_floor'))} | {fmt(r.get('done_sequential_ratio'), 2)} | "
            f"{sum(r['throttled'].values())} | {fmt(r['longest_dwell'], 2)} | "
            f"{fmt(r['peak_rss_mb'])} | {r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} | "
            f"{r['recorded']} |")
    lines += ["", f"Machine: {runs[-1]['machine']}.", ""]
    for r in runs:
        lines += [f"## N={r['n']}: EC2 calls per API", "",
                  "| API | admitted | throttled | per instance |", "|---|---:|---:|---:|"]
        for api, count in sorted(r["admitted"].items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| {api} | {count} | {r['throttled'].get(api, 0)} | "
                         f"{count / r['n']:.2f} |")
        if r["errors"]:
            lines += ["", "Errors: " + "; ".join(r["errors"])]
        lines.append("")
    lines += beside_custodian(runs)
    if records:
        lines += every_run(records)
    return "\n".join(lines)


SUBSET_APIS = ("CreateSnapshots", "CreateTags", "DescribeIamInstanceProfileAssociations",
               "DisassociateIamInstanceProfile", "DescribeInstances")


def beside_custodian(runs: list[dict[str, Any]]) -> list[str]:
    """irctl's latest run per N beside Cloud Custodian's (`custodian_fleet.jsonl`): times,
    and calls for the actions both perform (snapshot, the swap into the isolation group,
    tag, instance-profile detach, and the instance reads they need). irctl's conversion
    swap (one more ModifyNetworkInterfaceAttribute per ENI, what cuts tracked connections)
    is an action Custodian does not perform: counted apart."""
    path = RESULTS / "custodian_fleet.jsonl"
    if not path.exists():
        return []
    custodian: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            custodian[(record["order"], record["n"])] = record
    lines = ["## Beside Cloud Custodian (`custodian_fleet.md`)", "",
             "Custodian's latest run of each N and action order, on the same world and model "
             "(recorded separately, at its own load). Calls for the actions both perform: "
             "irctl's `CreateSnapshots`, one `ModifyNetworkInterfaceAttribute` per ENI (the "
             "swap into the isolation group), `CreateTags`, the instance-profile reads and "
             "detaches and `DescribeInstances`; Custodian's every EC2 call. irctl's "
             "conversion swaps (the first of its two calls per ENI: Custodian's single swap "
             "leaves tracked connections flowing, so its `isolated` is when new connections "
             "stop) are counted apart.", "",
             "| N | irctl isolated s | Custodian isolated s (network-first / snapshot-first) | "
             "irctl done s | Custodian done s (network-first / snapshot-first) | irctl calls, "
             "shared actions | Custodian calls (network-first) | irctl conversion swaps |",
             "|---:|---:|---|---:|---|---:|---:|---:|"]
    for r in runs:
        first = custodian.get(("network-first", r["n"]))
        later = custodian.get(("snapshot-first", r["n"]))
        if first is None:
            continue
        shared = r["enis"] + sum(r["admitted"].get(api, 0) for api in SUBSET_APIS)
        conversions = r["admitted"].get(MNIA, 0) - r["enis"]
        lines.append(
            f"| {r['n']} | {fmt(r['isolated'])} | {fmt(first['isolated'])} / "
            f"{fmt(later['isolated']) if later else '-'} | {fmt(r['done'])} | "
            f"{fmt(first['done'])} / {fmt(later['done']) if later else '-'} | {shared} | "
            f"{sum(first['admitted'].values())} | {conversions} |")
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 300, 1000])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite contain_fleet.md from contain_fleet.jsonl, run nothing")
    args = parser.parse_args()
    if args.report_only:
        return report()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    holder: dict[str, MeasuredLimits] = {}

    def wrap(app: Any) -> Any:
        holder["layer"] = MeasuredLimits(app, latency_ms=0)
        return holder["layer"]

    server = EmulatorServer(latency_ms=0, middleware=wrap).start()
    layer = holder["layer"]
    runs = []
    with tempfile.TemporaryDirectory() as case_dir, server:
        layer.enabled = False
        world = world_on(server)
        for n in args.sizes:
            run = run_once(server, layer, world, n, args.latency_ms, case_dir)
            print(f"N={n}: exit={run['exit']} failed={run['failed_targets']} "
                  f"isolated={fmt(run['isolated'])}s (floor {fmt(run['isolated_floor'])}) "
                  f"done={fmt(run['done'])}s (floor {fmt(run['done_floor'])}) "
                  f"throttled={sum(run['throttled'].values())} "
                  f"dwell={fmt(run['longest_dwell'], 2)} rss={run['peak_rss_mb']}MB "
                  f"{run['errors']}", flush=True)
            if run["stderr"]:
                print(run["stderr"], file=sys.stderr)
            runs.append(run)
            if not args.no_write:
                with (RESULTS / "contain_fleet.jsonl").open("a") as log:
                    log.write(json.dumps(run, default=str) + "\n")
    if args.no_write:
        print(markdown(runs))
        return 0
    return report()


def report() -> int:
    records = [json.loads(line) for line in
               (RESULTS / "contain_fleet.jsonl").read_text().splitlines() if line.strip()]
    latest = {record["n"]: record for record in records}
    (RESULTS / "contain_fleet.md").write_text(
        markdown([latest[n] for n in sorted(latest)], records))
    print(f"wrote {RESULTS / 'contain_fleet.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
