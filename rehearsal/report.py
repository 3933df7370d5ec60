"""The drill report as Markdown (the JSON is `DrillReport.to_dict()` as is)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown(report: Mapping[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    prov = report["provisioning"]
    out = [
        f"# Incident-response drill {report['runId']}: {verdict}",
        "",
        f"- Mode: {report['mode']}; account {report['accountId']}; home region "
        f"{report['homeRegion']}; covered regions {', '.join(report['regions'])}",
        ("- Readiness stack: deployed beforehand (`pulumi up`); manifest read from SSM"
         if report["mode"] == "sandbox" else
         f"- Readiness stack: {prov['resources']} resources provisioned in "
         f"{prov['seconds']:.1f} s"),
        f"- Total: {report['secondsTotal']:.1f} s",
    ]
    if prov["recordedOnly"]:
        out.append("- Declared but not emulated (moto has no API): "
                   + "; ".join(prov["recordedOnly"]))
    out += ["", "| Scenario | Playbook | Time to contain | Checks | Result |",
            "|---|---|---|---|---|"]
    for s in report["scenarios"]:
        passed = sum(1 for c in s["checks"] if c["passed"])
        contain = f"{s['secondsToContain']:.2f} s" if s["secondsToContain"] is not None else "-"
        registry = sum(1 for c in s["checks"] if c.get("origin") == "registry")
        out.append(f"| {s['scenario']} | {s['playbook']} | {contain} | "
                   f"{passed}/{len(s['checks'])} ({registry} from step verify) | "
                   f"{'pass' if s['passed'] else 'FAIL'} |")
    for s in report["scenarios"]:
        out += ["", f"## {s['scenario']} ({'pass' if s['passed'] else 'FAIL'})", "",
                f"Finding `{s['findingType']}`, case `{s['case']}`, playbook "
                f"`{s['playbook']}` with "
                + ", ".join(f"`{k}={v}`" for k, v in s["params"].items()), ""]
        if s["error"]:
            out += [f"**Error:** {_cell(s['error'])}", ""]
        out += ["### Timeline", "", "| Time (UTC) | Event |", "|---|---|"]
        out += [f"| {e['time']} | {_cell(e['event'])} |" for e in s["timeline"]]
        out += ["", "### Actions", "", "| Step | Target | Change | Status |", "|---|---|---|---|"]
        out += [f"| `{a['step']}` | {a['target']} | {_cell(a['summary'])} | {a['status']}"
                f"{' (' + _cell(a['error']) + ')' if a['error'] else ''} |" for a in s["actions"]]
        for f in s["followUps"]:
            out += ["", f"Follow-up `{f['command']}` exited {f['exitCode']}."]
        out += ["", "### Checks (AWS state)", "", "| Check | Result | Detail |", "|---|---|---|"]
        out += [f"| {_cell(c['name'])} | {'pass' if c['passed'] else 'FAIL'} | "
                f"{_cell(c['detail'])} |" for c in s["checks"]]
    cleanup = report.get("cleanup")
    if cleanup is not None:
        out += ["", "## Cleanup (everything this run created)", "",
                f"- Removed: {len(cleanup['removed'])}: "
                + (", ".join(cleanup["removed"]) or "nothing"),
                "- Refused (not tagged with this run): "
                + (_cell("; ".join(cleanup["refused"])) or "none"),
                "- Errors: " + (_cell("; ".join(cleanup["errors"])) or "none"),
                "- **Leftovers (delete these by hand):** "
                + (", ".join(cleanup["leftovers"]) or "none")]
    out.append("")
    return "\n".join(out)
