"""Emulator-backed rehearsal of the incident-response flow.

`rehearsal.emulator` extends moto with the AWS APIs moto lacks (GuardDuty
findings, Security Hub finding workflow and filters, AWS Backup jobs, recovery points
and restores, CloudTrail `LookupEvents`) so the runbooks can be exercised end to end
against moto, in-process (`mock_aws`) or over HTTP (`start_server`). Product code never
imports this package; it talks to whatever endpoint the session factory points at.
"""
