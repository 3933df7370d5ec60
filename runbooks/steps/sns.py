"""Notification step: tell the on-call channel what was done, in plain words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from runbooks.core.errors import InvalidInput
from runbooks.core.scopes import ACCOUNT_TOPICS, STACK_KEYS
from runbooks.core.step import Change, Step, StepParams, checked_by, register

SEVERITIES = ("critical", "high", "info")


def _check_severity(value: Any) -> None:
    if value not in SEVERITIES:
        raise InvalidInput(f"severity {value!r} is not one of {', '.join(SEVERITIES)}")


def _check_message(value: Any) -> None:
    if not value:
        raise InvalidInput("sns.notify needs a non-empty message")


class NotifyParams(StepParams):
    severity: Annotated[str, checked_by(_check_severity),
                        Field(description="critical, high or info")]
    message: Annotated[str, checked_by(_check_message)]
    subject: str | None = None


@register
class Notify(Step):
    """Publish `subject`/`message` to the manifest's topic of `severity`.

    Not reversible (a message cannot be unsent); commands run it once per run, only
    when something was applied, so re-runs that change nothing stay silent."""

    name = "sns.notify"
    description = "Publish a summary to the alert topic of a severity"
    actions = frozenset({"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"})
    scopes = {"kms:Decrypt": STACK_KEYS, "kms:GenerateDataKey": STACK_KEYS,
              "sns:Publish": ACCOUNT_TOPICS}
    reversible = False
    Params = NotifyParams

    def plan(self) -> list[Change]:
        topic = self.ctx.manifest.topics.arn(self.params["severity"])
        return [Change(self.name, topic, f"Notify {self.params['severity']} topic: "
                       f"{self.params.get('subject', '')}", after={"topic": topic})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        subject = str(self.params.get("subject") or "ir-readiness notification")[:100]
        response = self.ctx.client("sns").publish(
            TopicArn=change.after["topic"], Subject=subject,
            Message=str(self.params["message"]))
        return {"messageId": response["MessageId"]}
