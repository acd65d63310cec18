"""Real engines on loopback for people and tests: Hazelcast members, a Kafka broker.

Everything here runs Java processes from jars fetched from Maven Central into
``SPACEGRID_CACHE_DIR`` (never the repo) and records their PIDs there, so ``down``
ends exactly what ``up`` started.
"""
