"""`HANDLER_ACTIONS` is what the automation handler is measured to call, outside any step.

The handler runs in apply mode against moto (+ the emulator) with the recording layer on
(`tests/runbooks/recording.py`) for each automated playbook: a compromised instance, an
instance the owner opted out (and one delivered twice), exfiltrated role and user
credentials, a public bucket from a
Security Hub control finding, a port probe (malicious IP). Calls outside steps (claims,
the hourly cap, opt-out tags, Security Hub workflow, the notification, discovery) must be
in HANDLER_ACTIONS, calls inside steps in the automation role's actions
(`automation_actions()`), and every HANDLER_ACTIONS entry must be measured or named in
NOT_EXERCISED with the reason.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from runbooks.automation.handler import HANDLER_ACTIONS, handler, reset_sessions
from runbooks.automation.policy import automation_actions
from tests.runbooks.automation.test_handler import HERE, World, auto, load  # noqa: F401
from tests.runbooks.recording import OUTSIDE, Recorder, recorder  # noqa: F401 - fixture

# Granted by the role's `UseStackKeys` statement (components/response_automation.py), on
# the stack's keys only: S3 asks KMS for a data key as the caller when the audit copy and
# claims are written with SSE-KMS.
STACK_KEY_GRANTS = frozenset({"kms:Decrypt", "kms:GenerateDataKey"})

# Entries of HANDLER_ACTIONS no event below makes the handler call, with the reason.
NOT_EXERCISED: dict[str, str] = {
    "s3:GetObjectVersion": "a Lambda retry of a failed run reads the latest version of the "
                           "case's audit log copy before appending; each event here runs once",
}


def _events(auto: World) -> dict[str, dict[str, Any]]:  # noqa: F811 - fixture type
    iam, s3 = auto.client("iam"), auto.client("s3")
    role = f"web-app-role-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    credentials = load(HERE / "fixtures" / "guardduty_event_role_credential_exfiltration.json")
    credentials["detail"]["resource"]["accessKeyDetails"]["userName"] = role
    credentials["detail"]["id"] = uuid.uuid4().hex

    user = f"mallory-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    user_key = json.loads(json.dumps(credentials))
    user_key["detail"]["id"] = uuid.uuid4().hex
    user_key["detail"]["arn"] = (user_key["detail"]["arn"].rsplit("/", 1)[0] + "/"
                                 + user_key["detail"]["id"])  # its own case
    user_key["detail"]["resource"]["accessKeyDetails"] = {
        "accessKeyId": key, "principalId": "AIDAEXAMPLE", "userName": user,
        "userType": "IAMUser"}

    bucket = f"customer-exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    control = load(HERE / "fixtures" / "securityhub_event_control_s3_public_read.json")
    asff = control["detail"]["findings"][0]
    asff["Id"] = asff["Id"].rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
    asff["Resources"][0]["Id"] = f"arn:aws:s3:::{bucket}"
    auto.client("securityhub").enable_security_hub()
    auto.client("securityhub").batch_import_findings(Findings=[asff])

    probe = load(HERE / "fixtures" / "guardduty_event_port_probe.json")
    probe["detail"]["id"] = uuid.uuid4().hex
    details = probe["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = auto.instance()
    details["networkInterfaces"][0]["vpcId"] = auto.readiness.vpc_id
    instance = auto.ec2_event(auto.instance())
    return {
        "compromised instance": instance,
        # EventBridge delivers at least once: the second finds the claim
        "compromised instance, delivered again": instance,
        "opted-out instance": auto.ec2_event(
            auto.instance(tags={"ir-readiness:automation": "off"})),
        "role credentials": credentials,
        "user access key": user_key,
        "public bucket (control)": control,
        "port probe": probe,
    }


def test_handler_reads_are_what_the_handler_calls(
        auto: World, recorder: Recorder) -> None:  # noqa: F811 - fixtures
    auto.mode("apply")
    auto.monkeypatch.setenv("IR_AUTOMATION_FINDING_TYPES", ",".join([
        "CryptoCurrency:EC2/", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
        "control/S3.2", "Recon:EC2/PortProbeUnprotectedPort"]))
    auto.monkeypatch.setenv("IR_AUTOMATION_MIN_SEVERITY", "2")
    outside: dict[str, set[str]] = {}
    in_steps: dict[str, set[str]] = {}
    for name, event in _events(auto).items():
        recorder.reset()
        (finding,) = handler(event, None)["findings"]
        assert finding["status"] in ("contained", "planned", "skipped"), (name, finding)
        outside[name] = set(recorder.calls.get(OUTSIDE, set()))
        in_steps[name] = set().union(*(calls for who, calls in recorder.calls.items()
                                       if who != OUTSIDE))
    reset_sessions()  # the next test's world is another moto

    ungranted = {name: sorted(calls - HANDLER_ACTIONS - STACK_KEY_GRANTS)
                 for name, calls in outside.items()}
    assert not any(ungranted.values()), (
        f"the handler calls, outside any step, actions HANDLER_ACTIONS lacks: {ungranted}")
    role = set(automation_actions())
    denied = {name: sorted(calls - role) for name, calls in in_steps.items()}
    assert not any(denied.values()), f"steps call actions the automation role lacks: {denied}"
    called = set().union(*outside.values())
    stale = sorted(HANDLER_ACTIONS - called - set(NOT_EXERCISED))
    assert not stale, (f"HANDLER_ACTIONS entries the handler never calls: {stale}; remove "
                       "them, or say in NOT_EXERCISED which path needs them")
    assert not set(NOT_EXERCISED) & called, "NOT_EXERCISED names an action the handler calls"
