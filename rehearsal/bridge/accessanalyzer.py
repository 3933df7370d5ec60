"""Bridge handlers for IAM Access Analyzer.

moto 5.2 has no Access Analyzer; the emulator's (`rehearsal.emulator.accessanalyzer`)
serves it.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:accessanalyzer/analyzer:Analyzer                   API access-analyzer CreateAnalyzer
                                                       (emulator extension)
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
)


@handles("aws:accessanalyzer/analyzer:Analyzer",
         api="accessanalyzer:CreateAnalyzer (emulator)")
def _access_analyzer(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname("analyzerName", max_len=255)
    kwargs = clean({
        "analyzerName": name,
        "type": r.get("type", "ACCOUNT"),
        "tags": dict(r.get("tags", {})) or None,
    })
    arn = r.client("accessanalyzer").create_analyzer(**kwargs)["arn"]
    return name, {"arn": arn, "analyzerName": name}
