#!/usr/bin/env bash
# System tools that some tests need (Debian packages). As root: install what is missing.
# Otherwise: say exactly what to install; those tests skip locally and fail in CI (CI=true).
set -u
declare -A PACKAGE=([promtool]=prometheus [prometheus]=prometheus [amtool]=prometheus-alertmanager
  [prometheus-alertmanager]=prometheus-alertmanager [pdftoppm]=poppler-utils [pdftotext]=poppler-utils [pdfimages]=poppler-utils)
need=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || need+=("${PACKAGE[$tool]}")
done
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || { echo "ensure-tools: 'apt-get install ${need[*]}' failed" >&2; exit 1; }
  # the packages may start their own Prometheus (:9090) and Alertmanager (:9093); the tests start
  # theirs on free ports
  if command -v service >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1
    service prometheus-alertmanager stop >/dev/null 2>&1
  fi
  exit 0
fi
echo "ensure-tools: missing system tools; install them with: sudo apt-get install ${need[*]}" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
