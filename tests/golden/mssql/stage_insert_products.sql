INSERT INTO #stage_products (id, sku, name, category, price_cents, stock, state, version, deleted, changed_at, persisted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
