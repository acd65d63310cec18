"""Thin HTTP handlers, one module per resource; each exports ``ROUTES`` (see :mod:`.spec`)."""
