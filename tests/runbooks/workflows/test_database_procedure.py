"""`contain database` is the RDS playbook's containment phase, network first."""

from __future__ import annotations

import yaml

from runbooks.playbooks import PLAYBOOK_DIR
from runbooks.workflows.procedures import database_containment


def test_contain_database_is_the_rds_playbooks_containment_phase() -> None:
    doc = yaml.safe_load((PLAYBOOK_DIR / "compromised-rds-database.yaml").read_text())
    written = [a["step"] for a in doc["phases"]["containment"] if "step" in a]
    calls = database_containment("orders-db")
    names = [c.name for c in calls]

    assert names == written
    assert all(c.params == {"database": "orders-db"} for c in calls)
    # the network is cut before anything else; the one-way password change comes last, so
    # a failure before it rolls back to a database its application can still reach
    assert names[:2] == ["rds.disable-public-access", "rds.isolate"]
    assert names[-1] == "rds.manage-master-password"
