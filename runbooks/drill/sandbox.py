"""Guard for running the drill against a real sandbox account.

By default the drill needs no AWS account at all (embedded emulator). Against a real
account it may only run when the operator says so explicitly, types the account id
back, and the credentials really are for that account; and it only ever touches
resources it created itself (tagged `ir-readiness:drill=<run id>`). The readiness
stack must already be deployed there (`pulumi up`): the drill reads its manifest and
never provisions or changes the stack's own resources beyond what the playbook's
containment does to the drill's victims.

    irctl drill --sandbox --confirm-account 123456789012 --scenario compromised-ec2-instance
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from runbooks.core.errors import InvalidInput, PreconditionFailed

DRILL_TAG = "ir-readiness:drill"
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

# Scenarios whose victims the guard can verify as drill-owned before acting. Others
# need state a real account cannot be given (an injected CloudTrail history, a
# GuardDuty finding for an arbitrary resource) and are refused in sandbox mode.
SANDBOX_SCENARIOS = frozenset(
    {"compromised-ec2-instance", "compromised-asg-instance", "exposed-s3-bucket",
     "malicious-ip", "compromised-role-credentials"}
)


@dataclass(frozen=True)
class SandboxGuard:
    """Decides, before anything is created, whether a real-account drill may run."""

    confirmed_account: str
    caller_account: str
    caller_arn: str
    run_id: str

    @classmethod
    def check(
        cls, *, sandbox: bool, confirm_account: str | None, identity: Mapping[str, str],
        run_id: str, scenarios: list[str],
    ) -> SandboxGuard:
        """Raise unless every condition for a real-account drill holds."""
        if not sandbox:
            raise InvalidInput("a real-account drill needs --sandbox (the default drill uses "
                               "the embedded emulator and no account)")
        if not confirm_account:
            raise InvalidInput(
                "--sandbox needs --confirm-account ACCOUNT_ID: type the sandbox account's id "
                "back to confirm that the drill may create and contain resources there")
        if not ACCOUNT_ID.match(confirm_account):
            raise InvalidInput(f"--confirm-account {confirm_account!r} is not a 12-digit "
                               "AWS account id")
        caller = str(identity.get("Account", ""))
        if caller != confirm_account:
            raise PreconditionFailed(
                f"refusing the sandbox drill: your credentials are for account {caller} "
                f"({identity.get('Arn', '?')}), not the confirmed {confirm_account}; switch "
                "to the sandbox account's profile")
        refused = sorted(set(scenarios) - SANDBOX_SCENARIOS)
        if refused:
            raise PreconditionFailed(
                f"scenario(s) {', '.join(refused)} cannot run against a real account (they "
                "need injected history); choose from "
                f"{', '.join(sorted(SANDBOX_SCENARIOS))}")
        return cls(confirm_account, caller, str(identity.get("Arn", "")), run_id)

    def assert_owned(self, resource: str, tags: Mapping[str, str]) -> None:
        """Refuse to touch `resource` unless this drill run created it."""
        owner = tags.get(DRILL_TAG)
        if owner != self.run_id:
            raise PreconditionFailed(
                f"refusing to touch {resource}: it is not tagged {DRILL_TAG}={self.run_id} "
                f"(found {owner!r}), so this drill run did not create it")

    def assert_region_of_account(self, arn: str) -> None:
        """Refuse ARNs of another account (e.g. a manifest copied from elsewhere)."""
        parts = arn.split(":")
        if len(parts) > 4 and parts[4] and parts[4] != self.caller_account:
            raise PreconditionFailed(
                f"refusing {arn}: it belongs to account {parts[4]}, the drill runs in "
                f"{self.caller_account}")
