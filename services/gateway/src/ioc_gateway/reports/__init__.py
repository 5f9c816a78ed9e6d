"""Monthly and quarterly province reports for the province's leaders: per pillar, each
indicator's value, target, the value the plan expected for the period and its status, the
districts' table and the lagging and missing units — as XLSX, CSV (UTF-8 with a BOM) or a
printable HTML page, Vietnamese by default, English on request.

``build`` gathers the figures from the metrics and alerts services and judges them with the
dashboard's own rule (:func:`ioc_gateway.status.status_of`, which is
:func:`ioc_common.catalogue.targets.judge`); ``xlsx``, ``csvfile`` and ``page`` only lay them
out. Every text cell of a spreadsheet goes through :func:`cells.neutralise` first."""
