"""Shared runbook fixtures: a readiness-provisioned account in moto, in-process or as a
moto server on loopback, plus helpers to seed instances and inject faults.

Reuse:
* `fake_aws_env` -- fake credentials, region us-east-1, no profile/endpoint, IR_CASE_DIR in
  tmp_path (every test gets its own case directory).
* `moto_aws` -- `mock_aws()` in-process; yields a client factory `clients(service)`.
* `readiness` -- `moto_aws` + `seed_readiness()`: KMS key, evidence bucket, three topics,
  a VPC + subnet with conversion/isolation/forensic groups, the manifest written to SSM
  `/ir-readiness/manifest`. A `Readiness` object: `.manifest`, `.vpc_id`, `.subnet_id`,
  `.client(service)`, `.context(case_id)`, `.write_manifest_file(path)`.
* `moto_server` -- a moto server on 127.0.0.1 with an ephemeral port (the drill
  emulator's `start_server` when available); yields its endpoint URL.
* `server_readiness` -- `seed_readiness()` against `moto_server`, with `.irctl(*args)`
  running `python -m runbooks` as a subprocess with AWS_ENDPOINT_URL set.
* `launch_instances(readiness, count, ...)` -- instances with one ENI (groups set on the
  ENI, see the moto notes in the brief) and `volumes` EBS volumes each.
* `fault_readiness` -- `seed_readiness()` against a moto server behind the fault-injecting
  WSGI layer (`tests/fault_server.py`); `.faults` is its `FaultPlan` (fail the Nth call of
  an operation with 500/503/throttling/403, reset the connection, hang, or hold a response
  while the test kills the client), `.irctl_popen(*args)` starts the CLI without waiting.
* `FaultInjector` -- register on a `SessionFactory` (`event_hooks`) to answer the Nth call
  of an operation with an error (throttling, 5xx, AccessDenied) before it reaches moto.
* `s3_clock_behind(seconds)` -- S3 versions written inside are stamped `seconds` in the
  past by moto (in-process and the threaded servers alike): "before the incident" and
  "after" get distinct LastModified seconds without sleeping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runbooks.core.context import Context, SessionFactory
from runbooks.core.manifest_schema import MANIFEST_PARAMETER, Manifest
from tests.fault_server import FaultPlan

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]

ClientFactory = Callable[[str], Any]


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    cases = tmp_path / "cases"
    monkeypatch.setenv("IR_CASE_DIR", str(cases))
    return cases


@dataclass
class Readiness:
    """What the readiness stack would have provisioned, and how to reach it."""

    clients: ClientFactory
    manifest: dict[str, Any]
    vpc_id: str
    subnet_id: str
    endpoint_url: str | None = None
    case_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    faults: FaultPlan | None = None

    def client(self, service: str) -> Any:
        return self.clients(service)

    def sessions(self, **kwargs: Any) -> SessionFactory:
        return SessionFactory(region=REGION, endpoint_url=self.endpoint_url, **kwargs)

    def context(self, case_id: str | None = None, **kwargs: Any) -> Context:
        return Context(sessions=self.sessions(**kwargs),
                       manifest=Manifest.from_document(self.manifest),
                       case_id=case_id or f"ir-test-{uuid.uuid4().hex[:8]}",
                       account_id=self.manifest["accountId"], region=REGION)

    def write_manifest_file(self, path: Path, document: Any | None = None) -> Path:
        path.write_text(json.dumps(self.manifest if document is None else document))
        return path

    def irctl(self, *args: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `python -m runbooks ARGS` as a user would, against this account."""
        return subprocess.run([sys.executable, "-m", "runbooks", *args],
                              env=self.irctl_env(env), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)

    def irctl_popen(self, *args: str, env: dict[str, str] | None = None
                    ) -> subprocess.Popen[str]:
        """Start `python -m runbooks ARGS` without waiting (to race it, or kill it)."""
        return subprocess.Popen([sys.executable, "-m", "runbooks", *args],
                                env=self.irctl_env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO)

    def irctl_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith("AWS_") and k != "IR_CASE_DIR"}
        environment.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(REPO),
            "IR_CASE_DIR": str(self.case_dir), "COLUMNS": "200",
        })
        if self.endpoint_url:
            environment["AWS_ENDPOINT_URL"] = self.endpoint_url
        environment.update(env or {})
        return environment


