from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from rehearsal.emulator import inject_events


def _events(ct, **kwargs) -> list[dict]:
    return [
        e for page in ct.get_paginator("lookup_events").paginate(**kwargs) for e in page["Events"]
    ]


def test_calls_through_the_emulator_are_recorded(client) -> None:
    iam = client("iam")
    user = f"intruder-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    ec2 = client(
        "ec2", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "owner", "Value": "x"}])

    ct = client("cloudtrail")
    by_user = _events(ct, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user}])
    assert [e["EventName"] for e in by_user] == ["CreateTags", "RunInstances"]  # newest first
    run = by_user[1]
    assert run["EventSource"] == "ec2.amazonaws.com"
    assert run["AccessKeyId"] == key["AccessKeyId"]
    assert run["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::EC2::Instance", "ResourceName": instance_id} in run["Resources"]
    record = json.loads(run["CloudTrailEvent"])
    assert record["userIdentity"]["userName"] == user
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["eventName"] == "RunInstances"

    by_resource = _events(
        ct, LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": instance_id}]
    )
    assert {e["EventName"] for e in by_resource} == {"RunInstances", "CreateTags"}
    created = _events(
        ct, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}]
    )
    assert len(created) == 1 and created[0]["EventSource"] == "iam.amazonaws.com"
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": user} in created[0]["Resources"]


def test_injected_history_honours_time_range_and_attributes(client) -> None:
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=3)
    inject_events(
        [
            {
                "eventTime": old.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "iam.amazonaws.com",
                "eventName": "CreateUser",
                "userIdentity": {
                    "type": "IAMUser",
                    "userName": "mallory",
                    "accessKeyId": "AKIAOLD",
                },
                "requestParameters": {"userName": "backdoor"},
                "resources": [{"type": "AWS::IAM::User", "ARN": "backdoor"}],
            },
            {
                "EventName": "AttachUserPolicy",
                "EventTime": (old + timedelta(minutes=5)).isoformat(),
                "EventSource": "iam.amazonaws.com",
                "Username": "mallory",
                "AccessKeyId": "AKIAOLD",
                "Resources": [{"ResourceType": "AWS::IAM::User", "ResourceName": "backdoor"}],
            },
        ]
    )
    ct = client("cloudtrail")
    window = {"StartTime": old - timedelta(hours=1), "EndTime": old + timedelta(hours=1)}
    mallory = _events(
        ct, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "mallory"}], **window
    )
    assert [e["EventName"] for e in mallory] == ["AttachUserPolicy", "CreateUser"]
    by_key = _events(
        ct, LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAOLD"}]
    )
    assert len(by_key) == 2
    later = _events(
        ct,
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "mallory"}],
        StartTime=old + timedelta(minutes=1),
    )
    assert [e["EventName"] for e in later] == ["AttachUserPolicy"]
    by_type = _events(
        ct, LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "AWS::IAM::User"}]
    )
    assert {"CreateUser", "AttachUserPolicy"} <= {e["EventName"] for e in by_type}


def test_max_results_and_next_token_page_through_history(client) -> None:
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    inject_events(
        [
            {
                "EventName": "PutObject",
                "EventTime": base + timedelta(seconds=i),
                "EventSource": "s3.amazonaws.com",
                "Username": "pager",
            }
            for i in range(7)
        ]
    )
    ct = client("cloudtrail")
    attrs = [{"AttributeKey": "Username", "AttributeValue": "pager"}]
    first = ct.lookup_events(LookupAttributes=attrs, MaxResults=5)
    assert len(first["Events"]) == 5
    second = ct.lookup_events(LookupAttributes=attrs, MaxResults=5, NextToken=first["NextToken"])
    assert len(second["Events"]) == 2 and "NextToken" not in second
    times = [e["EventTime"] for e in first["Events"] + second["Events"]]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        (
            {
                "StartTime": datetime(2026, 1, 2, tzinfo=timezone.utc),
                "EndTime": datetime(2026, 1, 1, tzinfo=timezone.utc),
            },
            "InvalidTimeRangeException",
        ),
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "Username", "AttributeValue": "a"},
                    {"AttributeKey": "EventName", "AttributeValue": "b"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
    ],
)
def test_bad_lookup_requests_get_aws_error_codes(client, kwargs, code) -> None:
    with pytest.raises(ClientError) as err:
        client("cloudtrail").lookup_events(**kwargs)
    assert err.value.response["Error"]["Code"] == code


