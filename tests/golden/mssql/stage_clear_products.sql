TRUNCATE TABLE #stage_products
