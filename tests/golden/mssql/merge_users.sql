MERGE INTO dbo.users WITH (HOLDLOCK) AS t
USING #stage_users AS s ON t.id = s.id
WHEN MATCHED AND t.version < s.version THEN UPDATE SET t.email = s.email, t.name = s.name, t.is_admin = s.is_admin, t.password_hash = s.password_hash, t.state = s.state, t.version = s.version, t.deleted = s.deleted, t.changed_at = s.changed_at, t.persisted_at = s.persisted_at
WHEN NOT MATCHED BY TARGET THEN INSERT (id, email, name, is_admin, password_hash, state, version, deleted, changed_at, persisted_at) VALUES (s.id, s.email, s.name, s.is_admin, s.password_hash, s.state, s.version, s.deleted, s.changed_at, s.persisted_at)
OUTPUT inserted.id;
