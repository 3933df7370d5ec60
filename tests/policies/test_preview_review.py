"""The preview as a pull-request reviewer reads it (issue #18 point 5).

- Two runs of the same stack print the same bytes and write the same SARIF and JSON
  (the program registers resources from several threads, in a different order each run).
- Each SARIF result points at the `ir:` key of Pulumi.<stack>.yaml behind the resource, at
  the line it is written on, and says whether changing it is the fix.
- `--stack` takes a stack name as the Pulumi CLI does, or a file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import EXAMPLE_STACK, ROOT

from policies.analyzer import PolicyPackProcess, load_policy_config
from policies.preview import (
    PreviewError,
    PreviewResult,
    locate_key,
    main,
    resolve_stack,
    run_preview,
    to_sarif,
)

POLICY_CONFIG = ROOT / "policy-config.json"

# Text edits of the example stack a reviewer would see in a pull request: each turns one
# written setting into a violation, or (vaultLock.minRetentionDays) removes the line so
# the default applies and the policy config asks for more than the default.
EDITS = {
    "    logRetentionDays: 365     # CloudWatch Logs copy\n": "    logRetentionDays: 30\n",
    "    findingFrequency: FIFTEEN_MINUTES\n": "    findingFrequency: SIX_HOURS\n",
    "  ir:maxSessionDuration: 3600\n": "  ir:maxSessionDuration: 14400\n",
    "      minRetentionDays: 7\n": "",
}


def _edited_stack(directory: Path) -> Path:
    text = EXAMPLE_STACK.read_text()
    for old, new in EDITS.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = directory / "Pulumi.review.yaml"
    path.write_text(text)
    return path


def _line_of(path: Path, fragment: str) -> int:
    """1-based line of the only line containing `fragment` (the test's own oracle)."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), start=1)
             if fragment in line]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


