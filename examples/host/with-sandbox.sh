#!/bin/sh
# Runs a command against a fresh local sandbox, then stops the sandbox.
#
#   examples/host/with-sandbox.sh [--scenario SPEC] COMMAND [ARG...]
#
# The sandbox listens on 127.0.0.1 on a free port. The command gets
# ALLAWEE_BASE_URL (with /_scenario/SPEC appended when given) and, unless
# already set, a test ALLAWEE_SECRET_KEY. Exits with the command's status.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
scenario=""
if [ "${1:-}" = "--scenario" ]; then scenario=$2; shift 2; fi

out=$(mktemp)
lua5.4 "$root/bin/allawee-sandbox" --host 127.0.0.1 --port 0 >"$out" &
sandbox_pid=$!
# The first line (`allawee-sandbox <url> pid=<pid>`) says it is listening.
i=0
while ! grep -q '^allawee-sandbox ' "$out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url=$(sed -n 's/^allawee-sandbox \([^ ]*\) pid=.*/\1/p' "$out")
rm -f "$out"
if [ -z "$url" ]; then
  echo "with-sandbox: the sandbox did not start" >&2
  kill "$sandbox_pid" 2>/dev/null
  exit 2
fi

stop_sandbox() {
  kill "$sandbox_pid" 2>/dev/null
  wait "$sandbox_pid" 2>/dev/null
}
trap stop_sandbox EXIT INT TERM

ALLAWEE_BASE_URL=$url${scenario:+/_scenario/$scenario}
ALLAWEE_SECRET_KEY=${ALLAWEE_SECRET_KEY:-sk.test.example-host}
export ALLAWEE_BASE_URL ALLAWEE_SECRET_KEY
"$@"
status=$?
exit $status
