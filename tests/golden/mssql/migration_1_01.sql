CREATE INDEX users_email ON dbo.users (email)
