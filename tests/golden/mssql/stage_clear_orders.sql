TRUNCATE TABLE #stage_orders
