"""Rendering of results: text keeps AWS-provided text verbatim, JSON is one document."""

from __future__ import annotations

import json

import pytest

from runbooks.commands._shared import Settings, render_results
from runbooks.core.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL
from runbooks.core.runner import APPLIED, ROLLBACK_FAILED, ChangeOutcome, RunResult, TargetOutcome
from runbooks.core.step import Change


def result(status: str, error: str | None = None, code: int = EXIT_OK) -> RunResult:
    change = Change("ec2.isolate", "i-1", "[ir-1] groups [sg-1] -> [bold]x[/bold]")
    target = TargetOutcome("instance", "i-1", [ChangeOutcome(change, status)], error, code)
    return RunResult("ir-1", "instance", True, [target])


def test_text_output_does_not_interpret_brackets(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code = render_results(Settings(case_id="ir-1"), [result(
        ROLLBACK_FAILED, "AccessDenied: [arn:aws:iam::1:role/x] may not", EXIT_BAD_INPUT)])
    out = capsys.readouterr().out
    assert "[ir-1] groups [sg-1] -> [bold]x[/bold]" in out
    assert "[arn:aws:iam::1:role/x]" in out
    assert code == EXIT_PARTIAL  # a failed rollback leaves a change in place


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code = render_results(Settings(case_id="ir-1", output="json"), [result(APPLIED)])
    document = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and document["exitCode"] == EXIT_OK
    assert document["runs"][0]["targets"][0]["changes"][0]["status"] == "applied"
