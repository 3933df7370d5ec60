"""The Lambda extension: a downloadable code location (moto server, and in-process through
the urllib handler), ListEventSourceMappings by name or ARN; both modes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "lambda.amazonaws.com"}}]})


def _package(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", text)
    return buffer.getvalue()


def _function(client, name: str, package: bytes) -> dict:
    role = client("iam").create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}",
                                     AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler",
        Code={"ZipFile": package})


def test_code_location_serves_the_package_lambda_hashed(client):
    package = _package(f"# {uuid.uuid4()}\n")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    created = _function(client, name, package)
    location = client("lambda").get_function(FunctionName=name)["Code"]["Location"]
    assert location.startswith(("http://127.0.0.1:", "http://lambda-code.ir-emulator.invalid/"))
    with urllib.request.urlopen(location, timeout=10) as answer:  # unsigned, as from S3
        body = answer.read()
    assert body == package
    assert base64.b64encode(hashlib.sha256(body).digest()).decode() == created["CodeSha256"]


def test_code_location_of_an_unknown_function_is_refused(client):
    name = f"fn-{uuid.uuid4().hex[:8]}"
    _function(client, name, _package("x = 1\n"))
    location = client("lambda").get_function(FunctionName=name)["Code"]["Location"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(location.replace(name, "no-such-function"), timeout=10)
    assert caught.value.code == 403


def test_event_source_mappings_are_found_by_name_and_by_arn(client):
    lam, sqs = client("lambda"), client("sqs")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    created = _function(client, name, _package("x = 1\n"))
    other = _function(client, f"fn-{uuid.uuid4().hex[:8]}", _package("y = 2\n"))
    queues = [sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] for _ in range(3)]
    by_name = lam.create_event_source_mapping(EventSourceArn=queues[0], FunctionName=name)
    by_arn = lam.create_event_source_mapping(EventSourceArn=queues[1],
                                             FunctionName=created["FunctionArn"])
    lam.create_event_source_mapping(EventSourceArn=queues[2],
                                    FunctionName=other["FunctionName"])
    wanted = {by_name["UUID"], by_arn["UUID"]}
    for key in (name, created["FunctionArn"]):
        found = lam.list_event_source_mappings(FunctionName=key)["EventSourceMappings"]
        assert {m["UUID"] for m in found} == wanted
    by_source = lam.list_event_source_mappings(EventSourceArn=queues[1])["EventSourceMappings"]
    assert [m["UUID"] for m in by_source] == [by_arn["UUID"]]
