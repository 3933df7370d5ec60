"""irctl in a log or a pipe (issue 18): stdout not a terminal at 80 columns keeps every
id whole; `--output text|json|table` everywhere; AWS CLI options after the subcommand;
`--debug` logs each AWS call; a wait prints a line every few seconds. Against the
emulator server, made slow (`latency_ms`) once the account is seeded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.runbooks.conftest import REGION, Readiness, launch_instances, seed_readiness

NARROW = {"COLUMNS": "80"}


@pytest.fixture
def slow_world(fake_aws_env: Path) -> Iterator[tuple[Readiness, Any]]:
    """A seeded account on the emulator server; the test sets `server.latency_ms`."""
    from rehearsal.emulator.server import start_server

    server = start_server(latency_ms=0)
    try:
        def clients(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=server.endpoint_url)

        world = seed_readiness(clients)
        world.endpoint_url = server.endpoint_url
        world.case_dir = fake_aws_env
        yield world, server
    finally:
        server.stop()


def quarantine_ids(world: Readiness) -> list[str]:
    groups = world.manifest["quarantine"][world.vpc_id]
    return [groups["isolationSecurityGroupId"], groups["conversionSecurityGroupId"]]


def assert_whole(text: str, *ids: str) -> None:
    """Each id appears unbroken (not cut by an ellipsis, not folded over two lines)."""
    for value in ids:
        assert value in text, f"{value} not whole in:\n{text}"
    assert "…" not in text, text


def test_a_plan_in_a_pipe_at_80_columns_keeps_ids_whole_and_names_the_case(
        slow_world: tuple[Readiness, Any]) -> None:
    world, _ = slow_world
    [iid] = launch_instances(world, 1)

    plan = world.irctl("contain", "instance", iid, env=NARROW)

    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert_whole(plan.stdout, iid, *quarantine_ids(world))
    # the generated case id is in the result on stdout, whole, not only on stderr
    case = re.search(r"case (ir-\S+); exit code 0", plan.stdout)
    assert case is not None, plan.stdout
    assert f"pass --case {case.group(1)} to continue it)" in plan.stderr.replace("\n", " ")
    assert "\n" not in plan.stderr.strip().split("case: ", 1)[1], plan.stderr


def test_case_show_after_containment_keeps_ids_whole_at_80_columns(
        slow_world: tuple[Readiness, Any]) -> None:
    world, _ = slow_world
    [iid] = launch_instances(world, 1)
    done = world.irctl("contain", "instance", iid, "--apply", "--case", "ir-pipe-1")
    assert done.returncode == 0, done.stderr + done.stdout
    snapshots = [s["SnapshotId"] for s in world.client("ec2").describe_snapshots(
        Filters=[{"Name": "tag:ir:case", "Values": ["ir-pipe-1"]}])["Snapshots"]]
    assert snapshots

    shown = world.irctl("case", "show", "ir-pipe-1", env=NARROW)

    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert_whole(shown.stdout, iid, "ir-pipe-1", *quarantine_ids(world))


def test_status_accepts_aws_cli_options_after_the_subcommand_in_each_format(
        slow_world: tuple[Readiness, Any], tmp_path: Path) -> None:
    world, _ = slow_world
    manifest = str(world.write_manifest_file(tmp_path / "manifest.json"))
    args = ("--manifest", manifest, "status", "--region", REGION, "--endpoint-url",
            str(world.endpoint_url), "--no-color")

    as_json = world.irctl(*args, "--output", "json", env={"AWS_DEFAULT_REGION": "eu-west-3"})
    as_text = world.irctl(*args, "--output", "text", env=NARROW)
    as_table = world.irctl(*args, env=NARROW)

    document = json.loads(as_json.stdout)
    checks = {c["check"]: c for c in document["checks"]}
    assert checks["Account"]["ok"] and checks["Manifest"]["ok"], as_json.stdout
    topics = list(world.manifest["topics"].values())
    assert_whole(as_table.stdout, *topics)
    assert "\x1b[" not in as_table.stdout  # --no-color
    # text: the AWS CLI's shape: the top-level scalars (exitCode, ready), then one
    # tab-separated CHECKS line per check (check, detail, ok: keys in order)
    lines = [line.split("\t") for line in as_text.stdout.splitlines()]
    assert lines[0] == [str(document["exitCode"]), str(document["ready"])]
    assert [fields[1] for fields in lines if fields[0] == "CHECKS"] == list(checks)
    assert_whole(as_text.stdout, *topics)


def test_playbook_list_in_a_pipe_keeps_names_and_finding_types_whole(
        fake_aws_env: Path) -> None:
    from click.testing import CliRunner

    from runbooks.cli import main
    from runbooks.playbooks import load_all

    listed = CliRunner().invoke(main, ["playbook", "list"], env=NARROW)
    as_text = CliRunner().invoke(main, ["playbook", "list", "--output", "text"])

    assert listed.exit_code == 0, listed.output
    for pb in load_all():
        assert_whole(listed.stdout, pb.name, pb.title, *pb.doc["triggers"]["guardduty"][:3])
        assert f"{pb.name}\t{pb.doc['severity']}\t{pb.title}" in as_text.stdout.splitlines()
        for finding_type in pb.doc["triggers"]["guardduty"]:
            assert f"GUARDDUTY\t{finding_type}" in as_text.stdout.splitlines()


def test_debug_logs_each_aws_call_with_target_duration_and_request_id(
        slow_world: tuple[Readiness, Any]) -> None:
    world, server = slow_world
    [iid] = launch_instances(world, 1)
    server.latency_ms = 150

    plan = world.irctl("contain", "instance", iid, "--debug")

    assert plan.returncode == 0, plan.stderr
    calls = [line for line in plan.stderr.splitlines() if line.startswith("aws ")]
    described = [line for line in calls if line.startswith("aws ec2.DescribeInstances ")
                 and iid in line]
    assert described, plan.stderr
    fields = re.fullmatch(r"aws ec2\.DescribeInstances (.+) (\d+) ms 200 request-id (\S+)",
                          described[0])
    assert fields is not None, described[0]
    assert iid in fields.group(1)
    assert int(fields.group(2)) >= 150  # the emulator's latency is in the call's time
    assert fields.group(3) != "-"
    assert any(line.startswith("aws sts.GetCallerIdentity ") for line in calls)
    # -v after the subcommand, as the AWS CLI's --debug
    quiet = world.irctl("contain", "instance", iid)
    short = world.irctl("contain", "instance", iid, "-v")
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("aws ")]
    assert [line for line in short.stderr.splitlines() if line.startswith("aws ")]


def test_a_slow_plan_off_a_terminal_prints_what_it_waits_for(
        slow_world: tuple[Readiness, Any]) -> None:
    world, server = slow_world
    [iid] = launch_instances(world, 1)
    server.latency_ms = 250

    plan = world.irctl("contain", "instance", iid, "--output", "json",
                       env={"IR_PROGRESS_SECONDS": "0.5"})

    assert plan.returncode == 0, plan.stderr
    json.loads(plan.stdout)  # the lines are on stderr: stdout stays one document
    waits = [line for line in plan.stderr.splitlines() if line.startswith("waiting ")]
    assert waits, plan.stderr
    assert any(f"contain instance: {iid}: " in line for line in waits), waits


def test_a_fast_command_prints_no_progress_line(slow_world: tuple[Readiness, Any]) -> None:
    world, _ = slow_world
    [iid] = launch_instances(world, 1)

    plan = world.irctl("contain", "instance", iid)

    assert plan.returncode == 0, plan.stderr
    assert not [line for line in plan.stderr.splitlines() if line.startswith("waiting ")]


def test_contain_and_release_plans_show_before_to_after_with_groups_by_role(
        slow_world: tuple[Readiness, Any]) -> None:
    world, _ = slow_world
    [iid] = launch_instances(world, 1)
    [original] = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["Groups"]
    isolation, conversion = quarantine_ids(world)

    plan = world.irctl("contain", "instance", iid, env=NARROW)
    done = world.irctl("contain", "instance", iid, "--apply", "--case", "ir-undo-1")
    assert done.returncode == 0, done.stderr + done.stdout
    release = world.irctl("release", "instance", iid, "--case", "ir-undo-1", env=NARROW)

    assert plan.returncode == 0 and release.returncode == 0, plan.stderr + release.stderr
    forward = f"groups: {original['GroupId']} (original) -> {isolation} (isolation)"
    backward = f"groups: {isolation} (isolation) -> {original['GroupId']} (original)"
    assert forward in plan.stdout and backward not in plan.stdout, plan.stdout
    assert backward in release.stdout and forward not in release.stdout, release.stdout
    assert "disableApiTermination: True -> False" in release.stdout, release.stdout
    assert "undo: " in release.stdout and "restore: " not in release.stdout
    # the plan changed nothing: the instance is still in its original group
    eni = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    assert [g["GroupId"] for g in eni["Groups"]] == [isolation]  # contained, not released
    assert conversion not in [g["GroupId"] for g in eni["Groups"]]


def _drill_report(failing_detail: str) -> Any:
    from rehearsal.run import DrillReport, ScenarioReport
    from rehearsal.scenarios._base import Check

    scenarios = [ScenarioReport(name, f"{name}-playbook", f"ir-20261206-120000-{i:06x}",
                                "UnauthorizedAccess:IAMUser/MaliciousIPCaller", {},
                                checks=[Check("contained", i == 0, failing_detail)],
                                seconds_to_contain=1.5)
                 for i, name in enumerate(["compromised-ec2-instance",
                                           "compromised-iam-credentials"])]
    return DrillReport("drill-7f3a9c21", "emulated", "123456789012", REGION, [REGION], 2.0,
                       [], scenarios, seconds_total=3.0)


def test_the_drill_report_in_a_pipe_keeps_ids_whole_and_a_long_drill_is_not_silent(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The drill's rendering and its wait lines; the drill itself (about a minute on the
    emulator) is tested in tests/rehearsal, here it is a 1.5 s wait returning a report."""
    import time

    from click.testing import CliRunner

    import runbooks.commands.drill as drill_command
    from runbooks.cli import main

    arn = "arn:aws:iam::123456789012:role/ir-readiness-drill-victim-role-7f3a9c21"
    report = _drill_report(f"{arn} still has an active session")

    def slow_drill(scenario: str, out: Path, **_: Any) -> tuple[Any, Path, Path]:
        time.sleep(1.5)
        return report, out / "drill.md", out / "drill.json"

    monkeypatch.setattr(drill_command, "run_emulated_drill", slow_drill)
    result = CliRunner().invoke(main, ["drill", "--out", str(tmp_path), "--no-color"],
                                env={**NARROW, "IR_PROGRESS_SECONDS": "0.4"})

    assert result.exit_code == 1, result.output  # one scenario failed its check
    cases = [s.case for s in report.scenarios]
    assert_whole(result.stdout, "drill-7f3a9c21", arn, str(tmp_path / "drill.json"), *cases)
    waits = [line for line in result.stderr.splitlines() if line.startswith("waiting ")]
    assert len(waits) >= 2 and all("drill all: provisioning" in line for line in waits), waits
    as_text = CliRunner().invoke(main, ["drill", "--out", str(tmp_path), "--output", "text"])
    assert f"SCENARIOS\t{cases[1]}" in as_text.stdout, as_text.stdout


