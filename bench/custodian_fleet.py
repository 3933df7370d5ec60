"""Benchmark (issue #21): Cloud Custodian's isolation of a fleet, on contain_fleet's model.

The same world and throttling model as `bench/contain_fleet.py` (imported, not copied):
N instances seeded by its `seed_fleet` (two EBS volumes each, one ENI, every other one
two, no instance profile) in the quarantined VPC of a readiness world on the emulator's
moto server, 100 ms per call, behind its `MeasuredLimits` (a token bucket per EC2 API,
EC2 developer guide sizes, 503 RequestLimitExceeded when empty). Instead of irctl,
`custodian run` (Cloud Custodian from PyPI, in its own virtualenv `build/c7n-venv`, never
in the project's dependencies) runs one pull-mode policy on `resource: ec2`, filtered
client-side on the seeded instance ids (a `value` filter, `InstanceId` `op: in`), with
the issue's subset of actions, in this order:

1. `snapshot` (CreateSnapshots of the instance's volumes, Custodian's default
   `copy-volume-tags`);
2. `modify-security-groups` with `isolation-group: <the manifest's isolation group of
   the VPC>` and `remove: all` (one ModifyNetworkInterfaceAttribute per ENI);
3. `tag` `ir:case=<case>`;
4. `set-instance-profile` without a name (disassociate; the fleet has no profile).

Custodian runs with its own defaults (botocore's retry mode, no metrics, no CloudWatch
log group, a local output directory, resource cache off so each N sees its own fleet).
Recorded per N like contain_fleet's `run_once`: calls per EC2 API (admitted, throttled),
the floor, `isolated` (when the last ENI's admitted ModifyNetworkInterfaceAttribute to
the isolation group alone had landed, measured by the throttling layer: Custodian reports
no such time), `done` (the process exited), both from the process's start; the exit code
and Custodian's error lines; and from moto afterwards (AWS state, not Custodian's
output): ENIs whose only group is the isolation group, instances carrying the case tag,
instances all of whose volumes have a snapshot.

    nice .venv/bin/python bench/custodian_fleet.py --sizes 10 100
    .venv/bin/python bench/custodian_fleet.py --sizes 10 --no-write
    .venv/bin/python bench/custodian_fleet.py --report-only

Every run is appended to `bench/results/custodian_fleet.jsonl`; the latest run of each N,
beside irctl's latest run of that N from `contain_fleet.jsonl`, goes to
`bench/results/custodian_fleet.md`. Exit 2 when Custodian does not install.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._ec2_throttle import Ec2RequestLimits  # noqa: E402
from bench._emulator import environment, world_on  # noqa: E402
from bench.contain_fleet import MNIA, MeasuredLimits, floor, fmt, machine, seed_fleet  # noqa: E402
from rehearsal.emulator.server import EmulatorServer, classify_request  # noqa: E402
from tests.runbooks.conftest import REGION, Readiness  # noqa: E402

RESULTS = REPO / "bench" / "results"
C7N_VERSION = "0.9.53"
"""The Cloud Custodian release measured (what PyPI served on 2026-12-07)."""
C7N_VENV = REPO / "build" / "c7n-venv"
CASE_TAG = "ir:case"
# Custodian's actions run in the policy's order; per action: the class name its log line
# carries, the EC2 APIs it calls (read in c7n 0.9.53: resources/ec2.py Snapshot,
# EC2ModifyVpcSecurityGroups, SetInstanceProfile; tags.py Tag) and, for the comparison,
# the irctl step doing the same thing.
ACTIONS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("(resource query: ec2)", "", ("DescribeInstances", "DescribeTags"), "(discovery)"),
    ("snapshot", "snapshot", ("CreateSnapshots", "CreateSnapshot"), "ec2.snapshot-volumes"),
    ("modify-security-groups", "ec2modifyvpcsecuritygroups",
     (MNIA, "DescribeSecurityGroups"), "ec2.isolate"),
    ("tag", "tag", ("CreateTags",), "ec2.tag-contained"),
    ("set-instance-profile", "setinstanceprofile",
     ("DescribeIamInstanceProfileAssociations", "DisassociateIamInstanceProfile",
      "AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"),
     "ec2.detach-instance-profile"),
]
ACTION_LOG = re.compile(r"action:(\S+) resources:(\d+) execution_time:([\d.]+)")
QUERY_LOG = re.compile(r"resource:ec2 region:\S+ count:(\d+) time:([\d.]+)")
CHILD = ("import atexit, resource, sys\n"
         "atexit.register(lambda: sys.stderr.write('MAXRSS_KB %d\\n' % "
         "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
         "sys.argv = ['custodian'] + sys.argv[1:]\n"
         "from c7n.cli import main\n"
         "main()\n")


class IsolationTimes(MeasuredLimits):
    """contain_fleet's measuring layer, also recording when each ENI's admitted
    ModifyNetworkInterfaceAttribute to the isolation group alone had been answered."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.isolation_group = ""
        self.isolated_at: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        service, operation, body = classify_request(environ)
        answer = super().__call__(environ, start_response)
        if (self.enabled and service == "ec2" and operation == MNIA
                and getattr(self.local, "admitted", False)):
            form = parse_qs(body.decode("utf-8", "replace"))
            eni = (form.get("NetworkInterfaceId") or [""])[0]
            groups = [v[0] for k, v in form.items() if k.startswith("SecurityGroupId.")]
            if groups == [self.isolation_group]:
                with self._lock:
                    self.isolated_at[eni] = time.monotonic()
        return answer

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.isolated_at.clear()


