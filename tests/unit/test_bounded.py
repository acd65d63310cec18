"""service_kit.bounded.keep: a memo never holds more than its bound; the oldest goes first."""

from __future__ import annotations

from service_kit.bounded import keep


def test_a_full_memo_forgets_its_oldest_entry_to_keep_a_new_one() -> None:
    memo: dict[str, int] = {}
    for i in range(5):
        assert keep(memo, f"k{i}", i, bound=3) == i
    assert memo == {"k2": 2, "k3": 3, "k4": 4}


def test_keeping_a_known_key_again_forgets_nothing() -> None:
    memo = {"a": 1, "b": 2, "c": 3}
    keep(memo, "a", 10, bound=3)
    assert memo == {"a": 10, "b": 2, "c": 3}


def test_a_key_popped_and_kept_again_is_the_newest() -> None:
    memo = {"a": 1, "b": 2, "c": 3}
    keep(memo, "a", memo.pop("a"), bound=3)  # used: least recently used is now "b"
    keep(memo, "d", 4, bound=3)
    assert list(memo) == ["c", "a", "d"]