def test_a_backup_job_off_a_terminal_prints_its_state_every_few_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import click

    from runbooks.commands._shared import Settings, job_progress

    monkeypatch.setenv("IR_PROGRESS_SECONDS", "0.2")
    lines: list[str] = []
    monkeypatch.setattr(click, "echo", lambda message, err=False, **_: lines.append(
        f"{'stderr' if err else 'stdout'}: {message}"))
    with job_progress(Settings(), "backup vol-0123456789abcdef0") as update:
        update(40.0, "RUNNING")
        time.sleep(0.5)
        update(100.0, "COMPLETED")
        time.sleep(0.3)
    assert any(re.fullmatch(r"stderr: waiting \d+ s: backup vol-0123456789abcdef0: "
                            r"running 40%", line) for line in lines), lines
    assert any(line.endswith("backup vol-0123456789abcdef0: completed 100%") for line in lines)
    assert not [line for line in lines if line.startswith("stdout")]


def test_text_output_has_the_aws_cli_shape() -> None:
    from runbooks.commands._text import format_text

    document = {"case": "ir-1", "exitCode": 0, "evidenceQueued": [],
                "runs": [{"kind": "contain instance", "apply": False,
                          "targets": [{"target": "i-0a", "status": "done"}]},
                         {"kind": "release instance", "apply": True, "extra": "x\ty\nz"}],
                "regions": ["eu-west-1", "us-east-1"]}

    assert format_text(document).splitlines() == [
        "ir-1\t0",
        "REGIONS\teu-west-1",
        "REGIONS\tus-east-1",
        # one line per element, the union of the elements' scalar keys in order
        "RUNS\tFalse\t\tcontain instance",
        "TARGETS\tdone\ti-0a",
        "RUNS\tTrue\tx y z\trelease instance",  # a tab or newline never splits a record
    ]
    assert format_text([{"name": "a", "n": 1}, {"name": "b", "n": 2}]) == "1\ta\n2\tb\n"


def test_an_aws_error_names_code_and_request_id_in_every_format_and_in_debug(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1)
    world.faults.deny("DescribeInstances")

    as_text = world.irctl("contain", "instance", iid, "--output", "text", "--debug")

    assert as_text.returncode != 0
    denied = [line for line in as_text.stderr.splitlines()
              if line.startswith("aws ec2.DescribeInstances ")]
    assert denied and " UnauthorizedOperation request-id " in denied[0], as_text.stderr
    request_ids = {line.rsplit(" ", 1)[1] for line in denied}
    assert "-" not in request_ids
    errors = [line for line in as_text.stderr.splitlines() if line.startswith("error: ")]
    # the error shown names the code and the request id of a call the debug log shows
    assert errors and "UnauthorizedOperation" in errors[0], errors
    assert any(f"request id {rid}" in errors[0] for rid in request_ids), (errors, request_ids)
    assert "Traceback" not in as_text.stderr
