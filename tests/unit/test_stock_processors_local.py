"""The stock processor contract on the pure in-process functions, plus their own promises."""

from __future__ import annotations

import asyncio
import copy
import re
from typing import Any

import orjson
import pytest

from grid_config.entry_processors import (
    FACTORY_ID,
    StockAnswer,
    StockForget,
    StockHold,
    StockProcessor,
    StockRelease,
    StockReturn,
    StockSettle,
    StockSteps,
    data_serializable_factories,
    forget,
    hold,
    release,
    return_stock,
    settle,
    stale_holds,
    stale_returns,
)
from tests.contract.stock_processor_contract import NOW, T0, StockProcessorContract

pytestmark = pytest.mark.unit


class DictSpace:
    """A products map as the in-process grid keeps one: canonical JSON bytes per key.

    Each step is applied without an await in between (atomic per key, as under LocalGrid's
    lock); the ``sleep(0)`` before it lets concurrent callers interleave.
    """

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def seed(self, product_id: str, value: dict[str, Any]) -> None:
        self.data[product_id] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    async def get(self, product_id: str) -> dict[str, Any] | None:
        raw = self.data.get(product_id)
        return None if raw is None else orjson.loads(raw)

    async def run(self, product_id: str, processor: StockProcessor) -> StockAnswer:
        await asyncio.sleep(0)
        raw = self.data.get(product_id)
        new, answer = processor.apply(None if raw is None else orjson.loads(raw))
        if new is not None:
            self.data[product_id] = orjson.dumps(new, option=orjson.OPT_SORT_KEYS)
        return StockAnswer.from_json(answer.to_json())  # what the wire would carry

    async def run_steps(self, product_id: str, steps: StockSteps) -> list[StockAnswer]:
        await asyncio.sleep(0)
        raw = self.data.get(product_id)
        new, answers = steps.apply(None if raw is None else orjson.loads(raw))
        if new is not None:
            self.data[product_id] = orjson.dumps(new, option=orjson.OPT_SORT_KEYS)
        return StockSteps.decode(b"[" + b",".join(a.to_json().encode() for a in answers) + b"]")


class TestPureStockProcessors(StockProcessorContract):
    @pytest.fixture
    def space(self) -> DictSpace:
        return DictSpace()


STAMP = ("r-1", T0)  # request_id, changed_at


def test_functions_never_mutate_their_input() -> None:
    value = {"stock": 5, "version": 1, "holds": {"a": {"qty": 1, "at": 1, "by": "x"}},
             "returns": {"c": {"qty": 1, "at": 1}}, "_meta": {"changed_at": T0, "request_id": "old"}}
    before = copy.deepcopy(value)
    for new, _ in (hold(value, "b", "x", 2, NOW, *STAMP), release(value, "a", "x", *STAMP),
                   settle(value, "a", "x", *STAMP), return_stock(value, "d", 1, NOW, *STAMP),
                   forget(value, "c", *STAMP)):
        assert new is not None and new != value
    assert value == before


def test_no_op_returns_no_new_value() -> None:
    value = {"stock": 1, "version": 1, "holds": {"a": {"qty": 1, "at": 1, "by": "x"}},
             "returns": {"c": {"qty": 1, "at": 1}}}
    assert hold(value, "a", "x", 1, NOW, *STAMP)[0] is None  # repeat
    assert hold(value, "a", "y", 1, NOW, *STAMP)[0] is None  # busy
    assert hold(value, "b", "x", 2, NOW, *STAMP)[0] is None  # short
    assert release(value, "b", "x", *STAMP)[0] is None
    assert release(value, "a", "y", *STAMP)[0] is None
    assert settle(value, "b", "x", *STAMP)[0] is None
    assert settle(value, "a", "y", *STAMP)[0] is None
    assert return_stock(value, "c", 5, NOW, *STAMP)[0] is None
    assert forget(value, "a", *STAMP)[0] is None
    assert hold(None, "a", "x", 1, NOW, *STAMP) == (None, StockAnswer("missing"))
    assert return_stock(None, "a", 1, NOW, *STAMP) == (None, StockAnswer("missing"))
    assert forget(None, "a", *STAMP) == (None, StockAnswer("absent"))


def test_a_change_is_stamped_as_events_stamped_does() -> None:
    from grid_config.events import stamped

    value = {"stock": 5, "version": 1, "x": [1]}
    new, _ = hold(value, "o", "a", 1, NOW, "req", T0)
    assert new == stamped({"stock": 4, "version": 2, "x": [1], "holds": {"o": {"at": NOW, "by": "a", "qty": 1}}},
                          "req", T0)


