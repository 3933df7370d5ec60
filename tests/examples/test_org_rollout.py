"""examples/org-rollout: the Automation API orchestration, with fakes of the stacks and
of the credentials (there is no Pulumi CLI on this machine, so no real stack runs)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "org_rollout", ROOT / "examples" / "org-rollout" / "rollout.py")
assert _spec and _spec.loader
rollout_module = importlib.util.module_from_spec(_spec)
sys.modules["org_rollout"] = rollout_module  # dataclasses look their module up
_spec.loader.exec_module(rollout_module)
rollout = rollout_module.rollout
RolloutError = rollout_module.RolloutError

CONFIG = yaml.safe_load((ROOT / "Pulumi.org-member.example.yaml").read_text())["config"]
A, B, C = "111122223333", "444455556666", "777788889999"


class FakeStack:
    def __init__(self, name: str, env: dict[str, str], fail: bool = False,
                 delay: float = 0.0, board: FakeStacks | None = None) -> None:
        self.name, self.env, self.fail, self.delay, self.board = name, env, fail, delay, board
        self.config: dict[str, Any] = {}
        self.calls: list[str] = []

    def set_all_config(self, config: Any, *, path: bool = False) -> None:
        self.calls.append("set_all_config")
        self.config = {k: (v.value, v.secret) for k, v in config.items()}

    def up(self, **kwargs: Any) -> Any:
        self.calls.append("up")
        if self.board:
            self.board.enter()
        try:
            time.sleep(self.delay)
            if self.fail:
                raise RuntimeError("update failed: AccessDenied creating the vault")
            account = self.name.rsplit("-", 1)[1]
            kwargs["on_output"]("Updating (" + self.name + ")")
            return SimpleNamespace(
                summary=SimpleNamespace(result="succeeded"),
                outputs={"responderRoleArn": SimpleNamespace(
                    value=f"arn:aws:iam::{account}:role/ir-readiness-member-responder")})
        finally:
            if self.board:
                self.board.leave()

    def preview(self, **kwargs: Any) -> Any:
        self.calls.append("preview")
        return SimpleNamespace(change_summary={"create": 100})


class FakeStacks:
    """The stack factory: records every stack and the peak concurrency of `up`."""

    def __init__(self, failing: set[str] = frozenset(), delay: float = 0.0) -> None:  # type: ignore[assignment]
        self.created: dict[str, FakeStack] = {}
        self.failing, self.delay = failing, delay
        self._lock = threading.Lock()
        self.active = self.peak = 0

    def __call__(self, name: str, env: Any) -> FakeStack:
        stack = FakeStack(name, dict(env), fail=name.rsplit("-", 1)[1] in self.failing,
                          delay=self.delay, board=self)
        with self._lock:
            self.created[name] = stack
        return stack

    def enter(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


def credentials(account: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": f"ASIA{account}", "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": f"token-{account}"}


def test_one_stack_per_account_with_its_own_credentials_and_member_config() -> None:
    stacks = FakeStacks()
    results = rollout([A, B], CONFIG, stacks, credentials)
    assert [(r.account_id, r.stack, r.status) for r in results] == [
        (A, f"member-{A}", "succeeded"), (B, f"member-{B}", "succeeded")]
    for account in (A, B):
        stack = stacks.created[f"member-{account}"]
        assert stack.env["AWS_SESSION_TOKEN"] == f"token-{account}"
        assert stack.calls == ["set_all_config", "up"]
        organization, secret = stack.config["ir:organization"]
        assert secret is True  # holds the external id
        assert json.loads(organization)["mode"] == "member"
        assert stack.config["aws:region"] == ("eu-west-1", False)
        assert json.loads(stack.config["ir:regions"][0]) == ["eu-west-1", "us-east-1"]
    assert results[1].outputs["responderRoleArn"] == (
        f"arn:aws:iam::{B}:role/ir-readiness-member-responder")


def test_a_failing_account_is_reported_and_the_others_still_roll_out() -> None:
    stacks = FakeStacks(failing={B})
    results = rollout([A, B, C], CONFIG, stacks, credentials)
    status = {r.account_id: r.status for r in results}
    assert status == {A: "succeeded", B: "failed", C: "succeeded"}
    [failed] = [r for r in results if r.status == "failed"]
    assert "AccessDenied creating the vault" in str(failed.error)


def test_credentials_failure_creates_no_stack_for_that_account() -> None:
    def flaky(account: str) -> dict[str, str]:
        if account == A:
            raise PermissionError("AssumeRole denied")
        return credentials(account)

    stacks = FakeStacks()
    results = rollout([A, B], CONFIG, stacks, flaky)
    assert [r.status for r in results] == ["failed", "succeeded"]
    assert f"member-{A}" not in stacks.created


def test_preview_changes_nothing() -> None:
    stacks = FakeStacks()
    results = rollout([A], CONFIG, stacks, credentials, preview=True)
    assert results[0].status == "previewed"
    assert stacks.created[f"member-{A}"].calls == ["set_all_config", "preview"]


def test_parallelism_is_bounded() -> None:
    stacks = FakeStacks(delay=0.05)
    accounts = [f"{i:012d}" for i in range(1, 9)]
    rollout(accounts, CONFIG, stacks, credentials, parallel=3)
    assert len(stacks.created) == 8
    assert 1 < stacks.peak <= 3


@pytest.mark.parametrize(("accounts", "config", "message"), [
    (["12345"], CONFIG, "not 12-digit account ids: 12345"),
    ([], CONFIG, "no accounts"),
    ([A], {**CONFIG, "ir:organization": {"mode": "security"}}, "mode: member"),
])
def test_bad_input_touches_no_stack(accounts: list[str], config: dict[str, Any],
                                    message: str) -> None:
    stacks = FakeStacks()
    with pytest.raises(RolloutError, match=message):
        rollout(accounts, config, stacks, credentials)
    assert stacks.created == {}


def test_account_file_parsing_drops_comments_and_duplicates() -> None:
    lines = ["# workloads", f"{A}  # payments", "", B, A]
    assert rollout_module.read_accounts(lines) == [A, B]


def test_main_exits_1_when_an_account_fails(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = tmp_path / "accounts.txt"
    accounts.write_text(f"{A}\n{B}\n")
    monkeypatch.setattr(rollout_module, "automation_stacks", lambda: FakeStacks(failing={A}))
    monkeypatch.setattr(rollout_module, "sts_credentials", lambda role: credentials)
    code = rollout_module.main(["--accounts", str(accounts), "--config",
                                str(ROOT / "Pulumi.org-member.example.yaml")])
    assert code == 1


def test_an_unexpected_error_is_not_reported_as_an_account_failure() -> None:
    def broken(account: str) -> dict[str, str]:
        raise KeyError("AccessKeyId")  # a bug in the credential source, not an AWS answer

    with pytest.raises(KeyError):
        rollout([A], CONFIG, FakeStacks(), broken)
