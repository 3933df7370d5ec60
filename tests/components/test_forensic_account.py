"""`ir:forensicAccount`: validated, named in the manifest, and let use the stack key
through EBS only (for the snapshot copies `irctl case share-snapshots` shares with it)."""

from __future__ import annotations

import json

import pytest

from components.encryption_key import EncryptionKey, EncryptionKeyArgs, key_policy
from components.mockrun import PROJECT_ROOT, evaluate, load_stack_config
from components.settings import Settings, SettingsError, parse_config_value
from runbooks.core.manifest_schema import MANIFEST_PARAMETER, manifest_errors
from tests.components.conftest import ACCOUNT, as_list, by_sid, only, run_component
from tests.components.test_readiness_manifest import _manifest

FORENSIC = "210987654321"


def _example() -> dict[str, str]:
    return dict(load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml"))


def _settings(**changes: str | None) -> Settings:
    """The example's settings, read as Pulumi hands them over (every value as text)."""
    config = {**_example(), **{f"ir:{k}": v for k, v in changes.items()}}
    return Settings.from_mapping({k: parse_config_value(k, v) for k, v in config.items()
                                  if v is not None and k.startswith("ir:")})


@pytest.mark.parametrize("value", ["12345", "21098765432x", "2109876543210"])
def test_a_bad_forensic_account_is_one_line_naming_the_key(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        _settings(forensicAccount=value)
    [line] = str(raised.value).splitlines()[1:]
    assert line.strip().startswith(f"ir:forensicAccount = \"{value}\": must match")


def test_an_account_id_given_as_digits_stays_a_string() -> None:
    # Pulumi hands every value over as text; JSON would read the id as a number
    assert _settings(forensicAccount="012345678901").forensic_account == "012345678901"
    assert _settings(forensicAccount=None).forensic_account is None


def _key(forensic: str | None):  # noqa: ANN202
    return run_component(lambda: EncryptionKey("kms-eu-west-1", EncryptionKeyArgs(
        region="eu-west-1", account_id=ACCOUNT, partition="aws",
        log_group_prefix="/ir-readiness/mock", forensic_account=forensic)))


def test_the_forensic_account_uses_the_key_through_ebs_only() -> None:
    sids = by_sid(only(_key(FORENSIC), "aws:kms/key:Key").inputs["policy"])
    use, grants = sids["ForensicAccountUsesKeyThroughEbs"], \
        sids["ForensicAccountGrantsForEbsVolumesOnly"]
    for statement in (use, grants):
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{FORENSIC}:root"}
        assert statement["Condition"]["StringEquals"] == {
            "kms:ViaService": "ec2.eu-west-1.amazonaws.com"}
        assert not {"kms:*", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
                    "kms:Encrypt"} & set(as_list(statement["Action"]))
    assert as_list(grants["Action"]) == ["kms:CreateGrant"]
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert "kms:CreateGrant" not in as_list(use["Action"])


def test_without_a_forensic_account_no_other_account_is_named() -> None:
    policy = only(_key(None), "aws:kms/key:Key").inputs["policy"]
    assert FORENSIC not in json.dumps(policy) and "Forensic" not in json.dumps(policy)


def test_the_stack_own_account_is_refused_as_forensic_account() -> None:
    with pytest.raises(ValueError, match="is the stack's own account"):
        key_policy(account_id=ACCOUNT, partition="aws", region="eu-west-1",
                   log_group_prefix="/ir", trail_arn=None, forensic_account=ACCOUNT)
    with pytest.raises(ValueError, match="forensicAccount .*stack's own account"):
        _manifest(forensic_account=ACCOUNT)
    with pytest.raises(ValueError, match="12-digit"):
        EncryptionKeyArgs(region="eu-west-1", account_id=ACCOUNT, partition="aws",
                          log_group_prefix="/ir", forensic_account="123")


def test_the_example_stack_names_the_forensic_account_in_every_manifest_and_key() -> None:
    evaluation = evaluate(_example())
    manifests = [json.loads(p.inputs["value"])
                 for p in evaluation.of_type("aws:ssm/parameter:Parameter")
                 if p.inputs["name"] == MANIFEST_PARAMETER]
    assert manifests and all(m["forensicAccount"] == FORENSIC and manifest_errors(m) == []
                             for m in manifests)
    keys = evaluation.of_type("aws:kms/key:Key")
    assert keys and all("ForensicAccountUsesKeyThroughEbs" in by_sid(k.inputs["policy"])
                        for k in keys)