@pytest.mark.parametrize("qty", [0, -1, True, 1.0, "1"])
def test_hold_and_return_refuse_a_bad_quantity(qty: Any) -> None:
    with pytest.raises(ValueError):
        hold({"stock": 5, "version": 1}, "o", "a", qty, NOW, *STAMP)
    with pytest.raises(ValueError):
        return_stock({"stock": 5, "version": 1}, "o", qty, NOW, *STAMP)
    with pytest.raises(ValueError):  # before looking at the entry, as the Java side does
        hold(None, "o", "a", qty, NOW, *STAMP)


_HOLD = StockHold("o", "a", 1, NOW, *STAMP)
_RETURN = StockReturn("o", 1, NOW, *STAMP)


@pytest.mark.parametrize(("value", "step"), [
    ({"version": 1}, _HOLD), ({"stock": "5", "version": 1}, _HOLD), ({"stock": 5}, _RETURN),
    ({"stock": 5, "version": 1, "holds": []}, _RETURN), ({"stock": 5, "version": 1, "returns": [1]}, _HOLD),
    ({"stock": 5, "version": 1, "holds": {"o": {"at": 1, "qty": 1, "by": 7}}}, _HOLD),
    ({"stock": 5, "version": 1, "holds": {"o": {"at": 1}}}, StockRelease("o", "", *STAMP)),
    ({"stock": 5, "version": 1, "holds": {"o": 2}}, StockSettle("o", "", *STAMP)),
    ({"stock": 5, "version": 1, "returns": {"o": {"at": 1}}}, _RETURN),
    ({"stock": 5, "version": 1, "returns": {"o": {"at": 1, "qty": 1.5}}}, StockForget("o", *STAMP)),
])
def test_a_corrupt_entry_is_an_error_not_a_guess(value: dict[str, Any], step: StockProcessor) -> None:
    with pytest.raises(ValueError, match="stock entry"):
        step.apply(value)


def test_empty_order_id_is_refused() -> None:
    for step in (StockHold("", "a", 1, NOW), StockRelease(""), StockSettle(""), StockReturn("", 1, NOW),
                 StockForget("")):
        with pytest.raises(ValueError, match="order id"):
            step.apply({"stock": 5, "version": 1})


@pytest.mark.parametrize("changed_at", ["", "2026-11-28T10:00:00Z", "2026-11-28 10:00:00.000Z",
                                        "2026-11-28T10:00:00.000+00:00", "2026-11-28T10:00:00.000Z ",
                                        "２026-11-28T10:00:00.000Z", None])
def test_a_malformed_changed_at_is_refused(changed_at: Any) -> None:
    with pytest.raises(ValueError, match="changed_at"):
        release({"stock": 5, "version": 1}, "o", "a", "r", changed_at)
    with pytest.raises(ValueError, match="changed_at"):
        forget(None, "o", "r", changed_at)


def test_attempt_and_request_id_must_be_strings() -> None:
    with pytest.raises(ValueError, match="attempt"):
        settle({"stock": 5, "version": 1}, "o", None, *STAMP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="request id"):
        settle({"stock": 5, "version": 1}, "o", "a", None, T0)  # type: ignore[arg-type]


def test_changed_at_defaults_to_the_clients_clock_once() -> None:
    step = StockHold("o", "a", 1, NOW, "r")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", step.changed_at)
    first = step.apply({"stock": 5, "version": 1})[0]
    assert first is not None and first["_meta"] == {"changed_at": step.changed_at, "request_id": "r"}
    assert step.apply({"stock": 5, "version": 1})[0] == first  # fixed at construction: deterministic
    assert StockForget("o", "r", T0).changed_at == T0
    assert StockReturn("o", 1, NOW).attempt == StockForget("o").attempt == ""


def test_answers_are_canonical_json() -> None:
    assert StockAnswer("held", 7, 3).to_json() == '{"available":7,"outcome":"held","qty":3}'
    assert StockAnswer("busy", 7).to_json() == '{"available":7,"outcome":"busy"}'
    assert StockAnswer("missing").to_json() == '{"outcome":"missing"}'
    assert StockAnswer.from_json('{"outcome":"short","available":0}') == StockAnswer("short", 0)


@pytest.mark.parametrize("processor", [
    StockHold("o-é\"1", "att-é", 3, NOW, "req-1", T0), StockRelease("o-2", "a", "r", T0),
    StockSettle("o-3", "", "", T0), StockReturn("o-4", 2**40, -5, "r😀", T0), StockForget("o-5", "r", T0),
    StockSteps([StockSettle("o-3", "a", "r", T0), StockHold("o-6", "b", 1, NOW, "r2", T0)]),
])
def test_processors_survive_the_client_serializer(processor: StockProcessor | StockSteps) -> None:
    """Same ids and field order on write and read (the Java side reads the same order)."""
    from hazelcast.config import Config
    from hazelcast.serialization.service import SerializationServiceV1

    config = Config()
    config.data_serializable_factories = data_serializable_factories()
    service = SerializationServiceV1(config)
    data = service.to_data(processor)
    assert service.to_object(data) == processor
    assert processor.get_factory_id() == FACTORY_ID


