CREATE TABLE dbo.users (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    email NVARCHAR(320) NULL, name NVARCHAR(200) NULL, is_admin BIT NULL, password_hash NVARCHAR(512) NULL,
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    deleted BIT NOT NULL DEFAULT 0,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL,
    CONSTRAINT users_live_has_email CHECK (deleted = 1 OR email IS NOT NULL)
)
