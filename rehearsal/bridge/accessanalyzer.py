"""Bridge handlers for IAM Access Analyzer.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:accessanalyzer/analyzer:Analyzer                   recorded only: moto has no CreateAnalyzer
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    handles,
)


@handles("aws:accessanalyzer/analyzer:Analyzer", recorded_only="moto has no CreateAnalyzer")
def _access_analyzer(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname("analyzerName", max_len=255)
    return name, {"arn": r.arn("access-analyzer", f"analyzer/{name}")}
