MERGE INTO dbo.orders WITH (HOLDLOCK) AS t
USING #stage_orders AS s ON t.id = s.id
WHEN MATCHED AND t.version < s.version THEN UPDATE SET t.user_id = s.user_id, t.status = s.status, t.total_cents = s.total_cents, t.state = s.state, t.version = s.version, t.deleted = s.deleted, t.changed_at = s.changed_at, t.persisted_at = s.persisted_at
WHEN NOT MATCHED BY TARGET THEN INSERT (id, user_id, status, total_cents, state, version, deleted, changed_at, persisted_at) VALUES (s.id, s.user_id, s.status, s.total_cents, s.state, s.version, s.deleted, s.changed_at, s.persisted_at)
OUTPUT inserted.id;
