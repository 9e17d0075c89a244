#!/usr/bin/env bash
# The test suite needs five programs from Debian: redis-server (clustering tests),
# chromium (browser tests), nginx (package nginx-light), caddy and openssl (the doctor's tests).
# Install what is missing; if that is impossible, fail loudly: those tests must never be
# skipped.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || missing+=(chromium)
# nginx lives in /usr/sbin, which a user's PATH may lack.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx-light)
command -v caddy >/dev/null || missing+=(caddy)
command -v openssl >/dev/null || missing+=(openssl)
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
for package in "${missing[@]}"; do
  program="$package"
  [ "$package" = nginx-light ] && program=/usr/sbin/nginx
  command -v "$program" >/dev/null || { echo "test setup: $package still missing" >&2; exit 1; }
done
