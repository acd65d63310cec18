CREATE INDEX deferred_orders_age ON dbo.deferred_orders (deferred_at)
