#!/usr/bin/env bash
# Install the OS packages Errand needs (as root), or say in one line what to install.
# Usage: scripts/os-deps.sh [serve|test]
set -euo pipefail
purpose=${1:-serve}

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd bwrap || need+=(bubblewrap)
have_cmd unshare && have_cmd nsenter && have_cmd prlimit || need+=(util-linux)
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || need+=(libseccomp2)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
have_cmd git || need+=(git)
# The browser tool drives the system Chromium inside the sandbox (Errand never downloads one).
# The headless shell is what the browser tool runs (quicker to start, lighter); the full
# browser is kept for the phone app's own browser tests and as the tool's fallback.
have_cmd chromium || need+=(chromium)
have_cmd chromium-headless-shell || need+=(chromium-headless-shell)
have_pkg fonts-dejavu-core || need+=(fonts-dejavu-core)
if [ "$purpose" = test ]; then
  have_cmd ip || need+=(iproute2)
  have_cmd curl || need+=(curl)
  have_cmd node || need+=(nodejs)
  have_cmd npm || need+=(npm)
  # The store's tests start a throwaway PostgreSQL server of their own (tests/pg.py).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if ! have_cmd apt-get; then
  echo "errand: please install these with your package manager: ${need[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "errand: missing OS packages; run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "errand: installing OS packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
