# Sourced by scripts/compile-locks, scripts/bootstrap.sh and scripts/test: the tested matrix, one
# line per cell. The first cell is the newest Airflow on the default Python: it runs the whole
# suite plus ruff and mypy, in .venv, alone. The others follow in this order (with CELL_LANES=2,
# two at a time: the longest first, af32-py311, whose Airflow 3.2 dag.test() spends some 2 s per
# task it runs setting up its in-process execution API, so that the two shorter ones share a lane).
#
# Airflow 3.1 is not a cell: the provider does not import there (3.1's airflow.sdk.exceptions has
# no AirflowFailException), so pyproject's floor is 3.2; see the README's "Testing".
#
# cell        airflow  python  resolved-as-of (empty: as today)  tests
MATRIX="
af33-py311    3.3      3.11    -                     all
af32-py311    3.2      3.11    2026-06-05T00:00:00Z  compat
af33-py310    3.3      3.10    -                     all
af33-py313    3.3      3.13    -                     all
"
# What an older Airflow minor runs: everything but the emulator's own tests (they do not touch
# Airflow): the utils, hook, operator, sensor and trigger tests, the deployment e2e and the release.
COMPAT_TESTS=(tests --ignore=tests/emulator)
# Cells after the first leave out the PostgreSQL + CeleryExecutor deployment (the same tests on a
# second engine, some 3 minutes each): it runs on the newest cell, the others run the e2e on SQLite.
# They also leave out the two load e2e tests (a burst of uploads and a batch of 1,000 documents,
# each with its triggerer killed, some 3-6 minutes each): the deployment e2e, the event-driven
# upload e2e and the trigger tests cover those paths there, the newest cell runs the load. And the
# RocketMQ deployment e2e (a deployment of its own with two triggerers, some 2 minutes): the trigger
# and operator tests cover RocketMQ there. And the docs' tests (they run the docs' samples and
# check the docs' tables against the code): the docs are one text whatever the cell, built and
# checked once, as ruff and mypy run once. And the release's tests (build the sdist and the
# pure-Python wheel, check them, install the wheel alone and run a DAG from it; about a minute): one
# build, checked once; the deployment e2e runs the same DAGs on every cell's Airflow and Python.
OTHER_CELLS_DESELECT=(--ignore=tests/docs --ignore=tests/release -k "not postgres and not burst_with_the_triggerer_killed and not batch_of_1000 and not rocketmq_deployment")

read -r -a CELLS <<< "$(awk 'NF { printf "%s ", $1 }' <<< "$MATRIX")"

_cell_field() { awk -v c="$1" -v f="$2" '$1 == c { print $f }' <<< "$MATRIX"; }
cell_airflow() { _cell_field "$1" 2; }
cell_python() { _cell_field "$1" 3; }
cell_cutoff() { local v; v="$(_cell_field "$1" 4)"; [[ "$v" == - ]] || echo "$v"; }
cell_tests() { _cell_field "$1" 5; }
# The newest cell keeps the historical names (requirements/test.txt, .venv).
cell_lock() { if [[ "$1" == "${CELLS[0]}" ]]; then echo requirements/test.txt; else echo "requirements/$1.txt"; fi; }
cell_venv() { if [[ "$1" == "${CELLS[0]}" ]]; then echo .venv; else echo ".venv-$1"; fi; }
