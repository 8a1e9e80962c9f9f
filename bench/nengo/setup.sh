#!/usr/bin/env bash
# Creates (idempotently) the NengoDL peer-benchmark venv at <repo>/target/nengo-venv.
#
# Pins (see README.md):
#   nengo-dl 3.6.0   - declares "Compatible with Nengo 3.0 - 3.2, TensorFlow 2.3 - 2.11"
#   nengo 3.2.0      - newest nengo that nengo-dl 3.6 supports
#   tensorflow-cpu 2.12.* - first TF with Python 3.11 wheels; works with nengo-dl 3.6
#   numpy <2 (TF 2.12 is built against numpy 1.x), protobuf/keras come with TF.
# nengo-dl's setup.py hard-requires the "tensorflow" distribution when it is built as a
# wheel (it cannot see tensorflow-cpu), so nengo-dl is installed with --no-deps and its
# other requirements are listed here explicitly.
#
# Usage: bash bench/nengo/setup.sh [--force]   (works from any cwd)
# Env:   PYTHON=python3.11 to choose the interpreter.
set -euo pipefail

die() { echo "bench/nengo/setup.sh: ERROR: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/nengo-venv"
stamp="$venv/.snnc-nengo-setup-v1"

TF_SPEC="tensorflow-cpu==2.12.*"
PKGS=(
  "numpy>=1.22,<1.24"   # TF 2.12 requires numpy<1.24
  "$TF_SPEC"
  "nengo==3.2.0"
  "jinja2>=2.10.1"
  "packaging>=20.0"
  "progressbar2>=3.39.0"
)
NENGO_DL_SPEC="nengo-dl==3.6.0"

if [[ "${1:-}" == "--force" ]]; then rm -f "$stamp"; fi

py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then py="$c"; break; fi
  done
fi
[[ -n "$py" ]] || die "no python3 interpreter found (set PYTHON=...)"
pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  || die "cannot run $py"
case "$pyver" in
  3.8|3.9|3.10|3.11) ;;
  *) die "$py is Python $pyver; tensorflow-cpu 2.12 needs Python 3.8-3.11 (set PYTHON=python3.11)";;
esac

check() {
  "$venv/bin/python" - <<'PY'
import warnings
warnings.filterwarnings("ignore")
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy, tensorflow as tf, nengo, nengo_dl
print("python", __import__("sys").version.split()[0])
print("numpy", numpy.__version__)
print("tensorflow", tf.__version__)
print("nengo", nengo.__version__)
print("nengo_dl", nengo_dl.__version__)
PY
}

if [[ -f "$stamp" && -x "$venv/bin/python" ]]; then
  if out="$(check 2>/dev/null)"; then
    echo "nengo venv already set up at $venv:"
    echo "$out"
    exit 0
  fi
  echo "existing venv at $venv is broken; reinstalling" >&2
  rm -f "$stamp"
fi

mkdir -p "$root/target"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv $venv with $py (Python $pyver)"
  "$py" -m venv "$venv" || die "python -m venv failed"
fi
vpip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${vpip[@]}" install -q --upgrade "pip<25" "setuptools<70" wheel \
  || die "upgrading pip/setuptools in the venv failed (is PyPI reachable?)"
echo "installing: ${PKGS[*]}"
"${vpip[@]}" install -q "${PKGS[@]}" || die "pip install of ${PKGS[*]} failed"
echo "installing: $NENGO_DL_SPEC (--no-deps; deps installed above)"
"${vpip[@]}" install -q --no-deps "$NENGO_DL_SPEC" || die "pip install $NENGO_DL_SPEC failed"

out="$(check)" || die "installed packages do not import cleanly (see errors above)"
touch "$stamp"
echo "nengo venv ready at $venv:"
echo "$out"
