"""A case timeline: the findings and the CloudTrail activity around them, in time order.

Rendered twice from the same entries: JSON for machines (`timeline.json`) and Markdown
for the people on the incident bridge (`timeline.md`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbooks.analysis.cloudtrail import Activity
from runbooks.analysis.findings import Finding

TIMELINE_VERSION = 1


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Entry:
    time: datetime
    kind: str  # "finding" | "cloudtrail"
    what: str
    who: str
    where: str
    detail: str
    ref: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": _iso(self.time),
            "kind": self.kind,
            "what": self.what,
            "who": self.who,
            "where": self.where,
            "detail": self.detail,
            "ref": self.ref,
        }


@dataclass
class Timeline:
    case_id: str
    findings: list[Finding]
    activity: Activity
    generated_at: datetime

    def entries(self) -> list[Entry]:
        entries: list[Entry] = []
        for finding in self.findings:
            marks = [("first seen", finding.first_seen), ("last seen", finding.last_seen)]
            if finding.first_seen == finding.last_seen:
                marks = marks[:1]
            for label, when in marks:
                if when is None:
                    continue
                entries.append(
                    Entry(
                        time=when,
                        kind="finding",
                        what=f"{finding.type or finding.title} ({label})",
                        who=", ".join(p.arn or p.name for p in finding.principals)
                        or ", ".join(finding.remote_ips),
                        where=", ".join(r.id for r in finding.resources),
                        detail=f"{finding.severity_label} {finding.severity:g}: {finding.title}",
                        ref=finding.guardduty_arn or finding.id,
                    )
                )
        for event in self.activity.events:
            detail = []
            if event.source_ip:
                detail.append(f"from {event.source_ip}")
            if event.error_code:
                detail.append(f"failed: {event.error_code}")
            if event.access_key_id:
                detail.append(f"key {event.access_key_id}")
            entries.append(
                Entry(
                    time=event.time,
                    kind="cloudtrail",
                    what=f"{event.service.split('.', 1)[0]}:{event.name}",
                    who=event.actor,
                    where=", ".join(event.resources) or event.region,
                    detail="; ".join(detail),
                    ref=event.event_id,
                )
            )
        return sorted(entries, key=lambda e: (e.time, e.kind != "finding", e.ref))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": TIMELINE_VERSION,
            "case": self.case_id,
            "generatedAt": _iso(self.generated_at),
            "window": {"start": _iso(self.activity.start), "end": _iso(self.activity.end)},
            "sources": list(self.activity.sources),
            "subjects": [s.to_dict() for s in self.activity.subjects],
            "notes": list(self.activity.notes),
            "failedSources": [f.to_dict() for f in self.activity.failures],
            "findings": [f.to_dict() for f in self.findings],
            "entries": [e.to_dict() for e in self.entries()],
            "events": [e.to_dict() for e in
                       sorted(self.activity.events, key=lambda e: (e.time, e.event_id))],
        }

    def to_markdown(self) -> str:
        lines = [f"# Case {self.case_id}: timeline", ""]
        lines.append(f"Generated {_iso(self.generated_at)} by `irctl triage`. Window "
                     f"{_iso(self.activity.start)} to {_iso(self.activity.end)}.")
        lines.append("")
        lines.append("## Findings")
        lines.append("")
        for finding in self.findings:
            lines.append(f"### {_md(finding.title or finding.id)}")
            lines.append("")
            lines.append(f"- Type: `{finding.type or 'unknown'}`")
            lines.append(f"- Severity: {finding.severity_label} ({finding.severity:g})")
            lines.append(f"- Source: {finding.source}, account {finding.account_id}, "
                         f"region {finding.region}")
            lines.append(f"- Id: `{finding.guardduty_arn or finding.id}`")
            if finding.resources:
                lines.append("- Resources: " + ", ".join(
                    f"{r.kind} `{r.id}`" for r in finding.resources))
            if finding.principals:
                lines.append("- Principals: " + ", ".join(
                    f"{p.kind} `{p.arn or p.name}`"
                    + (f" (key `{p.access_key_id}`)" if p.access_key_id else "")
                    for p in finding.principals))
            if finding.remote_ips:
                lines.append("- Remote addresses: " + ", ".join(
                    f"`{ip}`" for ip in finding.remote_ips))
            lines.append(f"- Playbook: {finding.playbook or 'none matches this type'}")
            lines.append("")
        lines.append("## Sources searched")
        lines.append("")
        for source in self.activity.sources:
            lines.append(f"- {source}")
        subjects = ", ".join(f"{s.attribute}={s.value}" for s in self.activity.subjects)
        lines.append(f"- Looked for: {subjects or 'nothing (no principal or resource)'}")
        for note in self.activity.notes:
            lines.append(f"- Note: {note}")
        for failed in self.activity.failures:
            # incomplete: whoever reads the timeline must know what it could not see
            lines.append(f"- **FAILED** {_md(failed.text())}")
        lines.append("")
        lines.append(f"## Timeline ({len(self.activity.events)} CloudTrail events)")
        lines.append("")
        lines.append("| Time (UTC) | What | Who | Where | Detail |")
        lines.append("|---|---|---|---|---|")
        for entry in self.entries():
            lines.append(
                f"| {entry.time:%Y-%m-%d %H:%M:%S} | {_md(entry.what)} | {_md(entry.who)} "
                f"| {_md(entry.where)} | {_md(entry.detail)} |"
            )
        lines.append("")
        return "\n".join(lines)


def _md(text: str) -> str:
    """Finding and CloudTrail fields are attacker-influenced: keep them inert in a table."""
    return (
        str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
        .replace("<", "&lt;").replace(">", "&gt;")
    )
