from runbooks.core.manifest_schema import manifest_errors


def valid_manifest() -> dict:
    arn = "arn:aws:sns:eu-west-1:111122223333:ir-{}"
    return {
        "version": 1,
        "accountId": "111122223333",
        "region": "eu-west-1",
        "homeRegion": "eu-west-1",
        "kmsKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "evidenceBucket": "ir-evidence-111122223333",
        "trail": {
            "arn": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/ir",
            "bucket": "ir-trail-111122223333",
            "logGroup": "/ir-readiness/cloudtrail",
        },
        "topics": {s: arn.format(s) for s in ("critical", "high", "info")},
        "quarantine": {
            "vpc-0a1b2c3d": {
                "isolationSecurityGroupId": "sg-0a1b2c3d4e5f60718",
                "conversionSecurityGroupId": "sg-0a1b2c3d4e5f60719",
                "forensicSecurityGroupId": "sg-0a1b2c3d4e5f6071a",
            }
        },
        "backup": {
            "vaultName": "ir-vault",
            "vaultArn": "arn:aws:backup:eu-west-1:111122223333:backup-vault:ir-vault",
            "planId": "plan-1",
            "restoreRoleArn": "arn:aws:iam::111122223333:role/ir-backup",
        },
        "guardDutyDetectorId": "12abc34d567e8fa901bc2d34e56789f0",
        "securityHubEnabled": True,
        "responderRoles": {
            "investigator": "arn:aws:iam::111122223333:role/ir-investigator",
            "responder": "arn:aws:iam::111122223333:role/ir-responder",
        },
    }


def test_complete_manifest_is_valid() -> None:
    assert manifest_errors(valid_manifest()) == []


def test_wrong_version_and_bad_account_are_named() -> None:
    doc = valid_manifest() | {"version": 2, "accountId": "1234"}
    errors = manifest_errors(doc)
    assert any(e.startswith("version:") for e in errors)
    assert any(e.startswith("accountId:") for e in errors)


def test_unknown_keys_and_bad_vpc_ids_are_rejected() -> None:
    doc = valid_manifest() | {"extra": 1}
    doc["quarantine"] = {"not-a-vpc": doc["quarantine"]["vpc-0a1b2c3d"]}
    errors = manifest_errors(doc)
    assert any("extra" in e for e in errors)
    assert any(e.startswith("quarantine") for e in errors)
