MERGE INTO dbo.products WITH (HOLDLOCK) AS t
USING #stage_products AS s ON t.id = s.id
WHEN MATCHED AND t.version < s.version THEN UPDATE SET t.sku = s.sku, t.name = s.name, t.category = s.category, t.price_cents = s.price_cents, t.stock = s.stock, t.state = s.state, t.version = s.version, t.deleted = s.deleted, t.changed_at = s.changed_at, t.persisted_at = s.persisted_at
WHEN NOT MATCHED BY TARGET THEN INSERT (id, sku, name, category, price_cents, stock, state, version, deleted, changed_at, persisted_at) VALUES (s.id, s.sku, s.name, s.category, s.price_cents, s.stock, s.state, s.version, s.deleted, s.changed_at, s.persisted_at)
OUTPUT inserted.id;
