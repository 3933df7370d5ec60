"""Benchmark: `irctl contain instance` of 1, 10 and 100 instances in one command.

Runs the real CLI (`python -m runbooks ... --apply`, a subprocess, as a responder would)
against the drill emulator's moto server with a per-call latency (default 100 ms, a real
AWS round trip). Each instance has one ENI and two EBS volumes. Records wall time and the
AWS API calls per instance by operation (counted by the server). Then a throttled run
(in-process, a token bucket per EC2 API answering RequestLimitExceeded), and the time of
`irctl --help`.

    .venv/bin/python bench/contain.py                      # writes bench/results/contain.md
    .venv/bin/python bench/contain.py --sizes 1 10 --latency-ms 50 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._emulator import environment, world_on  # noqa: E402
from rehearsal.emulator.server import EmulatorServer, start_server  # noqa: E402
from tests.runbooks.conftest import (  # noqa: E402
    REGION,
    Readiness,
    launch_instances,
)

TARGET_CALLS_PER_INSTANCE = 12
TARGET_SECONDS_N100 = 10.0
TARGET_HELP_SECONDS = 0.5


_subnets = iter(range(1, 250))


def fresh_subnet(world: Readiness) -> str:
    """A new /24 in the quarantined VPC per run (a /24 holds at most 251 instances)."""
    subnet: str = world.client("ec2").create_subnet(
        VpcId=world.vpc_id, CidrBlock=f"10.0.{next(_subnets)}.0/24")["Subnet"]["SubnetId"]
    return subnet


def contain_run(server: EmulatorServer, world: Readiness, n: int, latency_ms: float,
                case_dir: str) -> dict[str, Any]:
    server.latency_ms = 0
    ids = launch_instances(world, n, volumes=2, subnet_id=fresh_subnet(world))
    server.latency_ms = latency_ms
    server.reset_calls()
    case = f"bench-{n}-{int(time.time())}"
    load = os.getloadavg()[0]
    import resource

    server_before = resource.getrusage(resource.RUSAGE_SELF)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "runbooks", "--output", "json", "--case", case, "contain",
         "instance", *ids, "--apply"],
        env=environment(server.endpoint_url, case_dir), capture_output=True, text=True,
        cwd=REPO, check=False)
    wall = time.perf_counter() - started
    server_after = resource.getrusage(resource.RUSAGE_SELF)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = (server_after.ru_utime + server_after.ru_stime
                  - server_before.ru_utime - server_before.ru_stime)
    client_cpu = (client_after.ru_utime + client_after.ru_stime
                  - client_before.ru_utime - client_before.ru_stime)
    calls = server.calls()
    server.latency_ms = 0
    report = json.loads(process.stdout) if process.stdout.strip() else {}
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    enis = world.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": ids}])["NetworkInterfaces"]
    isolated = sum(1 for e in enis if [g["GroupId"] for g in e["Groups"]] == [isolation])
    total = sum(calls.values())
    return {"n": n, "wall": wall, "exit": process.returncode, "calls": calls, "total": total,
            "latency": latency_ms, "load": load, "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "per_instance": total / n, "isolated": isolated,
            "stderr": process.stderr[-2000:] if process.returncode else "",
            "report_exit": report.get("exitCode")}


class PerApiThrottle:
    """A token bucket per (service, operation): RequestLimitExceeded beyond `rate`/s,
    as EC2 throttles each API separately."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}
        self.throttled: Counter[str] = Counter()
        self.lock = threading.Lock()

    def hooks(self) -> list[tuple[str, Any]]:
        return [("before-send", self.before_send)]

    def before_send(self, request: Any, event_name: str = "", **_: Any) -> Any:
        from tests.runbooks.conftest import _error_response

        operation = event_name.split(".", 1)[1]
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(operation, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self.buckets[operation] = (tokens - 1, now)
                return None
            self.buckets[operation] = (tokens, now)
            self.throttled[operation] += 1
        service = operation.split(".")[0]
        return _error_response(request.url, service, "RequestLimitExceeded"
                               if service == "ec2" else "Throttling", 503 if service == "ec2"
                               else 400)


def throttled_run(server: EmulatorServer, world: Readiness, n: int, latency_ms: float,
                  rate: float, case_dir: str, retry_mode: str) -> dict[str, Any]:
    """The same containment in-process, through a per-API throttle."""
    from runbooks.core.audit import AuditLog
    from runbooks.core.context import Context, SessionFactory
    from runbooks.core.manifest import Manifest
    from runbooks.core.runner import Runner
    from runbooks.workflows.contain import instance_pipelines

    server.latency_ms = 0
    ids = launch_instances(world, n, volumes=2, subnet_id=fresh_subnet(world))
    server.latency_ms = latency_ms
    throttle = PerApiThrottle(rate=rate, burst=int(rate))
    os.environ["IR_CASE_DIR"] = case_dir
    sessions = SessionFactory(region=REGION, endpoint_url=server.endpoint_url,
                              event_hooks=throttle.hooks(), retry_mode=retry_mode)
    ctx = Context(sessions=sessions, manifest=Manifest.from_document(world.manifest),
                  case_id=f"bench-throttle-{n}-{retry_mode}",
                  account_id=world.manifest["accountId"], region=REGION)
    started = time.perf_counter()
    result = Runner(ctx, AuditLog(ctx.case_id), apply=True, max_workers=32).run(
        "instance", instance_pipelines(ids))
    wall = time.perf_counter() - started
    server.latency_ms = 0
    errors = sorted({str(t.error) for t in result.targets if t.error})
    return {"n": n, "wall": wall, "exit": result.exit_code, "rate": rate, "errors": errors,
            "mode": retry_mode,
            "throttled": sum(throttle.throttled.values()),
            "throttled_by_api": dict(throttle.throttled.most_common(6))}


def help_time(runs: int = 7) -> dict[str, float]:
    timings = {}
    commands = {"python -m runbooks --help": [sys.executable, "-m", "runbooks", "--help"]}
    script = Path(sys.executable).with_name("irctl")
    if script.exists():
        commands["irctl --help"] = [str(script), "--help"]
    for label, argv in commands.items():
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, cwd=REPO)
            samples.append(time.perf_counter() - started)
        timings[label] = statistics.median(samples)
    return timings


