"""Resource scopes: what each generated role may touch, declared by the steps."""

from __future__ import annotations

import pytest

from runbooks.core import scopes
from runbooks.core.permissions import CLI_READ_ACTIONS
from runbooks.core.step import Step, load_all_steps, register, step_scopes

VALUES = {"partition": "aws", "account": "123456789012",
          "evidence_bucket_arn": "arn:aws:s3:::ev", "trail_bucket_arn": "arn:aws:s3:::tr",
          "key_arns": ["arn:aws:kms:us-east-1:123456789012:key/b",
                       "arn:aws:kms:us-east-1:123456789012:key/a"],
          "deny_all_policy": "arn:aws:iam::123456789012:policy/ir-deny-all"}


def test_every_action_left_on_any_resource_says_why() -> None:
    """`*` only where UNSCOPED_WHY names the reason (AWS offers no resource-level
    permission, or the step does not narrow it yet)."""
    from runbooks.automation.handler import HANDLER_ACTIONS

    open_actions: set[str] = set()
    for non_step, table in ((CLI_READ_ACTIONS, scopes.NON_STEP_SCOPES),
                            (HANDLER_ACTIONS, scopes.HANDLER_SCOPES)):
        grants = scopes.scoped_grants(step_scopes(), non_step, table)
        open_actions |= grants.get(scopes.ANY, set())
    assert sorted(open_actions - set(scopes.UNSCOPED_WHY)) == []
    # and the named actions are never on `*`
    assert not open_actions & {"kms:Decrypt", "kms:GenerateDataKey", "s3:GetObject",
                               "s3:PutObject", "s3:DeleteObjectVersion",
                               "s3:PutBucketPolicy", "s3:PutBucketAcl", "iam:PassRole",
                               "ssm:SendCommand", "iam:AttachUserPolicy"}


def test_statements_render_per_scope_with_conditions() -> None:
    statements = {s["Sid"]: s for s in scopes.policy_statements(
        {"iam:AttachUserPolicy": {scopes.DENY_ALL_ON_USERS},
         "kms:Decrypt": {scopes.STACK_KEYS}, "s3:PutBucketPolicy": {scopes.ACCOUNT_BUCKETS},
         "ec2:DescribeInstances": {scopes.ANY}},
        ["sts:GetCallerIdentity", "s3:GetObject"], VALUES)}
    assert statements["AttachOnlyTheStackDenyAll"] == {
        "Sid": "AttachOnlyTheStackDenyAll", "Effect": "Allow",
        "Action": ["iam:AttachUserPolicy"], "Resource": "arn:aws:iam::123456789012:user/*",
        "Condition": {"ArnEquals": {"iam:PolicyARN": [VALUES["deny_all_policy"]]}}}
    assert statements["StackKeys"]["Resource"] == sorted(VALUES["key_arns"])
    assert statements["AccountBuckets"]["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": "123456789012"}}
    assert statements["AnyResource"]["Action"] == ["ec2:DescribeInstances",
                                                   "sts:GetCallerIdentity"]
    assert statements["EvidenceAndTrailObjects"]["Resource"] == [
        "arn:aws:s3:::ev/*", "arn:aws:s3:::tr/*"]


def test_any_resource_absorbs_the_narrower_scopes_of_the_same_action() -> None:
    grants = scopes.scoped_grants({"s3:GetObject": {scopes.ANY, scopes.EVIDENCE_OBJECTS}})
    assert grants == {scopes.ANY: {"s3:GetObject"}}


def test_a_template_the_role_cannot_fill_fails_loudly() -> None:
    with pytest.raises(KeyError, match="trail_bucket_arn"):
        scopes.EVIDENCE_AND_TRAIL_OBJECTS.render({"evidence_bucket_arn": "arn:aws:s3:::ev"})


def test_a_step_cannot_scope_an_action_it_does_not_declare() -> None:
    class Stray(Step):
        name = "test.stray-scope"
        description = "x"
        actions = frozenset({"ec2:DescribeInstances"})
        scopes = {"iam:PassRole": scopes.PASS_TO_EC2}

        def plan(self):  # type: ignore[no-untyped-def]
            return []

        def apply(self, change):  # type: ignore[no-untyped-def]
            return {}

    with pytest.raises(TypeError, match=r"scopes actions it does not declare.*iam:PassRole"):
        register(Stray)


def test_scope_constants_match_the_steps() -> None:
    from runbooks.steps import ec2, eradicate, ssm

    assert scopes.CASE_TAG == ec2.CASE_TAG == eradicate.CASE_TAG == ssm.CASE_TAG
    assert scopes.PATCH_DOCUMENT == ssm.PATCH_DOCUMENT
    assert "ssm.run-patch-baseline" in load_all_steps()


def test_no_resource_claims_match_the_iam_action_catalogue() -> None:
    """An action said to have no resource-level permission has none in the service
    authorization reference (parliament's copy of the catalogue)."""
    import json
    from pathlib import Path

    parliament = pytest.importorskip("parliament")
    catalogue = json.loads((Path(parliament.__file__).parent / "iam_definition.json")
                           .read_text())
    resource_types = {f"{svc['prefix']}:{p['privilege']}":
                      [r["resource_type"] for r in p["resource_types"] if r["resource_type"]]
                      for svc in catalogue for p in svc["privileges"]}
    claimed = sorted(a for a, why in scopes.UNSCOPED_WHY.items()
                     if why == scopes._NO_RESOURCE)
    assert claimed and {a: resource_types.get(a) for a in claimed
                        if resource_types.get(a) != []} == {}


def test_instance_attribute_condition_keys_are_the_actions_own() -> None:
    """The keys INSTANCE_PROTECTION_ATTRIBUTES conditions ec2:ModifyInstanceAttribute on
    are listed for that action in the service authorization reference (parliament's copy:
    `ec2:Attribute/${AttributeName}` "an attribute being set on a resource",
    `ec2:Attribute`), and no attribute a step sets is among those it excludes."""
    import json
    from pathlib import Path

    parliament = pytest.importorskip("parliament")
    catalogue = json.loads((Path(parliament.__file__).parent / "iam_definition.json")
                           .read_text())
    [ec2] = [svc for svc in catalogue if svc["prefix"] == "ec2"]
    [modify] = [p for p in ec2["privileges"] if p["privilege"] == "ModifyInstanceAttribute"]
    keys = {k for r in modify["resource_types"] for k in r["condition_keys"]}
    assert {"ec2:Attribute", "ec2:Attribute/${AttributeName}"} <= keys, sorted(keys)
    condition = scopes.INSTANCE_PROTECTION_ATTRIBUTES.condition
    assert {k.split("/", 1)[0] for k in condition["Null"]} == {"ec2:Attribute"}
    excluded = {name.lower() for name in scopes.INSTANCE_ATTRIBUTES_NEVER_SET}
    assert "userdata" in excluded
    assert not excluded & {"disableapitermination", "instanceinitiatedshutdownbehavior",
                           "blockdevicemapping"}
