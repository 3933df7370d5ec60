"""`irctl playbook`: listing, showing, and bad input refused before any AWS call."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from runbooks.cli import main


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    return result.exit_code, result.stdout, result.stderr


def test_list_json_names_every_playbook_and_its_triggers() -> None:
    code, out, _ = invoke("--output", "json", "playbook", "list")
    assert code == 0
    names = {p["name"]: p for p in json.loads(out)}
    assert "compromised-ec2-instance" in names
    assert "Backdoor:EC2/C&CActivity.B" in names["compromised-ec2-instance"]["triggers"][
        "guardduty"]


def test_show_prints_the_phases() -> None:
    code, out, _ = invoke("playbook", "show", "malicious-ip")
    assert code == 0
    assert "Containment" in out and "network.deny-cidr" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["playbook", "run", "lost-laptop"], "no playbook named 'lost-laptop'"),
        (["playbook", "run", "malicious-ip", "--param", "cidr=203.0.113.7/32"],
         "needs --param vpc_id=VALUE"),
        (["playbook", "run", "malicious-ip", "--param", "cidr"], "must be KEY=VALUE"),
        (["playbook", "run", "compromised-iam-credentials", "--param", "credential_kind=role"],
         "needs --param role_name="),
    ],
)
def test_bad_input_exits_2_before_any_aws_call(args: list[str], message: str) -> None:
    # The endpoint is a closed port: reaching AWS would fail differently (exit 1).
    code, out, err = invoke("--output", "json", *args)
    assert code == 2, (out, err)
    assert message in json.loads(out)["error"]
