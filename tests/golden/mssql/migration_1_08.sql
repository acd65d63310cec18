CREATE INDEX order_lines_product ON dbo.order_lines (product_id)
