"""Workflows: the procedures irctl and the automation Lambda run, written once.

Between the engine (`runbooks.core`: runner, audit, context, claims) and the steps
below, and the two thin adapters above (`runbooks.cli` with `runbooks.commands`, and
`runbooks.automation.handler`). A workflow takes typed inputs (`Settings`, ids,
options), opens sessions, builds step pipelines, runs them through the runner and
returns typed results. It never imports click, never renders and never exits: the
adapters parse, call a workflow, render and exit (`tests/test_layers.py` keeps it so).

* `session`: options (`Settings`), the verified `Session`, the runner factory, and
  `Feedback` (how a workflow reports progress without rendering);
* `procedures`: a command's step list as a view of a playbook phase;
* `contain`, `fleet`, `release`, `playbook`, `recover`, `eradicate`, `backup`.
"""
