"""Metrics service: exact per-unit aggregation of telemetry into PostgreSQL, exactly once."""
