CREATE INDEX products_sku ON dbo.products (sku)
