#!/usr/bin/env bash
# Install (if missing) and start (if not running) the Docker engine, plus debootstrap for the
# offline image build. Idempotent; run as root. Works without systemd.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup_engine: need root to install ${need[*]} (try: sudo bash $0)" >&2
    exit 1
  fi
  echo "setup_engine: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "setup_engine: docker engine already running"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup_engine: the docker engine is not running and starting it needs root" >&2
  exit 1
fi
if ! pgrep -x dockerd >/dev/null; then
  echo "setup_engine: starting dockerd (log: /var/log/dockerd.log)"
  # The daemon must not inherit the caller's other descriptors: under `flock LOCK cmd` it would
  # hold the lock for as long as it runs.
  (for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done
   exec setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null) &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "setup_engine: docker engine running"
    exit 0
  fi
  sleep 1
done
echo "setup_engine: dockerd did not come up within 60 s; see /var/log/dockerd.log" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
