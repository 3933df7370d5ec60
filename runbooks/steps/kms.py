"""KMS containment: a customer-managed key misused, or sabotaged (the ransomware path).

    kms.cancel-deletion   a key an attacker scheduled for deletion: CancelKeyDeletion.
                          AWS leaves the key Disabled afterwards (the plan says so);
                          `irctl contain key` follows it with kms.enable-key only when
                          asked (`--enable`), since a key the attacker wanted gone may be
                          the one they used. One-way: irctl never schedules a deletion,
                          so release cannot put the schedule back.
    kms.disable-key       a key a compromised principal uses (to decrypt data, or to
                          encrypt it for ransom): DisableKey; release enables it again.
    kms.enable-key        a key an attacker disabled (data unreadable): EnableKey;
                          release disables it again.

Refused, in the plan and by the generated roles' policy (the Allow carries the
condition): the stack's own keys (manifest `kmsKeyArn`, tagged
`ir-readiness:managed-by`), keys tagged `ir:protected=true`, AWS-managed keys and keys of
another account. Disabling the stack's key would stop the evidence bucket, the trail and
the alert topics; an administrator acts on those with their own credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.scopes import PROTECTED_TAG, STACK_TAG, Scope
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|"
                    r"^mrk-[0-9a-f]{32}$")
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/"
                     r"([0-9a-f-]{36}|mrk-[0-9a-f]{32})$")

# The account's keys, except the stack's own (every stack resource carries the
# ir-readiness:managed-by tag) and those an owner tagged ir:protected=true: the same
# marks that keep the responder roles off the stack's and protected principals.
UNPROTECTED_KEYS = Scope(
    "AccountKeysNotStackOrProtected", ("arn:{partition}:kms:*:{account}:key/*",),
    {"Null": {f"aws:ResourceTag/{STACK_TAG}": "true"},
     "StringNotEquals": {f"aws:ResourceTag/{PROTECTED_TAG}": "true"}})
ACCOUNT_KEYS = Scope("AccountKeys", ("arn:{partition}:kms:*:{account}:key/*",))


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or not (KEY_ID.match(key) or KEY_ARN.match(key)):
        raise InvalidInput(
            f"KMS key {key!r} is malformed: give its key id (a UUID, or mrk-... for a "
            "multi-Region key) or its key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); aliases "
            "are not accepted, since an alias can be re-pointed at another key")
    return key


class KeyParams(StepParams):
    key_id: Annotated[str, checked_by(validate_key),
                      Field(description="the key's id or key ARN")]


class KeyStep(Step):
    Params = KeyParams
    release_kind = "key"

    @property
    def key(self) -> str:
        return str(self.params["key_id"])

    def kms(self) -> Any:
        return self.ctx.client("kms")

    def metadata(self) -> dict[str, Any]:
        """The key's metadata, after refusing the keys no runbook may touch."""
        try:
            meta: dict[str, Any] = self.kms().describe_key(KeyId=self.key)["KeyMetadata"]
        except ClientError as err:
            if error_code(err) in ("NotFoundException", "NotFound"):
                raise PreconditionFailed(
                    f"KMS key {self.key} was not found in account {self.ctx.account_id} "
                    f"region {self.ctx.region}; give the key id or ARN in the finding's "
                    "region") from err
            raise
        arn = str(meta["Arn"])
        if str(meta.get("AWSAccountId")) != self.ctx.account_id:
            raise PreconditionFailed(
                f"KMS key {arn} belongs to account {meta.get('AWSAccountId')}; contain it "
                "from that account (--account)")
        if meta.get("KeyManager") == "AWS":
            raise PreconditionFailed(
                f"KMS key {arn} is AWS-managed: nobody can disable or schedule it; "
                "contain the principal that misuses it instead")
        stack_keys = {self.ctx.manifest.kms_key_arn}
        tags = {t["TagKey"]: t["TagValue"]
                for t in self.kms().list_resource_tags(KeyId=arn).get("Tags", [])}
        if arn in stack_keys or STACK_TAG in tags or tags.get(PROTECTED_TAG) == "true":
            raise PreconditionFailed(
                f"KMS key {arn} is the readiness stack's own key or tagged "
                f"{PROTECTED_TAG}=true: the responder roles may not change it (it keeps "
                "the evidence bucket, the trail and the alerts readable); an "
                "administrator acts on it with their own credentials")
        return meta

    @staticmethod
    def key_id(change: Change) -> str:
        """The key id calls use: KMS accepts id or ARN alike in the key's own account and
        region (the emulator resolves only the id for DisableKey/EnableKey/
        CancelKeyDeletion; the ARN is what the change shows)."""
        return str(change.after.get("keyId") or change.after["arn"])

    def state(self, key_arn: str) -> Mapping[str, Any]:
        meta = self.kms().describe_key(KeyId=key_arn)["KeyMetadata"]
        return {"keyState": meta.get("KeyState")}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"state of KMS key {change.after['arn']}")

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"{change.after.get('arn')}#state"