def quarantine_vpc(clients: ClientFactory, cidr: str = "10.0.0.0/16") -> tuple[str, str,
                                                                               dict[str, str]]:
    """A VPC + subnet and its conversion/isolation/forensic groups (as the stack makes)."""
    ec2 = clients("ec2")
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr.replace("/16", "/24"))[
        "Subnet"]["SubnetId"]
    groups: dict[str, str] = {}
    for role in ("isolation", "conversion", "forensic"):
        group_id = ec2.create_security_group(
            GroupName=f"ir-{role}-{uuid.uuid4().hex[:6]}", Description=f"ir {role}",
            VpcId=vpc_id)["GroupId"]
        if role == "isolation":  # no rules at all
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        if role == "conversion":  # all traffic in and out (the default egress has IPv4)
            everywhere = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                           "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=everywhere)
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=[
                {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        groups[f"{role}SecurityGroupId"] = group_id
    return vpc_id, subnet_id, groups


def seed_readiness(clients: ClientFactory, *, account: str = ACCOUNT,
                   put_parameter: bool = True) -> Readiness:
    """Provision the readiness resources irctl reads, and the manifest in SSM."""
    suffix = uuid.uuid4().hex[:10]
    key_arn = clients("kms").create_key(Description="ir evidence")["KeyMetadata"]["Arn"]
    bucket = f"ir-evidence-{suffix}"
    clients("s3").create_bucket(Bucket=bucket)
    clients("s3").put_bucket_versioning(Bucket=bucket,
                                        VersioningConfiguration={"Status": "Enabled"})
    topics = {s: clients("sns").create_topic(Name=f"ir-{s}-{suffix}")["TopicArn"]
              for s in ("critical", "high", "info")}
    vpc_id, subnet_id, groups = quarantine_vpc(clients)
    from runbooks.steps.iam import DENY_ALL_DOCUMENT

    deny_all = clients("iam").create_policy(  # as ResponderAccess provisions it
        PolicyName=f"ir-deny-all-{suffix}",
        PolicyDocument=json.dumps(DENY_ALL_DOCUMENT))["Policy"]["Arn"]
    manifest = {
        "version": 1, "accountId": account, "region": REGION, "homeRegion": REGION,
        "kmsKeyArn": key_arn, "evidenceBucket": bucket,
        "trail": {"arn": f"arn:aws:cloudtrail:{REGION}:{account}:trail/ir-{suffix}",
                  "bucket": f"ir-trail-{suffix}", "logGroup": "/ir-readiness/cloudtrail"},
        "topics": topics,
        "quarantine": {vpc_id: groups},
        "backup": {"vaultName": f"ir-vault-{suffix}",
                   "vaultArn": f"arn:aws:backup:{REGION}:{account}:backup-vault:ir-{suffix}",
                   "planId": "plan-1",
                   "restoreRoleArn": f"arn:aws:iam::{account}:role/ir-backup-restore"},
        "guardDutyDetectorId": uuid.uuid4().hex,
        "securityHubEnabled": True,
        "responderRoles": {"investigator": f"arn:aws:iam::{account}:role/ir-investigator",
                           "responder": f"arn:aws:iam::{account}:role/ir-responder"},
        "containmentPolicies": {"denyAll": deny_all},
    }
    if put_parameter:
        clients("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(manifest),
                                     Type="String", Overwrite=True)
    return Readiness(clients, manifest, vpc_id, subnet_id)


@contextmanager
def s3_clock_behind(seconds: float) -> Iterator[None]:
    """Run moto's S3 clock `seconds` behind while inside: the versions written there are
    stamped as written that long ago. S3's LastModified has a resolution of one second, so
    a test that needs a point in time between two writes moves the clock instead of
    sleeping past a second boundary. moto stamps every S3 object, version and delete marker
    through `moto.s3.models.utcnow` (moto 5.2); a moto without it fails here, loudly."""
    import moto.s3.models as s3_models

    real: Callable[[], datetime] = s3_models.utcnow
    s3_models.utcnow = lambda: real() - timedelta(seconds=seconds)  # type: ignore[assignment]
    try:
        yield
    finally:
        s3_models.utcnow = real  # type: ignore[assignment]


@pytest.fixture
def moto_aws(fake_aws_env: Path) -> Iterator[ClientFactory]:
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


@pytest.fixture
def readiness(moto_aws: ClientFactory, fake_aws_env: Path) -> Readiness:
    world = seed_readiness(moto_aws)
    world.case_dir = fake_aws_env
    return world


@pytest.fixture
def moto_server(fake_aws_env: Path) -> Iterator[str]:
    try:
        from rehearsal.emulator.server import start_server
    except ImportError:
        start_server = None
    if start_server is not None:
        server = start_server(latency_ms=0)
        try:
            yield server.endpoint_url
        finally:
            server.stop()
        return
    from moto.server import ThreadedMotoServer

    plain = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    plain.start()
    host, port = plain.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        plain.stop()


@pytest.fixture
def server_readiness(moto_server: str, fake_aws_env: Path) -> Readiness:
    def clients(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_server)

    world = seed_readiness(clients)
    world.endpoint_url = moto_server
    world.case_dir = fake_aws_env
    return world


@pytest.fixture
def fault_readiness(fake_aws_env: Path) -> Iterator[Readiness]:
    from tests.fault_server import FaultPlan, start_fault_server

    plan = FaultPlan()
    server = start_fault_server(plan)
    try:
        def clients(service: str) -> Any:
            return boto3.client(service, region_name=REGION,
                                endpoint_url=server.endpoint_url)

        world = seed_readiness(clients)
        world.endpoint_url = server.endpoint_url
        world.case_dir = fake_aws_env
        world.faults = plan
        yield world
    finally:
        plan.clear()
        server.stop()


def launch_instances(world: Readiness, count: int = 1, *, volumes: int = 2,
                     groups: list[str] | None = None, profile_arn: str | None = None,
                     subnet_id: str | None = None,
                     image_id: str = "ami-12c6146b") -> list[str]:
    """`count` running instances, one ENI each (with `groups`), `volumes` EBS volumes
    (the root plus extras), DeleteOnTermination on, optionally an instance profile.
    `image_id`: moto's default is a Windows AMI; ami-760aaa0f is Amazon Linux."""
    ec2 = world.client("ec2")
    subnet = subnet_id or world.subnet_id
    if groups is None:
        vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        groups = [ec2.create_security_group(GroupName=f"app-{uuid.uuid4().hex[:8]}",
                                            Description="app", VpcId=vpc)["GroupId"]]
    devices = ["/dev/sda1"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
    mappings = [{"DeviceName": d, "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}
                for d in devices[:volumes]]
    ids = []
    for _ in range(count):  # one at a time: moto associates a profile with the first only
        kwargs: dict[str, Any] = {}
        if profile_arn:
            kwargs["IamInstanceProfile"] = {"Arn": profile_arn}
        response = ec2.run_instances(
            ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": groups}],
            BlockDeviceMappings=mappings, **kwargs)
        ids.append(response["Instances"][0]["InstanceId"])
    return ids


class FaultInjector:
    """Answer selected calls with an error before they reach the emulator.

    `add(operation, code, status=400, calls={2})` fails the listed call numbers (1-based,
    counted per operation) with `code`; `calls=None` fails every call. Register with
    `SessionFactory(event_hooks=injector.hooks())`. `seen[operation]` counts attempts,
    including retries and failed ones.
    """

    def __init__(self) -> None:
        self.rules: dict[str, tuple[str, int, set[int] | None]] = {}
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, code: str, status: int = 400,
            calls: set[int] | None = None) -> FaultInjector:
        self.rules[operation] = (code, status, calls)
        return self

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-send", self._before_send)]

    def _before_send(self, request: Any, event_name: str = "", **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.seen[operation] = number = self.seen.get(operation, 0) + 1
        rule = self.rules.get(operation)
        if rule is None:
            return None
        code, status, calls = rule
        if calls is not None and number not in calls:
            return None
        url = request.url
        # botocore still runs later before-send handlers (moto's in-process stubber) and
        # keeps the first response: turn the request into a harmless read for them.
        request.method, request.body = "GET", b""
        request.url = url.split("?", 1)[0]
        return _error_response(url, event_name.split(".")[1], code, status)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_response(url: str, service: str, code: str, status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    message = f"injected {code}"
    if service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>")
        headers = {"Content-Type": "text/xml"}
    elif service in ("s3",):
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        headers = {"Content-Type": "application/xml"}
    elif service in ("ssm", "securityhub", "guardduty"):
        body = json.dumps({"__type": code, "message": message})
        headers = {"Content-Type": "application/x-amz-json-1.1"}
    else:  # query protocol: iam, sts, sns, autoscaling, elasticloadbalancing
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                "</ErrorResponse>")
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(url, status, headers, _Raw(body.encode()))
