"""The automation Lambda's settings, read once from the environment the
ResponseAutomation component sets (a bad value is a deployment error: it raises)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from runbooks.core.automation_contract import DEFAULT_OPT_OUT_TAG, MODES
from runbooks.core.errors import InvalidInput


@dataclass(frozen=True)
class AutomationConfig:
    """The handler's settings, from the environment the component sets."""

    mode: str = "plan"
    finding_types: tuple[str, ...] = ()
    min_severity: float = 7.0
    opt_out_tag: str = DEFAULT_OPT_OUT_TAG
    max_actions_per_hour: int = 10
    member_role_name: str | None = None
    external_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AutomationConfig:
        env = os.environ if env is None else env
        mode = env.get("IR_AUTOMATION_MODE", "plan").strip().lower() or "plan"
        if mode not in MODES:
            raise InvalidInput(f"IR_AUTOMATION_MODE = {mode!r}: must be plan or apply")
        types = tuple(t.strip() for t in env.get("IR_AUTOMATION_FINDING_TYPES", "").split(",")
                      if t.strip())
        try:
            min_severity = float(env.get("IR_AUTOMATION_MIN_SEVERITY", "7"))
        except ValueError as err:
            raise InvalidInput("IR_AUTOMATION_MIN_SEVERITY = "
                               f"{env.get('IR_AUTOMATION_MIN_SEVERITY')!r}: must be a number "
                               "from 0 to 10") from err
        if not 0 <= min_severity <= 10:
            raise InvalidInput(f"IR_AUTOMATION_MIN_SEVERITY = {min_severity:g}: must be a "
                               "number from 0 to 10")
        raw_cap = env.get("IR_AUTOMATION_MAX_ACTIONS_PER_HOUR", "10")
        if not raw_cap.isdigit():
            raise InvalidInput(f"IR_AUTOMATION_MAX_ACTIONS_PER_HOUR = {raw_cap!r}: must be a "
                               "whole number (0 never acts)")
        tag = env.get("IR_AUTOMATION_OPT_OUT_TAG", DEFAULT_OPT_OUT_TAG).strip()
        role = env.get("IR_AUTOMATION_MEMBER_ROLE_NAME", "").strip() or None
        external_id = env.get("IR_AUTOMATION_EXTERNAL_ID", "").strip() or None
        if role is not None:
            from runbooks.core.accounts import ROLE_NAME

            if not ROLE_NAME.fullmatch(role):
                raise InvalidInput(f"IR_AUTOMATION_MEMBER_ROLE_NAME = {role!r}: must be an "
                                   "IAM role name (1-64 of letters, digits and +=,.@_-)")
        return cls(mode, types, min_severity, tag or DEFAULT_OPT_OUT_TAG, int(raw_cap),
                   role, external_id)

    def allows(self, finding_type: str | None) -> bool:
        return bool(finding_type) and any(
            str(finding_type).startswith(prefix) for prefix in self.finding_types)
