"""Pure business rules. Every write is a function of a grid :class:`~grid_config.ports.Tx`.

They are synchronous on purpose: on Hazelcast a transaction is bound to one thread, so the
grid adapter runs the whole function in a worker thread; the in-process adapter runs the
same function. They do no I/O besides the Tx and raise :mod:`processing_unit.errors`
(which rolls the transaction back).

Lock order (deadlock avoidance), the same in every function: idempotency key < order <
product entries (ascending product id).
"""
