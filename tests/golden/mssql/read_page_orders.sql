SELECT TOP (1000) id, version, deleted, state, changed_at, persisted_at FROM orders WHERE id > %s ORDER BY id
