"""The stock processor contract on the pure in-process functions, plus their own promises."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson
import pytest

from grid_config.entry_processors import (
    FACTORY_ID,
    StockAnswer,
    StockHold,
    StockProcessor,
    StockRelease,
    StockSettle,
    data_serializable_factories,
    hold,
    release,
    settle,
)
from tests.contract.stock_processor_contract import NOW, StockProcessorContract

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


class TestPureStockProcessors(StockProcessorContract):
    @pytest.fixture
    def space(self) -> DictSpace:
        return DictSpace()


def test_functions_never_mutate_their_input() -> None:
    value = {"stock": 5, "version": 1, "holds": {"a": {"qty": 1, "at": 1}}}
    before = copy.deepcopy(value)
    for new, _ in (hold(value, "b", 2, NOW), release(value, "a"), settle(value, "a")):
        assert new is not None and new != value
    assert value == before


def test_no_op_returns_no_new_value() -> None:
    value = {"stock": 1, "version": 1, "holds": {"a": {"qty": 1, "at": 1}}}
    assert hold(value, "a", 1, NOW)[0] is None
    assert hold(value, "b", 2, NOW)[0] is None
    assert release(value, "b")[0] is None
    assert settle(value, "b")[0] is None
    assert hold(None, "a", 1, NOW) == (None, StockAnswer("missing"))


@pytest.mark.parametrize("qty", [0, -1, True, 1.0, "1"])
def test_hold_refuses_a_bad_quantity(qty: Any) -> None:
    with pytest.raises(ValueError):
        hold({"stock": 5, "version": 1}, "o", qty, NOW)


@pytest.mark.parametrize("value", [{"version": 1}, {"stock": "5", "version": 1}, {"stock": 5},
                                   {"stock": 5, "version": 1, "holds": []}])
def test_a_corrupt_entry_is_an_error_not_a_guess(value: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        hold(value, "o", 1, NOW)


def test_empty_order_id_is_refused() -> None:
    with pytest.raises(ValueError):
        release({"stock": 5, "version": 1}, "")


def test_answers_are_canonical_json() -> None:
    assert StockAnswer("held", 7, 3).to_json() == '{"available":7,"outcome":"held","qty":3}'
    assert StockAnswer("missing").to_json() == '{"outcome":"missing"}'
    assert StockAnswer.from_json('{"outcome":"short","available":0}') == StockAnswer("short", 0)


@pytest.mark.parametrize("processor", [StockHold("o-é\"1", 3, NOW), StockRelease("o-2"), StockSettle("o-3")])
def test_processors_survive_the_client_serializer(processor: StockProcessor) -> None:
    """Same ids and field order on write and read (the Java side reads the same order)."""
    from hazelcast.config import Config
    from hazelcast.serialization.service import SerializationServiceV1

    config = Config()
    config.data_serializable_factories = data_serializable_factories()
    service = SerializationServiceV1(config)
    data = service.to_data(processor)
    assert service.to_object(data) == processor
    assert processor.get_factory_id() == FACTORY_ID
