#!/usr/bin/env bash
# promtool (for `promtool check rules` / `test rules` in the test suite) from Debian's prometheus
# package, without installing the server: the .deb is unpacked and only promtool is kept, so no
# Prometheus service is set up or started. Needs root (or write access to /usr/local/bin).
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }
dpkg-deb -x prometheus_*.deb unpacked
install -m 0755 unpacked/usr/bin/promtool /usr/local/bin/promtool
promtool --version | head -1
