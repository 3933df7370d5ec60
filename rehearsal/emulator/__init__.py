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

import threading
from typing import Any

from rehearsal.emulator.server import EmulatorServer, start_server

__all__ = [
    "EmulatorServer",
    "inject_events",
    "inject_finding",
    "install",
    "start_server",
]

_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Extend moto in this process (both `mock_aws` and moto server). Idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from rehearsal.emulator import (
            accessanalyzer,
            backup,
            cloudtrail,
            guardduty,
            securityhub,
            shield,
            ssm,
        )

        for module in (cloudtrail, guardduty, securityhub, backup, ssm, accessanalyzer,
                       shield):
            module.install()
        _hook_dispatch()
        _installed = True


def _hook_dispatch() -> None:
    """Record every call moto dispatches as a CloudTrail management event."""
    from moto.core.responses import BaseResponse
    from moto.s3.responses import S3Response

    from rehearsal.emulator.cloudtrail import record_call, record_s3_bucket_call

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        status, headers, body = original(self)
        try:
            record_call(self, int(status), body)
        except (KeyError, ValueError, AttributeError):
            # A call moto served in a region or partition CloudTrail's backend does not
            # know (e.g. a made-up region): not recorded, and the call itself unaffected.
            pass
        return status, headers, body

    BaseResponse.call_action = call_action  # type: ignore[method-assign]

    # S3 has its own dispatch; its bucket-level calls are management events too.
    original_bucket_response = S3Response.bucket_response

    def bucket_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        status, out_headers, body = original_bucket_response(self, request, full_url, headers)
        try:
            record_s3_bucket_call(self, request, int(status), body)
        except (KeyError, ValueError, AttributeError):
            pass  # as above: recording never changes the call's outcome
        return status, out_headers, body

    S3Response.bucket_response = bucket_response  # type: ignore[method-assign]


def inject_events(*args: Any, **kwargs: Any) -> None:
    """See `rehearsal.emulator.cloudtrail.inject_events`."""
    install()
    from rehearsal.emulator.cloudtrail import inject_events as inject

    inject(*args, **kwargs)


def inject_finding(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See `rehearsal.emulator.guardduty.inject_finding`."""
    install()
    from rehearsal.emulator.guardduty import inject_finding as inject

    return inject(*args, **kwargs)
