"""Checks of a published change log against G2 (per-key order, replays only as suffixes)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable


class OrderViolation(AssertionError):
    pass


def check_key_history(key: str, versions: list[int]) -> int:
    """Validate one key's published versions, in log order; return how many were duplicates.

    Allowed: strictly increasing versions, except that the log may step back to a version
    it already published and then repeat what followed it, in order (a replay after a
    crash). A replay may itself be cut short by another replay. Anything else -- a new
    version appearing before a replay caught up, or stepping back to something never
    published -- is a violation.
    """
    first: list[int] = []
    index: dict[int, int] = {}
    pos = -1
    for v in versions:
        if pos == len(first) - 1 and (not first or v > first[-1]):
            first.append(v)
            index[v] = len(first) - 1
            pos += 1
        elif pos < len(first) - 1 and v == first[pos + 1]:
            pos += 1
        elif v in index and index[v] <= pos:
            pos = index[v]
        else:
            raise OrderViolation(
                f"key {key}: version {v} out of order (published so far {first}, replay at {pos})"
            )
    return len(versions) - len(first)


@dataclass
class LogReport:
    records: int = 0
    keys: int = 0
    duplicates: int = 0
    missing: list[tuple[str, int]] = field(default_factory=list)


def check_log(
    published: Iterable[tuple[str, int]], expected: Iterable[tuple[str, int]]
) -> LogReport:
    """Check per-key order of ``(key, version)`` in log order and that nothing expected is missing.

    Also asserts the last record of every key is its newest version.
    """
    per_key: dict[str, list[int]] = defaultdict(list)
    report = LogReport()
    for key, version in published:
        per_key[key].append(version)
        report.records += 1
    for key, versions in per_key.items():
        report.duplicates += check_key_history(key, versions)
        if versions[-1] != max(versions):
            raise OrderViolation(f"key {key}: last published {versions[-1]} is not newest {max(versions)}")
    seen = {(k, v) for k, vs in per_key.items() for v in vs}
    report.missing = sorted(set(expected) - seen)
    report.keys = len(per_key)
    return report
