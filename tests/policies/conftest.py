"""One policy pack process per test session (per xdist worker), reached over gRPC.

The pack is started exactly as the Pulumi CLI starts it (`python -m pulumi.policy
<engine> .` in policies/, port read from stdout), so every rule test goes through the
real analyzer protocol: Configure, Analyze, AnalyzeStack.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_helpers import HOME_REGION

from policies.analyzer import PolicyPackProcess


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess.start(stack_config={"aws:region": HOME_REGION}) as process:
        process.configure({})
        yield process


@pytest.fixture
def configured(pack: PolicyPackProcess) -> Iterator[PolicyPackProcess]:
    """The session pack, restored to the default config after the test changes it."""
    yield pack
    pack.configure({})
