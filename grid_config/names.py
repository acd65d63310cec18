"""Names of every map, queue and topic, derived from one namespace prefix.

All components take their names from here so a test can run against uniquely named
structures by changing ``SPACEGRID_NAMESPACE`` alone. The Hazelcast configuration in
``hazelcast.yaml`` matches these names with wildcards (``*users``, ``*orders``...).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("users", "products", "orders")


@dataclass(frozen=True)
class Names:
    namespace: str = ""

    # entity maps (one per kind) and their helpers
    @property
    def users(self) -> str:
        return f"{self.namespace}users"

    @property
    def users_by_email(self) -> str:
        return f"{self.namespace}users-by-email"

    @property
    def products(self) -> str:
        """The whole product, stock and version included, one entry per id (decision 0017)."""
        return f"{self.namespace}products"

    @property
    def products_by_sku(self) -> str:
        """Unique-sku index: sku -> {"product_id"}; written with the product."""
        return f"{self.namespace}products-by-sku"

    @property
    def orders(self) -> str:
        return f"{self.namespace}orders"

    @property
    def login_attempts(self) -> str:
        return f"{self.namespace}login-attempts"

    @property
    def journal_credits(self) -> str:
        """G7 journal credits: ``"<map name>#<partition>"`` -> {"credits": c} (decision 0018)."""
        return f"{self.namespace}journal-credits"

    @property
    def processes(self) -> str:
        """Running units, pumps and writers: id -> record with figures, renewed every second
        with a TTL (``grid_config.processes``); not journaled."""
        return f"{self.namespace}processes"

    @property
    def id_generator(self) -> str:
        return f"{self.namespace}ids"

    def kind_of(self, map_name: str) -> str:
        """The entity kind an entity map holds (the inverse of :meth:`entity_map`)."""
        kind = map_name.removeprefix(self.namespace)
        if (self.namespace and map_name == kind) or kind not in KINDS:
            raise ValueError(f"{map_name!r} is not an entity map of namespace {self.namespace!r}")
        return kind

    # the change record: the entity maps' event journals and the pump's positions in them
    @property
    def journaled_maps(self) -> tuple[str, ...]:
        """The entity maps: the maps whose event journal is the change record (G2).

        Kept in step with the ``event-journal`` sections of ``hazelcast.yaml`` (a map
        listed here without a journal there is refused by the members). Adapters take
        this tuple as an argument instead of naming maps themselves.
        """
        return tuple(self.entity_map(kind) for kind in KINDS)

    @property
    def journal_positions(self) -> str:
        """The pump's stored position per journal: ``"<map>#<partition>"`` -> ``{"next": n}``.

        Not journaled itself (a position write is not an entity change).
        """
        return f"{self.namespace}journal-positions"

    def entity_map(self, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown entity kind {kind!r}")
        return f"{self.namespace}{kind}"

    # Kafka topics (fixed names, prefixed only in tests)
    def topic(self, kind: str) -> str:
        return f"{self.namespace}spacegrid.{kind}"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.namespace}spacegrid.deadletter"

    @property
    def pump_control_topic(self) -> str:
        """Pumps split the journals by their group assignment of this topic's partitions."""
        return f"{self.namespace}spacegrid.pump-shards"
