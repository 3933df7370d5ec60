"""Analysis: understand what happened before acting.

- `findings`: parse GuardDuty and Security Hub (ASFF) findings in every shape they arrive
  in (EventBridge events, `get_findings` responses) into one `Finding`.
- `playbooks`: map a finding type to the playbook that handles it.
- `cloudtrail`: pull CloudTrail activity for principals and resources from
  `lookup_events` and from the trail's S3 log files.
- `timeline`: merge a finding and its CloudTrail activity into a timeline (JSON, Markdown).
- `persistence`: spot what a principal did that could outlive containment.

Everything here is read-only; commands in `runbooks.commands` do the writing.
"""
