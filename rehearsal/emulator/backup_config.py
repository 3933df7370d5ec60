"""AWS Backup configuration APIs moto 5.2 lacks: selections, vault notifications, vault
access policies, restore testing plans and selections.

What the readiness stack declares around a vault (which resources a plan backs up, where
job results are announced, who may delete recovery points, which recovery points are
test-restored) is stored as AWS stores it and read back through the Get/List calls, with
AWS's checks on the way in: the plan, vault or restore testing plan must exist
(ResourceNotFoundException), the role of a selection must be an existing IAM role, a
policy must be a JSON document, a name is unique in its scope
(AlreadyExistsException / ConflictException).

`BackupConfigMixin` is mixed into the emulator's Backup response class
(`rehearsal.emulator.backup.EmulatedBackupResponse`), so its routes are that module's.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult, EmptyResult

from rehearsal.emulator._util import backend_state, service_error

ROUTES = [
    "{0}/backup/plans/(?P<plan>[^/]+)/selections/?$",
    "{0}/backup/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)$",
    "{0}/backup-vaults/(?P<vault>[^/]+)/notification-configuration$",
    "{0}/backup-vaults/(?P<vault>[^/]+)/access-policy$",
    "{0}/restore-testing/plans$",
    "{0}/restore-testing/plans/$",
    "{0}/restore-testing/plans/(?P<name>[^/]+)$",
    "{0}/restore-testing/plans/(?P<name>[^/]+)/selections$",
    "{0}/restore-testing/plans/(?P<name>[^/]+)/selections/(?P<selection>[^/]+)$",
]
"""URL patterns of the operations below (added to moto's Backup routes)."""

VAULT_EVENTS = {
    "BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED", "BACKUP_JOB_SUCCESSFUL",
    "BACKUP_JOB_FAILED", "BACKUP_JOB_EXPIRED", "RESTORE_JOB_STARTED",
    "RESTORE_JOB_COMPLETED", "RESTORE_JOB_SUCCESSFUL", "RESTORE_JOB_FAILED",
    "COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
    "RECOVERY_POINT_MODIFIED", "BACKUP_PLAN_CREATED", "BACKUP_PLAN_MODIFIED",
    "S3_BACKUP_OBJECT_FAILED", "S3_RESTORE_OBJECT_FAILED",
    "CONTINUOUS_BACKUP_INTERRUPTED", "RECOVERY_POINT_INDEX_COMPLETED",
    "RECOVERY_POINT_INDEX_DELETED", "RECOVERY_POINT_INDEXING_FAILED",
}
"""The BackupVaultEvents enum of the API (deprecated ones are accepted, as AWS does)."""

RESTORE_TEST_TYPES = {"Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx",
                      "Neptune", "RDS", "S3"}


@dataclass
class BackupConfig:
    """Per account and region: {plan id: {selection id: doc}}, vault settings, tests."""

    selections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    test_plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_selections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class BackupConfigMixin:
    """The operations; `self` is moto's BackupResponse (backend, region, body, path)."""

    backup_backend: Any
    body: Any
    path: str
    region: str
    current_account: str

    # -- helpers ------------------------------------------------------------------------
    def _config(self) -> BackupConfig:
        return backend_state(self.backup_backend, "config", BackupConfig)

    def _body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        text = self.body.decode() if isinstance(self.body, bytes) else str(self.body)
        return dict(json.loads(text)) if text.strip() else {}

    def _segments(self) -> list[str]:
        return [unquote(s) for s in self.path.split("?", 1)[0].strip("/").split("/")]

    def _existing_vault(self, name: str) -> Any:
        vault = self.backup_backend.vaults.get(name)
        if vault is None:
            raise service_error("ResourceNotFoundException", f"Backup vault {name} does not exist")
        return vault

    def _existing_plan(self, plan_id: str) -> Any:
        plan = self.backup_backend.plans.get(plan_id)
        if plan is None or plan.deletion_date is not None:
            raise service_error("ResourceNotFoundException",
                                f"Failed reading Backup plan with provided version {plan_id}")
        return plan

    def _existing_role(self, role_arn: Any, what: str) -> str:
        from moto.iam.models import iam_backends

        parts = str(role_arn or "").split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise service_error("InvalidParameterValueException",
                                f"{what}: IamRoleArn {role_arn!r} is not an IAM role ARN")
        account = parts[4] or self.current_account
        name = parts[5].rsplit("/", 1)[-1]
        if not any(r.name == name for r in iam_backends[account]["aws"].roles.values()):
            raise service_error("InvalidParameterValueException",
                                f"{what}: IAM role {role_arn} does not exist")
        return str(role_arn)

    def _vault_arn(self, name: str) -> str:
        return str(self._existing_vault(name).backup_vault_arn)

    # -- backup selections ----------------------------------------------------------------
    def create_backup_selection(self) -> ActionResult:
        plan_id = self._segments()[2]
        self._existing_plan(plan_id)
        body = self._body()
        selection = dict(body.get("BackupSelection") or {})
        name = selection.get("SelectionName")
        if not name:
            raise service_error("MissingParameterValueException", "SelectionName is required")
        self._existing_role(selection.get("IamRoleArn"), f"selection {name}")
        config = self._config()
        with config.lock:
            existing = config.selections.setdefault(plan_id, {})
            if any(s["BackupSelection"]["SelectionName"] == name for s in existing.values()):
                raise service_error("AlreadyExistsException",
                                    f"Backup selection {name} already exists in plan {plan_id}")
            selection_id = str(uuid.uuid4())
            created = _now()
            existing[selection_id] = {
                "BackupSelection": selection, "SelectionId": selection_id,
                "BackupPlanId": plan_id, "CreationDate": created,
                "CreatorRequestId": body.get("CreatorRequestId"),
            }
        return ActionResult({"SelectionId": selection_id, "BackupPlanId": plan_id,
                             "CreationDate": created})

    def get_backup_selection(self) -> ActionResult:
        segments = self._segments()
        plan_id, selection_id = segments[2], segments[4]
        doc = self._config().selections.get(plan_id, {}).get(selection_id)
        if doc is None:
            raise service_error("ResourceNotFoundException",
                                f"Backup selection {selection_id} of plan {plan_id} not found")
        return ActionResult({k: v for k, v in doc.items() if v is not None})

    def list_backup_selections(self) -> ActionResult:
        plan_id = self._segments()[2]
        self._existing_plan(plan_id)
        items = [
            {"SelectionId": d["SelectionId"],
             "SelectionName": d["BackupSelection"]["SelectionName"],
             "BackupPlanId": plan_id, "CreationDate": d["CreationDate"],
             "IamRoleArn": d["BackupSelection"]["IamRoleArn"]}
            for d in self._config().selections.get(plan_id, {}).values()
        ]
        return ActionResult({"BackupSelectionsList": items})

    def delete_backup_selection(self) -> EmptyResult:
        segments = self._segments()
        plan_id, selection_id = segments[2], segments[4]
        with self._config().lock:
            if self._config().selections.get(plan_id, {}).pop(selection_id, None) is None:
                raise service_error("ResourceNotFoundException",
                                    f"Backup selection {selection_id} not found")
        return EmptyResult()

    # -- vault notifications and access policy -------------------------------------------
    def put_backup_vault_notifications(self) -> EmptyResult:
        vault = self._segments()[1]
        self._existing_vault(vault)
        body = self._body()
        topic = str(body.get("SNSTopicArn") or "")
        if not topic.startswith("arn:") or ":sns:" not in topic:
            raise service_error("InvalidParameterValueException",
                                f"SNSTopicArn {topic!r} is not an SNS topic ARN")
        events = list(body.get("BackupVaultEvents") or [])
        unknown = sorted(set(events) - VAULT_EVENTS)
        if not events or unknown:
            raise service_error(
                "InvalidParameterValueException",
                f"BackupVaultEvents must list known events, got {unknown or events}")
        with self._config().lock:
            self._config().notifications[vault] = {"SNSTopicArn": topic,
                                                   "BackupVaultEvents": events}
        return EmptyResult()

    def get_backup_vault_notifications(self) -> ActionResult:
        vault = self._segments()[1]
        arn = self._vault_arn(vault)
        doc = self._config().notifications.get(vault)
        if doc is None:
            raise service_error("ResourceNotFoundException",
                                f"Backup vault {vault} has no notification configuration")
        return ActionResult({"BackupVaultName": vault, "BackupVaultArn": arn, **doc})

    def put_backup_vault_access_policy(self) -> EmptyResult:
        vault = self._segments()[1]
        self._existing_vault(vault)
        policy = self._body().get("Policy")
        try:
            document = json.loads(str(policy))
        except ValueError as err:
            raise service_error("InvalidParameterValueException",
                                f"Policy is not a JSON document: {err}") from err
        if not isinstance(document, dict) or not document.get("Statement"):
            raise service_error("InvalidParameterValueException",
                                "Policy must be a JSON object with a Statement")
        with self._config().lock:
            self._config().policies[vault] = str(policy)
        return EmptyResult()

    def get_backup_vault_access_policy(self) -> ActionResult:
        vault = self._segments()[1]
        arn = self._vault_arn(vault)
        policy = self._config().policies.get(vault)
        if policy is None:
            raise service_error("ResourceNotFoundException",
                                f"Backup vault {vault} has no access policy")
        return ActionResult({"BackupVaultName": vault, "BackupVaultArn": arn, "Policy": policy})

    # -- restore testing ------------------------------------------------------------------
    def create_restore_testing_plan(self) -> ActionResult:
        body = self._body()
        plan = dict(body.get("RestoreTestingPlan") or {})
        name = str(plan.get("RestoreTestingPlanName") or "")
        if not name or not plan.get("ScheduleExpression") or not plan.get(
                "RecoveryPointSelection"):
            raise service_error("ValidationException",
                                "RestoreTestingPlanName, ScheduleExpression and "
                                "RecoveryPointSelection are required")
        for vault_arn in plan["RecoveryPointSelection"].get("IncludeVaults") or []:
            if vault_arn != "*":
                self._existing_vault(str(vault_arn).rsplit(":", 1)[-1])
        arn = (f"arn:aws:backup:{self.region}:{self.current_account}:"
               f"restore-testing-plan:{name}-{uuid.uuid4().hex[:6]}")
        created = _now()
        config = self._config()
        with config.lock:
            if name in config.test_plans:
                raise service_error("ConflictException",
                                    f"Restore testing plan {name} already exists")
            config.test_plans[name] = {
                **plan, "RestoreTestingPlanArn": arn, "CreationTime": created,
                **({"CreatorRequestId": body["CreatorRequestId"]}
                   if body.get("CreatorRequestId") else {}),
            }
            config.test_selections[name] = {}
        return ActionResult({"CreationTime": created, "RestoreTestingPlanArn": arn,
                             "RestoreTestingPlanName": name})

    def _test_plan(self, name: str) -> dict[str, Any]:
        plan = self._config().test_plans.get(name)
        if plan is None:
            raise service_error("ResourceNotFoundException",
                                f"Restore testing plan {name} not found")
        return plan

    def get_restore_testing_plan(self) -> ActionResult:
        return ActionResult({"RestoreTestingPlan": self._test_plan(self._segments()[2])})

    def list_restore_testing_plans(self) -> ActionResult:
        keep = ("CreationTime", "RestoreTestingPlanArn", "RestoreTestingPlanName",
                "ScheduleExpression", "ScheduleExpressionTimezone", "StartWindowHours")
        plans = [{k: p[k] for k in keep if k in p} for p in self._config().test_plans.values()]
        return ActionResult({"RestoreTestingPlans": plans})

    def create_restore_testing_selection(self) -> ActionResult:
        plan_name = self._segments()[2]
        plan = self._test_plan(plan_name)
        body = self._body()
        selection = dict(body.get("RestoreTestingSelection") or {})
        name = str(selection.get("RestoreTestingSelectionName") or "")
        kind = selection.get("ProtectedResourceType")
        if not name or kind not in RESTORE_TEST_TYPES:
            raise service_error("ValidationException",
                                f"RestoreTestingSelectionName is required and "
                                f"ProtectedResourceType must be one of "
                                f"{sorted(RESTORE_TEST_TYPES)}, got {kind!r}")
        self._existing_role(selection.get("IamRoleArn"), f"restore testing selection {name}")
        config = self._config()
        with config.lock:
            selections = config.test_selections.setdefault(plan_name, {})
            if name in selections:
                raise service_error("ConflictException",
                                    f"Restore testing selection {name} already exists")
            created = _now()
            selections[name] = {**selection, "RestoreTestingPlanName": plan_name,
                                "CreationTime": created}
        return ActionResult({"CreationTime": created,
                             "RestoreTestingPlanArn": plan["RestoreTestingPlanArn"],
                             "RestoreTestingPlanName": plan_name,
                             "RestoreTestingSelectionName": name})

    def get_restore_testing_selection(self) -> ActionResult:
        segments = self._segments()
        plan_name, name = segments[2], segments[4]
        self._test_plan(plan_name)
        selection = self._config().test_selections.get(plan_name, {}).get(name)
        if selection is None:
            raise service_error("ResourceNotFoundException",
                                f"Restore testing selection {name} of {plan_name} not found")
        return ActionResult({"RestoreTestingSelection": selection})

    def list_restore_testing_selections(self) -> ActionResult:
        plan_name = self._segments()[2]
        self._test_plan(plan_name)
        keep = ("CreationTime", "IamRoleArn", "ProtectedResourceType",
                "RestoreTestingPlanName", "RestoreTestingSelectionName",
                "ValidationWindowHours")
        items = [{k: s[k] for k in keep if k in s}
                 for s in self._config().test_selections.get(plan_name, {}).values()]
        return ActionResult({"RestoreTestingSelections": items})
