"""Playbooks: schema and cross-field validation, parameters, branching, rendered docs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbooks.analysis.playbooks import MALICIOUS_IP, PLAYBOOK_NAMES, playbook_for
from runbooks.core.step import load_all_steps
from runbooks.playbooks import (
    PLAYBOOK_DIR,
    PlaybookError,
    load_all,
    load_playbook,
    playbook_errors,
    playbook_names,
    render,
)


def _doc(name: str) -> dict[str, Any]:
    return yaml.safe_load((PLAYBOOK_DIR / f"{name}.yaml").read_text())


def test_one_playbook_per_incident_type_that_triage_maps_to() -> None:
    assert set(playbook_names()) == set(PLAYBOOK_NAMES)


@pytest.mark.parametrize("name", sorted(PLAYBOOK_NAMES))
def test_shipped_playbook_is_valid_and_uses_registered_steps(name: str) -> None:
    assert playbook_errors(_doc(name), name, load_all_steps()) == []


# What the finding names, where the type alone does not pick the playbook: Runtime types
# go to the EKS playbooks only for an EKS resource (a pod, or only the node).
FINDING_CONTEXT: dict[str, dict[str, str]] = {
    "compromised-eks-pod": {"resource_type": "EKSCluster", "eks_subject": "pod"},
    "compromised-eks-node": {"resource_type": "EKSCluster", "eks_subject": "node"},
}


@pytest.mark.parametrize("name", sorted(PLAYBOOK_NAMES))
def test_every_guardduty_trigger_is_routed_to_this_playbook_by_triage(name: str) -> None:
    role = "TARGET" if name == MALICIOUS_IP else None
    for finding_type in _doc(name)["triggers"]["guardduty"]:
        assert playbook_for(finding_type, role, **FINDING_CONTEXT.get(name, {})) == name, \
            finding_type


def _errors_after(change: Any) -> list[str]:
    doc = copy.deepcopy(_doc("compromised-iam-credentials"))
    change(doc)
    return playbook_errors(doc, "compromised-iam-credentials", load_all_steps())


def test_unknown_keys_are_rejected_by_the_schema() -> None:
    errors = _errors_after(lambda d: d.update(owner="me"))
    assert any("owner" in e and "Additional properties" in e for e in errors)


def test_an_action_must_be_exactly_one_of_step_command_manual() -> None:
    def both(doc: dict[str, Any]) -> None:
        doc["phases"]["containment"][0]["command"] = "irctl contain access-key X"

    assert any("phases/containment/0" in e for e in _errors_after(both))


def test_an_unregistered_step_is_named() -> None:
    def bad_step(doc: dict[str, Any]) -> None:
        doc["phases"]["containment"][0]["step"] = "iam.delete-everything"

    assert any("'iam.delete-everything' is not a registered step" in e
               for e in _errors_after(bad_step))


def test_references_must_be_declared_parameters() -> None:
    def bad_ref(doc: dict[str, Any]) -> None:
        doc["phases"]["containment"][0]["params"] = {"access_key_id": "${key}"}

    assert any("${key} is not a parameter" in e for e in _errors_after(bad_ref))


def test_when_must_name_a_decision_irctl_can_branch_on() -> None:
    def unknown(doc: dict[str, Any]) -> None:
        doc["phases"]["containment"][0]["when"] = {"decision": "nope", "answer": "x"}

    def bad_answer(doc: dict[str, Any]) -> None:
        doc["phases"]["containment"][0]["when"] = {"decision": "key-owner", "answer": "robot"}

    assert any("unknown decision 'nope'" in e for e in _errors_after(unknown))
    assert any("'robot' is not one of" in e for e in _errors_after(bad_answer))


def test_decision_answers_must_match_the_parameter_choices() -> None:
    def extra(doc: dict[str, Any]) -> None:
        doc["decisions"][1]["answers"]["contractor"] = "someone else's"

    assert any("must be exactly the values of parameter key_owner" in e
               for e in _errors_after(extra))


def test_name_must_match_the_file(tmp_path: Path) -> None:
    doc = _doc("malicious-ip")
    path = tmp_path / "other-name.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PlaybookError, match="must equal the file name 'other-name'"):
        load_playbook(path)


def test_unknown_playbook_lists_the_available_ones() -> None:
    with pytest.raises(PlaybookError, match="available: compromised-ec2-instance"):
        load_playbook("lost-laptop")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "needs --param instance_id=VALUE"),
        ({"instance_id": "i-zz"}, "instance_id='i-zz' does not look right"),
        ({"instance_id": "i-0123456789abcdef0", "stop_instance": "maybe"},
         "must be true or false"),
        ({"instance_id": "i-0123456789abcdef0", "force": "1"}, "has no parameter force"),
    ],
)
def test_bad_parameters_name_the_key(given: dict[str, str], message: str) -> None:
    pb = load_playbook("compromised-ec2-instance")
    with pytest.raises(PlaybookError, match=message):
        pb.resolve_params(given)


def test_the_stop_decision_adds_the_stop_step_only_when_asked() -> None:
    pb = load_playbook("compromised-ec2-instance")
    keep = pb.actions(pb.resolve_params({"instance_id": "i-0123456789abcdef0"}), ["containment"])
    stop = pb.actions(pb.resolve_params({"instance_id": "i-0123456789abcdef0",
                                         "stop_instance": "true"}), ["containment"])
    assert "ec2.stop" not in [a.step for a in keep]
    assert [a.step for a in stop][-1] == "ec2.stop"
    assert all(a.params["instance_id"] == "i-0123456789abcdef0" for a in stop)


def test_credential_kind_and_owner_branch_the_containment() -> None:
    pb = load_playbook("compromised-iam-credentials")
    key = "AKIAIOSFODNN7EXAMPLE"
    human = pb.actions(pb.resolve_params({"credential_kind": "access-key",
                                          "access_key_id": key}), ["containment"])
    workload = pb.actions(pb.resolve_params({"credential_kind": "access-key",
                                             "access_key_id": key, "key_owner": "workload"}),
                          ["containment"])
    role = pb.actions(pb.resolve_params({"credential_kind": "role", "role_name": "app"}),
                      ["containment"])
    assert [a.step for a in human] == ["iam.deactivate-access-key", "iam.deny-all-user",
                                       "iam.remove-login-profile"]
    assert [a.step for a in workload] == ["iam.deactivate-access-key", "iam.deny-all-user"]
    assert [(a.step, a.params) for a in role] == [("iam.revoke-role-sessions",
                                                    {"role_name": "app"})]


def test_a_branch_missing_its_parameter_is_refused_naming_it() -> None:
    pb = load_playbook("compromised-iam-credentials")
    with pytest.raises(PlaybookError, match="needs --param role_name="):
        pb.actions(pb.resolve_params({"credential_kind": "role"}), ["containment"])


def test_rendered_docs_are_fresh() -> None:
    assert render.stale() == [], "run `python -m runbooks.playbooks.render`"


def test_staleness_is_detected(tmp_path: Path) -> None:
    render.write_all(tmp_path)
    assert render.stale(tmp_path) == []
    target = tmp_path / "malicious-ip.md"
    target.write_text(target.read_text().replace("Malicious IP", "Bad IP"))
    (tmp_path / "exposed-s3-bucket.md").unlink()
    assert sorted(render.stale(tmp_path)) == [f"{tmp_path}/exposed-s3-bucket.md is missing",
                                              f"{target} is stale"]


def test_rendered_playbook_shows_every_step_and_notification() -> None:
    for pb in load_all():
        text = render.render(pb)
        for phase in pb.doc["phases"].values():
            for action in phase:
                if "step" in action:
                    assert f"`{action['step']}`" in text
        for note in pb.doc["notifications"]:
            assert f"`{note['topic']}`" in text


def test_module_docstring_example_runs() -> None:
    import doctest

    import runbooks.playbooks

    failures, tried = doctest.testmod(runbooks.playbooks)
    assert tried > 0 and failures == 0


def test_every_playbook_command_is_a_real_irctl_command_with_real_options() -> None:
    """Each `command:` parses against the CLI (subcommands and options exist)."""
    import shlex

    from click.testing import CliRunner

    from runbooks.cli import main
    from runbooks.playbooks import substitute

    checked = 0
    for pb in load_all():
        values: dict[str, Any] = {"case": "ir-20261128-040000-abcdef"}
        for key, spec in pb.parameters.items():
            values[key] = spec.get("example", spec.get("default",
                                                       (spec.get("choices") or ["X"])[0]))
        for actions in pb.doc["phases"].values():
            for action in actions:
                if "command" not in action:
                    continue
                argv = shlex.split(str(substitute(action["command"], values)))
                assert argv[0] == "irctl"
                # --help after the arguments: unknown commands/options still fail to parse
                result = CliRunner().invoke(main, [*argv[1:], "--help"])
                assert result.exit_code == 0, f"{pb.name}/{action['id']}: {result.output}"
                checked += 1
    assert checked >= 10
