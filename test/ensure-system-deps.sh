#!/usr/bin/env bash
# The test suite needs two programs from Debian: redis-server (clustering tests) and
# chromium (browser tests). Install what is missing; if that is impossible, fail loudly:
# those tests must never be skipped.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "test setup: installing ${missing[*]} (Debian packages)" >&2
if ! command -v apt-get >/dev/null; then
  echo "test setup: ${missing[*]} missing and no apt-get here; install them and rerun" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
for program in "${missing[@]}"; do
  command -v "$program" >/dev/null || { echo "test setup: $program still missing" >&2; exit 1; }
done
