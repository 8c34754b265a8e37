#!/usr/bin/env bash
# The main job of the README: set up (fast when already set up), then run the DexPIE loop on
# its embedded defaults in the MuJoCo twin. Extra arguments go to `dexpie-experiment`
# (`bash scripts/run.sh --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "${DEXPIE_VENV:-$ROOT/.venv}/bin/dexpie-experiment" "$@"
