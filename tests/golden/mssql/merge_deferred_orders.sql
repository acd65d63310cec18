MERGE INTO dbo.deferred_orders WITH (HOLDLOCK) AS t
USING (VALUES (%s, %s, %s, %s, %s)) AS s (id, version, event, changed_at, deferred_at) ON t.id = s.id
WHEN MATCHED AND t.version < s.version THEN UPDATE SET t.version = s.version, t.event = s.event, t.changed_at = s.changed_at
WHEN NOT MATCHED BY TARGET THEN INSERT (id, version, event, changed_at, deferred_at) VALUES (s.id, s.version, s.event, s.changed_at, s.deferred_at);