def test_bucket_level_s3_calls_are_management_events(client) -> None:
    s3 = client("s3")
    bucket = f"exposed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")  # a data event: not in event history
    s3.list_objects_v2(Bucket=bucket)  # a data event too
    events = _events(
        client("cloudtrail"),
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": bucket}],
    )
    assert [e["EventName"] for e in events] == ["PutBucketPolicy", "CreateBucket"]
    assert all(e["EventSource"] == "s3.amazonaws.com" for e in events)


def test_recorded_events_have_cloudtrails_record_format(client) -> None:
    """requestParameters/responseElements keyed as CloudTrail writes them (lowerCamel,
    EC2 lists as {"items": [...]}, typed values, secrets left out), and Resources named."""
    iam, ec2, ct = client("iam"), client("ec2"), client("cloudtrail")
    user = f"svc-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.create_login_profile(UserName=user, Password="Corr3ct-Horse-Battery!")
    group = ec2.create_security_group(GroupName=f"g-{uuid.uuid4().hex[:8]}", Description="x")[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    ec2.modify_instance_attribute(InstanceId=instance, DisableApiTermination={"Value": True})
    ec2.stop_instances(InstanceIds=[instance])

    def last(name: str) -> tuple[dict, dict]:
        event = _events(
            ct, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]
        )[0]
        return event, json.loads(event["CloudTrailEvent"])

    event, record = last("CreateAccessKey")
    assert record["requestParameters"] == {"userName": user}
    assert record["responseElements"]["accessKey"]["accessKeyId"] == key["AccessKeyId"]
    assert key["SecretAccessKey"] not in event["CloudTrailEvent"]
    assert {"ResourceType": "AWS::IAM::AccessKey", "ResourceName": key["AccessKeyId"]} in event[
        "Resources"
    ]
    event, record = last("CreateLoginProfile")
    assert record["requestParameters"]["password"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert "Corr3ct-Horse-Battery!" not in event["CloudTrailEvent"]
    assert event["Resources"] == [{"ResourceType": "AWS::IAM::User", "ResourceName": user}]
    event, record = last("AuthorizeSecurityGroupIngress")
    assert record["requestParameters"] == {
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                     "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
    }
    assert event["Resources"] == [{"ResourceType": "AWS::EC2::SecurityGroup",
                                   "ResourceName": group}]
    event, record = last("RunInstances")
    assert record["requestParameters"]["imageId"] == "ami-12c6146b"
    assert record["requestParameters"]["minCount"] == 1
    items = record["responseElements"]["instancesSet"]["items"]
    assert [i["instanceId"] for i in items] == [instance]
    event, record = last("ModifyInstanceAttribute")
    assert record["requestParameters"] == {"instanceId": instance,
                                           "disableApiTermination": {"value": True}}
    assert event["Resources"] == [{"ResourceType": "AWS::EC2::Instance",
                                   "ResourceName": instance}]
    event, record = last("StopInstances")
    assert record["requestParameters"] == {
        "instancesSet": {"items": [{"instanceId": instance}]}}
    assert event["Resources"] == [{"ResourceType": "AWS::EC2::Instance",
                                   "ResourceName": instance}]


def test_seeded_camel_case_parameters_name_resources(client) -> None:
    role = f"arn:aws:iam::123456789012:role/r-{uuid.uuid4().hex[:8]}"
    inject_events([{
        "eventTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "userIdentity": {"type": "IAMUser", "userName": "mallory"},
        "requestParameters": {"roleArn": role, "roleSessionName": "pivot"},
    }])
    found = _events(
        client("cloudtrail"),
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": role}],
    )
    assert [e["EventName"] for e in found] == ["AssumeRole"]
    assert found[0]["Resources"] == [{"ResourceType": "AWS::IAM::Role", "ResourceName": role}]
