"""The journal-credit contract on the pure in-process functions, plus their own promises."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson
import pytest

from grid_config.credit_processors import (
    CREDITS_GIVE,
    CREDITS_TAKE,
    CreditAnswer,
    CreditsGive,
    CreditsProcessor,
    CreditsTake,
    give_credits,
    take_credits,
)
from grid_config.entry_processors import (
    FACTORY_ID,
    STOCK_FORGET,
    STOCK_HOLD,
    STOCK_RELEASE,
    STOCK_RETURN,
    STOCK_SETTLE,
    STOCK_STEPS,
    data_serializable_factories,
)
from tests.contract.credit_processor_contract import CreditProcessorContract

pytestmark = pytest.mark.unit


class DictSpace:
    """A credits map as the in-process grid keeps one: canonical JSON bytes per key; each
    step atomic (no await inside), the ``sleep(0)`` before it lets callers interleave."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def seed(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = self.data.get(key)
        return None if raw is None else orjson.loads(raw)

    async def run(self, key: str, processor: CreditsProcessor) -> CreditAnswer:
        await asyncio.sleep(0)
        raw = self.data.get(key)
        new, answer = processor.apply(None if raw is None else orjson.loads(raw))
        if new is not None:
            self.data[key] = orjson.dumps(new, option=orjson.OPT_SORT_KEYS)
        return CreditAnswer.from_json(answer.to_json())  # what the wire would carry


class TestPureCreditProcessors(CreditProcessorContract):
    @pytest.fixture
    def space(self) -> DictSpace:
        return DictSpace()


def test_functions_never_mutate_their_input() -> None:
    value = {"credits": 5, "x": {"y": 1}}
    before = copy.deepcopy(value)
    for new, _ in (take_credits(value, 2, 10), give_credits(value, 2, 10)):
        assert new is not None and new != value
    assert value == before


def test_no_op_returns_no_new_value() -> None:
    assert take_credits({"credits": 1}, 2, 10) == (None, CreditAnswer("refused", 1))
    assert take_credits(None, 11, 10) == (None, CreditAnswer("refused", 10))
    assert give_credits({"credits": 10}, 1, 10) == (None, CreditAnswer("given", 10, capped=1))
    assert give_credits(None, 3, 10) == (None, CreditAnswer("given", 10, capped=3))


@pytest.mark.parametrize("n, bound", [(0, 10), (-1, 10), (True, 10), (1.0, 10), ("1", 10), (1, 0), (1, -5),
                                      (1, False), (2**63, 2**63)])
def test_bad_arguments_are_refused(n: Any, bound: Any) -> None:
    for f in (take_credits, give_credits):
        with pytest.raises(ValueError):
            f({"credits": 1}, n, bound)


@pytest.mark.parametrize("value", [{}, {"credits": "5"}, {"credits": 1.5}, {"credits": True}, {"credits": -1},
                                   {"credits": None}])
def test_a_corrupt_entry_is_an_error_not_a_guess(value: dict[str, Any]) -> None:
    for f in (take_credits, give_credits):
        with pytest.raises(ValueError, match="credits"):
            f(value, 1, 10)


def test_answers_are_canonical_json() -> None:
    assert CreditAnswer("taken", 7).to_json() == '{"credits":7,"outcome":"taken"}'
    assert CreditAnswer("given", 50, 3).to_json() == '{"capped":3,"credits":50,"outcome":"given"}'
    assert CreditAnswer.from_json('{"outcome":"refused","credits":0}') == CreditAnswer("refused", 0)
    assert CreditAnswer("taken", 0).taken and not CreditAnswer("refused", 0).taken


def test_class_ids_match_the_java_factory() -> None:
    """One factory, ids never reused: Python's table equals MemberFactory.java's."""
    import re
    from pathlib import Path

    import grid_config
    from grid_config.hazelcast_grid import ID_ORDER_CLASS_ID
    from grid_config.member_status import MEMBER_STATUS_CLASS_ID

    java = (Path(grid_config.__file__).parent / "member/src/main/java/io/spacegrid/member/MemberFactory.java").read_text()
    java_ids = {name: int(v) for name, v in re.findall(r"public static final int (\w+) = (\d+);", java)}
    assert java_ids == {"FACTORY_ID": FACTORY_ID, "STOCK_HOLD": STOCK_HOLD, "STOCK_RELEASE": STOCK_RELEASE,
                        "STOCK_SETTLE": STOCK_SETTLE, "CREDITS_TAKE": CREDITS_TAKE, "CREDITS_GIVE": CREDITS_GIVE,
                        "STOCK_RETURN": STOCK_RETURN, "STOCK_FORGET": STOCK_FORGET,
                        "MEMBER_STATUS": MEMBER_STATUS_CLASS_ID, "STOCK_STEPS": STOCK_STEPS,
                        "ID_ORDER": ID_ORDER_CLASS_ID}
    factories = data_serializable_factories()[FACTORY_ID]
    assert {i: c.__name__ for i, c in factories.items()} == {
        1: "StockHold", 2: "StockRelease", 3: "StockSettle", 4: "CreditsTake", 5: "CreditsGive",
        6: "StockReturn", 7: "StockForget", 9: "StockSteps"}


@pytest.mark.parametrize("processor", [CreditsTake(3, 128), CreditsGive(2**62, 64)])
def test_processors_survive_the_client_serializer(processor: CreditsProcessor) -> None:
    """Same ids and field order on write and read (the Java side reads the same order)."""
    from hazelcast.config import Config
    from hazelcast.serialization.service import SerializationServiceV1

    config = Config()
    config.data_serializable_factories = data_serializable_factories()
    service = SerializationServiceV1(config)
    data = service.to_data(processor)
    assert service.to_object(data) == processor
    assert processor.get_factory_id() == FACTORY_ID == 7311
