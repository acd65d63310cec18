"""``bench orders``' Markdown table: the targets' verdicts and where each side's CPU went."""

from tools.bench.orders import cpu_per_order, table
from tools.bench.process_cpu import Usage


def _run(rps: float, p50: float, cpu: dict[str, float]) -> dict:
    return {"rps": rps, "p50_ms": p50, "p99_ms": 4 * p50, "requests": int(rps * 10), "cpu_ms_per_order": cpu}


def test_the_table_gives_ratios_verdicts_and_cpu_per_order() -> None:
    results = {
        "config": {"connections": 16},
        "sides": {
            "space": {"sequential": _run(300, 2.0, {}),
                      "concurrent": _run(1300, 10.0, {"unit": 0.5, "shipper": 0.25, "members": 0.75})},
            "database": {"sequential": _run(400, 2.5, {}),
                         "concurrent": _run(600, 20.0, {"unit": 1.0, "postgres": 1.5})},
        },
        "degradation": {"first": {"p50_ms": 10.0, "requests": 120}, "later": {"p50_ms": 3.0}, "orders_between": 10_500},
    }
    out = table(results)
    assert "| 16 callers, orders/s | 1300 | 600 | 2.17x | >= 2x: met |" in out
    assert "| sequential p50 / p99 ms | 2.00 / 8.00 | 2.50 / 10.00 | 0.80x | <= 0.8x: met |" in out
    assert "| 16 callers, CPU ms per order | unit 0.50 + shipper 0.25 + members 0.75 = 1.50 | " \
           "unit 1.00 + postgres 1.50 = 2.50 | | |" in out
    assert "0.30x; target <= 1.5x: met" in out


def test_cpu_per_order_is_cores_times_seconds_over_orders() -> None:
    used = {"unit": Usage(cores=0.5, waiting=0.1), "members": Usage(cores=1.2, waiting=0.0)}
    assert cpu_per_order(used, seconds=10.0, orders=5000) == {"unit": 1.0, "members": 2.4}
    assert cpu_per_order(used, seconds=10.0, orders=0) == {"unit": 0.0, "members": 0.0}
