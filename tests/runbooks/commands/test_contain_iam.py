"""`irctl contain access-key|role` and their release, end to end: irctl as a subprocess
against an emulator server on loopback; assertions on IAM/S3 state and the audit log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.commands.contain_world import as_json, audit_events, start
from tests.runbooks.conftest import Readiness

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readiness]:
    yield from start(tmp_path_factory)


def _user_with_key(server: Readiness) -> tuple[str, str]:
    iam = server.client("iam")
    user = f"ci-bot-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName=user, Password="Old-Password-123!")
    return user, key


DENY = "<stack deny-all>"


def _state(server: Readiness, user: str, key: str) -> tuple[str, list[str], bool]:
    iam = server.client("iam")
    status = iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"]
    # inline policy names, and DENY for the stack's managed deny-all when attached
    policies = iam.list_user_policies(UserName=user)["PolicyNames"] + [
        DENY for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        if p["PolicyName"].startswith("ir-deny-all-")]
    try:
        iam.get_login_profile(UserName=user)
        console = True
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchEntity"
        console = False
    return status, policies, console


def _changes(document: dict, run: int = 0) -> list[dict]:
    """Run 0 is the containment, run 1 the evidence capture, run 2 the notification."""
    return [c for t in document["runs"][run]["targets"] for c in t["changes"]]


def test_contain_access_key_plan_apply_rerun_and_release(server: Readiness):
    user, key = _user_with_key(server)
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = server.irctl("--output", "json", "contain", "access-key", key,
                 "--case", case)
    assert plan.returncode == 0, plan.stderr
    assert [c["step"] for c in _changes(as_json(plan))] == [
        "iam.deactivate-access-key", "iam.deny-all-user", "iam.remove-login-profile"]
    assert [c["step"] for c in _changes(as_json(plan), run=1)] == [
        "cloudtrail.capture-key-activity"]
    assert _state(server, user, key) == ("Active", [], True)  # a plan changes nothing

    applied = server.irctl("--output", "json", "contain", "access-key", key,
                    "--case", case, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert {c["status"] for c in _changes(as_json(applied))} == {"applied"}
    assert [c["status"] for c in _changes(as_json(applied), run=1)] == ["applied"]
    assert _state(server, user, key) == ("Inactive", [DENY], False)
    evidence = server.client("s3").get_object(
        Bucket=server.manifest["evidenceBucket"],
        Key=f"cases/{case}/evidence/access-key-{key}/cloudtrail-events.json")
    saved = json.loads(evidence["Body"].read())
    assert saved["accessKeyId"] == key and saved["available"] is True
    applied_steps = [e["step"] for e in audit_events(server.case_dir, case)
                     if e["event"] == "applied" and e.get("kind") in ("access-key", "evidence")]
    assert applied_steps == [c["step"] for run in (0, 1) for c in _changes(as_json(plan), run)]

    again = server.irctl("--output", "json", "contain", "access-key", key,
                  "--case", case)
    assert again.returncode == 0 and _changes(as_json(again)) == []
    assert _changes(as_json(again), run=1) == []  # evidence is captured once per case

    released = server.irctl("--output", "json", "release", "access-key", key,
                     "--case", case, "--apply")
    assert released.returncode == 0, released.stderr
    # the console password stays removed: one-way, its owner re-creates it
    assert _state(server, user, key) == ("Active", [], False)
    # evidence is never touched by release
    server.client("s3").head_object(
        Bucket=server.manifest["evidenceBucket"],
        Key=f"cases/{case}/evidence/access-key-{key}/cloudtrail-events.json")


def test_text_output_is_a_table_with_the_plan(server: Readiness):
    _, key = _user_with_key(server)
    run = server.irctl("contain", "access-key", key)
    assert run.returncode == 0, run.stderr
    assert "iam.deactivate-access-key" in run.stdout and "Plan only, nothing changed" in run.stdout
    assert "case: " in run.stderr  # the generated case id is printed


def test_malformed_key_exits_2_before_any_change(server: Readiness):
    run = server.irctl("contain", "access-key", "not-a-key", "--apply")
    assert run.returncode == 2
    assert "access key id 'not-a-key' is malformed" in run.stderr


def test_key_of_another_account_is_refused_with_exit_2(server: Readiness):
    import boto3

    creds = server.client("sts").assume_role(
        RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="test")["Credentials"]
    other = boto3.client("iam", region_name="us-east-1", endpoint_url=server.endpoint_url,
                         aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    user = f"other-{uuid.uuid4().hex[:6]}"
    other.create_user(UserName=user)
    key = other.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    run = server.irctl("--output", "json", "contain", "access-key", key, "--apply")
    assert run.returncode == 2
    assert "belongs to account 111111111111" in run.stdout
    assert other.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_contain_role_and_release(server: Readiness):
    iam = server.client("iam")
    role = f"web-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    case = f"case-{uuid.uuid4().hex[:8]}"
    run = server.irctl("contain", "role", role, "--case", case, "--apply")
    assert run.returncode == 0, run.stderr
    document = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")[
        "PolicyDocument"]
    if isinstance(document, str):  # moto server returns the document URL-encoded
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    [statement] = document["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == ["*"]
    assert "aws:TokenIssueTime" in statement["Condition"]["DateLessThan"]

    released = server.irctl("release", "role", role, "--case", case, "--apply")
    assert released.returncode == 0, released.stderr
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_unknown_role_exits_2(server: Readiness):
    run = server.irctl("--output", "json", "contain", "role", "no-such-role",
                "--apply")
    assert run.returncode == 2
    [target] = as_json(run)["runs"][0]["targets"]
    assert "IAM role no-such-role was not found" in target["error"]


def test_evidence_failure_is_reported_but_never_undoes_the_containment(server: Readiness,
                                                                       tmp_path):
    """The evidence bucket is unreachable (here: it does not exist): the key stays
    contained, the key's CloudTrail events are queued in the case directory instead,
    and the command exits 4 (contained, evidence not in the bucket) naming them."""
    user, key = _user_with_key(server)
    broken = {**server.manifest, "evidenceBucket": f"ir-evidence-gone-{uuid.uuid4().hex[:8]}"}
    manifest = server.write_manifest_file(tmp_path / "manifest.json", broken)
    run = server.irctl("--manifest", str(manifest), "--output", "json", "contain",
                       "access-key", key, "--apply")
    assert run.returncode == 4, run.stdout + run.stderr
    document = as_json(run)
    assert {c["status"] for c in _changes(document)} == {"applied"}
    [capture] = _changes(document, run=1)
    assert capture["status"] == "applied" and "NoSuchBucket" in capture["result"]["queued"][
        "error"]
    [queued] = document["evidenceQueued"]
    assert queued["bucket"] == broken["evidenceBucket"]
    assert server.case_dir is not None and Path(queued["path"]).is_relative_to(server.case_dir)
    assert _state(server, user, key) == ("Inactive", [DENY], False)


def test_release_of_a_user_changed_since_containment_refuses_then_force_restores(
        server: Readiness):
    """Release compares the live state with what containment left (issue #12): someone
    detached the deny-all policy and reactivated the key by hand; both are already as
    before, so release leaves them."""
    user, key = _user_with_key(server)
    case = f"iam-drift-{uuid.uuid4().hex[:6]}"
    contained = server.irctl("contain", "access-key", key, "--apply", "--case", case)
    assert contained.returncode == 0, contained.stdout + contained.stderr
    assert _state(server, user, key)[:2] == ("Inactive", [DENY])
    iam = server.client("iam")
    [attached] = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    iam.detach_user_policy(UserName=user, PolicyArn=attached["PolicyArn"])
    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Active")

    # detached and reactivated by hand is exactly the state before containment: release
    # has nothing to do (no --force needed) and changes nothing
    forced = server.irctl("release", "access-key", key, "--case", case, "--apply")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    status, policies, _ = _state(server, user, key)
    assert status == "Active" and DENY not in policies
