"""Parameters of the episode_recorder node, declared once (pure: no rclpy)."""

from __future__ import annotations

from dexpie_common import topics
from dexpie_common.parameters import InRange, NonEmpty, OneOf, Parameter, ParameterSchema, Unique

NODE_NAME = "episode_recorder"

TICK_TOPICS = (topics.INTERVENTION_STATE, topics.JOINT_STATES)
COMMAND_TOPICS = (topics.HAND_COMMAND, topics.HAND_CONTROLLER_COMMANDS, topics.POLICY_COMMAND)
SOURCES = ("policy", "human")


def _output_dir_is_given(values) -> str | None:
    # A check, not a validator: a validator would also reject the (necessarily empty) default.
    if not values["output_dir"].strip():
        return f"parameter 'output_dir' = {values['output_dir']!r} rejected: is empty " \
               f"(required: the folder of the episode bags)"
    return None


def _camera_names_are_topic_segments(values) -> str | None:
    bad = [name for name in values["cameras"] if not name or "/" in name]
    if bad:
        return f"parameter 'cameras' = {values['cameras']!r} rejected: camera names {bad} must " \
               f"be non-empty and contain no '/' (topic /camera/<name>/image_raw)"
    return None


def _object_names_need_object_state(values) -> str | None:
    if values["object_names"] and not values["record_object_state"]:
        return f"parameter 'object_names' = {values['object_names']!r} rejected: " \
               f"record_object_state is false, so nothing would be recorded under these names"
    return None


EPISODE_RECORDER = ParameterSchema(NODE_NAME, (
    Parameter("output_dir", str, "", "folder of the episode bags, one bag per episode (required)"),
    Parameter("joint_names", list[str], [],
              "joint order of the recorded joint states and commands (TaskSpec.joint_names on the "
              "twin; also the order of /hand_position_controller/commands) (required)",
              (NonEmpty(), Unique())),
    Parameter("cameras", list[str], [],
              "cameras to record from /camera/<name>/image_raw; a tick waits for every one", (Unique(),)),
    Parameter("tick_topic", str, topics.INTERVENTION_STATE,
              "one message on this topic is one control tick: the arbiter's /intervention/state, "
              "or /joint_states when there is no arbiter", (OneOf(TICK_TOPICS),)),
    Parameter("command_topic", str, topics.HAND_COMMAND,
              "what each tick records as the command sent to the hand", (OneOf(COMMAND_TOPICS),)),
    Parameter("source_without_arbiter", str, "policy",
              "who commands the hand when tick_topic is /joint_states (no arbiter): 'human' records "
              "a demonstration (every tick an intervention), 'policy' a policy rollout",
              (OneOf(SOURCES),)),
    Parameter("record_object_state", bool, True,
              "record /sim/object_state (simulation only)"),
    Parameter("object_names", list[str], [],
              "object state entries to record, in this order; a tick waits until they have been "
              "received. Empty: whatever /sim/object_state carries when the episode starts, and "
              "nothing if it has not been received by then", (Unique(),)),
    Parameter("record_stage_events", bool, True,
              "store a STAGE event when the 'stage' of /sim/task_status changes during an episode"),
    Parameter("control_rate_hz", float, 30.0, "control tick rate (stored as the episode's control_dt)",
              (InRange(1.0, 1000.0),)),
    Parameter("max_episode_ticks", int, 36_000,
              "safety bound: ticks after this many are not recorded (20 min at 30 Hz)",
              (InRange(1, 10_000_000),)),
    Parameter("durable", bool, True,
              "fsync a finished bag before publishing it (survives power loss, not only a crash)"),
), checks=(_output_dir_is_given, _camera_names_are_topic_segments, _object_names_need_object_state))
