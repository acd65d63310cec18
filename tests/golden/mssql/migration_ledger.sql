IF OBJECT_ID(N'dbo.schema_migrations', N'U') IS NULL CREATE TABLE dbo.schema_migrations (version INT NOT NULL PRIMARY KEY, description NVARCHAR(200) NOT NULL, applied_at DATETIME2(3) NOT NULL)
