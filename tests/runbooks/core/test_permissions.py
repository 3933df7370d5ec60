"""The responder role's actions are exactly the CLI's reads plus the steps' declared actions."""

from __future__ import annotations

import re

import pytest

from runbooks.core.permissions import CLI_READ_ACTIONS, responder_actions
from runbooks.core.step import declared_actions, load_all_steps

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def test_responder_actions_are_cli_reads_plus_declared_step_actions() -> None:
    actions = responder_actions()
    assert actions == sorted(CLI_READ_ACTIONS | declared_actions())
    assert all(ACTION.match(a) for a in actions), [a for a in actions if not ACTION.match(a)]
    for name, cls in load_all_steps().items():
        assert cls.actions, f"{name} declares no IAM actions"
        assert cls.actions <= set(actions)


def test_responder_access_component_grants_exactly_that_list() -> None:
    responder_access = pytest.importorskip("components.responder_access")
    policy = responder_access.responder_policy(
        partition="aws", account_id="123456789012", actions=responder_actions(),
        evidence_bucket_arn="arn:aws:s3:::ev", trail_bucket_arn="arn:aws:s3:::tr",
        kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/k"], role_name_prefix="ir")
    # the runbook statements (one per resource scope) grant exactly the list
    granted: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and statement["Sid"].startswith("Runbook"):
            granted |= set(statement["Action"])
    assert sorted(granted) == responder_actions()
    readiness = pytest.importorskip("components.readiness")
    source = open(readiness.__file__).read()
    assert "responder_actions=responder_actions()" in source
