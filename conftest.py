"""Makes the real-infrastructure fixtures (Kafka, PostgreSQL) available to every test folder."""

import os

# Tests build services with only the secrets a test is about; outside ``ioc dev`` and the test
# suite a missing or example secret stops start-up (tests of that rule pass
# ``environment="production"`` explicitly).
os.environ.setdefault("IOC_ENV", "dev")

pytest_plugins = ["ioc_common.infra.pytest_plugin"]
