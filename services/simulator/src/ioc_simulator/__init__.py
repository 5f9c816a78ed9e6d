"""Simulator: a province's departments pushing realistic telemetry through the ingest API, so a
newcomer sees a live dashboard and alerts within a minute of ``ioc dev``."""
