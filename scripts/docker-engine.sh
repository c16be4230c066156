#!/usr/bin/env bash
# Make sure a Docker engine answers. Installs Debian's docker.io when it is missing and we are
# root on Debian/Ubuntu, starts dockerd when nothing runs it, and otherwise says what to run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_answers() { docker info >/dev/null 2>&1; }

ensure_docker_engine() {
  engine_answers && return 0
  if ! command -v dockerd >/dev/null 2>&1; then
    is_root && is_debian_like ||
      die "no Docker engine. Install one (Debian: 'sudo apt-get install docker.io') and start it."
    apt_install docker.io
  fi
  engine_answers && return 0
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    is_root || die "the Docker engine is not running: run 'sudo systemctl start docker'."
    say "Starting docker.service"
    systemctl start docker
  else
    is_root || die "the Docker engine is not running: start 'dockerd' as root."
    local log=/var/log/dockerd.log
    say "Starting dockerd in the background (log: $log)"
    nohup dockerd >"$log" 2>&1 &
  fi
  local waited=0
  until engine_answers; do
    [ "$waited" -lt 60 ] || die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
    sleep 1
    waited=$((waited + 1))
  done
  say "Docker engine is up ($(docker version --format '{{.Server.Version}}'))"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_docker_engine
fi
