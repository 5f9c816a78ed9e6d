"""What the metrics and alerts services answer over HTTP: one pydantic model per response
body, served by the service (its ``response_model``), validated by the gateway's client
(``ioc_gateway.upstream``) and built by the gateway's stand-in (``ioc_gateway.testing``).

A field renamed here changes all three at once; the class names are the services' OpenAPI
schema names, so keep them."""
