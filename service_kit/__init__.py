"""Runtime utilities every spacegrid service process shares (the bottom layer).

JSON logs (:mod:`.logs`), the Faust apps' options and reliable producer
(:mod:`.faust_app`), the Faust worker runner (:mod:`.faust_worker`) and sliding-window
rates (:mod:`.rate_window`). Nothing here imports another spacegrid package.
"""
