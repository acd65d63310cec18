"""The operator dashboard (``GET /dashboard``): a page from local files and the JSON it polls.

The page is static (HTML, CSS, plain JavaScript drawing on canvas: no CDN, no charting
library); what it shows comes from ``GET /dashboard/data``, behind the admin session or
the operator token: the grid's members and every process registered in the grid
(:mod:`grid_config.processes`) with its figures.
"""
