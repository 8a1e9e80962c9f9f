#!/usr/bin/env bash
# Entry point for snnc's bench harness: makes sure the NengoDL venv exists
# (bench/nengo/setup.sh, output to stderr), then runs peer.py in it with the
# given arguments. JSON lines go to stdout, progress to stderr.
#   bash bench/nengo/peer.sh predict --spec seed --params P.npz ...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/../.." && pwd)/target/nengo-venv"
bash "$here/setup.sh" >&2
exec "$venv/bin/python" "$here/peer.py" "$@"
