#!/usr/bin/env bash
# What the test suite needs besides Python packages: Java 17 and Maven (to fetch and run the real
# Apache Kafka broker), Debian's Chromium (the dashboard's browser test drives it through
# Playwright; `playwright install` is never used), promtool from Debian's prometheus package
# (the platform rules' unit tests) and kube-score built through the Go module proxy (the
# manifests' check). Installs them when missing and we may; then fetches the jars.
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

if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing promtool (Debian's prometheus package; no server is started)"
    # Only promtool is wanted: policy-rc.d keeps the package from starting a Prometheus on
    # :9090, and --no-install-recommends skips the node exporter (:9100).
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      own_policy=1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus >/dev/null
    [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  else
    echo "missing: promtool — install it (e.g. sudo apt-get install prometheus) and retry" >&2
    exit 1
  fi
fi

KUBE_SCORE_VERSION=v1.20.0
tools="${HOME}/.cache/ioc-platform/bin"
if ! "$tools/kube-score" version >/dev/null 2>&1; then
  command -v go >/dev/null || { echo "missing: go (to build kube-score $KUBE_SCORE_VERSION)" >&2; exit 1; }
  echo "==> kube-score $KUBE_SCORE_VERSION (Go module proxy, into $tools)"
  mkdir -p "$tools"
  GOBIN="$tools" go install "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
fi

echo "==> Apache Kafka jars (Maven Central, cached in ~/.cache/ioc-platform)"
.venv/bin/python -c "from ioc_common.infra.kafka_local import kafka_libs, kafka_tools_jar; print('    ', kafka_libs()); print('    ', kafka_tools_jar())"
