# Sourced by scripts/demo and scripts/test: installs the pinned environment into .venv once.
# Everything comes from requirements/test.txt (exact versions with hashes), so an install today
# and one in a month resolve the same.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
UV_VERSION="0.13.8"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

bootstrap() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(cat "$ROOT/requirements/test.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  local py="${PYTHON:-python3}"
  if ! "$py" -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
    "$py" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  "$py" -m uv venv --quiet --allow-existing --python "$py" "$VENV"
  "$py" -m uv pip install --quiet --python "$VENV/bin/python" --require-hashes -r "$ROOT/requirements/test.txt"
  "$py" -m uv pip install --quiet --python "$VENV/bin/python" --no-deps -e "$ROOT"
  echo "$want" > "$stamp"
}
