"""Bridge handlers for AWS Config: the recorder, its delivery channel and its status.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:cfg/recorder:Recorder                              API config PutConfigurationRecorder
aws:cfg/deliveryChannel:DeliveryChannel                API config PutDeliveryChannel
aws:cfg/recorderStatus:RecorderStatus                  API config StartConfigurationRecorder
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
)


@handles("aws:cfg/recorder:Recorder", api="config:PutConfigurationRecorder")
def _config_recorder(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name", "default")
    group = r.get("recordingGroup") or {}
    r.client("config").put_configuration_recorder(ConfigurationRecorder=clean({
        "name": name,
        "roleARN": r.get("roleArn"),
        "recordingGroup": clean({
            "allSupported": group.get("allSupported", True),
            "includeGlobalResourceTypes": group.get("includeGlobalResourceTypes", False),
            "resourceTypes": group.get("resourceTypes"),
        }),
    }))
    return str(name), {"name": name}


@handles("aws:cfg/deliveryChannel:DeliveryChannel", api="config:PutDeliveryChannel")
def _config_delivery_channel(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name", "default")
    snapshot = r.get("snapshotDeliveryProperties") or {}
    r.client("config").put_delivery_channel(DeliveryChannel=clean({
        "name": name,
        "s3BucketName": r.get("s3BucketName"),
        "s3KeyPrefix": r.get("s3KeyPrefix"),
        "s3KmsKeyArn": r.get("s3KmsKeyArn"),
        "snsTopicARN": r.get("snsTopicArn"),
        "configSnapshotDeliveryProperties": clean(
            {"deliveryFrequency": snapshot.get("deliveryFrequency")}) or None,
    }))
    return str(name), {"name": name}


@handles("aws:cfg/recorderStatus:RecorderStatus", api="config:StartConfigurationRecorder")
def _config_recorder_status(r: Request) -> tuple[str, dict[str, Any]]:
    name = str(r.get("name"))
    config = r.client("config")
    if r.get("isEnabled"):
        config.start_configuration_recorder(ConfigurationRecorderName=name)
    else:
        config.stop_configuration_recorder(ConfigurationRecorderName=name)
    return name, {}
