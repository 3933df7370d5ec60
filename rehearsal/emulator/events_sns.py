"""EventBridge rules delivering to SNS topics.

moto 5.2's EventBridge delivers matched events to log groups, archives, SQS queues and
other buses only; an SNS target raises NotImplementedError, which fails the whole
PutEvents call. The readiness stack routes findings to its alert topics through such
rules (with input transformers that make the alert readable), so without this the drill
could not put a finding's event on the bus at all.

This extension delivers to SNS targets as EventBridge does: the rule's input
transformer (or the whole event) is applied, and the result is published to the topic
(a transformed string as is, JSON otherwise), so the topic's subscriptions receive it.
Other targets keep moto's own delivery. `install()` is idempotent; `uninstall()`
restores moto's behaviour.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_lock = threading.Lock()
_installed = False
_original: Any = None


def _deliver_to_topic(rule: Any, target: dict[str, Any], event: Any) -> None:
    from moto.events.utils import EventTemplateParser
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    transformer = target.get("InputTransformer", {})
    if "Input" in target:
        payload: Any = json.loads(target["Input"])
    elif transformer:
        payload = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
    else:
        payload = event
    message = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    arn = parse_arn(target["Arn"])
    sns_backends[arn.account][arn.region].publish(message=message, arn=target["Arn"])


def install() -> None:
    """Make moto's EventBridge rules deliver to SNS targets (idempotent)."""
    global _installed, _original
    with _lock:
        if _installed:
            return
        from moto.events.models import Rule
        from moto.utilities.arns import parse_arn

        original = Rule.send_to_targets

        def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
            if not self.event_pattern.matches_event(original_event):
                return
            topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
            for target in topics:
                _deliver_to_topic(self, target, original_event)
            others = [t for t in self.targets if t not in topics]
            if not others:
                return
            saved = self.targets
            self.targets = others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = saved

        _original = original
        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
        _installed = True


def uninstall() -> None:
    global _installed
    with _lock:
        if not _installed:
            return
        from moto.events.models import Rule

        Rule.send_to_targets = _original  # type: ignore[method-assign]
        _installed = False
