# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Source it; do not run it.
#
# Environment (all optional):
#   MATCHBOT_VENV          virtualenv with the pinned tools      (default: <repo>/.venv)
#   MATCHBOT_DEBIAN_MIRROR Debian mirror for the lab base image  (default: from host apt sources)
#   MATCHBOT_IMAGE_REPO    repository name of the lab base image (default: matchbot-lab/debian12)

set -euo pipefail

MATCHBOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MATCHBOT_VENV="${MATCHBOT_VENV:-$MATCHBOT_ROOT/.venv}"
MATCHBOT_IMAGE_REPO="${MATCHBOT_IMAGE_REPO:-matchbot-lab/debian12}"
export MATCHBOT_ROOT MATCHBOT_VENV MATCHBOT_IMAGE_REPO

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

is_debian_like() {
  [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release
}

apt_install() {
  # Install Debian packages that are missing; needs root on Debian/Ubuntu.
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! is_root || ! is_debian_like; then
    die "missing packages: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and run again."
  fi
  say "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_promtool() {
  # promtool (Prometheus's rule checker) on the controller, taken from Debian's prometheus
  # package without installing it (its postinst would start a Prometheus here). Exports
  # MATCHBOT_PROMTOOL for tests/test_alert_rules.py.
  local dir="$MATCHBOT_ROOT/.cache/promtool"
  if [ ! -x "$dir/usr/bin/promtool" ]; then
    say "Extracting promtool from Debian's prometheus package into $dir"
    rm -rf "$dir" && mkdir -p "$dir/deb"
    (cd "$dir/deb" && apt-get download -qq prometheus 2>/dev/null) || {
      apt-get update -qq
      (cd "$dir/deb" && apt-get download -qq prometheus)
    }
    dpkg-deb -x "$dir"/deb/prometheus_*.deb "$dir"
    rm -rf "$dir/deb"
  fi
  export MATCHBOT_PROMTOOL="$dir/usr/bin/promtool"
}

ensure_venv() {
  # Create the virtualenv with the pinned tools and the app once; refresh when the pins change.
  local stamp="$MATCHBOT_VENV/.matchbot-pins"
  local pins
  pins="$(cat "$MATCHBOT_ROOT/pyproject.toml" "$MATCHBOT_ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)"
  if [ ! -x "$MATCHBOT_VENV/bin/python" ]; then
    say "Creating virtualenv $MATCHBOT_VENV"
    python3 -m venv "$MATCHBOT_VENV" || {
      apt_install python3-venv
      python3 -m venv "$MATCHBOT_VENV"
    }
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$pins" ]; then
    say "Installing pinned tools and the app into $MATCHBOT_VENV"
    local log="$MATCHBOT_VENV/pip-install.log"
    "$MATCHBOT_VENV/bin/pip" install -c "$MATCHBOT_ROOT/requirements/constraints.txt" \
      -e "$MATCHBOT_ROOT[dev]" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "pip install failed; see $log"; }
    echo "$pins" >"$stamp"
  fi
  export PATH="$MATCHBOT_VENV/bin:$PATH"
  export ANSIBLE_CONFIG="$MATCHBOT_ROOT/ansible.cfg"
}