@register
class DisableKey(KeyStep):
    name = "kms.disable-key"
    description = "Disable a KMS key a compromised principal uses (release enables it)"
    actions = frozenset({"kms:DescribeKey", "kms:ListResourceTags", "kms:DisableKey",
                         "kms:EnableKey"})
    scopes = {"kms:DescribeKey": ACCOUNT_KEYS, "kms:ListResourceTags": ACCOUNT_KEYS,
              "kms:DisableKey": UNPROTECTED_KEYS, "kms:EnableKey": UNPROTECTED_KEYS}

    def plan(self) -> list[Change]:
        meta = self.metadata()
        arn, state = str(meta["Arn"]), str(meta.get("KeyState"))
        if state == "Disabled":
            return []
        if state != "Enabled":
            raise PreconditionFailed(
                f"KMS key {arn} is {state}: only an Enabled key can be disabled"
                + ("; it is scheduled for deletion: run `irctl contain key "
                   f"{self.key} --cancel-deletion` first" if state == "PendingDeletion"
                   else ""))
        return [Change(self.name, self.key,
                       f"Disable KMS key {arn}: nothing can encrypt or decrypt with it until "
                       "it is enabled again (data under it is unreadable meanwhile)",
                       before={"arn": arn, "keyState": "Enabled"},
                       after={"arn": arn, "keyId": meta["KeyId"], "keyState": "Disabled"})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.kms().disable_key(KeyId=self.key_id(change))
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.kms().enable_key(KeyId=self.key_id(change))

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return self.state(change.after["arn"])


@register
class EnableKey(KeyStep):
    name = "kms.enable-key"
    description = "Enable a KMS key an attacker disabled (release disables it again)"
    actions = frozenset({"kms:DescribeKey", "kms:ListResourceTags", "kms:EnableKey",
                         "kms:DisableKey"})
    scopes = DisableKey.scopes

    def plan(self) -> list[Change]:
        meta = self.metadata()
        arn, state = str(meta["Arn"]), str(meta.get("KeyState"))
        if state not in ("Disabled", "PendingDeletion"):
            return []
        # A key pending deletion is planned too: the playbook plans every step before it
        # applies any, and kms.cancel-deletion runs first and leaves the key Disabled.
        # Alone, EnableKey on a key pending deletion is refused by KMS (named error).
        after_cancel = (" after its deletion is cancelled" if state == "PendingDeletion"
                        else "")
        return [Change(self.name, self.key,
                       f"Enable KMS key {arn}{after_cancel} (data encrypted under it "
                       "readable again)",
                       before={"arn": arn, "keyState": "Disabled"},
                       after={"arn": arn, "keyId": meta["KeyId"], "keyState": "Enabled"})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.kms().enable_key(KeyId=self.key_id(change))
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.kms().disable_key(KeyId=self.key_id(change))

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return self.state(change.after["arn"])


@register
class CancelDeletion(KeyStep):
    name = "kms.cancel-deletion"
    description = ("Cancel a KMS key's scheduled deletion (the key stays Disabled; "
                   "one-way)")
    actions = frozenset({"kms:DescribeKey", "kms:ListResourceTags", "kms:CancelKeyDeletion"})
    scopes = {"kms:DescribeKey": ACCOUNT_KEYS, "kms:ListResourceTags": ACCOUNT_KEYS,
              "kms:CancelKeyDeletion": UNPROTECTED_KEYS}
    # One-way: irctl never schedules a key's deletion (a generated role that could would
    # destroy data), so nothing can put the schedule back. Keeping a key is never harm.
    reversible = False
    release_kind = "key"

    def plan(self) -> list[Change]:
        meta = self.metadata()
        arn, state = str(meta["Arn"]), str(meta.get("KeyState"))
        if state != "PendingDeletion":
            return []
        when = meta.get("DeletionDate")
        return [Change(self.name, self.key,
                       f"Cancel the deletion of KMS key {arn} scheduled for {when}; AWS "
                       "leaves the key Disabled (enable it with --enable once it is "
                       "known not to be the attacker's)",
                       before={"arn": arn, "keyState": "PendingDeletion",
                               "deletionDate": str(when) if when else None},
                       after={"arn": arn, "keyId": meta["KeyId"], "keyState": "Disabled"})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.kms().cancel_key_deletion(KeyId=self.key_id(change))
        return {}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        live = self.state(change.after["arn"])
        return Check("containment", change.target,
                     f"deletion of KMS key {change.after['arn']}", "not scheduled",
                     str(live["keyState"]), live["keyState"] != "PendingDeletion")
