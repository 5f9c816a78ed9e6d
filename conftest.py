"""Makes the real-infrastructure fixtures (Kafka, PostgreSQL) available to every test folder."""

pytest_plugins = ["ioc_common.infra.pytest_plugin"]
