CREATE TABLE dbo.order_lines (
    order_id NVARCHAR(64) NOT NULL REFERENCES dbo.orders (id) ON DELETE CASCADE,
    line_no INT NOT NULL,
    product_id NVARCHAR(64) NOT NULL REFERENCES dbo.products (id),
    quantity INT NOT NULL CHECK (quantity > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    CONSTRAINT order_lines_pk PRIMARY KEY (order_id, line_no)
)
