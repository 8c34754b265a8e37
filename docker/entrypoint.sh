#!/usr/bin/env bash
set -e
. /opt/ros/jazzy/setup.bash
. /dexpie_ws/install/setup.bash
exec "$@"
