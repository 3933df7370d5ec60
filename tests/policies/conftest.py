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
def pack_process() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess.start(stack_config={"aws:region": HOME_REGION}) as process:
        yield process


@pytest.fixture
def pack(pack_process: PolicyPackProcess) -> PolicyPackProcess:
    """The session's pack with the default policy config, whatever ran before on this
    worker (xdist interleaves modules)."""
    pack_process.configure({})
    return pack_process


@pytest.fixture
def configured(pack: PolicyPackProcess) -> Iterator[PolicyPackProcess]:
    """The session pack, for a test that changes its config; restored afterwards."""
    yield pack
    pack.configure({})
