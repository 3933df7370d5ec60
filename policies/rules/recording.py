"""Recording: what responders will need recorded before the incident (issue 19, section 4).

* an AWS Config recorder, recording and turned on, in every covered region (Security Hub
  evaluates most controls from it);
* VPC Flow Logs of all traffic for every VPC the stack can quarantine in;
* S3 server access logging of the log and evidence buckets.

Advisory: each has a documented opt-out (an organisation may record Config through
Control Tower, or flow logs centrally), so the pack warns instead of blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import REGISTRY, Findings, StackIndex, as_list, describe, purpose_of, stack_rule
from .quarantine import QUARANTINE_PURPOSES, SECURITY_GROUP
from .s3 import BUCKET_LOGGING, BUCKETS, locked_buckets
from .stack import REGIONS

AREA = "recording"
RECORDER = "aws:cfg/recorder:Recorder"
RECORDER_STATUS = "aws:cfg/recorderStatus:RecorderStatus"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"


@stack_rule(
    name="config-recorder-per-region", area=AREA, severity=Severity.HIGH, mandatory=False,
    description="Each covered region must have an AWS Config recorder that records all "
                "supported resources and is turned on (RecorderStatus is_enabled); global "
                "resource types must be recorded in exactly one region.",
    remediation="Add a ConfigRecording (aws.cfg.Recorder with recording_group.all_supported, "
                "aws.cfg.DeliveryChannel, aws.cfg.RecorderStatus is_enabled=True) per covered "
                "region, include_global_resource_types only in the home region.",
    config=REGIONS,
)
def config_recorder_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    # Every mode: member and management stacks record too (issue 19), so Security Hub
    # evaluates the controls of every account.
    recorders = index.of_type(RECORDER)
    on: set[str] = set()
    for status in index.of_type(RECORDER_STATUS):
        if status.props.get("isEnabled") is not True:
            yield f"{describe(status)} turns the recorder off", status.urn
            continue
        for recorder in index.references(status, "name", recorders, ("name",)):
            on.add(recorder.urn)
    global_regions: list[str] = []
    recording: set[str | None] = set()
    for recorder in recorders:
        group = recorder.props.get("recordingGroup")
        group = group if isinstance(group, Mapping) else {}
        if group.get("allSupported") is False:
            yield (f"{describe(recorder)} records only selected resource types; "
                   "record all supported types"), recorder.urn
            continue
        if recorder.urn not in on:
            yield f"{describe(recorder)} has no RecorderStatus turning it on", recorder.urn
            continue
        recording.add(index.region(recorder))
        if group.get("includeGlobalResourceTypes") is True:
            global_regions.append(str(index.region(recorder)))
    for region in index.covered_regions(as_list(config["regions"])):
        if region not in recording:
            yield f"region {region} has no AWS Config recorder turned on", None
    if recording and not global_regions:
        yield "no Config recorder records global resource types (IAM)", None
    elif len(global_regions) > 1:
        yield (f"global resource types are recorded in {len(global_regions)} regions "
               f"({', '.join(sorted(global_regions))}): each IAM change is billed that often"), None


@stack_rule(
    name="flow-logs-quarantine-vpcs", area=AREA, severity=Severity.HIGH, mandatory=False,
    description="Every VPC with quarantine security groups must have a VPC flow log of ALL "
                "traffic (the playbooks read it after containment).",
    remediation="Enable ir:recording.flowLogs (a NetworkRecording per region: aws.ec2.FlowLog "
                "with vpc_id, traffic_type='ALL' and an encrypted log group).",
)
def flow_logs_quarantine_vpcs(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    logged: set[str] = set()
    for flow_log in index.of_type(FLOW_LOG):
        vpc = flow_log.props.get("vpcId")
        if flow_log.props.get("trafficType") != "ALL":
            yield (f"{describe(flow_log)} records {flow_log.props.get('trafficType')!r} "
                   "traffic only; responders need ALL"), flow_log.urn
        elif isinstance(vpc, str):
            logged.add(vpc)
    wanted: dict[str, str] = {}
    for group in index.of_type(SECURITY_GROUP):
        vpc = group.props.get("vpcId")
        if purpose_of(group.props) in QUARANTINE_PURPOSES and isinstance(vpc, str):
            wanted.setdefault(vpc, group.urn)
    for vpc, urn in wanted.items():
        if vpc not in logged:
            yield f"quarantine VPC {vpc} has no flow log of all traffic", urn


@stack_rule(
    name="s3-access-logging-log-buckets", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="Log and evidence buckets must have S3 server access logging into another "
                "bucket (CIS AWS Foundations v3.0 3.4).",
    remediation="Enable ir:recording.accessLogs (an AccessLogStore: aws.s3.BucketLogging for "
                "each log/evidence bucket into an SSE-S3 access-log bucket).",
    # Which buckets are log/evidence buckets: the same settings as the Object Lock rule.
    config={k: v for k, v in REGISTRY["s3-object-lock-retention"].config.items()
            if k in ("lockedPurposes", "lockedNameHints")},
)
def access_logging(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    buckets = index.of_type(*BUCKETS)
    logged: dict[str, list[str]] = {}
    for logging in index.of_type(*BUCKET_LOGGING):
        targets = index.references(logging, "targetBucket", buckets, ("bucket",))
        for source in index.references(logging, "bucket", buckets, ("bucket",)):
            logged.setdefault(source.urn, []).extend(t.urn for t in targets)
    for view in locked_buckets(index, config):
        urn = view.bucket.urn
        if urn not in logged:
            yield f"{describe(view.bucket)} has no server access logging", urn
        elif urn in logged[urn]:
            yield f"{describe(view.bucket)} logs its access into itself (a loop)", urn