def markdown(latency_ms: float, runs: list[dict[str, Any]], throttled: list[dict[str, Any]],
             helps: dict[str, float]) -> str:
    lines = [
        "# Benchmark: `irctl contain instance`",
        "",
        f"Recorded by `bench/contain.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" ({os.cpu_count()} CPUs shared with other work), Python {sys.version.split()[0]}.",
        "The CLI runs as a subprocess (`python -m runbooks --apply`, process start included)",
        f"against the drill emulator's moto server with **{latency_ms:g} ms added to every AWS "
        "call**; each instance has one ENI and two EBS volumes, no instance profile, no Auto",
        "Scaling group or target group. Calls are counted by the server.",
        "",
        "| instances | latency (ms/call) | wall time (s) | exit | isolated | AWS calls | "
        "calls / instance | irctl CPU (s) | emulator CPU (s) | load avg (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(f"| {run['n']} | {run['latency']:g} | {run['wall']:.2f} | {run['exit']} | "
                     f"{run['isolated']}/{run['n']} | {run['total']} | "
                     f"{run['per_instance']:.2f} | {run['client_cpu']:.2f} | "
                     f"{run['server_cpu']:.2f} | {run['load']:.1f} |")
    lines += ["", f"Targets: at most {TARGET_CALLS_PER_INSTANCE} calls per instance at N=100; "
              f"N=100 under {TARGET_SECONDS_N100:g} s at 100 ms per call (set before irctl "
              "paced itself to EC2's request buckets, `runbooks/core/pacing.py`: since then "
              "200 ModifyNetworkInterfaceAttribute and 200 ModifyInstanceAttribute at N=100 "
              "need at least 20 s and 30 s of those buckets' refill, so N=100 takes about "
              "35 s here; `IR_EC2_PACING=off` bursts past them as before, which real EC2 "
              "answers with RequestLimitExceeded).", "",
              "Reading the numbers: wall time includes the CLI's process start and client",
              "creation (botocore loads each service model), which dominates N=1. The emulator",
              "is one Python process (the GIL serialises moto), so its CPU per call bounds",
              "throughput; on a CPU-starved machine (load average above the 2 CPUs) wall time",
              "exceeds irctl CPU + emulator CPU by the time spent waiting for a CPU. The 0 ms",
              "row is that floor; its difference to the 100 ms row is what latency costs after",
              "batching and 32-way concurrency (ideal: about 8 sequential applies and 3",
              "sequential plan reads per target x 100 ms x ceil(100 / 32) rounds, about 4 s).",
              ""]
    big = max((r for r in runs if r["latency"] == latency_ms), key=lambda r: r["n"])
    lines += [f"## Calls by operation at N={big['n']}", "",
              "| service | operation | calls | per instance |", "|---|---|---:|---:|"]
    for (service, operation), count in sorted(big["calls"].items(),
                                              key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {service} | {operation} | {count} | {count / big['n']:.2f} |")
    lines += ["", "Per instance and unbatchable: GetConsoleOutput, 2x DescribeInstanceAttribute,"
              " PutObject (metadata), up to 3x ModifyInstanceAttribute (only attributes not",
              "already set: the emulator's shutdown behaviour is already `stop`),",
              "2x ModifyNetworkInterfaceAttribute per ENI (conversion, then isolation), "
              "CreateSnapshots. Batched over all targets: CreateTags (up to 100 instances per "
              "call), DescribeInstances, DescribeVolumes,",
              "DescribeIamInstanceProfileAssociations, DescribeAutoScalingInstances, "
              "DescribeTargetGroups, DescribeSecurityGroups, DescribeSnapshots. Once per run: "
              "GetParameter, GetCallerIdentity, Publish, PutObject (audit log).", ""]
    if throttled:
        lines += ["## Under throttling", "",
                  "Same containment in-process (Runner, 32 workers) with a token bucket per "
                  "API in front of the server answering RequestLimitExceeded/Throttling "
                  "(botocore retries, 10 attempts; irctl uses `adaptive`).", "",
                  "| instances | retry mode | per-API rate (calls/s) | wall time (s) | exit | "
                  "throttled responses | most throttled |",
                  "|---:|---|---:|---:|---:|---:|---|"]
        for run in throttled:
            top = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in run["throttled_by_api"].items())
            lines.append(f"| {run['n']} | {run['mode']} | {run['rate']:g} | {run['wall']:.2f} | "
                         f"{run['exit']} | "
                         f"{run['throttled']} | {top} |")
        lines.append("")
    lines += ["## `irctl --help`", "", "| command | median of 7 (s) |", "|---|---:|"]
    lines += [f"| `{label}` | {seconds:.3f} |" for label, seconds in helps.items()]
    lines += ["", f"Target: under {TARGET_HELP_SECONDS} s (boto3 and rich are imported only "
              "inside commands).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--throttle-rate", type=float, default=20.0,
                        help="per-API calls/s of the throttled run (0: skip)")
    parser.add_argument("--throttle-size", type=int, default=100)
    parser.add_argument("--retry-modes", nargs="+", default=["adaptive", "standard"])
    parser.add_argument("--baseline", action="store_true",
                        help="also run the largest size with 0 ms latency (CPU floor)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with tempfile.TemporaryDirectory() as case_dir, start_server(latency_ms=0) as server:
        world = world_on(server)
        runs = []
        for n in args.sizes:
            run = contain_run(server, world, n, args.latency_ms, case_dir)
            print(f"N={n}: {run['wall']:.2f}s exit={run['exit']} calls/instance="
                  f"{run['per_instance']:.2f} isolated={run['isolated']}/{n}", flush=True)
            if run["stderr"]:
                print(run["stderr"], file=sys.stderr)
            runs.append(run)
        if args.baseline:
            run = contain_run(server, world, max(args.sizes), 0, case_dir)
            print(f"baseline N={run['n']} at 0 ms: {run['wall']:.2f}s", flush=True)
            runs.append(run)
        throttled = []
        for mode in args.retry_modes if args.throttle_rate > 0 else []:
            run = throttled_run(server, world, args.throttle_size, args.latency_ms,
                                args.throttle_rate, case_dir, mode)
            print(f"throttled N={run['n']} ({mode}): {run['wall']:.2f}s exit={run['exit']} "
                  f"throttled={run['throttled']} errors={run['errors'][:3]}", flush=True)
            throttled.append(run)
    helps = help_time()
    print(helps)
    text = markdown(args.latency_ms, runs, throttled, helps)
    if not args.no_write:
        out = REPO / "bench" / "results" / "contain.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
