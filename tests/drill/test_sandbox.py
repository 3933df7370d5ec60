"""The real-sandbox-account guard: explicit flag, account typed back, only own resources."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from runbooks.cli import main
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.drill.sandbox import DRILL_TAG, SandboxGuard

IDENTITY = {"Account": "210987654321", "Arn": "arn:aws:iam::210987654321:role/drill"}


def guard(**overrides: object) -> SandboxGuard:
    kwargs: dict[str, object] = {"sandbox": True, "confirm_account": "210987654321",
                                 "identity": IDENTITY, "run_id": "run1",
                                 "scenarios": ["compromised-ec2-instance"]}
    kwargs.update(overrides)
    return SandboxGuard.check(**kwargs)  # type: ignore[arg-type]


def test_the_sandbox_flag_is_required() -> None:
    with pytest.raises(InvalidInput, match="needs --sandbox"):
        guard(sandbox=False)


def test_the_account_must_be_typed_back() -> None:
    with pytest.raises(InvalidInput, match="needs --confirm-account"):
        guard(confirm_account=None)
    with pytest.raises(InvalidInput, match="not a 12-digit"):
        guard(confirm_account="2109876543")


def test_credentials_for_another_account_are_refused_naming_both() -> None:
    with pytest.raises(PreconditionFailed, match="account 210987654321 .* not the confirmed "
                                                 "123456789012"):
        guard(confirm_account="123456789012")


def test_scenarios_needing_injected_history_are_refused() -> None:
    with pytest.raises(PreconditionFailed, match="ransomware-data-destruction"):
        guard(scenarios=["malicious-ip", "ransomware-data-destruction"])


def test_only_resources_of_this_run_may_be_touched() -> None:
    g = guard()
    g.assert_owned("i-0123456789abcdef0", {DRILL_TAG: "run1", "Name": "victim"})
    with pytest.raises(PreconditionFailed, match="not tagged ir-readiness:drill=run1"):
        g.assert_owned("i-0fedcba9876543210", {"Name": "production-web"})
    with pytest.raises(PreconditionFailed, match="found 'run0'"):
        g.assert_owned("bucket old-drill", {DRILL_TAG: "run0"})


def test_arns_of_another_account_are_refused() -> None:
    g = guard()
    g.assert_region_of_account("arn:aws:sns:eu-west-1:210987654321:high")
    g.assert_region_of_account("arn:aws:s3:::bucket-without-account")
    with pytest.raises(PreconditionFailed, match="belongs to account 123456789012"):
        g.assert_region_of_account("arn:aws:sns:eu-west-1:123456789012:high")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confirm-account", "123456789012"], "needs --sandbox"),
        (["--sandbox"], "needs --confirm-account"),
        (["--sandbox", "--confirm-account", "111111111111"],
         "credentials are for account 123456789012"),
    ],
)
def test_cli_refuses_with_exit_2_and_creates_nothing(endpoint: str, args: list[str],
                                                     message: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    s3, ec2 = (session.client(s, endpoint_url=endpoint) for s in ("s3", "ec2"))

    def state() -> tuple[list[str], list[str]]:
        # moto's state is per process, so compare before/after rather than expect empty
        return ([b["Name"] for b in s3.list_buckets()["Buckets"]],
                [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                 for i in r["Instances"]])

    before = state()
    result = CliRunner().invoke(main, ["--endpoint-url", endpoint, "--output", "json",
                                       "drill", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in json.loads(result.stdout)["error"]
    assert state() == before
