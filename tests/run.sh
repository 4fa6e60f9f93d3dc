#!/usr/bin/env bash
# Runs statuswatch's tests on a fresh machine: makes the venv, installs the project with
# its test extras, makes sure a Redis answers on 127.0.0.1:6379, then runs pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh tests/unit -q`).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing statuswatch[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

if ! .venv/bin/python -c "import redis; redis.Redis(socket_connect_timeout=1).ping()" 2>/dev/null; then
  echo "== no Redis on 127.0.0.1:6379: starting one"
  if ! command -v redis-server >/dev/null; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do
    .venv/bin/python -c "import redis; redis.Redis(socket_connect_timeout=1).ping()" 2>/dev/null && break
    sleep 0.1
  done
fi

echo "== pytest"
exec .venv/bin/python -m pytest "$@"
