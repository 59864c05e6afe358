# Sourced by scripts/demo and scripts/test: installs a cell's pinned environment into its venv once.
# Everything comes from the cell's lock in requirements/ (exact versions with hashes), so an install
# today and one in a month resolve the same. The default cell is the newest Airflow on the default
# Python: requirements/test.txt into .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/matrix-cells.sh"
VENV="$ROOT/$(cell_venv "${CELLS[0]}")"
# One version of uv everywhere: the one the locks pin (the release test runs it from the venv).
UV_VERSION="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$ROOT/requirements/test.txt")"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# The interpreter for Python X.Y: $PYTHON for the default cell, else pythonX.Y from pyenv or PATH.
find_python() {
  local version="$1" candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
    [[ -x "$candidate" ]] && { echo "$candidate"; return; }
  done
  if command -v "python$version" >/dev/null && "python$version" -c '' 2>/dev/null; then
    command -v "python$version"; return
  fi
  echo "no Python $version interpreter found (looked in pyenv's versions and on PATH)" >&2
  return 1
}

# ensure_uv: the pinned uv in the host Python (scripts/test calls it before installing cells in
# parallel, so that they never install it at the same time).
ensure_uv() {
  local host="${PYTHON:-python3}"
  if ! "$host" -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
    "$host" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" || return 1
  fi
}

# bootstrap [cell]: the cell's venv, installed from its lock unless its stamp says it already is.
bootstrap() {
  local cell="${1:-${CELLS[0]}}"
  local venv="$ROOT/$(cell_venv "$cell")" lock="$ROOT/$(cell_lock "$cell")"
  local stamp="$venv/.requirements.sha256" want
  want="$(cat "$lock" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  local host="${PYTHON:-python3}" py
  if [[ "$cell" == "${CELLS[0]}" ]]; then py="$host"; else py="$(find_python "$(cell_python "$cell")")" || return 1; fi
  # Each step checked: scripts/test calls this in a condition, where `set -e` does not apply, and
  # a stamp written after a failed install would hide the failure from every later run.
  ensure_uv || return 1
  rm -f "$stamp"
  "$host" -m uv venv --quiet --allow-existing --python "$py" "$venv" || return 1
  "$host" -m uv pip install --quiet --python "$venv/bin/python" --require-hashes --compile-bytecode -r "$lock" || return 1
  "$host" -m uv pip install --quiet --python "$venv/bin/python" --no-deps -e "$ROOT" || return 1
  echo "$want" > "$stamp"
}
