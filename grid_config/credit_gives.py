"""Journal credits given back in one call per loop turn (G7, decision 0018).

The pump gives the credits of every journal whose position it just stored, all at once;
the units give back idle leases together. One ``execute_on_key`` per journal cost a
client round trip each (the pump's CPU per shipped entry); :class:`CreditGives` sends the
gives asked for during one event-loop turn as one ``execute_on_keys`` per distinct
``(count, bound)`` (the processor carries both), the gives to one key summed first (two
gives of one key in one ``execute_on_keys`` would run once). Each caller awaits its own
give's outcome: a failed call fails every give it carried, and each caller retries or
logs as it did alone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Awaitable, Callable, Mapping, Sequence

from grid_config.credit_processors import CreditAnswer, CreditsGive

#: ``execute_on_keys(keys, step)`` on the credits map: key -> the processor's answer
SendGives = Callable[[Sequence[str], CreditsGive], Awaitable[Mapping[str, Any]]]


class CreditGives:
    def __init__(self, send: SendGives) -> None:
        self._send = send
        #: credit key -> (count, bound, the callers' futures) asked for in this loop turn
        self._asked: dict[str, tuple[int, int, list[asyncio.Future[CreditAnswer]]]] = {}
        self._calls: set[asyncio.Task[None]] = set()

    async def give(self, ckey: str, count: int, bound: int) -> CreditAnswer:
        """Give ``count`` credits back to ``ckey`` (capped at ``bound``), with this turn's others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CreditAnswer] = loop.create_future()
        if not self._asked:
            loop.call_soon(self._send_asked)
        summed, _, futures = self._asked.get(ckey, (0, bound, []))
        self._asked[ckey] = (summed + count, bound, [*futures, future])
        return await future

    def _send_asked(self) -> None:
        asked, self._asked = self._asked, {}
        groups: dict[tuple[int, int], list[str]] = defaultdict(list)
        for ckey, (count, bound, _) in asked.items():
            groups[(count, bound)].append(ckey)
        for (count, bound), keys in groups.items():
            futures = {k: asked[k][2] for k in keys}
            task = asyncio.get_running_loop().create_task(self._call(keys, CreditsGive(count, bound), futures))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    async def _call(self, keys: list[str], step: CreditsGive,
                    futures: Mapping[str, list[asyncio.Future[CreditAnswer]]]) -> None:
        try:
            answers = await self._send(keys, step)
        except BaseException as e:  # noqa: BLE001 - every give it carried fails with it
            for waiting in futures.values():
                for f in waiting:
                    if f.done():
                        continue
                    if isinstance(e, asyncio.CancelledError):
                        f.cancel()
                    else:
                        f.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for key, waiting in futures.items():
            answer = answers.get(key)
            for f in waiting:
                if f.done():
                    continue
                if answer is None:
                    f.set_exception(RuntimeError(f"no answer for journal credits {key!r}"))
                else:
                    f.set_result(CreditAnswer.from_json(answer))