def custodian_python() -> Path | None:
    """The c7n virtualenv's interpreter, creating the venv (once) with c7n pinned; None
    (and the reason on stderr) when it does not install."""
    python = C7N_VENV / "bin" / "python"
    probe = [str(python), "-c", "import c7n.version; print(c7n.version.version)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip() == C7N_VERSION:
            return python
    print(f"creating {C7N_VENV} with c7n=={C7N_VERSION} from PyPI ...", file=sys.stderr)
    steps = [["python3", "-m", "venv", "--clear", str(C7N_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", f"c7n=={C7N_VERSION}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"Cloud Custodian did not install: `{' '.join(step)}` exited "
                  f"{done.returncode}:\n{done.stderr[-2000:]}", file=sys.stderr)
            return None
    found = subprocess.run(probe, capture_output=True, text=True, check=False)
    if found.returncode != 0 or found.stdout.strip() != C7N_VERSION:
        print(f"Cloud Custodian did not install: the venv reports "
              f"{found.stdout.strip() or found.stderr[-500:]!r}, wanted {C7N_VERSION}",
              file=sys.stderr)
        return None
    return python


ORDERS = {
    # the subset as it lists it: evidence first, then the network
    "snapshot-first": ("snapshot", "modify-security-groups", "tag", "set-instance-profile"),
    # the order irctl keeps (network first), for a like-for-like `isolated`
    "network-first": ("modify-security-groups", "snapshot", "tag", "set-instance-profile"),
}


def custodian_stack(python: Path) -> str:
    """The versions Custodian ran with in its venv (c7n pins none of its AWS SDK)."""
    probe = ("import boto3, botocore, sys; print(f'c7n {sys.argv[1]}, boto3 "
             "{boto3.__version__}, botocore {botocore.__version__}, Python "
             "{sys.version.split()[0]}')")
    found = subprocess.run([str(python), "-c", probe, C7N_VERSION], capture_output=True,
                           text=True, check=False)
    return found.stdout.strip() or f"c7n {C7N_VERSION}"


def policy(n: int, ids: list[str], isolation_group: str, case: str, order: str
           ) -> dict[str, Any]:
    actions: dict[str, dict[str, Any]] = {
        "snapshot": {"type": "snapshot"},
        "modify-security-groups": {"type": "modify-security-groups",
                                   "isolation-group": isolation_group, "remove": "all"},
        "tag": {"type": "tag", "key": CASE_TAG, "value": case},
        "set-instance-profile": {"type": "set-instance-profile"},
    }
    return {"policies": [{
        "name": f"bench-fleet-isolate-{n}",
        "resource": "ec2",
        "filters": [{"type": "value", "key": "InstanceId", "op": "in", "value": ids}],
        "actions": [actions[name] for name in ORDERS[order]],
    }]}


def pages(world: Readiness, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paginated EC2 read (moto pages DescribeInstances by 100)."""
    paginator = world.client("ec2").get_paginator(operation)
    return [item for page in paginator.paginate(**kwargs) for item in page[key]]


def enis_of(world: Readiness, ids: list[str]) -> list[dict[str, Any]]:
    return [e for i in range(0, len(ids), 200) for e in pages(
        world, "describe_network_interfaces", "NetworkInterfaces",
        Filters=[{"Name": "attachment.instance-id", "Values": ids[i:i + 200]}])]


def aws_state(world: Readiness, ids: list[str], isolation: str, case: str
              ) -> dict[str, int]:
    """What moto holds after the run, counted from AWS, not from Custodian's output."""
    in_isolation = sum(1 for e in enis_of(world, ids)
                       if [g["GroupId"] for g in e["Groups"]] == [isolation])
    tagged = set()
    volumes: dict[str, set[str]] = {}
    for i in range(0, len(ids), 200):
        for reservation in pages(world, "describe_instances", "Reservations",
                                 InstanceIds=ids[i:i + 200]):
            for instance in reservation["Instances"]:
                if {"Key": CASE_TAG, "Value": case} in instance.get("Tags", []):
                    tagged.add(instance["InstanceId"])
                volumes[instance["InstanceId"]] = {
                    m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", [])}
    all_volumes = sorted(v for vs in volumes.values() for v in vs)
    snapped: Counter[str] = Counter()
    for i in range(0, len(all_volumes), 200):
        for snapshot in pages(world, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                              Filters=[{"Name": "volume-id",
                                        "Values": all_volumes[i:i + 200]}]):
            snapped[snapshot["VolumeId"]] += 1
    profiles = sum(len(pages(world, "describe_iam_instance_profile_associations",
                             "IamInstanceProfileAssociations",
                             Filters=[{"Name": "instance-id", "Values": ids[i:i + 200]}]))
                   for i in range(0, len(ids), 200))
    return {
        "instances_seen": len(volumes),
        "enis_in_isolation": in_isolation, "instances_tagged": len(tagged),
        "instances_snapshotted": sum(1 for vs in volumes.values()
                                     if vs and all(snapped[v] for v in vs)),
        "snapshots": sum(snapped.values()), "volumes": len(all_volumes),
        "profile_associations_after": profiles,
    }


def run_once(server: EmulatorServer, layer: IsolationTimes, world: Readiness, n: int,
             latency_ms: float, workdir: Path, python: Path, order: str) -> dict[str, Any]:
    layer.enabled = False
    server.latency_ms = 0
    ids = seed_fleet(world, n)
    enis = enis_of(world, ids)
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    case = f"bench-c7n-{n}-{int(time.time())}"
    policy_file = workdir / f"policy-{n}.json"
    policy_file.write_text(json.dumps(policy(n, ids, isolation, case, order)))
    output_dir = workdir / f"out-{n}"
    layer.conversion_groups = set()
    layer.isolation_group = isolation
    layer.reset()
    server.reset_calls()
    server.latency_ms = layer.latency_ms = latency_ms
    layer.enabled = True
    env = environment(server.endpoint_url, str(workdir))
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(workdir)
    load_before = os.getloadavg()
    started = time.monotonic()
    process = subprocess.run(
        [str(python), "-c", CHILD, "run", "--region", REGION, "-s", str(output_dir),
         "--cache-period", "0", "-v", str(policy_file)],
        env=env, capture_output=True, text=True, cwd=workdir, check=False)
    done = time.monotonic() - started
    load_after = os.getloadavg()
    layer.enabled = False
    server.latency_ms = 0
    landed = [layer.isolated_at[e["NetworkInterfaceId"]] for e in enis
              if e["NetworkInterfaceId"] in layer.isolated_at]
    isolated = (max(landed) - started) if len(landed) == len(enis) else None
    cut_moment = started + (isolated if isolated is not None else done)
    before_cut: Counter[str] = Counter(op for at, op in layer.admitted if at <= cut_moment)
    all_calls: Counter[str] = Counter(op for _, op in layer.admitted)
    isolated_floor, isolated_api = floor(before_cut, layer)
    done_floor, done_api = floor(all_calls, layer)
    log = process.stderr
    errors = [line.strip()[:300] for line in log.splitlines()
              if " ERROR " in line or line.startswith(("botocore.", "Traceback"))
              or "Error:" in line]
    maxrss = [line.split()[1] for line in log.splitlines() if line.startswith("MAXRSS_KB ")]
    query = QUERY_LOG.search(log)
    return {
        "n": n, "order": order, "enis": len(enis), "latency_ms": latency_ms,
        "c7n": C7N_VERSION, "custodian_stack": custodian_stack(python),
        "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "exit": process.returncode, "isolated": isolated, "done": done,
        "enis_isolation_call_landed": len(landed),
        "isolated_floor": isolated_floor, "isolated_floor_api": isolated_api,
        "done_floor": done_floor, "done_floor_api": done_api,
        "isolated_ratio": (isolated / isolated_floor) if isolated and isolated_floor else None,
        "done_ratio": (done / done_floor) if done_floor else None,
        **aws_state(world, ids, isolation, case),
        "matched": int(query.group(1)) if query else None,
        "query_seconds": float(query.group(2)) if query else None,
        "action_seconds": {m.group(1): float(m.group(3)) for m in ACTION_LOG.finditer(log)},
        "errors": errors[:5],
        "calls": dict(layer.calls), "admitted": dict(all_calls),
        "throttled": dict(layer.throttled),
        "other_calls": {f"{s}:{o}": c for (s, o), c in server.calls().items() if s != "ec2"},
        "peak_rss_mb": round(int(maxrss[-1]) / 1024, 1) if maxrss else None,
        "load_before": load_before, "load_after": load_after,
        "machine": machine(),
        "stderr": log[-1500:] if process.returncode else "",
    }


def irctl_runs() -> dict[int, dict[str, Any]]:
    """irctl's latest run of each N, from contain_fleet.jsonl (read only)."""
    path = RESULTS / "contain_fleet.jsonl"
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["n"]: r for r in records}


class ActionRow(NamedTuple):
    action: str
    apis: str
    """the EC2 APIs the action called in this run"""
    step: str
    """the irctl step doing the same"""
    admitted: float
    """Custodian's admitted calls per instance"""
    throttled: float
    """Custodian's throttled answers per instance"""
    irctl_admitted: float | None
    """irctl's admitted calls per instance to the same APIs (its latest run of this N)"""
    seconds: float | None
    """the action's time from Custodian's log"""


def per_action(run: dict[str, Any]) -> list[ActionRow]:
    irctl = irctl_runs().get(run["n"])
    n = run["n"]
    rows = []
    seen: set[str] = set()
    for action, logged, apis, step in ACTIONS:
        seen.update(apis)
        theirs = sum(irctl["admitted"].get(api, 0) for api in apis) if irctl else None
        rows.append(ActionRow(
            action, ", ".join(api for api in apis if run["calls"].get(api)) or "none", step,
            sum(run["admitted"].get(api, 0) for api in apis) / n,
            sum(run["throttled"].get(api, 0) for api in apis) / n,
            None if theirs is None else theirs / n,
            run["action_seconds"].get(logged) if logged else run.get("query_seconds")))
    rest = sorted(set(run["calls"]) - seen)
    if rest:
        rows.append(ActionRow("(not attributed)", ", ".join(rest), "-",
                              sum(run["admitted"].get(api, 0) for api in rest) / n,
                              sum(run["throttled"].get(api, 0) for api in rest) / n,
                              None, None))
    return rows


def sequential_floor(run: dict[str, Any]) -> float:
    """Custodian runs one action over all resources before the next, and each action uses
    its own EC2 buckets: the floor of `isolated` is the sum of the floors of the actions up
    to and including modify-security-groups, each over its own calls."""
    sizes = Ec2RequestLimits(lambda *_: None)
    by_action = {action: apis for action, _, apis, _ in ACTIONS}
    total = 0.0
    for action in ORDERS[run["order"]]:
        total += floor(Counter({api: run["admitted"].get(api, 0)
                                for api in by_action[action]}), sizes)[0]
        if action == "modify-security-groups":
            break
    return total


def markdown(runs: list[dict[str, Any]], records: list[dict[str, Any]]) -> str:
    irctl = irctl_runs()
    lines = [
        "# Benchmark: Cloud Custodian's isolation of a fleet, on the same throttled model "
        "(issue #21)",
        "",
        "Recorded by `bench/custodian_fleet.py`; every run is also in `custodian_fleet.jsonl`.",
        f"Cloud Custodian `c7n=={C7N_VERSION}` from PyPI, in its own virtualenv",
        "(`build/c7n-venv`, gitignored; never a project dependency), run as `custodian run`",
        "(a subprocess) against the emulator's moto server with 100 ms per call, behind the",
        "same measuring layer as `contain_fleet.py` (`MeasuredLimits`: a token bucket per",
        "EC2 API with the EC2 developer guide's sizes, full at the start, 503",
        "RequestLimitExceeded when empty) and on the same world (`seed_fleet`: two EBS",
        "volumes per instance, one ENI, every other instance two, no instance profile).",
        "",
        "The policy: `resource: ec2`, a `value` filter `InstanceId` `op: in` the seeded ids",
        "(client-side: the world also holds earlier runs' instances), and the actions",
        "`snapshot` (Custodian's default, copy-volume-tags), `modify-security-groups`",
        "(`isolation-group:` the manifest's isolation group of the VPC, `remove: all`),",
        f"`tag` (`{CASE_TAG}=<case>`), `set-instance-profile` (no name: disassociate).",
        "Custodian runs a policy's actions one after the other over all resources, so the",
        "order decides `isolated`: `snapshot-first` is the issue's order (as listed above),",
        "`network-first` puts `modify-security-groups` first (irctl's order). Custodian",
        "runs with its own defaults: botocore's default (legacy) retry mode, no `-m` metrics,",
        "no `-l` log group, local output dir, `--cache-period 0`.",
        "",
        "`isolated` = the last ENI's ModifyNetworkInterfaceAttribute to the isolation group",
        "alone was answered (measured in the throttling layer; Custodian reports no such",
        "time); `done` = the process exited; both from the process's start (Python and",
        "Custodian start-up, STS, resource query included). `floor` = max over EC2 APIs of",
        "(calls - burst) / refill, as in contain_fleet. `in isolation`, `tagged`,",
        "`snapshotted` are read from moto afterwards (AWS state): ENIs whose only group is",
        "the isolation group, instances with the case tag, instances all of whose volumes",
        "have a snapshot. irctl's figures are its latest run of the same N in",
        "`contain_fleet.jsonl` (recorded separately, at its own load).",
        "",
        "`sequential floor` = the sum of the floors of the actions up to and including",
        "modify-security-groups, each over its own calls: Custodian finishes one action on",
        "every resource before it starts the next, so with snapshot first the CreateSnapshots",
        "bucket's time comes before the first ModifyNetworkInterfaceAttribute.",
        "",
        "| order | N | ENIs | exit | isolated s | isolated floor s (API) | ratio | "
        "sequential floor s | ratio | done s | "
        "done floor s (API) | ratio | throttled | in isolation | tagged | snapshotted | "
        "peak RSS MB | load 1 min before / after | recorded |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"
        "---|",
    ]
    for r in runs:
        sequential = sequential_floor(r)
        lines.append(
            f"| {r['order']} | {r['n']} | {r['enis']} | {r['exit']} | {fmt(r['isolated'])} | "
            f"{fmt(r['isolated_floor'])} ({r['isolated_floor_api']}) | "
            f"{fmt(r['isolated_ratio'], 2)} | {fmt(sequential)} | "
            f"{fmt(r['isolated'] / sequential if r['isolated'] and sequential else None, 2)} | "
            f"{fmt(r['done'])} | {fmt(r['done_floor'])} "
            f"({r['done_floor_api']}) | {fmt(r['done_ratio'], 2)} | "
            f"{sum(r['throttled'].values())} | {r['enis_in_isolation']}/{r['enis']} | "
            f"{r['instances_tagged']}/{r['n']} | {r['instances_snapshotted']}/{r['n']} | "
            f"{fmt(r['peak_rss_mb'])} | {r['load_before'][0]:.1f} / "
            f"{r['load_after'][0]:.1f} | {r['recorded']} |")
    stacks = sorted({r.get("custodian_stack", f"c7n {r['c7n']}") for r in runs})
    lines += ["", f"Machine: {runs[-1]['machine']}. Custodian's venv: {'; '.join(stacks)}.",
              "",
              "## Side by side with irctl (`contain instance --apply`, contain_fleet.jsonl)", "",
              "| order | N | Custodian isolated s | irctl isolated s | Custodian done s | "
              "irctl done s | Custodian EC2 calls admitted | irctl EC2 calls admitted | "
              "Custodian throttled | irctl throttled | load 1 min before, Custodian / irctl "
              "| irctl recorded |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in runs:
        i = irctl.get(r["n"])
        lines.append(
            f"| {r['order']} | {r['n']} | {fmt(r['isolated'])} | "
            f"{fmt(i['isolated']) if i else '-'} | "
            f"{fmt(r['done'])} | {fmt(i['done']) if i else '-'} | "
            f"{sum(r['admitted'].values())} | {sum(i['admitted'].values()) if i else '-'} | "
            f"{sum(r['throttled'].values())} | "
            f"{sum(i['throttled'].values()) if i else '-'} | {r['load_before'][0]:.1f} / "
            f"{i['load_before'][0] if i else float('nan'):.1f} | "
            f"{i['recorded'] if i else '-'} |")
    lines += ["", "irctl does more per instance than this subset (network cut through a "
              "conversion group, termination and API-stop protection, console output, "
              "evidence to S3), so its call totals are larger; the per-action table "
              "compares the same actions.", ""]
    for r in runs:
        lines += [f"## N={r['n']}, {r['order']}: per action", "",
                  "| Custodian action | EC2 APIs it called | Custodian admitted per instance | "
                  "Custodian throttled per instance | irctl step | irctl admitted per "
                  "instance, same APIs | Custodian action time s |",
                  "|---|---|---:|---:|---|---:|---:|"]
        for row in per_action(r):
            lines.append(f"| {row.action} | {row.apis} | {row.admitted:.2f} | "
                         f"{row.throttled:.2f} | {row.step} | {fmt(row.irctl_admitted, 2)} | "
                         f"{fmt(row.seconds)} |")
        lines += ["", f"## N={r['n']}, {r['order']}: EC2 calls per API", "",
                  "| API | calls | admitted | throttled | per instance |",
                  "|---|---:|---:|---:|---:|"]
        for api, count in sorted(r["calls"].items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| {api} | {count} | {r['admitted'].get(api, 0)} | "
                         f"{r['throttled'].get(api, 0)} | {count / r['n']:.2f} |")
        other = ", ".join(f"{k} {v}" for k, v in sorted(r["other_calls"].items()))
        lines += ["", f"Other services: {other or 'none'}."]
        if r["errors"]:
            lines += ["", "Errors (Custodian's log): " + "; ".join(
                f"`{e}`" for e in r["errors"])]
        lines.append("")
    lines += [
        f"## What each Custodian action does (read in c7n {C7N_VERSION}'s source)", "",
        "* resource query: DescribeInstances (paged), then one DescribeTags (resource type",
        "  instance), because the sampled instances carry no `Tags` (Custodian's check for tags",
        "  missing from DescribeInstances; `seed_fleet`'s instances have none), and STS",
        "  GetCallerIdentity for the account id.",
        "* `snapshot`: one CreateSnapshots per instance (all its volumes), 2 threads, each",
        "  call inside Custodian's own retry on RequestLimitExceeded (jittered backoff, 8",
        "  attempts) on top of botocore's.",
        "* `modify-security-groups`: the ENIs and their groups come from the DescribeInstances",
        "  answer (no other read); one ModifyNetworkInterfaceAttribute per ENI, in one thread,",
        "  straight to the isolation group (no conversion group first: tracked connections",
        "  of the old groups are not cut, which is why irctl makes 2 calls per ENI), with",
        "  botocore's retries only (Custodian's own retry does not wrap this call); a call",
        "  that exhausts them fails the action, and the actions after it do not run. One",
        "  thread at 100 ms per call makes under 10 calls/s, so until the bucket's burst of",
        "  100 is spent the loop's round trips, not EC2's refill, set the pace (N=100: 150",
        "  calls, floor 10 s, the action takes longer).",
        "* `tag`: CreateTags for 25 instances per call, 2 threads.",
        "* `set-instance-profile` without a name: instances whose DescribeInstances answer has",
        "  no `IamInstanceProfile` are skipped without a call; the fleet has none, so it",
        "  makes no call (irctl's `ec2.detach-instance-profile` reads the associations,",
        "  one DescribeIamInstanceProfileAssociations per 200 instances).",
        "",
        "irctl's per-instance figures for the same APIs come from its whole `contain",
        "instance` run, so for ModifyNetworkInterfaceAttribute they are 2 per ENI",
        "(conversion, then isolation) and DescribeSecurityGroups is its check of the",
        "quarantine groups' rules.",
        "",
    ]
    lines += ["## Every run recorded (`custodian_fleet.jsonl`)", "",
              "| recorded | order | N | exit | isolated s | done s | throttled | in isolation | "
              "tagged | snapshotted | first error |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        lines.append(f"| {r['recorded']} | {r['order']} | {r['n']} | {r['exit']} | "
                     f"{fmt(r['isolated'])} | {fmt(r['done'])} | {sum(r['throttled'].values())} | "
                     f"{r['enis_in_isolation']}/{r['enis']} | {r['instances_tagged']} | "
                     f"{r['instances_snapshotted']} | {(r['errors'] or ['-'])[0][:120]} |")
    lines += ["", "Left out of `custodian_fleet.jsonl`: an N=300 snapshot-first run at 00:09 "
              "UTC on 2026-12-07 whose AWS-state check read DescribeInstances unpaged (moto "
              "pages it by 100), so it counted 200 of 300 instances tagged and snapshotted "
              "(its timing: exit 0, isolated 117.9 s, done 120.2 s, 80 throttled); the "
              "N=1,000 run started after it was stopped. The check pages since.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--order", choices=sorted(ORDERS), default="snapshot-first",
                        help="the policy's action order (default: the issue's)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite custodian_fleet.md from custodian_fleet.jsonl, run nothing")
    args = parser.parse_args()
    if args.report_only:
        return report()
    python = custodian_python()
    if python is None:
        return 2
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    holder: dict[str, IsolationTimes] = {}

    def wrap(app: Any) -> Any:
        holder["layer"] = IsolationTimes(app, latency_ms=0)
        return holder["layer"]

    server = EmulatorServer(latency_ms=0, middleware=wrap).start()
    layer = holder["layer"]
    runs = []
    with tempfile.TemporaryDirectory() as workdir, server:
        layer.enabled = False
        world = world_on(server)
        for n in args.sizes:
            run = run_once(server, layer, world, n, args.latency_ms, Path(workdir), python,
                           args.order)
            print(f"N={n} {args.order}: exit={run['exit']} isolated={fmt(run['isolated'])}s "
                  f"(floor {fmt(run['isolated_floor'])}) done={fmt(run['done'])}s "
                  f"(floor {fmt(run['done_floor'])}) "
                  f"throttled={sum(run['throttled'].values())} "
                  f"in_isolation={run['enis_in_isolation']}/{run['enis']} "
                  f"tagged={run['instances_tagged']} seen={run['instances_seen']} "
                  f"snapshotted={run['instances_snapshotted']} {run['errors'][:2]}",
                  flush=True)
            if run["stderr"]:
                print(run["stderr"], file=sys.stderr)
            runs.append(run)
            if not args.no_write:
                with (RESULTS / "custodian_fleet.jsonl").open("a") as log:
                    log.write(json.dumps(run, default=str) + "\n")
    if args.no_write:
        print(markdown(runs, runs))
        return 0
    return report()


def report() -> int:
    records = [json.loads(line) for line in
               (RESULTS / "custodian_fleet.jsonl").read_text().splitlines() if line.strip()]
    latest = {(record["order"], record["n"]): record for record in records}
    (RESULTS / "custodian_fleet.md").write_text(
        markdown([latest[key] for key in sorted(latest, key=lambda k: (
            list(ORDERS).index(k[0]), k[1]))], records))
    print(f"wrote {RESULTS / 'custodian_fleet.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
