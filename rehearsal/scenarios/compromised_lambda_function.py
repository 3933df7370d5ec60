"""Drill scenario `compromised-lambda-function`: a function GuardDuty Lambda Protection
saw talking to a command-and-control server.

The victim: a function with an execution role, an SQS event source, a public
`lambda:InvokeFunction` statement (Principal *) and a statement for S3 pinned to a
source account (not public, must stay). After the playbook's containment the checks
read the function's reserved concurrency, its mapping, its policy, the role's inline
revocation and the evidence bucket.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import Check, Incident, Scenario, check, scenario

if TYPE_CHECKING:
    from rehearsal.world import World

LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "lambda.amazonaws.com"}}]})


def code_package(run_id: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n"
                                       f"    return {{'drill': '{run_id}'}}\n")
    return buffer.getvalue()


@scenario
class CompromisedLambdaFunction(Scenario):
    name = "compromised-lambda-function"
    order = 85
    playbook = "compromised-lambda-function"
    title = "A Lambda function calling a command-and-control server"
    finding_type = "Backdoor:Lambda/C&CActivity.B"
    severity = 8.0

    def prepare(self, world: World) -> dict[str, Any]:
        iam, lam, sqs = world.client("iam"), world.client("lambda"), world.client("sqs")
        drill_tag = [{"Key": "ir-readiness:drill", "Value": world.run_id}]
        role = f"drill-fn-role-{world.run_id}"
        role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST,
                                   Tags=drill_tag)["Role"]["Arn"]
        function = f"drill-orders-{world.run_id}"
        package = code_package(world.run_id)
        created = lam.create_function(
            FunctionName=function, Runtime="python3.12", Role=role_arn,
            Handler="handler.handler", Code={"ZipFile": package},
            Tags={"ir-readiness:drill": world.run_id})
        queue_url = sqs.create_queue(QueueName=f"drill-orders-{world.run_id}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "QueueArn"])["Attributes"]["QueueArn"]
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn,
                                                  FunctionName=function, Enabled=True)
        lam.add_permission(FunctionName=function, StatementId="AnyoneMayInvoke",
                           Action="lambda:InvokeFunction", Principal="*")
        lam.add_permission(FunctionName=function, StatementId="UploadsBucket",
                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                           SourceAccount=world.account_id)
        return {"function": function, "function_arn": created["FunctionArn"],
                "role": role, "role_arn": role_arn, "mapping": mapping["UUID"],
                "code_sha256": created["CodeSha256"]}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "Lambda", "LambdaDetails": {
            "FunctionName": victim["function"], "FunctionArn": victim["function_arn"],
            "Role": victim["role_arn"], "Description": "orders webhook",
            "Tags": [{"Key": "ir-readiness:drill", "Value": world.run_id}]}}

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": {
            "ConnectionDirection": "OUTBOUND", "Protocol": "TCP",
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.66"},
            "RemotePortDetails": {"Port": 443}}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"function_name": str(victim["function"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        lam, s3 = world.client("lambda"), world.client("s3")
        victim = incident.victim
        function = victim["function"]

        def throttled() -> tuple[bool, str]:
            reserved = lam.get_function_concurrency(FunctionName=function).get(
                "ReservedConcurrentExecutions")
            return reserved == 0, f"reserved concurrency {reserved}"

        def mapping_disabled() -> tuple[bool, str]:
            state = lam.get_event_source_mapping(UUID=victim["mapping"])["State"]
            return state in ("Disabled", "Disabling"), f"SQS mapping {state}"

        def policy_private() -> tuple[bool, str]:
            statements = json.loads(lam.get_policy(FunctionName=function)["Policy"])[
                "Statement"]
            sids = sorted(s["Sid"] for s in statements)
            return sids == ["UploadsBucket"], f"statements left: {sids}"

        def sessions_revoked() -> tuple[bool, str]:
            document = world.client("iam").get_role_policy(
                RoleName=victim["role"], PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(document)
            statement = document["Statement"][0]
            return (statement["Effect"] == "Deny" and "aws:TokenIssueTime" in json.dumps(
                statement)), f"{statement['Effect']} before {statement.get('Condition')}"

        def code_saved() -> tuple[bool, str]:
            import hashlib

            key = f"cases/{case}/functions/{function}/code.zip"
            got = s3.get_object(Bucket=world.manifest.evidence_bucket, Key=key)
            body = got["Body"].read()
            expected = base64.b64decode(victim["code_sha256"]).hex()
            digest = hashlib.sha256(body).hexdigest()
            return (digest == expected and got["Metadata"].get("sha256") == expected
                    and got.get("ServerSideEncryption") == "aws:kms"), (
                f"{key}: sha256 {digest[:16]}..., function's {expected[:16]}..., "
                f"{got.get('ServerSideEncryption')}")

        def configuration_saved() -> tuple[bool, str]:
            key = f"cases/{case}/functions/{function}/configuration.json"
            document = json.loads(s3.get_object(Bucket=world.manifest.evidence_bucket,
                                                Key=key)["Body"].read())
            mappings = [m["UUID"] for m in document["eventSourceMappings"]]
            return (document["configuration"]["FunctionName"] == function
                    and victim["mapping"] in mappings), f"{key}: mappings {mappings}"

        return [
            check("reserved concurrency 0: every invocation throttled", throttled),
            check("SQS event-source mapping disabled", mapping_disabled),
            check("public statement removed, source-pinned statement kept", policy_private),
            check("execution role's older sessions revoked", sessions_revoked),
            check("code package in the evidence bucket, SHA-256 = CodeSha256, SSE-KMS",
                  code_saved),
            check("configuration (with the event-source mapping) in the evidence bucket",
                  configuration_saved),
            *self.common_checks(world, incident, case, "high", function),
        ]
