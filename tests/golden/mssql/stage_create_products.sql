IF OBJECT_ID(N'tempdb..#stage_products') IS NULL CREATE TABLE #stage_products (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    sku NVARCHAR(64),
    name NVARCHAR(200),
    category NVARCHAR(100),
    price_cents BIGINT,
    stock BIGINT,
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL,
    deleted BIT NOT NULL,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL
)
