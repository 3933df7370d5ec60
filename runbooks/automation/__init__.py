"""Event-driven response automation: the Lambda handler `runbooks.automation.handler`.

The function runs the same runbook code as `irctl` (the ResponseAutomation component
packages `runbooks/` as the function's code); see `runbooks.automation.handler` for
what it does with a GuardDuty or Security Hub finding.
"""

from runbooks.automation.handler import handler

__all__ = ["handler"]
