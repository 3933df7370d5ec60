"""`CLI_READ_ACTIONS` is what irctl itself is measured to call, outside any step.

irctl runs in-process (click) against moto + the emulator with the recording layer on
(`tests/runbooks/recording.py`): status, triage (plan, --apply, --finding-id),
investigate (LookupEvents and the trail's log files), contain + case show (local and
--from-evidence) + verify case + release of an instance, key, role, bucket and address,
backup now and recover instance. Calls made inside a step's methods are the step's (measured against
its own declaration in `test_step_actions_measured.py`); every other call is the
command's, the runner's (audit copy, claims) or discovery's. Those must be granted by the
responder role without any step: in `CLI_READ_ACTIONS` or the role's evidence-bucket
statements. And every entry of `CLI_READ_ACTIONS` must be measured here, or be named in
NOT_EXERCISED with the reason: a read nobody makes is a grant nobody needs.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import Result

from runbooks.core.permissions import CLI_READ_ACTIONS
from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World, build_world
from tests.runbooks.commands.test_eradicate import launch
from tests.runbooks.recording import OUTSIDE, Recorder, recorder  # noqa: F401 - fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# What the responder role grants on the evidence bucket and keys only (the
# `_evidence_read`, `WriteEvidence` and `EncryptEvidence` statements of
# `components/responder_access.py`): the runner's audit copy and claims, case files.
EVIDENCE_GRANTS = frozenset({
    "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation", "s3:GetObject",
    "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:PutObject", "s3:PutObjectRetention",
    "s3:PutObjectLegalHold", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey",
})

# Entries of CLI_READ_ACTIONS no command below calls, with the reason. Keep it short.
NOT_EXERCISED: dict[str, str] = {}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          recorder: Recorder) -> Iterator[World]:  # noqa: F811 - fixture
    yield from build_world(tmp_path, monkeypatch)


def _finding(world: World) -> Path:
    finding = json.loads((FIXTURES / "asff_guardduty_backdoor_ec2.json").read_text())
    finding = copy.deepcopy(finding)
    seen = datetime.now(timezone.utc) - timedelta(hours=1)
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    finding.update(FirstObservedAt=stamp, CreatedAt=stamp, LastObservedAt=stamp,
                   UpdatedAt=stamp)
    assert world.client("securityhub").batch_import_findings(
        Findings=[finding])["FailedCount"] == 0
    path = world.manifest_path.parent / "finding.json"
    path.write_text(json.dumps(finding))
    return path


def _guardduty_finding(world: World) -> str:
    from rehearsal.emulator import inject_finding

    found = json.loads((FIXTURES / "guardduty_get_findings_iam_user.json").read_text())
    finding = found["Findings"][0]
    seen = datetime.now(timezone.utc) - timedelta(hours=1)
    finding["Service"]["EventFirstSeen"] = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    finding["Service"]["EventLastSeen"] = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    finding["Arn"] = finding["Arn"].replace("12abc34d567e8fa901bc2d34e56789f0",
                                            world.manifest["guardDutyDetectorId"])
    inject_finding(finding, world.manifest["guardDutyDetectorId"], ACCOUNT, REGION)
    return str(finding["Id"])


def _old_trail_log(world: World) -> datetime:
    """A trail log file older than LookupEvents' 90 days: investigate reads the bucket."""
    from tests.runbooks.analysis.trail_logs import put_log, record

    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=120)
    event = record("CreateUser", old, source="iam.amazonaws.com",
                   request={"userName": "svc-backdoor"})
    put_log(world.client("s3"), world.manifest["trail"]["bucket"], old + timedelta(minutes=5),
            [event], prefix="ct")
    return old - timedelta(hours=1)


def _exposed_bucket(world: World) -> str:
    s3 = world.client("s3")
    bucket = f"exposed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    return bucket


def _role(world: World) -> str:
    role = f"app-{uuid.uuid4().hex[:8]}"
    world.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    return role


def _backup_vault_and_role(world: World) -> None:
    from rehearsal.emulator.backup import set_job_seconds

    set_job_seconds(0.2)
    backup = world.manifest["backup"]
    world.client("backup").create_backup_vault(BackupVaultName=backup["vaultName"])
    world.client("iam").create_role(
        RoleName=backup["restoreRoleArn"].rsplit("/", 1)[-1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))


def _discovered(world: World, *argv: str) -> Result:
    """irctl without --manifest: the manifest comes from SSM, as a responder runs it."""
    from click.testing import CliRunner

    from runbooks.cli import main

    return CliRunner().invoke(main, ["--region", REGION, *argv], catch_exceptions=False)


