"""The fault-injecting layer itself: each fault reaches botocore as AWS's would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.fault_server import FaultPlan, start_fault_server

pytestmark = pytest.mark.server
REGION = "us-east-1"


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FaultPlan, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    plan = FaultPlan()
    server = start_fault_server(plan)
    try:
        yield plan, server.endpoint_url
    finally:
        plan.clear()
        server.stop()


def client(endpoint: str, service: str, attempts: int = 1, read_timeout: float = 60) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=Config(
        retries={"mode": "standard", "total_max_attempts": attempts}, read_timeout=read_timeout))


def code_of(err: ClientError) -> tuple[str, int]:
    return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]


def test_errors_are_parsed_with_their_code_in_every_protocol(faults: tuple[FaultPlan, str]
                                                             ) -> None:
    plan, endpoint = faults
    plan.fail("DescribeVpcs", status=500, code="InternalError")
    plan.fail("ListBuckets", status=503, code="ServiceUnavailable")
    plan.deny("ListRoles")
    plan.throttle("GetParameter")
    plan.throttle("ListDetectors")
    cases = [
        (lambda: client(endpoint, "ec2").describe_vpcs(), ("InternalError", 500)),
        (lambda: client(endpoint, "s3").list_buckets(), ("ServiceUnavailable", 503)),
        (lambda: client(endpoint, "iam").list_roles(), ("AccessDenied", 403)),
        (lambda: client(endpoint, "ssm").get_parameter(Name="x"),
         ("ThrottlingException", 400)),
        (lambda: client(endpoint, "guardduty").list_detectors(),
         ("TooManyRequestsException", 429)),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as err:
            call()
        assert code_of(err.value) == expected
        assert err.value.response["ResponseMetadata"]["RequestId"]


def test_the_nth_call_fails_and_the_others_reach_moto(faults: tuple[FaultPlan, str]) -> None:
    plan, endpoint = faults
    ec2 = client(endpoint, "ec2")
    plan.fail("CreateVpc", code="InternalError", calls={2})
    first = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError):
        ec2.create_vpc(CidrBlock="10.2.0.0/16")
    third = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    cidrs = {v["CidrBlock"] for v in ec2.describe_vpcs(VpcIds=[first, third])["Vpcs"]}
    assert cidrs == {"10.1.0.0/16", "10.3.0.0/16"}
    assert not ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.2.0.0/16"]}])["Vpcs"]
    assert plan.seen["CreateVpc"] == 3 and plan.faulted["CreateVpc"] == 1


def test_every_third_mutating_ec2_call_is_throttled_and_reads_are_not(
        faults: tuple[FaultPlan, str]) -> None:
    plan, endpoint = faults
    ec2 = client(endpoint, "ec2")
    plan.throttle_mutating("ec2", every=3)
    outcomes = []
    for i in range(6):
        try:
            ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append(code_of(err)[0])
        ec2.describe_vpcs()  # never throttled, never counted
    assert outcomes == ["ok", "ok", "RequestLimitExceeded"] * 2


def test_a_reset_connection_is_a_connection_error_and_is_retried(
        faults: tuple[FaultPlan, str]) -> None:
    plan, endpoint = faults
    plan.reset("DescribeVpcs", calls={1})
    with pytest.raises(ConnectionClosedError):
        client(endpoint, "ec2").describe_vpcs()
    plan.reset("ListBuckets", calls={1})
    client(endpoint, "s3", attempts=3).list_buckets()  # the retry goes through
    assert plan.seen["ListBuckets"] == 2


def test_a_hang_outlasts_the_client_read_timeout(faults: tuple[FaultPlan, str]) -> None:
    plan, endpoint = faults
    plan.hang("DescribeVpcs", seconds=20, calls={1})
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client(endpoint, "ec2", read_timeout=1).describe_vpcs()
    assert time.monotonic() - started < 10


def test_a_held_response_has_made_its_change_before_the_client_hears(
        faults: tuple[FaultPlan, str]) -> None:
    plan, endpoint = faults
    name = f"held-{uuid.uuid4().hex[:8]}"
    hold = plan.hold("CreateBucket")
    answer: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: answer.update(
        client(endpoint, "s3").create_bucket(Bucket=name)))
    worker.start()
    assert hold.arrived.wait(30)
    # moto has the bucket; the client is still waiting for its answer
    assert name in {b["Name"] for b in client(endpoint, "s3").list_buckets()["Buckets"]}
    assert not answer
    hold.release()
    worker.join(30)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
