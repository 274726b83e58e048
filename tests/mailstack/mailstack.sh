#!/bin/sh
# Start or stop the loopback mail stack of the integration tests by hand (as root).
#   tests/mailstack/mailstack.sh start        prints the root directory (ports, CA on stderr)
#   tests/mailstack/mailstack.sh stop ROOT
# Ports follow MAILSTACK_IMAP_PORT, MAILSTACK_SMTP_PORT, ... as in the tests.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY="$HERE/../../.venv/bin/python"
[ -x "$PY" ] || PY=python3
exec "$PY" "$HERE/stack.py" "$@"
