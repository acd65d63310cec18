"""Live notifications: the change stream, fanned out to WebSockets (``GET /ws``).

One :class:`~processing_unit.live.hub.LiveHub` per unit reads the change stream through
the :class:`~processing_unit.live.source.ChangeSource` port (Kafka topics in the
distributed mode, the in-process channel in the embedded mode), keeps a bounded window of
what it saw for replays, and hands each socket only its messages.
"""
