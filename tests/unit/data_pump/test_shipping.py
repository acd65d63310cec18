"""The shipping logic against the in-process grid and a publisher that fails on demand."""

from __future__ import annotations

import asyncio

import pytest

from data_pump.errors import PublishFailed
from data_pump.metrics import PumpMetrics
from data_pump.shipping import drain_stripe, ship_batch
from grid_config.local_grid import LocalGrid
from grid_config.names import Names
from tests.support.eventually import eventually_async
from tests.support.ordering import OrderViolation, check_key_history, check_log
from tests.unit.data_pump.conftest import write_changes
from tests.unit.data_pump.publishers import ScriptedPublisher

pytestmark = pytest.mark.unit


async def drain_all(grid: LocalGrid, names: Names, pub: ScriptedPublisher, **kw) -> None:
    """Drain every stripe until the grid's backlog is empty."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(drain_stripe(grid, names, pub, s, stop, idle_s=0.001, max_backoff_s=0.01, **kw))
        for s in range(names.stripes)
    ]

    async def empty() -> bool:
        return await grid.backlog() == 0

    try:
        await eventually_async(empty, timeout=20, interval=0.01)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_every_change_is_published_to_its_kind_topic_keyed_by_id_in_per_key_order(grid, names):
    written = await write_changes(grid, 2000, keys=50)
    pub = ScriptedPublisher()
    await drain_all(grid, names, pub)
    report = check_log(pub.key_versions(), written)
    assert report.missing == [] and report.duplicates == 0 and report.records == 2000
    assert {t for t, _, _ in pub.log} == {"unit-spacegrid.products"}
    assert all(k == e.id.encode() for (_, k, _), e in zip(pub.log, pub.events()))


async def test_batch_is_committed_only_after_every_ack(grid, names):
    await write_changes(grid, 10, keys=1)
    stripe = names.stripe_of("1000")
    pub = ScriptedPublisher()
    pub.gate.clear()  # the broker has the records but has not acknowledged them
    shipping = asyncio.create_task(ship_batch(grid, names, pub, stripe, 100))
    await eventually_async(lambda: _true_when(pub.sent == 10), timeout=5, interval=0.01)
    assert await grid.backlog() == 10 and not shipping.done()
    pub.gate.set()
    shipped = await shipping
    assert [e.version for e in shipped] == list(range(1, 11))
    assert await grid.backlog() == 0


async def test_failed_ack_rolls_the_batch_back_in_order(grid, names):
    written = await write_changes(grid, 10, keys=1)
    stripe = names.stripe_of("1000")
    pub = ScriptedPublisher()
    pub.fail_next = 0
    pub.sent = 0
    pub.fail_ratio = 0.0
    # fail the 6th record: records 1..5 reach the broker, the batch must still come back whole
    original_send = pub.send

    async def send_failing_sixth(topic, key, value):
        if pub.sent == 5:
            pub.fail_next = 1
        return await original_send(topic, key, value)

    pub.send = send_failing_sixth  # type: ignore[method-assign]
    metrics = PumpMetrics()
    with pytest.raises(PublishFailed):
        await ship_batch(grid, names, pub, stripe, 100, metrics)
    assert await grid.backlog() == 10
    assert metrics.failures._value.get() == 1
    shipped = await ship_batch(grid, names, pub, stripe, 100, metrics)
    assert [e.version for e in shipped] == list(range(1, 11))  # same order as written
    report = check_log(pub.key_versions(), written)
    assert report.missing == [] and report.duplicates == 5  # 1..5 twice: a repeated suffix


async def test_refused_send_rolls_back_and_loses_nothing(grid, names):
    written = await write_changes(grid, 20, keys=3)
    pub = ScriptedPublisher()
    pub.down = True
    for stripe in {names.stripe_of(key) for key, _ in written}:
        with pytest.raises(PublishFailed):
            await ship_batch(grid, names, pub, stripe, 100)
    assert await grid.backlog() == 20 and pub.log == []
    pub.down = False
    await drain_all(grid, names, pub)
    assert check_log(pub.key_versions(), written).missing == []


async def test_drain_retries_through_random_failures_without_loss_or_reordering(grid, names):
    written = await write_changes(grid, 3000, keys=200, seed=3)
    pub = ScriptedPublisher(fail_ratio=0.01, seed=11)
    metrics = PumpMetrics()
    await drain_all(grid, names, pub, batch_size=50, metrics=metrics)
    report = check_log(pub.key_versions(), written)
    assert report.missing == []
    assert report.duplicates > 0 and metrics.failures._value.get() > 0  # failures did happen
    assert metrics.shipped._value.get() == 3000  # every record counted once when committed


async def test_cancelling_a_batch_in_flight_returns_its_records(grid, names):
    await write_changes(grid, 10, keys=1)
    stripe = names.stripe_of("1000")
    pub = ScriptedPublisher()
    pub.gate.clear()
    shipping = asyncio.create_task(ship_batch(grid, names, pub, stripe, 100))
    await eventually_async(lambda: _true_when(pub.sent == 10), timeout=5, interval=0.01)
    shipping.cancel()
    pub.gate.set()  # the acks settle; the batch must go back regardless (nothing committed)
    with pytest.raises(asyncio.CancelledError):
        await shipping
    assert await grid.backlog() == 10
    shipped = await ship_batch(grid, names, pub, stripe, 100)
    assert [e.version for e in shipped] == list(range(1, 11))


async def test_stop_interrupts_backoff_during_an_outage(grid, names):
    await write_changes(grid, 5, keys=1)
    pub = ScriptedPublisher()
    pub.down = True
    stop = asyncio.Event()
    task = asyncio.create_task(
        drain_stripe(grid, names, pub, names.stripe_of("1000"), stop, max_backoff_s=60)
    )
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert await grid.backlog() == 5


async def test_metrics_report_shipped_backlog_and_head_age(grid, names):
    await write_changes(grid, 30, keys=5)
    pub = ScriptedPublisher()
    metrics = PumpMetrics()
    metrics.record_backlog(await grid.backlog())
    await drain_all(grid, names, pub, metrics=metrics)
    text = metrics.render().decode()
    assert "spacegrid_pump_backlog 30.0" in text
    assert "spacegrid_pump_shipped_total 30.0" in text
    assert "spacegrid_pump_changes_per_second 3.0" in text  # 30 in the 10 s window
    assert "spacegrid_pump_oldest_record_age_seconds 0.0" in text  # drained: nothing waiting


def test_order_checker_accepts_replayed_suffixes_and_rejects_reordering():
    assert check_key_history("k", [1, 2, 3, 2, 3, 4]) == 2
    assert check_key_history("k", [1, 2, 3, 4, 2, 3, 1, 2, 3, 4, 5]) == 6
    for bad in ([1, 3, 2], [1, 2, 3, 2, 4], [2, 1]):
        with pytest.raises(OrderViolation):
            check_key_history("k", bad)


def _true_when(condition: bool):
    async def check() -> bool:
        return condition

    return check()


async def test_poison_record_goes_to_the_dead_letters_and_its_stripe_goes_on(grid, names):
    """An undecodable outbox record: dead-lettered with key, original bytes, error header."""
    from grid_config.events import ERROR_HEADER, SOURCE_HEADER

    stripe = names.stripe_of("1000")
    before = await write_changes(grid, 3, keys=1)
    poison = b'{"schema": 1, "kind": "products", "id": "1000", "version": "not-a-number"'
    garbage = b"\xff\xfe not json at all"
    with grid._lock:  # noqa: SLF001 - a corrupt record can only be planted behind the port
        grid._stripes[stripe].waiting.extend([poison, garbage])  # noqa: SLF001
    after = await write_changes(grid, 6, keys=1)  # versions continue at 1..: same key, seed
    metrics = PumpMetrics()
    pub = ScriptedPublisher()
    await drain_all(grid, names, pub, metrics=metrics)

    dead = [(i, k, v) for i, (t, k, v) in enumerate(pub.log) if t == names.deadletter_topic]
    assert [v for _, _, v in dead] == [poison, garbage]
    assert [k for _, k, _ in dead] == [b"", b""]  # the truncated JSON does not parse: no id to key by
    for i, _, _ in dead:
        assert pub.headers[i][ERROR_HEADER].startswith(b"PoisonEvent: undecodable event")
        assert pub.headers[i][SOURCE_HEADER] == names.outbox(stripe).encode()
    assert [e.version for e in pub.events()] == [v for _, v in before] + [v for _, v in after]
    assert await grid.backlog() == 0
    assert metrics.dead_letters._value.get() == 2  # noqa: SLF001


def test_dead_letter_key_is_the_entity_id_when_readable():
    from data_pump.shipping import dead_letter_key

    assert dead_letter_key(b'{"id": "42", "version": "x"}') == b"42"
    assert dead_letter_key(b"[1, 2]") == b"" and dead_letter_key(b"\x00") == b""