def measure(world: World, recorder: Recorder) -> dict[str, set[str]]:  # noqa: F811
    """Run the commands; per command, the IAM actions of the calls made outside steps."""
    iid = launch(world, managed=True)
    iam = world.client("iam")
    user = f"mallory-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password="Corr3ct-Horse-Battery!")
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    for severity, topic in world.manifest["topics"].items():
        world.client("sns").subscribe(TopicArn=topic, Protocol="email",
                                      Endpoint=f"{severity}@example.com")
    finding, guardduty_finding = _finding(world), _guardduty_finding(world)
    _backup_vault_and_role(world)
    victim = launch(world, managed=False)
    group = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    since_old, bucket, role = _old_trail_log(world), _exposed_bucket(world), _role(world)
    principal = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    world.manifest["forensicAccount"] = "210987654321"  # ir:forensicAccount set
    world.manifest_path.write_text(json.dumps(world.manifest))
    commands: dict[str, list[str]] = {
        "status": ["status"],
        "triage": ["triage", "--finding", str(finding), "--case", "c-triage"],
        "triage --apply": ["triage", "--finding", str(finding), "--case", "c-triage",
                           "--apply"],
        "triage --finding-id": ["triage", "--finding-id", guardduty_finding, "--case",
                                "c-gd"],
        "investigate": ["investigate", "principal", principal, "--since", "1d"],
        "investigate (trail logs)": ["investigate", "principal", principal, "--since",
                                     since_old.isoformat()],
        "contain instance": ["contain", "instance", iid, "--case", "c-i", "--apply"],
        "contain access-key": ["contain", "access-key", key, "--case", "c-k", "--apply"],
        "contain role": ["contain", "role", role, "--case", "c-r", "--apply"],
        "contain bucket": ["contain", "bucket", bucket, "--case", "c-b", "--apply"],
        "contain ip": ["contain", "ip", "203.0.113.9", "--vpc", world.vpc_id, "--case",
                       "c-ip", "--apply"],
        "case show": ["case", "show", "c-i"],
        "case show --from-evidence": ["case", "show", "c-i", "--from-evidence"],
        "case share-snapshots": ["case", "share-snapshots", "c-i", "--apply",
                                 "--wait-minutes", "1"],
        "case verify-evidence": ["case", "verify-evidence", "c-i", "--deep"],
        **{f"verify case {case}": ["verify", "case", case]
           for case in ("c-i", "c-k", "c-r", "c-b", "c-ip")},
        "release instance": ["release", "instance", iid, "--case", "c-i", "--apply"],
        "backup now": ["backup", "now", victim, "--apply", "--poll-seconds", "0.2"],
        "recover instance": ["recover", "instance", victim, "--security-group", group,
                             "--case", "c-rec", "--apply", "--poll-seconds", "0.2"],
        "release access-key": ["release", "access-key", key, "--case", "c-k", "--apply"],
    }
    measured: dict[str, set[str]] = {}
    for name, argv in commands.items():
        recorder.reset()
        result = world.irctl("--output", "json", *argv)
        # status exits 1 on a failed readiness check (no confirmed subscription in moto);
        # every other command must succeed, or it was not measured whole
        assert result.exit_code in ((0, 1) if name == "status" else (0,)), \
            (name, result.stdout, result.stderr)
        measured[name] = set(recorder.calls.get(OUTSIDE, set()))
    from runbooks.core.manifest_schema import MANIFEST_PARAMETER

    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Overwrite=True,
                                      Value=json.dumps(world.manifest), Type="String")
    recorder.reset()
    result = _discovered(world, "--output", "json", "verify", "case", "c-k")
    assert result.exit_code == 0, result.stdout
    measured["verify case (manifest from SSM)"] = set(recorder.calls.get(OUTSIDE, set()))
    return measured


def test_cli_reads_are_what_the_commands_call(
        world: World, recorder: Recorder) -> None:  # noqa: F811 - fixture
    measured = measure(world, recorder)
    ungranted = {name: sorted(calls - CLI_READ_ACTIONS - EVIDENCE_GRANTS)
                 for name, calls in measured.items()}
    assert not any(ungranted.values()), (
        f"calls outside any step that the responder role does not grant: {ungranted}; "
        "add them to CLI_READ_ACTIONS (runbooks/core/permissions.py)")
    called = set().union(*measured.values())
    stale = sorted(CLI_READ_ACTIONS - called - set(NOT_EXERCISED))
    assert not stale, (f"CLI_READ_ACTIONS entries no command calls: {stale}; remove them, "
                       "or name the command that needs them in NOT_EXERCISED")
    assert not set(NOT_EXERCISED) & called, "NOT_EXERCISED names an action a command calls"
