"""moto, extended with the AWS APIs the runbooks use and moto 5.2 lacks.

One place fills moto's gaps, so product code stays free of emulator special cases:

- GuardDuty findings: CreateSampleFindings, ListFindings, GetFindings,
  ArchiveFindings, UnarchiveFindings (`inject_finding` stages a full finding).
- Security Hub: GetFindings honouring filters, BatchUpdateFindings.
- AWS Backup: StartBackupJob (EC2 -> a real moto AMI, EBS -> a real snapshot),
  DescribeBackupJob, ListBackupJobs, recovery points, GetRecoveryPointRestoreMetadata,
  StartRestoreJob (launches a real instance / creates a real volume), DescribeRestoreJob,
  ListRestoreJobs.
- CloudTrail LookupEvents over the management calls the emulator served plus
  `inject_events` history.
- SSM DescribeInstanceInformation and SendCommand to managed instances only
  (`ssm.py`, written by the analysis engineer).
- What the readiness stack declares and moto cannot create, so the drill provisions it
  for real and reads it back: AWS Backup selections, vault notifications and access
  policies, restore testing plans and selections (`backup_config.py`); GuardDuty
  publishing destinations, S3 malware protection plans and the organisation
  configuration (`guardduty_config.py`); Security Hub standards subscriptions, the
  finding aggregator and central configuration policies (`securityhub_config.py`); IAM
  Access Analyzer analyzers, a service moto lacks entirely (`accessanalyzer.py`); Shield
  Advanced SRT access and proactive engagement (`shield.py`).

`install()` patches moto in this process (idempotent) and works with `mock_aws`;
`start_server()` runs moto server on 127.0.0.1 with the same extensions, an optional
per-call latency and a per-operation call counter.
"""

from __future__ import annotations

from rehearsal.emulator.extensions import inject_events, inject_finding, install
from rehearsal.emulator.server import EmulatorServer, start_server

__all__ = [
    "EmulatorServer",
    "inject_events",
    "inject_finding",
    "install",
    "start_server",
]
