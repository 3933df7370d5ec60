"""Event-driven response automation: the Lambda handler `runbooks.automation.handler`.

The function runs the same runbook code as `irctl` (the ResponseAutomation component
packages `runbooks/` as the function's code). `handler` is the thin adapter (parse the
event, render the result); `routing` decides what a finding leads to, `workflow` acts on
it through the runner, `config` reads the function's environment and `policy` derives
the function role's actions. The values the stack and the function share are in
`runbooks.core.automation_contract`.
"""

from runbooks.automation.handler import handler

__all__ = ["handler"]
