"""The function's code archive, unpacked alone, contains an instance over HTTP.

Copies exactly the files `ResponseAutomation` packages (`code_assets`) into a fresh
directory, then runs the handler from there in a new Python process (as Lambda does,
the repository not on the path) against a moto server, and checks the AWS state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from components.response_automation import HANDLER, code_assets
from tests.runbooks.conftest import REGION, REPO, Readiness, launch_instances

FIXTURE = REPO / "tests" / "runbooks" / "fixtures" / "guardduty_event_cryptocurrency_ec2.json"
CHILD = """
import json, sys
import runbooks
assert runbooks.__file__.startswith(sys.argv[1]), runbooks.__file__
module, _, name = sys.argv[2].rpartition(".")
handler = getattr(__import__(module, fromlist=[name]), name)
print("RESULT " + json.dumps(handler(json.loads(sys.stdin.read()), None)))
"""


@pytest.mark.server
def test_packaged_code_contains_an_instance(server_readiness: Readiness,
                                            tmp_path: Path) -> None:
    package = tmp_path / "task"
    for name, asset in code_assets(REPO).items():
        target = package / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(asset.path, target)  # type: ignore[attr-defined]
    assert not (package / "rehearsal").exists()
    (instance_id,) = launch_instances(server_readiness, 1, volumes=1)
    event = json.loads(FIXTURE.read_text())
    event["detail"]["id"] = uuid.uuid4().hex
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = instance_id
    details.pop("iamInstanceProfile")
    details["networkInterfaces"][0]["vpcId"] = server_readiness.vpc_id
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IR_"))}
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": str(server_readiness.endpoint_url), "PYTHONPATH": str(package),
        "IR_CASE_DIR": str(tmp_path / "cases"), "IR_AUTOMATION_MODE": "apply",
        "IR_AUTOMATION_FINDING_TYPES": "CryptoCurrency:EC2/",
    })

    proc = subprocess.run([sys.executable, "-c", CHILD, str(package), HANDLER],
                          input=json.dumps(event), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)

    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    (finding,) = json.loads(line[len("RESULT "):])["findings"]
    assert finding["status"] == "contained"
    isolation = server_readiness.manifest["quarantine"][server_readiness.vpc_id][
        "isolationSecurityGroupId"]
    instance = server_readiness.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    assert [[g["GroupId"] for g in eni["Groups"]]
            for eni in instance["NetworkInterfaces"]] == [[isolation]]
