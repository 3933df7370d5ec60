"""What the stack and the automation Lambda agree on (imports nothing).

The ResponseAutomation component and the stack settings validate and pass these values;
the Lambda (`runbooks.automation`) reads them back from its environment. Kept here, at
the bottom of the dependency graph, so that `components/` never imports the Lambda's
modules to learn them.
"""

from __future__ import annotations

MODES: tuple[str, ...] = ("plan", "apply")
"""`IR_AUTOMATION_MODE`: `plan` posts what it would do; `apply` contains."""

DEFAULT_OPT_OUT_TAG = "ir-readiness:automation"
"""`IR_AUTOMATION_OPT_OUT_TAG`: the tag whose value (OPT_OUT_VALUES) opts a resource out."""

OPT_OUT_VALUES: frozenset[str] = frozenset({"off", "false", "no", "disabled", "opt-out"})

CONTROL_PREFIX = "control/"
"""Allow-list entries naming a Security Hub control: `control/<SecurityControlId>`."""

# High-confidence instance compromise: what is safe to contain without a human.
DEFAULT_FINDING_TYPES: tuple[str, ...] = (
    "CryptoCurrency:EC2/",
    "Backdoor:EC2/",
    "Trojan:EC2/",
    "CryptoCurrency:Runtime/",
    "Backdoor:Runtime/",
)
