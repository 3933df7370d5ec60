"""Event-driven response automation: the Lambda handler `runbooks.automation.handler.handler`.

The function runs the same runbook code as `irctl` (the ResponseAutomation component
packages `runbooks/` as the function's code). `handler` is the thin adapter (parse the
event, render the result); `routing` decides what a finding leads to, `workflow` acts on
it through the runner, `config` reads the function's environment and `policy` derives
the function role's actions. The values the stack and the function share are in
`runbooks.core.automation_contract`.

The package imports nothing itself, so the stack can read `policy` (the function
role's actions) without loading the handler and everything it runs.
"""
