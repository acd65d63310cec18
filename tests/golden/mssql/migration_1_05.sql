CREATE TABLE dbo.orders (
    id NVARCHAR(64) NOT NULL PRIMARY KEY,
    user_id NVARCHAR(64) NULL REFERENCES dbo.users (id),
    status NVARCHAR(16) NULL CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
    total_cents BIGINT NULL CHECK (total_cents >= 0),
    state NVARCHAR(MAX) NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    deleted BIT NOT NULL DEFAULT 0,
    changed_at DATETIME2(3) NOT NULL,
    persisted_at DATETIME2(3) NOT NULL,
    CONSTRAINT orders_live_complete CHECK (deleted = 1 OR (user_id IS NOT NULL AND status IS NOT NULL))
)