@pytest.fixture(scope="module")
def review(pack_process: PolicyPackProcess,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[PreviewResult, Path]:
    stack = _edited_stack(tmp_path_factory.mktemp("review"))
    config = load_policy_config(POLICY_CONFIG)
    config["backup-vault-lock"] = {"minRetentionDays": 30}
    return run_preview(stack, pack=pack_process, policy_config=config), stack


# --------------------------------------------------------------------------- determinism


def _run_cli(stack: Path, out: Path) -> tuple[bytes, bytes, bytes]:
    """`python -m policies.preview` in a fresh process: stdout, SARIF, JSON bytes."""
    proc = subprocess.run(
        [sys.executable, "-m", "policies.preview", "--stack", str(stack),
         "--policy-config", str(POLICY_CONFIG),
         "--sarif", str(out / "p.sarif"), "--json", str(out / "p.json")],
        cwd=ROOT, capture_output=True, check=False, timeout=300)
    assert proc.returncode == 1, proc.stderr.decode()  # the edits include mandatory ones
    return proc.stdout, (out / "p.sarif").read_bytes(), (out / "p.json").read_bytes()


@pytest.mark.slow
def test_preview_twice_gives_byte_identical_output(tmp_path: Path) -> None:
    stack = _edited_stack(tmp_path)
    first = _run_cli(stack, tmp_path)
    second = _run_cli(stack, tmp_path)
    tree = [line for line in first[0].decode().splitlines() if "+ " in line]
    assert len(tree) > 250, "the resource tree was not printed"
    assert json.loads(first[1])["runs"][0]["results"], "no SARIF results to compare"
    for name, a, b in zip(("stdout", "SARIF", "JSON"), first, second, strict=True):
        assert a == b, f"{name} differs between two runs of the same stack"


# --------------------------------------------------------------------------- SARIF


def _results(result: PreviewResult, rule: str) -> list[dict[str, Any]]:
    run = to_sarif(result)["runs"][0]
    found = [r for r in run["results"] if r["ruleId"] == rule]
    assert found, f"{rule} did not fire"
    return found


@pytest.mark.parametrize(("rule", "key", "fragment"), [
    ("logs-retention", "ir:trail.logRetentionDays", "logRetentionDays: 30"),
    ("guardduty-finding-frequency", "ir:guardDuty.findingFrequency",
     "findingFrequency: SIX_HOURS"),
    ("iam-responder-max-session", "ir:maxSessionDuration", "ir:maxSessionDuration: 14400"),
])
def test_sarif_result_points_at_the_written_key_to_change(
        review: tuple[PreviewResult, Path], rule: str, key: str, fragment: str) -> None:
    result, stack = review
    line = _line_of(stack, fragment)
    for entry in _results(result, rule):
        location = entry["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith(stack.name)
        assert location["region"]["startLine"] == line
        assert entry["properties"]["configKey"] == key
        assert entry["properties"]["fixedByConfig"] is True
        assert f"Change {key} ({stack.name} line {line})" in entry["message"]["text"]
        # the component declaring the resource stays one click away
        related = entry["relatedLocations"][0]["physicalLocation"]
        assert (ROOT / related["artifactLocation"]["uri"]).is_file()


def test_a_key_left_at_its_default_points_at_its_enclosing_key(
        review: tuple[PreviewResult, Path]) -> None:
    result, stack = review
    line = _line_of(stack, "vaultLock:")
    for entry in _results(result, "backup-vault-lock"):
        assert entry["locations"][0]["physicalLocation"]["region"]["startLine"] == line
        assert entry["properties"]["configKey"] == "ir:backup.vaultLock.minRetentionDays"
        assert entry["properties"]["configKeySet"] is False
        assert "Set ir:backup.vaultLock.minRetentionDays (not set in Pulumi.review.yaml" \
            in entry["message"]["text"]


def test_a_finding_no_setting_fixes_names_the_producing_key_and_says_so(
        review: tuple[PreviewResult, Path]) -> None:
    result, stack = review
    line = _line_of(stack, "ir:responderPrincipals:")
    # (the responder's PassRole on the account's roles, limited by iam:PassedToService)
    for entry in _results(result, "iam-passrole-scoped"):
        assert entry["properties"]["configKey"] == "ir:responderPrincipals"
        assert entry["properties"]["fixedByConfig"] is False
        assert entry["locations"][0]["physicalLocation"]["region"]["startLine"] == line
        assert "no value of it removes this finding" in entry["message"]["text"]


def test_json_violations_carry_the_key_and_line(review: tuple[PreviewResult, Path]) -> None:
    result, stack = review
    line = _line_of(stack, "logRetentionDays: 30")
    found = [v for v in result.violations if v.policy == "logs-retention"]
    assert found and all((v.config_key, v.config_line) == ("ir:trail.logRetentionDays", line)
                         for v in found)


def test_locate_key_follows_nested_paths() -> None:
    text = "config:\n  aws:region: eu-west-1\n  ir:trail:\n    insights: false\n"
    assert (locate_key(text, "ir:trail.insights").line,
            locate_key(text, "ir:trail.insights").written) == (4, True)
    assert (locate_key(text, "ir:trail.objectLock.mode").line,
            locate_key(text, "ir:trail.objectLock.mode").written) == (3, False)
    assert locate_key(text, "ir:regions").line == 1  # `config:` itself


# --------------------------------------------------------------------------- --stack


def _project(tmp_path: Path, pulumi_yaml: str = "name: demo\nruntime: python\n") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(pulumi_yaml)
    return tmp_path


def test_stack_name_resolves_to_the_project_config_file(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "Pulumi.prod.yaml").write_text("config: {}\n")
    nested = project / "sub" / "dir"
    nested.mkdir(parents=True)
    assert resolve_stack("prod", cwd=nested) == project / "Pulumi.prod.yaml"
    # fully qualified, as `pulumi --stack acme/demo/prod`
    assert resolve_stack("acme/demo/prod", cwd=project) == project / "Pulumi.prod.yaml"
    assert resolve_stack("example", cwd=ROOT) == ROOT / "Pulumi.example.yaml"


def test_stack_name_honours_stack_config_dir(tmp_path: Path) -> None:
    project = _project(tmp_path, "name: demo\nruntime: python\nstackConfigDir: config\n")
    (project / "config").mkdir()
    (project / "config" / "Pulumi.prod.yaml").write_text("config: {}\n")
    assert resolve_stack("prod", cwd=project) == project / "config" / "Pulumi.prod.yaml"


def test_stack_path_is_taken_as_is(tmp_path: Path) -> None:
    assert resolve_stack(str(EXAMPLE_STACK)) == EXAMPLE_STACK
    missing = tmp_path / "Pulumi.nope.yaml"
    assert resolve_stack(str(missing)) == missing  # reported by load_stack, as before


def test_unknown_stack_name_lists_the_stacks_there(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "Pulumi.dev.yaml").write_text("config: {}\n")
    with pytest.raises(PreviewError, match=r"stack 'prod' has no config file .*: dev$"):
        resolve_stack("prod", cwd=project)
    with pytest.raises(PreviewError, match="neither a stack name"):
        resolve_stack("pr od", cwd=project)


def test_cli_unknown_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "no-such-stack"]) == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_cli_names_the_stack_file_relative_to_the_checkout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    code = main(["--stack", "example", "--no-tree", "--policy-config", str(POLICY_CONFIG),
                 "--sarif", str(tmp_path / "p.sarif"), "--json", str(out)])
    assert code == 0
    assert json.loads(out.read_text())["stack"] == "Pulumi.example.yaml"
    assert str(ROOT) not in capsys.readouterr().out
