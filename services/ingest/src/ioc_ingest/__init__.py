"""Ingest service: departments push telemetry over REST; it lands on Kafka, acknowledged."""
