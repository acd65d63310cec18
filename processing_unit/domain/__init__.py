"""Pure business rules: what entities look like and how each change transforms them.

No I/O and no grid: the services (:mod:`processing_unit.services`) read and write the grid
with single-key atomic operations and call these functions to decide; a function given to
``Grid.update`` may run more than once (compare-and-set), so they never have side
effects. They raise :mod:`processing_unit.errors`, which abort the write.
"""
