"""The Hazelcast client of the grid adapter: hazelcast-python-client's asyncio API (5.7).

The asyncio client (members 5.6+) does its I/O on the event loop itself: no reactor
thread, no thread hop per call. Measured on this 2-core machine (``spacegrid bench unit``,
grid layer part, 32 concurrent readers): a stock read 34k ops/s against 5.3k through the
classic client and a thread hop. It has no transactions, and the grid needs none
(decision 0020). No map is near-cached (decision 0017: a product is one entry that every
order changes, so a near cache would be invalidated as often as it is read).

``fail_on_indeterminate_operation_state``: a write that its backups did not acknowledge in
time raises instead of passing as done (the caller retries it if it is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Sequence

from grid_config.errors import Disconnected, GridError, GridUnavailable, Indeterminate
from grid_config.resending import first_then_retrying
from grid_config.settings import CommonSettings

log = logging.getLogger(__name__)

#: sends of one map proxy's creation when its connection closes under it or the client is
#: reconnecting (see ``map``): at most ~2.4 s of jittered backoff in all
PROXY_ATTEMPTS = 5
#: sends of one read whose connection closed under it (see ``read``): about 2 s in all, the
#: time a dead member's partitions take to move to the live ones on this machine
READ_ATTEMPTS = 5


class HazelcastConnection:
    """One asyncio Hazelcast client with its map proxies; revived when it gives up on the cluster."""

    def __init__(
        self,
        settings: CommonSettings,
        connect_timeout_s: float,
        operation_timeout_s: float,
        translate: Callable[[BaseException], Exception],
        is_driver_error: Callable[[BaseException], bool],
    ) -> None:
        self._settings = settings
        self._connect_timeout_s = connect_timeout_s
        self._op_timeout_s = operation_timeout_s
        self._translate = translate
        self._is_driver_error = is_driver_error
        self._client: Any = None
        self._maps: dict[str, Any] = {}
        self._reviving: asyncio.Task[None] | None = None
        self._closed = False

    async def _new_client(self) -> Any:
        from hazelcast.asyncio import HazelcastClient
        from hazelcast.config import IntType, ReconnectMode

        return await HazelcastClient.create_and_start(
            cluster_name=self._settings.hazelcast_cluster,
            cluster_members=self._settings.member_addresses,
            cluster_connect_timeout=self._connect_timeout_s,
            connection_timeout=min(self._connect_timeout_s, 5.0),
            invocation_timeout=self._op_timeout_s,
            reconnect_mode=ReconnectMode.ASYNC,  # calls fail at once while disconnected
            default_int_type=IntType.LONG,
            heartbeat_timeout=10.0,
            fail_on_indeterminate_operation_state=True,
            operation_backup_timeout=self._settings.hazelcast_backup_ack_timeout_s,
        )

    async def start(self) -> None:
        try:
            self._client = await self._new_client()
        except BaseException as e:
            if self._is_driver_error(e):
                raise self._translate(e) from e
            raise

    async def close(self) -> None:
        self._closed = True
        if self._reviving is not None:
            self._reviving.cancel()
        client, self._client = self._client, None
        self._maps.clear()
        if client is not None:
            await client.shutdown()

    def _live_client(self) -> Any:
        client = self._client
        if client is None:
            raise GridUnavailable("grid not started" if not self._closed else "grid closed")
        if not client.lifecycle_service.is_running():
            # the client shuts itself down after cluster_connect_timeout without a member:
            # recreate it in the background so the unit recovers when the cluster does
            if self._reviving is None or self._reviving.done():
                self._reviving = asyncio.get_running_loop().create_task(self._revive(client))
            raise GridUnavailable("Hazelcast client lost the cluster; reconnecting")
        return client

    def client(self) -> Any:
        """The started asyncio client, for modules speaking its protocol directly
        (:mod:`grid_config.hazelcast_journal`, the Flake id generator); GridUnavailable when not connected."""
        return self._live_client()

    async def _revive(self, dead: Any) -> None:
        try:
            fresh = await self._new_client()
        except Exception as e:  # noqa: BLE001 - retried on the next call
            log.warning("Hazelcast (asyncio client) reconnect failed: %s", e)
            await asyncio.sleep(1.0)
            return
        if self._closed or self._client is not dead:
            await fresh.shutdown()
            return
        self._client, self._maps = fresh, {}

    async def map(self, name: str) -> Any:
        """The map proxy (created on the members once per client).

        Creating a proxy is idempotent, so a creation whose connection closed under it is
        sent again (at most ``PROXY_ATTEMPTS`` times, jittered): the client closes
        connections of its own at start-up when two of them race ("does not belong to the
        cluster", "duplicate connection"), and a grid's start failed on one in CI. So is
        one refused while the client has no connection at all (``ClientOfflineError``: it
        reconnects in the background; CI saw the resend find it still reconnecting)."""
        proxy = self._maps.get(name)
        if proxy is not None:
            return proxy
        from hazelcast.errors import ClientOfflineError, TargetDisconnectedError
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((TargetDisconnectedError, ClientOfflineError)),
            stop=stop_after_attempt(PROXY_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.1, max=1.0),
            before_sleep=lambda state: log.warning(
                "Hazelcast: creating the proxy of %s failed (%r); sending it again", name,
                state.outcome.exception() if state.outcome is not None else None),
            reraise=True,
        ):
            with attempt:
                client = self._live_client()
                proxy = await client.get_map(name)
        if self._client is client:
            self._maps[name] = proxy
        return proxy

    async def call(self, op: Callable[[], Awaitable[Any]]) -> Any:
        """Await one client operation with a deadline; hazelcast errors become grid errors."""
        try:
            async with asyncio.timeout(self._op_timeout_s + 1.0):
                return await op()
        except asyncio.CancelledError as e:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # this call's own task is being cancelled
            # a future the client shares between callers was cancelled under us: its proxy
            # manager hands the creator's cancellation to every caller waiting for the same
            # map proxy (seen when 200 first orders met a slow cluster: 28 answers lost)
            raise Indeterminate("the Hazelcast client gave up on a shared step of this call") from e
        except BaseException as e:
            if self._is_driver_error(e) or isinstance(e, TimeoutError):
                raise self._translate(e) from e
            leaf = self._driver_leaf(e)
            if leaf is not None:
                raise self._translate(leaf) from e
            if isinstance(e, Exception) and not isinstance(e, GridError):
                # ``op`` is only client calls: anything else it raises (the client's internals
                # while a member joins or leaves) is still the grid failing, not a bad request
                log.warning("unexpected error from the Hazelcast client", exc_info=True)
                raise GridUnavailable(f"Hazelcast client failed: {type(e).__name__}: {e}") from e
            raise

    def _driver_leaf(self, e: BaseException) -> BaseException | None:
        """The error to report for an exception group of driver errors, else None.

        The client runs a multi-partition call (``get_all``, ``put_all``) as one task per
        member in a TaskGroup, so a member dying under it raises an ExceptionGroup of
        ``TargetDisconnectedError``: reported as its first leaf that means "outcome
        unknown", else its first leaf."""
        if not isinstance(e, BaseExceptionGroup):
            return None
        leaves: list[BaseException] = []
        groups: list[BaseExceptionGroup[BaseException]] = [e]
        while groups:
            for inner in groups.pop().exceptions:
                if isinstance(inner, BaseExceptionGroup):
                    groups.append(inner)
                else:
                    leaves.append(inner)
        if not leaves or not all(self._is_driver_error(x) or isinstance(x, TimeoutError) for x in leaves):
            return None
        return next((x for x in leaves if isinstance(self._translate(x), Indeterminate)), leaves[0])

    async def on_map(self, name: str, op: Callable[[Any], Awaitable[Any]]) -> Any:
        """``op(map_proxy)`` through :meth:`call`."""

        async def run() -> Any:
            return await op(await self.map(name))

        return await self.call(run)

    async def read(self, name: str, op: Callable[[Any], Awaitable[Any]]) -> Any:
        """:meth:`on_map` for a call that only reads: sent again (jittered backoff, at most
        ``READ_ATTEMPTS`` sends) when its connection closed before the answer. The client
        resends a single-key read by itself, but not a multi-partition one (``get_all``)."""

        def policy() -> Any:
            from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

            return AsyncRetrying(
                retry=retry_if_exception_type(Disconnected),
                stop=stop_after_attempt(READ_ATTEMPTS),
                wait=wait_random_exponential(multiplier=0.15, min=0.1, max=1.0),
                before_sleep=lambda state: log.warning(
                    "Hazelcast: a read of %s lost its connection (%s); sending it again", name,
                    state.outcome.exception() if state.outcome is not None else "?"),
                reraise=True)

        return await first_then_retrying(lambda: self.on_map(name, op), Disconnected, policy)

    async def get_stored(self, map_name: str, keys: Sequence[str]) -> dict[str, Any]:
        """Stored values of ``keys`` (absent keys left out), in one call per member."""
        return dict(await self.read(map_name, lambda m: m.get_all(list(keys))))
