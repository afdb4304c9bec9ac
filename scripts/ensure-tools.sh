#!/usr/bin/env bash
# System tools that some tests need (Debian packages; chromium: the web pages' browser tests, driven
# by Playwright pointed at this browser — Playwright's own browser download is never used). As root: install what is missing.
# Otherwise: say exactly what to install; those tests skip locally and fail in CI (CI=true).
# (mosquitto: the real MQTT broker of the source tests.) Then the second OPC-UA stack of tests/integration/test_second_stack.py: node-opcua, pinned by
# tests/second_stack/package-lock.json, installed with `npm ci` when missing or out of date.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
declare -A PACKAGE=([promtool]=prometheus [prometheus]=prometheus [amtool]=prometheus-alertmanager
  [prometheus-alertmanager]=prometheus-alertmanager [pdftoppm]=poppler-utils [pdftotext]=poppler-utils
  [pdfimages]=poppler-utils [node]=nodejs [npm]=npm [chromium]=chromium [mosquitto]=mosquitto)
need=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || need+=("${PACKAGE[$tool]}")
done
# the PostgreSQL server is not on PATH on Debian: /usr/lib/postgresql/<major>/bin/initdb
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
status=0
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || { echo "ensure-tools: 'apt-get install ${need[*]}' failed" >&2; exit 1; }
    # the packages may start their own Prometheus (:9090), Alertmanager (:9093) and PostgreSQL
    # (:5432); the tests start theirs on free ports (throw-away clusters)
    if command -v service >/dev/null 2>&1; then
      service prometheus stop >/dev/null 2>&1
      service prometheus-alertmanager stop >/dev/null 2>&1
      service postgresql stop >/dev/null 2>&1
    fi
  else
    echo "ensure-tools: missing system tools; install them with: sudo apt-get install ${need[*]}" >&2
    [ "${CI:-}" = "true" ] && status=1
  fi
fi

# npm ci leaves node_modules/.package-lock.json: reinstall when the committed lock is newer, or when
# the installed node-opcua-server is not the version package.json asks for (a branch switched back)
stack="$root/tests/second_stack"
version_of() { sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1" 2>/dev/null | head -1; }
wanted=$(sed -n 's/^ *"node-opcua-server": *"\([^"]*\)".*/\1/p' "$stack/package.json")
installed=$(version_of "$stack/node_modules/node-opcua-server/package.json")
if [ ! -f "$stack/node_modules/.package-lock.json" ] || [ "$stack/package-lock.json" -nt "$stack/node_modules/.package-lock.json" ] \
   || [ "$installed" != "$wanted" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "ensure-tools: installing node-opcua for the second-stack test (npm ci in tests/second_stack)"
    npm ci --prefix "$stack" --no-audit --no-fund --loglevel=error >/dev/null \
      || { echo "ensure-tools: 'npm ci --prefix $stack' failed" >&2; status=1; }
  else
    echo "ensure-tools: npm not found; the second-stack test needs node and npm (apt-get install nodejs npm)" >&2
    [ "${CI:-}" = "true" ] && status=1
  fi
fi

# The independent peers of the source tests (tests/sources/): npm modbus-serial and Eclipse Tahu
# sparkplug-client, pinned by tests/peers/package-lock.json, installed the same way
peers="$root/tests/peers"
if [ ! -f "$peers/node_modules/.package-lock.json" ] || [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "ensure-tools: installing the source tests' peers (npm ci in tests/peers)"
    npm ci --prefix "$peers" --no-audit --no-fund --loglevel=error >/dev/null \
      || { echo "ensure-tools: 'npm ci --prefix $peers' failed" >&2; status=1; }
  else
    echo "ensure-tools: npm not found; the source tests need node and npm (apt-get install nodejs npm)" >&2
    [ "${CI:-}" = "true" ] && status=1
  fi
fi
exit $status
