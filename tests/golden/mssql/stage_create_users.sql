IF OBJECT_ID(N'tempdb..#stage_users') IS NULL CREATE TABLE #stage_users (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    email NVARCHAR(320),
    name NVARCHAR(200),
    is_admin BIT,
    password_hash NVARCHAR(512),
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL,
    deleted BIT NOT NULL,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL
)
