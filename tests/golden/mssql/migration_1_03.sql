CREATE INDEX products_category ON dbo.products (category, id)
