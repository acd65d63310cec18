TRUNCATE TABLE #stage_users
