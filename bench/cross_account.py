"""Benchmark: containment across member accounts in one command vs one command per account.

Seeds N member accounts (moto multi-account: the seeding assumes a role in each) on the
drill emulator's moto server with a per-call latency (default 100 ms, a real AWS round
trip), one instance per account, then measures wall time of

* one `irctl contain instance ACCOUNT:REGION:ID ...` for all N accounts (scopes run
  concurrently, one session each), and
* N sequential `irctl --account ACCOUNT contain instance ID` commands (fresh instances),

both through the real CLI as a subprocess. Results are written to
`bench/results/cross_account.md`.

    .venv/bin/python bench/cross_account.py [--accounts 1 2 4] [--latency-ms 100] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rehearsal.emulator.server import start_server  # noqa: E402
from tests.runbooks.conftest import REGION, Readiness, launch_instances, seed_readiness  # noqa: E402

RESULTS = REPO / "bench" / "results" / "cross_account.md"


def member(endpoint: str, account: str) -> Readiness:
    sts = boto3.client("sts", region_name=REGION, endpoint_url=endpoint)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                            RoleSessionName="bench")["Credentials"]
    session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                            aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], region_name=REGION)
    world = seed_readiness(lambda s: session.client(s, endpoint_url=endpoint), account=account)
    world.endpoint_url = endpoint
    return world


def irctl(endpoint: str, cases: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=endpoint, IR_CASE_DIR=str(cases),
               PYTHONPATH=str(REPO), IR_EXTERNAL_ID="bench-external-id")
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "runbooks", "--output", "json", *args],
                         env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"irctl {' '.join(args)} exited {run.returncode}: {run.stderr[-2000:]}")
    return elapsed


def measure(counts: list[int], latency_ms: float) -> list[tuple[int, float, float]]:
    rows = []
    with start_server(latency_ms=latency_ms) as server, tempfile.TemporaryDirectory() as tmp:
        endpoint = server.endpoint_url
        for n in counts:
            accounts = [f"{500000000000 + 1000 * n + i:012d}" for i in range(n)]
            worlds = {a: member(endpoint, a) for a in accounts}
            targets = [f"{a}:{REGION}:{launch_instances(w, volumes=1)[0]}"
                       for a, w in worlds.items()]
            one = irctl(endpoint, Path(tmp), "contain", "instance", *targets, "--apply")
            sequential = 0.0
            for a, w in worlds.items():
                [instance] = launch_instances(w, volumes=1)
                sequential += irctl(endpoint, Path(tmp), "--account", a, "contain", "instance",
                                    instance, "--apply")
            rows.append((n, one, sequential))
            print(f"{n} account(s): one command {one:.1f}s, one per account {sequential:.1f}s",
                  flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    # Emulator credentials only: this script never talks to real AWS.
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    rows = measure(args.accounts, args.latency_ms)
    if args.no_write:
        return
    lines = [
        "# Cross-account containment (bench/cross_account.py)",
        "",
        f"moto server (drill emulator) with {args.latency_ms:.0f} ms per AWS call; one "
        "instance (one ENI, one volume) per member account; the real CLI as a subprocess "
        "(interpreter start-up included in every command). Machine: 2 cores shared with "
        "other engineers' work while this ran, so absolute times are noisy.",
        "",
        "| accounts | one command, all accounts (s) | one command per account, sequential (s) |",
        "|---:|---:|---:|",
        *[f"| {n} | {one:.1f} | {seq:.1f} |" for n, one, seq in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
