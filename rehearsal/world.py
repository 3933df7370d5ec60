"""The drill's world: an emulator on loopback with the readiness stack provisioned into it.

`provision_world()` starts the emulator (moto server with the emulator's extensions),
creates what an account has before the stack is deployed (a workload VPC with a
subnet, and an SQS "inbox" standing in for the on-call's alert subscriptions so the
drill can read what people were told), then runs the real Pulumi program
(`__main__.py`) under the mocks -> moto bridge with the example stack config. What
comes out is exactly what `pulumi up` would have created, with real ids; the manifest
is read back from SSM the way irctl reads it.

Config changes for the drill (and only these): every covered region discovers its
VPCs (the example's explicit VPC ids do not exist in a fresh emulator), and every
severity's subscriptions go to the inbox queue (the example's e-mail and HTTPS
endpoints cannot be reached from a sandbox and must not be).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import PreconditionFailed

if TYPE_CHECKING:
    from runbooks.core.manifest_schema import Manifest


PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = PROJECT_ROOT / "Pulumi.example.yaml"
DRILL_TAG = "ir-readiness:drill"
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # the emulator's dummy credentials
    "AWS_SESSION_TOKEN": "testing",
}


@contextmanager
def scoped_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or with None, unset) environment variables, restoring them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dataclass
class World:
    """Everything a scenario needs: endpoint, account, home region, manifest, clients."""

    endpoint_url: str | None
    account_id: str
    home_region: str
    regions: list[str]
    manifest: Manifest
    workload_vpc_id: str
    workload_subnet_id: str
    inbox_queue_url: str
    run_id: str
    emulated: bool = True
    provisioned: list[dict[str, Any]] = field(default_factory=list)
    provision_seconds: float = 0.0
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _session: Any = field(default=None, repr=False)
    _inbox: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.home_region)
        if key not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            self._clients[key] = self._session.client(
                service, region_name=key[1], endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    def drill_tags(self, name: str) -> list[dict[str, str]]:
        return [{"Key": DRILL_TAG, "Value": self.run_id}, {"Key": "Name", "Value": name}]

    def inbox_messages(self) -> list[dict[str, Any]]:
        """Every SNS notification delivered to the on-call's subscription so far.

        New messages are drained from the queue and kept, so several checks can read
        the same deliveries.
        """
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self.inbox_queue_url,
                                        MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return list(self._inbox)
            for message in batch:
                self._inbox.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.inbox_queue_url,
                                   ReceiptHandle=message["ReceiptHandle"])


REHEARSAL_TOOL_KEY = "tools/avml-rehearsal"
REHEARSAL_TOOL = b"#!/bin/sh\n# stand-in for AVML: the emulator's SSM Agent writes the image\n"
"""The capture tool of the emulated drill (its SHA-256 pinned in the drill's config)."""


def drill_config(base: Mapping[str, str], inbox_arn: str,
                 endpoint_groups: Mapping[str, str] | None = None) -> dict[str, str]:
    """The example config with discovered VPCs and alerts routed to the drill's inbox;
    with `endpoint_groups` (VPC id -> its VPC endpoints' security group), memory capture
    on, the forensic group reaching those endpoints and the rehearsal's stand-in tool."""
    import hashlib

    config = dict(base)
    regions = json.loads(config["ir:regions"])
    config["ir:quarantineVpcs"] = json.dumps({r: "discover" for r in regions})
    subscriptions = [{"protocol": "sqs", "endpoint": inbox_arn}]
    config["ir:alertSubscriptions"] = json.dumps(
        {severity: subscriptions for severity in ("critical", "high", "info")}
    )
    if endpoint_groups:
        forensic = json.loads(config.get("ir:forensicAccess", "{}"))
        forensic["endpointSecurityGroupIds"] = {v: [g] for v, g in endpoint_groups.items()}
        config["ir:forensicAccess"] = json.dumps(forensic)
        config["ir:memoryCapture"] = json.dumps({
            "enabled": True, "timeoutSeconds": 120,
            "linuxTool": {"uri": REHEARSAL_TOOL_KEY,
                          "sha256": hashlib.sha256(REHEARSAL_TOOL).hexdigest()}})
    return config


def provision_world(
    endpoint_url: str, run_id: str, config_path: Path = EXAMPLE_CONFIG
) -> World:
    """Create the pre-existing account resources, then provision the stack via the bridge."""
    import time

    import boto3

    from components.mockrun import evaluate, load_stack_config
    from rehearsal.bridge import MotoBridge
    from rehearsal.emulator import events_sns, s3_policy
    from runbooks.core.manifest import load_manifest

    s3_policy.install()  # bucket policies evaluated with principals and conditions
    events_sns.install()  # EventBridge rules deliver to the alert topics
    base = load_stack_config(config_path)
    regions = json.loads(base["ir:regions"])
    home = regions[0]
    session = boto3.session.Session()
    ec2 = session.client("ec2", region_name=home, endpoint_url=endpoint_url)
    sqs = session.client("sqs", region_name=home, endpoint_url=endpoint_url)
    tags = [{"Key": DRILL_TAG, "Value": run_id}]
    vpc_id = ec2.create_vpc(
        CidrBlock="10.42.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc",
                            "Tags": [*tags, {"Key": "Name", "Value": "drill-workload"}]}],
    )["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    # The workload VPC's interface endpoints (ssm, ssmmessages, ec2messages, s3): the
    # forensic group reaches their group on HTTPS, so memory capture works isolated.
    endpoints_sg = ec2.create_security_group(
        GroupName=f"drill-vpc-endpoints-{run_id}", Description="drill VPC endpoints",
        VpcId=vpc_id)["GroupId"]
    inbox_url = sqs.create_queue(QueueName=f"ir-drill-inbox-{run_id}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]

    bridge = MotoBridge(endpoint_url, home)
    started = time.perf_counter()
    # A failed registration leaves asyncio futures whose exception nobody retrieves; the
    # first error is re-raised below with its diagnosis, so don't print one per future.
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    asyncio_log.setLevel(logging.CRITICAL)
    try:
        evaluate(drill_config(base, inbox_arn, {vpc_id: endpoints_sg}), mocks=bridge)
    except Exception as err:  # noqa: BLE001 - re-raised with the bridge's own diagnosis
        if bridge.errors:
            raise bridge.errors[0] from err
        raise
    finally:
        asyncio_log.setLevel(level)
    if bridge.errors:
        raise bridge.errors[0]
    elapsed = time.perf_counter() - started

    from runbooks.core.context import SessionFactory

    manifest = load_manifest(SessionFactory(region=home, endpoint_url=endpoint_url), home, None)
    if vpc_id not in manifest.quarantine:
        raise PreconditionFailed(
            f"the provisioned manifest has no quarantine groups for the workload VPC {vpc_id}; "
            "VPC discovery did not cover it"
        )
    session.client("s3", region_name=home, endpoint_url=endpoint_url).put_object(
        Bucket=manifest.evidence_bucket, Key=REHEARSAL_TOOL_KEY, Body=REHEARSAL_TOOL)
    account = session.client("sts", region_name=home,
                             endpoint_url=endpoint_url).get_caller_identity()["Account"]
    return World(
        endpoint_url=endpoint_url,
        account_id=account,
        home_region=home,
        regions=regions,
        manifest=manifest,
        workload_vpc_id=vpc_id,
        workload_subnet_id=subnet_id,
        inbox_queue_url=inbox_url,
        run_id=run_id,
        provisioned=[r.to_dict() for r in bridge.records],
        provision_seconds=elapsed,
    )
