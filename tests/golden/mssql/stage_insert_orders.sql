INSERT INTO #stage_orders (id, user_id, status, total_cents, state, version, deleted, changed_at, persisted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
