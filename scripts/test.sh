#!/usr/bin/env bash
# The test command of the README: set up (fast when already set up), then the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh src/dexpie_sim -k relocate`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export MUJOCO_GL="${MUJOCO_GL:-egl}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec "${DEXPIE_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
