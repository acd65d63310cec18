EXEC sp_getapplock @Resource = N'spacegrid-migrations', @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 60000