def test_processors_write_the_common_fields_first_in_order() -> None:
    """order_id, attempt, request_id, changed_at, then the class's own fields."""
    calls: list[tuple[str, Any]] = []

    class Out:
        def write_string(self, v: str) -> None:
            calls.append(("string", v))

        def write_long(self, v: int) -> None:
            calls.append(("long", v))

    StockHold("o", "a", 3, 9, "r", T0).write_data(Out())  # type: ignore[arg-type]
    assert calls == [("string", "o"), ("string", "a"), ("string", "r"), ("string", T0), ("long", 3), ("long", 9)]
    calls.clear()
    StockReturn("o", 3, 9, "r", T0).write_data(Out())  # type: ignore[arg-type]
    assert calls == [("string", "o"), ("string", ""), ("string", "r"), ("string", T0), ("long", 3), ("long", 9)]
    calls.clear()
    StockForget("o", "r", T0).write_data(Out())  # type: ignore[arg-type]
    assert calls == [("string", "o"), ("string", ""), ("string", "r"), ("string", T0)]


# ---- the reaper's helpers ---------------------------------------------------------------------
def test_stale_holds_lists_holds_older_than_the_bound_oldest_first() -> None:
    value = {"stock": 5, "version": 9, "holds": {
        "o-new": {"at": 300, "by": "a", "qty": 1},
        "o-b": {"at": 100, "by": "a2", "qty": 1},
        "o-a": {"at": 100, "by": "a1", "qty": 2},
        "o-old": {"at": 50, "qty": 1},  # written before attempts: attempt ""
        "o-edge": {"at": 200, "by": "x", "qty": 1},
    }}
    assert stale_holds(value, 200) == [("o-old", "", 50), ("o-a", "a1", 100), ("o-b", "a2", 100)]
    assert stale_holds(value, 201)[-1] == ("o-edge", "x", 200)  # strictly older than the bound
    assert stale_holds(value, 50) == []
    assert stale_holds({"stock": 5, "version": 1}, 10**15) == []
    assert stale_holds(None, 10**15) == []


def test_stale_holds_feed_release_and_settle() -> None:
    value: dict[str, Any] = {"stock": 5, "version": 1}
    value = hold(value, "o-1", "a1", 2, 100, *STAMP)[0]  # type: ignore[assignment]
    value = hold(value, "o-2", "a2", 1, 500, *STAMP)[0]  # type: ignore[assignment]
    [(order_id, attempt, at)] = stale_holds(value, 400)
    assert (order_id, attempt, at) == ("o-1", "a1", 100)
    new, answer = release(value, order_id, attempt, "reaper", T0)
    assert answer == StockAnswer("released", 4, 2) and stale_holds(new, 400) == []


def test_stale_returns_lists_markers_older_than_the_bound_oldest_first() -> None:
    value = {"stock": 5, "version": 9, "holds": {"o-h": {"at": 1, "by": "a", "qty": 1}}, "returns": {
        "o-3": {"at": 300, "qty": 1}, "o-2": {"at": 100, "qty": 2}, "o-1": {"at": 100, "qty": 1},
        "o-0": {"at": 10, "qty": 1},
    }}
    assert stale_returns(value, 300) == ["o-0", "o-1", "o-2"]
    assert stale_returns(value, 301) == ["o-0", "o-1", "o-2", "o-3"]
    assert stale_returns(value, 10) == []
    assert stale_returns({"stock": 5, "version": 1}, 10**15) == []
    assert stale_returns(None, 10**15) == []
    new, answer = forget(value, stale_returns(value, 50)[0], "reaper", T0)
    assert answer == StockAnswer("forgot", 5, 1) and stale_returns(new, 50) == []


@pytest.mark.parametrize("value", [{"stock": 5, "version": 1, "holds": {"o": {"qty": 1, "by": "a"}}},
                                   {"stock": 5, "version": 1, "holds": {"o": {"at": "1", "qty": 1}}},
                                   {"stock": 5, "version": 1, "holds": {"o": {"at": 1, "qty": 1, "by": None}}},
                                   {"stock": 5, "version": 1, "holds": 3}])
def test_stale_holds_refuses_a_corrupt_entry(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="stock entry"):
        stale_holds(value, 10)


@pytest.mark.parametrize("value", [{"stock": 5, "version": 1, "returns": {"o": {"qty": 1}}},
                                   {"stock": 5, "version": 1, "returns": {"o": 3}},
                                   {"stock": 5, "version": 1, "returns": {"o": {"at": True, "qty": 1}}},
                                   {"version": 1, "returns": {}}])
def test_stale_returns_refuses_a_corrupt_entry(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="stock entry"):
        stale_returns(value, 10)
