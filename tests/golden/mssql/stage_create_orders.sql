IF OBJECT_ID(N'tempdb..#stage_orders') IS NULL CREATE TABLE #stage_orders (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id NVARCHAR(64),
    status NVARCHAR(16),
    total_cents BIGINT,
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL,
    deleted BIT NOT NULL,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL
)
