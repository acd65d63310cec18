CREATE TABLE dbo.deferred_orders (
    id NVARCHAR(64) NOT NULL PRIMARY KEY, version BIGINT NOT NULL, event NVARCHAR(MAX) NOT NULL,
    changed_at DATETIME2(3) NOT NULL, deferred_at DATETIME2(3) NOT NULL
)
