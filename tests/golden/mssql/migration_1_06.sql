CREATE INDEX orders_user ON dbo.orders (user_id, id)
