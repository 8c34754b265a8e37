"""Every topic and service name of the DexPIE graph, in one place.

Nodes, tests and the episode format import the names from here; no other module of
src/*/<package>/ spells one of them out (test_topics.py scans for that). Names are
absolute, so a `-r old:=new` remapping on a node's command line (or in
`NodeLaunch.remappings`) renames them as before.

The episode bag stores topic names too: those are a stored format (old bags must keep
reading), listed under "episode bags" below. Most are the live name the recorder
subscribes to; where the bag's name differs from the live one, both stand side by side.

Pure: no rclpy, no message packages.
"""

from __future__ import annotations

# ---- the live graph: topics --------------------------------------------------------------
JOINT_STATES = "/joint_states"                      # measured hand (+ arm) joint states
HAND_COMMAND = "/hand/command"                      # arbiter -> hand_controller, one per control tick
HAND_CONTROLLER_COMMANDS = "/hand_position_controller/commands"  # hand_controller -> ros2_control / twin
HAND_CONTROLLER_ESTOP = "/hand_controller/estop"    # std_msgs/Bool: true latches the emergency stop
HAND_CONTROLLER_HOLDING = "/hand_controller/holding"  # latched: the controller holds (e-stop, stale input)
POLICY_COMMAND = "/policy/command"
POLICY_ACTION_CHUNK = "/policy/action_chunk"
INTERVENTION_STATE = "/intervention/state"          # arbiter's per-tick state (who commands, edges)
INTERVENTION_MARKERS = "/intervention/markers"
EPISODE_EVENTS = "/episode/events"
GLOVE_JOINT_STATES = "/teleop/glove/joint_states"   # operator's glove, retargeted to hand joints
SPACENAV_TWIST = "/spacenav/twist"                  # operator's 3D mouse (arm motion)
SPACENAV_JOY = "/spacenav/joy"                      # its buttons (takeover / handback)
SIM_OBJECT_STATE = "/sim/object_state"              # twin only; recorded as BAG_OBJECT_STATE
SIM_TASK_STATUS = "/sim/task_status"                # twin only: JSON {stage, success, ...}
SIM_SCENE_MARKERS = "/sim/scene_markers"
CLOCK = "/clock"                                    # twin in lockstep: simulated time (use_sim_time)


def camera_topic(camera_name: str) -> str:
    """The image topic of a camera (live and in episode bags alike)."""
    return f"/camera/{camera_name}/image_raw"


# ---- the live graph: services ------------------------------------------------------------
EPISODE_START_SERVICE = "/episode/start"
EPISODE_END_SERVICE = "/episode/end"
SIM_RESET_TO_STAGE_SERVICE = "/sim/reset_to_stage"
HAND_CONTROLLER_ESTOP_SERVICE = "/hand_controller/estop"   # same name as the estop topic, by design
HAND_CONTROLLER_RESET_ESTOP_SERVICE = "/hand_controller/reset_estop"
# The arbiter's reset service is private ("~/reset_estop"), so it follows the node's name:
# /intervention_arbiter/reset_estop under the default name.
INTERVENTION_ARBITER_RESET_ESTOP_SERVICE = "~/reset_estop"

# ---- episode bags (a stored format: changing one of these breaks reading old bags) ---------
# The recorder subscribes to the live topic on the left and writes the bag topic on the right.
BAG_JOINT_STATES = JOINT_STATES
BAG_HAND_COMMAND = HAND_COMMAND          # one message per control tick: defines the ticks
BAG_POLICY_COMMAND = POLICY_COMMAND
BAG_INTERVENTION_STATE = INTERVENTION_STATE
BAG_ACTION_CHUNK = POLICY_ACTION_CHUNK
BAG_EPISODE_EVENTS = EPISODE_EVENTS
# Object state differs. Live: the twin publishes it on SIM_OBJECT_STATE ("sim": a robot has no
# such topic). Bags: "/object/state", the name the episode format gave the stream before the live
# graph existed (bags written in-process by the twin); the recorder writes SIM_OBJECT_STATE's
# messages under it, so that old and new bags read the same way.
BAG_OBJECT_STATE = "/object/state"
# Cameras: camera_topic(name) in both.
