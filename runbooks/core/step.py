"""Placeholder until the runbook core lands: no step declares actions yet."""

from __future__ import annotations


def declared_actions() -> frozenset[str]:
    return frozenset()
