"""Developer tools, run from a checkout and never installed by ``pip install .``.

``bench/``: the benchmarks (``spacegrid bench ...``) and the PostgreSQL-backed grid they
compare against; ``local/``: launchers of real engines on loopback (``spacegrid local``,
``spacegrid grid member add|remove`` and the test harness).
"""
