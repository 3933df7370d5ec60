"""components.mockrun: what the policy preview, the drill and the tests build on."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from components.mockrun import evaluate, evaluate_program


def test_records_parent_provider_region_dependencies_and_secrets() -> None:
    class Box(pulumi.ComponentResource):
        def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
            super().__init__("test:index:Box", name, None, opts)
            queue = aws.sqs.Queue(f"{name}-queue", opts=pulumi.ResourceOptions(parent=self))
            aws.ssm.Parameter(
                f"{name}-param",
                type="SecureString",
                value=pulumi.Output.secret("s3cr3t"),
                description=queue.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[queue]),
            )
            self.register_outputs({})

    def program() -> None:
        provider = aws.Provider("paris", region="eu-west-3")
        Box("box", opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("answer", 42)

    ev = evaluate({}, program=program)
    by_name = {r.name: r for r in ev.resources}
    box, queue, param = by_name["box"], by_name["box-queue"], by_name["box-param"]
    provider = by_name["paris"]
    assert box.custom is False and queue.custom is True
    assert queue.parent == box.urn and param.parent == box.urn
    assert queue.provider == f"{provider.urn}::{provider.id}"
    assert queue.region == param.region == provider.region == "eu-west-3"
    assert queue.outputs["arn"].startswith("arn:aws:sqs:eu-west-3:123456789012:")
    assert param.inputs["value"] == "s3cr3t" and param.secret_inputs == {"value"}
    assert param.inputs["description"] == queue.outputs["arn"]
    assert queue.urn in param.dependencies
    assert queue.urn in param.property_dependencies["description"]
    assert ev.outputs == {"answer": 42}


def test_unknown_invoke_fails_loudly() -> None:
    def program() -> None:
        aws.ec2.get_ami(most_recent=True, owners=["amazon"])

    with pytest.raises(Exception, match="ReadinessMocks has no answer for invoke"):
        evaluate_program({}, program=program)


def test_evaluations_are_independent() -> None:
    first = evaluate_program({}, program=lambda: aws.sqs.Queue("one"))
    second = evaluate_program({}, program=lambda: aws.sqs.Queue("two"))
    assert [r.name for r in first] == ["one"]
    assert [r.name for r in second] == ["two"]


def test_config_reaches_the_program() -> None:
    seen: list[object] = []
    evaluate(
        {"ir:regions": json.dumps(["eu-west-1"])},
        program=lambda: seen.append(pulumi.Config("ir").get_object("regions")),
    )
    assert seen == [["eu-west-1"]]


def test_inputs_win_over_invented_outputs() -> None:
    """An EventTarget's `arn` is where it delivers: the mocks must not replace it with an
    ARN they invent, neither in the recorded state nor in what the program reads back."""
    bus = "arn:aws:events:eu-west-1:222222222222:event-bus/ir-readiness-org"

    def program() -> None:
        pattern = json.dumps({"source": ["aws.guardduty"]})
        rule = aws.cloudwatch.EventRule("r", event_pattern=pattern)
        target = aws.cloudwatch.EventTarget("t", rule=rule.name, arn=bus)
        topic = aws.sns.Topic("topic")
        pulumi.export("target_arn", target.arn)
        pulumi.export("topic_arn", topic.arn)

    ev = evaluate({"aws:region": "eu-west-1"}, program=program)
    target = ev.of_type("aws:cloudwatch/eventTarget:EventTarget")[0]
    assert target.inputs["arn"] == bus
    assert target.outputs["arn"] == bus
    assert ev.outputs["target_arn"] == bus
    # computed values are still invented where the program gave none
    assert ev.outputs["topic_arn"].startswith("arn:aws:sns:eu-west-1:123456789012:")
    rule = ev.of_type("aws:cloudwatch/eventRule:EventRule")[0]
    assert target.property_dependencies["rule"] == (rule.urn,)
    assert rule.urn in target.dependencies


def test_secrets_are_unwrapped_at_any_depth() -> None:
    """`plain` is the one place secrets are unwrapped (records and the drill bridge)."""
    from pulumi.runtime import rpc

    from components.mockrun import plain

    wire = {"a": rpc.wrap_rpc_secret({"b": [rpc.wrap_rpc_secret("s3cr3t"), 1.0]}), "c": "x"}
    assert plain(wire) == {"a": {"b": ["s3cr3t", 1.0]}, "c": "x"}
