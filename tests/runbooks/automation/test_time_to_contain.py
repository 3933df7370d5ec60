"""`TimeToContain` counts to `isolated` (the last network cut), not to the end of the run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from runbooks.analysis.findings import Finding
from runbooks.automation.workflow import Outcome, time_metrics
from runbooks.core.runner import RunResult

SEEN = datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc)


def finding() -> Finding:
    return Finding(source="guardduty", id="f-1", account_id="123456789012",
                   region="eu-west-1", type="CryptoCurrency:EC2/BitcoinTool.B",
                   title="t", severity=8.0, severity_label="high", first_seen=SEEN,
                   last_seen=SEEN, resources=(), principals=(), remote_ips=(),
                   playbook="compromised-ec2-instance",
                   raw={"createdAt": (SEEN + timedelta(minutes=5)).isoformat()})


def test_time_to_contain_ends_when_the_last_network_cut_landed() -> None:
    received = SEEN + timedelta(minutes=6)
    run = RunResult("c-1", "instance", True, started_at=received + timedelta(seconds=1),
                    isolated_at=received + timedelta(seconds=4),
                    done_at=received + timedelta(seconds=30))
    outcome = Outcome("c-1", "compromised-ec2-instance", {}, "apply", results=[run])
    metrics, _, _ = time_metrics(finding(), outcome, received,
                                 received + timedelta(seconds=31), True)
    assert metrics["TimeToContain"] == (6 * 60 + 4, "Seconds")
    assert metrics["HandlerTimeToContain"] == (4, "Seconds")


def test_without_a_network_cut_it_ends_with_the_run() -> None:
    received = SEEN + timedelta(minutes=6)
    outcome = Outcome("c-1", "compromised-iam-credentials", {}, "apply",
                      results=[RunResult("c-1", "access-key", True)])
    metrics, _, _ = time_metrics(finding(), outcome, received,
                                 received + timedelta(seconds=9), True)
    assert metrics["TimeToContain"] == (6 * 60 + 9, "Seconds")
