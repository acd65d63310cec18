CREATE TABLE dbo.products (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    sku NVARCHAR(64) NULL, name NVARCHAR(200) NULL, category NVARCHAR(100) NULL,
    price_cents BIGINT NULL CHECK (price_cents >= 0),
    stock BIGINT NULL CHECK (stock >= 0),
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    deleted BIT NOT NULL DEFAULT 0,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL,
    CONSTRAINT products_live_complete CHECK (deleted = 1 OR (name IS NOT NULL AND price_cents IS NOT NULL))
)
