#!/usr/bin/env bash
# One setup step for both README commands: apt packages, the virtual environment with the
# pinned ROS 2 Jazzy wheels and learning stack, and the workspace built into it.
# Idempotent: each stage is skipped when the stamp of its inputs has not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DEXPIE_VENV:-$ROOT/.venv}"
PY="${DEXPIE_PYTHON:-python3}"
STAMPS="$VENV/.dexpie-stamps"
log() { printf '[setup] %s\n' "$*" >&2; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

# --- 1. system packages -------------------------------------------------------------
# iproute2: `ip netns` for the two-machine test (src/dexpie_bringup/test/test_two_hosts.py)
# chromium: the headless browser of the live-view test (dexpie_viewer, README "Live view").
APT_PACKAGES=(cmake g++ make libegl1 libegl-mesa0 libgl1-mesa-dri libglib2.0-0 iproute2 chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. virtual environment with pinned Python dependencies -------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
req_hash=$(hash_of "$ROOT"/requirements/*.txt)
if ! stamp_ok requirements "$req_hash"; then
  log "installing Python dependencies (first time: about a minute)"
  mkdir -p "$STAMPS"
  # pip's chatter goes to a log, shown only if the install fails.
  { "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel &&
    "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements/ros-wheels.txt" -r "$ROOT/requirements/python.txt" \
      -r "$ROOT/requirements/lerobot-test.txt" &&
    # lerobot (the LeRobotDataset export's test reads with it) without its torch<2.11 pin.
    "$VENV/bin/python" -m pip install -q --no-deps -r "$ROOT/requirements/lerobot-test-nodeps.txt"
  } >"$STAMPS/pip-requirements.log" 2>&1 || { cat "$STAMPS/pip-requirements.log" >&2; exit 1; }
  stamp_set requirements "$req_hash"
  rm -f "$STAMPS/cmake-fix" "$STAMPS/msgs" "$STAMPS/python-packages"
fi

# --- 3. the wheels' CMake exports name their build machine's include paths ----------
if ! stamp_ok cmake-fix "$req_hash"; then
  log "rewriting Python/numpy include paths in the wheels' CMake exports"
  "$VENV/bin/python" - "$VENV" <<'PYEOF'
import glob, sys, sysconfig, numpy
venv = sys.argv[1]
replacements = {
    "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
    "/opt/python/cp311-cp311/include/python3.11": sysconfig.get_paths()["include"],
}
for path in glob.glob(f"{venv}/share/*/cmake/*.cmake"):
    with open(path) as f:
        text = f.read()
    new = text
    for old, repl in replacements.items():
        new = new.replace(old, repl)
    if new != text:
        with open(path, "w") as f:
            f.write(new)
PYEOF
  stamp_set cmake-fix "$req_hash"
fi

# --- 4. dexpie_msgs (rosidl, all default typesupports) into the venv -----------------
msgs_hash=$(hash_of "$ROOT"/src/dexpie_msgs/CMakeLists.txt "$ROOT"/src/dexpie_msgs/package.xml \
  "$ROOT"/src/dexpie_msgs/msg/*.msg "$ROOT"/src/dexpie_msgs/srv/*.srv)
if ! stamp_ok msgs "$msgs_hash"; then
  log "building dexpie_msgs"
  build="$ROOT/build/dexpie_msgs"
  rm -rf "$build"; mkdir -p "$build"
  (
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
    cmake -S "$ROOT/src/dexpie_msgs" -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 \
      || { cat "$build/configure.log" >&2; exit 1; }
    cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }
    cmake --install "$build" >"$build/install.log" 2>&1 || { tail -20 "$build/install.log" >&2; exit 1; }
  )
  stamp_set msgs "$msgs_hash"
fi

# --- 5. the ament_python packages, editable, with their console scripts ----------------
PY_PACKAGES=(dexpie_common dexpie_episode dexpie_policy dexpie_teleop dexpie_control dexpie_learning dexpie_sim dexpie_experiment dexpie_bringup dexpie_viewer)
py_hash=$(hash_of $(for p in "${PY_PACKAGES[@]}"; do echo "$ROOT/src/$p/setup.py" "$ROOT/src/$p/package.xml"; done))
if ! stamp_ok python-packages "$py_hash"; then
  log "installing the workspace's Python packages (editable)"
  args=()
  for p in "${PY_PACKAGES[@]}"; do args+=(-e "$ROOT/src/$p"); done
  mkdir -p "$STAMPS"
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation "${args[@]}" \
    >"$STAMPS/pip-workspace.log" 2>&1 || { cat "$STAMPS/pip-workspace.log" >&2; exit 1; }
  # ament index markers and package.xml, as colcon would install them, so ament_index
  # (and `ros2 run` on a full install) finds the packages.
  for p in "${PY_PACKAGES[@]}"; do
    mkdir -p "$VENV/share/ament_index/resource_index/packages" "$VENV/share/$p"
    touch "$VENV/share/ament_index/resource_index/packages/$p"
    cp "$ROOT/src/$p/package.xml" "$VENV/share/$p/package.xml"
  done
  stamp_set python-packages "$py_hash"
fi
log "ready: $VENV"
