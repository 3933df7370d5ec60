"""Benchmark: each README command on a fresh machine, word for word.

    .venv/bin/python bench/fresh_machine.py [--commands drill test] [--source .]
                                            [--pytest-args 'tests/test_packaging.py']

For each command, a new `git clone` of `--source` (HEAD: commit first; uncommitted work is
not measured) with no `.venv`, then `make <command>` exactly as README says, timed from
start to exit. The install phase ends when make touches the command's stamp
(`.venv/.installed-drill`, `.venv/.installed`), so install and run are reported apart,
with the size of the resulting `.venv`. Every command gets its own clone: on a fresh
machine either may be the first one run (CI runs only `make test`).

`--pytest-args` runs `make test PYTEST_ARGS=...` (lint and type checks whole, a subset of
the tests) and is recorded as such: the full suite is long on a shared machine.

What "fresh" does not cover: pip's download cache (~/.cache/pip) is whatever this machine
has (its size is recorded); the Python interpreter and `make` are assumed installed.
Results: bench/results/fresh_machine.md and bench/results/fresh_machine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STAMPS = {"drill": ".venv/.installed-drill", "test": ".venv/.installed"}


def _size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(dirpath) / name).lstat().st_size
            except OSError:
                continue
    return total / 1e6


def _pip_cache() -> dict[str, Any]:
    cache = Path.home() / ".cache" / "pip"
    return {"path": str(cache), "exists": cache.is_dir(),
            "mb": round(_size_mb(cache), 1) if cache.is_dir() else 0.0}


def one_command(source: Path, command: str, pytest_args: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fresh-") as tmp:
        clone = Path(tmp) / "ir-readiness"
        subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
        commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
                                check=True, capture_output=True, text=True).stdout.strip()
        argv = ["make", command]
        if command == "test" and pytest_args:
            argv.append(f"PYTEST_ARGS={pytest_args}")
        load = os.getloadavg()[0]
        started = time.time()
        proc = subprocess.run(argv, cwd=clone, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False)
        ended = time.time()
        stamp = clone / STAMPS[command]
        installed = stamp.stat().st_mtime if stamp.exists() else None
        # this machine's pip config names local indexes that do not exist: noise
        output = [line for line in proc.stdout.splitlines()
                  if line.strip() and not line.startswith("WARNING: Location")]
        result = {
            "name": command, "recorded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": shlex.join(argv), "commit": commit, "exit_code": proc.returncode,
            "wall_s": round(ended - started, 1),
            "install_s": round(installed - started, 1) if installed else None,
            "run_s": round(ended - installed, 1) if installed else None,
            "venv_mb": round(_size_mb(clone / ".venv"), 0),
            "load_1m_at_start": round(load, 1),
            "subset": bool(command == "test" and pytest_args),
            "tail": output[-6:],
        }
        print(json.dumps(result), flush=True)
        return result


def render(summary: dict[str, Any]) -> None:
    """bench/results/fresh_machine.md from the recorded summary."""
    runs = summary["runs"]
    rows = "\n".join(
        f"| `{r['command']}`{' (test subset)' if r['subset'] else ''} | {r['exit_code']} "
        f"| {r['wall_s']:.0f} | {r['install_s'] if r['install_s'] is not None else '-'} "
        f"| {r['run_s'] if r['run_s'] is not None else '-'} | {r['venv_mb']:.0f} "
        f"| {r['load_1m_at_start']} | {r.get('recorded_at', '-')} | {r['commit']} |"
        for r in runs)
    cache = summary["pip_cache"]
    cache_note = (f"pip's download cache held {cache['mb']:.0f} MB when the run started"
                  + (", so some downloads were cache hits" if cache["mb"] >= 10 else
                     ": packages came from this machine's configured indexes, not a local "
                     "cache"))
    (RESULTS / "fresh_machine.md").write_text(f"""# README commands on a fresh machine

`.venv/bin/python bench/fresh_machine.py` on {summary['recorded_at']}: each command in its
own new clone, without `.venv` ({summary['machine']['cpus']} CPUs shared with other work,
Python {summary['machine']['python']}); {cache_note}.

| command | exit | total (s) | install (s) | run (s) | .venv (MB) | load | recorded | commit |
|---|--:|--:|--:|--:|--:|--:|---|---|
{rows}

Install: from `make` start until the command's stamp (`.venv/.installed-drill` for
`make drill`: the stack and the emulator; `.venv/.installed` for `make test`:
everything); run: the command itself; load: the 1-minute load average at start (2 CPUs
shared with other work). A `make test` marked "test subset" ran lint and type checks
whole and the tests named in its command only. Issue #18 measured `make drill` fresh at
about 230 s, 160 of them building a 753 MB environment with the linters and type checkers.
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip())
    parser.add_argument("--commands", nargs="+", default=["drill", "test"],
                        choices=sorted(STAMPS))
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--pytest-args", default=None)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the Markdown from the recorded JSON, run nothing")
    args = parser.parse_args()
    if args.render_only:
        render(json.loads((RESULTS / "fresh_machine.json").read_text()))
        return 0
    cache = _pip_cache()
    runs = [one_command(args.source, c, args.pytest_args) for c in args.commands]
    # a command not run this time keeps its last recorded run (each carries its date)
    previous = RESULTS / "fresh_machine.json"
    if previous.exists():
        kept = [r for r in json.loads(previous.read_text()).get("runs", [])
                if r.get("name") not in args.commands]
        runs = sorted(kept + runs, key=lambda r: list(STAMPS).index(r.get("name", "drill")))
    summary = {
        "runs": runs, "pip_cache": cache,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "recorded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fresh_machine.json").write_text(json.dumps(summary, indent=2) + "\n")
    render(summary)
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
