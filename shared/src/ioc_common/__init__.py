"""ioc_common — the one library every IOC service shares.

Event contracts (``events``, ``topics``), settings, JSON logging, Prometheus helpers, the error
hierarchy, Kafka and PostgreSQL helpers, reference data (administrative units, the indicator
catalogue, targets) and the local infrastructure used by tests and ``ioc dev``.
"""

__version__ = "0.1.0"
