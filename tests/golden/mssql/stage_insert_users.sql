INSERT INTO #stage_users (id, email, name, is_admin, password_hash, state, version, deleted, changed_at, persisted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
