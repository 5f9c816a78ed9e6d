#!/usr/bin/env bash
# What the test suite needs besides Python packages: Java 17 and Maven (to fetch and run the real
# Apache Kafka broker) and Debian's Chromium (the dashboard's browser test drives it through
# Playwright; `playwright install` is never used). Installs them from Debian when missing and we
# may; then fetches the jars.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing ${need[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]} — install them (e.g. sudo apt-get install ${need[*]}) and retry" >&2
    exit 1
  fi
fi

echo "==> Apache Kafka jars (Maven Central, cached in ~/.cache/ioc-platform)"
.venv/bin/python -c "from ioc_common.infra.kafka_local import kafka_libs; print('    ', kafka_libs())"
