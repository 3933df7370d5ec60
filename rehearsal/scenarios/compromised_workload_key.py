"""Drill scenario `compromised-workload-key`: a service user's access key used for reconnaissance.

The decision point 'a workload's key': contained, console access left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    attacker_user,
    check,
    scenario,
)
from rehearsal.scenarios.compromised_iam_credentials import CompromisedAccessKey

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class CompromisedWorkloadKey(CompromisedAccessKey):
    """The decision point 'a workload's key': contained, console access left alone."""

    name = "compromised-workload-key"
    order = 40
    title = "A service user's access key used for reconnaissance"
    finding_type = "Discovery:IAMUser/AnomalousBehavior"

    def prepare(self, world: World) -> dict[str, Any]:
        user = attacker_user(world, "etl-svc")
        # A login profile the workload branch must NOT touch (removing it is the human
        # branch), so the check below can tell the branches apart.
        world.client("iam").create_login_profile(UserName=user["user"],
                                                 Password=f"Drill-{uuid.uuid4().hex}!")
        return user

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "access-key", "access_key_id": str(victim["access_key_id"]),
                "key_owner": "workload"}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        user = incident.victim["user"]

        def console_untouched() -> tuple[bool, str]:
            profile = iam.get_login_profile(UserName=user)["LoginProfile"]
            return profile["UserName"] == user, "login profile kept (workload branch)"

        inherited = [c for c in super().verify(world, incident, case)
                     if not c.name.startswith("console password removed")]
        return [check("console access left to the service owner (workload key)",
                      console_untouched), *inherited]
