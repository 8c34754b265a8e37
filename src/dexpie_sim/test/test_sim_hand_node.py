"""sim_hand on real rclpy, in-process: ticks on /joint_states (+ object state, status,
images), commands applied or refused, the reset service."""
import json

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String

from dexpie_common import topics
from dexpie_common.messages import positions_by_name
from dexpie_common.parameters import ParameterError
from dexpie_common.testing import spin_until, wait_for_subscribers
from dexpie_msgs.srv import ResetToStage
from dexpie_sim.registry import task_spec
from dexpie_sim.sim_hand_node import SimHandNode

SPEC = task_spec("relocate")


def make_sim_hand(context, **overrides):
    values = {"task": "relocate", "rate_hz": 100.0, **overrides}
    return SimHandNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
                       automatically_declare_parameters_from_overrides=False)


def collect(probe, msg_type, topic):
    received = []
    probe.create_subscription(msg_type, topic, received.append, 50)
    return received


def test_ticks_publish_joint_states_object_state_status_and_images(ros):
    context, executor, add = ros
    add(make_sim_hand(context, cameras=["fixed"], image_size=16))
    probe = add(rclpy.create_node("probe", context=context))
    joints = collect(probe, JointState, topics.JOINT_STATES)
    objects = collect(probe, JointState, topics.SIM_OBJECT_STATE)
    statuses = collect(probe, String, topics.SIM_TASK_STATUS)
    images = collect(probe, Image, topics.camera_topic("fixed"))
    assert spin_until(executor, lambda: len(joints) >= 4 and len(statuses) >= 4 and images, timeout=10)
    msg = joints[-1]
    assert list(msg.name) == list(SPEC.joint_names) and len(msg.velocity) == len(msg.name)
    assert list(objects[-1].name) == list(SPEC.object_names)
    object_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in objects}
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) in object_stamps   # one stamp per tick
    status = [json.loads(s.data) for s in statuses]
    assert {"task", "stage", "seed", "tick", "success", "timed_out"} <= status[-1].keys()
    assert status[-1]["task"] == "relocate" and status[-1]["stage"] == "init" and not status[-1]["timed_out"]
    ticks = [s["tick"] for s in status]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    assert (images[-1].height, images[-1].width, images[-1].encoding) == (16, 16, "rgb8")


def test_a_command_moves_the_joint_and_bad_ones_are_refused(ros):
    context, executor, add = ros
    hand = add(make_sim_hand(context))
    probe = add(rclpy.create_node("probe", context=context))
    joints = collect(probe, JointState, topics.JOINT_STATES)
    commands = probe.create_publisher(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, 10)
    assert wait_for_subscribers(executor, commands) and spin_until(executor, lambda: joints, timeout=10)
    target = positions_by_name(joints[-1], SPEC.joint_names)
    start = target[1]
    target[1] = 0.15                                       # ARTy, the lift slide
    commands.publish(Float64MultiArray(data=target.tolist()))
    lift = lambda: positions_by_name(joints[-1], ["ARTy"])[0]   # noqa: E731
    assert spin_until(executor, lambda: abs(lift() - 0.15) < 0.5 * abs(start - 0.15), timeout=10)
    commands.publish(Float64MultiArray(data=[0.1, 0.2]))
    nan = target.copy()
    nan[3] = np.nan
    commands.publish(Float64MultiArray(data=nan.tolist()))
    assert spin_until(executor, lambda: hand.rejected_commands == 2, timeout=10)
    np.testing.assert_array_equal(hand.twin.task.target, target)


def call(executor, client, request):
    assert spin_until(executor, client.service_is_ready, timeout=10)
    future = client.call_async(request)
    assert spin_until(executor, future.done, timeout=20)
    return future.result()


def test_reset_to_stage(ros):
    context, executor, add = ros
    add(make_sim_hand(context))
    probe = add(rclpy.create_node("probe", context=context))
    statuses = collect(probe, String, topics.SIM_TASK_STATUS)
    client = probe.create_client(ResetToStage, topics.SIM_RESET_TO_STAGE_SERVICE)
    reply = call(executor, client, ResetToStage.Request(task="relocate", stage="pre_grasp", seed=2))
    assert reply.success and list(reply.joint_names) == list(SPEC.joint_names)
    assert len(reply.joint_positions) == len(SPEC.joint_names)
    assert spin_until(executor, lambda: statuses and json.loads(statuses[-1].data)["seed"] == 2, timeout=10)
    assert json.loads(statuses[-1].data)["start_stage"] == "pre_grasp"
    reply = call(executor, client, ResetToStage.Request(task="relocate", stage="airborne", seed=2))
    assert not reply.success
    assert "['init', 'pre_grasp', 'grasped', 'lifted']" in reply.message
    reply = call(executor, client, ResetToStage.Request(task="hammer", stage="init", seed=2))
    assert not reply.success and "relocate" in reply.message


def test_bad_parameters_stop_the_node_naming_them(ros):
    context, _, _ = ros
    with pytest.raises(ParameterError, match="'start_stage' = 'airborne'"):
        make_sim_hand(context, start_stage="airborne")
    with pytest.raises(ParameterError, match="'task' = 'juggle'"):
        make_sim_hand(context, task="juggle")


def test_scene_markers_show_the_hand_where_the_twin_has_it(ros):
    from visualization_msgs.msg import Marker, MarkerArray
    context, executor, add = ros
    hand = add(make_sim_hand(context, scene_markers_hz=20.0))
    probe = add(rclpy.create_node("probe", context=context))
    scenes = collect(probe, MarkerArray, topics.SIM_SCENE_MARKERS)
    assert spin_until(executor, lambda: len(scenes) >= 2, timeout=10)
    markers = scenes[-1].markers
    assert len(markers) > 20 and {m.type for m in markers} <= {Marker.SPHERE, Marker.CYLINDER, Marker.CUBE}
    assert all(m.header.frame_id == "world" and m.scale.x > 0 and m.color.a >= 0.4 for m in markers)
    positions = np.array([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in markers])
    geoms = hand.twin.task.data.geom_xpos
    # every marker sits on one of the twin's geoms (within a tick of motion)
    assert np.all(np.min(np.linalg.norm(positions[:, None] - geoms[None], axis=2), axis=1) < 0.05)


def test_lockstep_publishes_the_clock_and_steps_only_when_the_chain_answered(ros):
    """The twin's lockstep clock: /clock follows the tick stamps (one control period each); once
    the chain answers, an unanswered tick is not stepped (within a 60 s answer timeout); a
    reset stands the twin still until the episode's START."""
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from dexpie_msgs.msg import EpisodeEvent, InterventionState
    from dexpie_sim.lockstep import ANSWERED_STREAK
    context, executor, add = ros
    hand = add(make_sim_hand(context, clock="lockstep", answer_timeout=60.0, start_timeout=60.0))
    probe = add(rclpy.create_node("probe", context=context))
    joints = collect(probe, JointState, topics.JOINT_STATES)
    clocks = []
    probe.create_subscription(Clock, topics.CLOCK, clocks.append, qos_profile_sensor_data)  # best effort, as rclpy
    state_pub = probe.create_publisher(InterventionState, topics.INTERVENTION_STATE, 10)
    command_pub = probe.create_publisher(Float64MultiArray, topics.HAND_CONTROLLER_COMMANDS, 10)
    events_pub = probe.create_publisher(EpisodeEvent, topics.EPISODE_EVENTS, 10)
    assert all(wait_for_subscribers(executor, pub, timeout=10) for pub in (state_pub, command_pub, events_pub))

    def answer(msg):
        state = InterventionState()
        state.header.stamp = msg.header.stamp
        state_pub.publish(state)
        command_pub.publish(Float64MultiArray(data=[float(v) for v in msg.position]))

    # Start-up: nobody answers, the twin ticks at its pace.
    assert spin_until(executor, lambda: len(joints) >= 2, timeout=10)
    for _ in range(ANSWERED_STREAK + 2):
        count = len(joints)
        answer(joints[-1])
        assert spin_until(executor, lambda: len(joints) > count, timeout=10)
    stamps = [m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec for m in joints]
    assert set(np.diff(stamps)) == {round(SPEC.control_dt * 1e9)}, "one control period per tick"
    assert spin_until(executor, lambda: clocks and clocks[-1].clock == joints[-1].header.stamp, timeout=10)
    # Now unanswered: the twin waits (it would step after 60 s). (Start-up's unanswered ticks
    # are as many as the machine's load made them; none may come now.)
    count, unanswered = len(joints), hand.gate.unanswered_ticks
    spin_until(executor, lambda: len(joints) > count, timeout=0.5)
    assert len(joints) == count and hand.gate.unanswered_ticks == unanswered
    answer(joints[-1])
    assert spin_until(executor, lambda: len(joints) > count, timeout=10)

    client = probe.create_client(ResetToStage, topics.SIM_RESET_TO_STAGE_SERVICE)
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(ResetToStage.Request(task="relocate", stage="init", seed=3))
    assert spin_until(executor, future.done, timeout=10) and future.result().success
    answer(joints[-1])      # the tick in flight at the reset: answered or not, the twin stands still
    count = len(joints)
    spin_until(executor, lambda: len(joints) > count, timeout=0.5)
    assert len(joints) == count and hand.gate.holding_for_start
    events_pub.publish(EpisodeEvent(event=EpisodeEvent.EVENT_START))
    assert spin_until(executor, lambda: len(joints) > count, timeout=10)


def test_lockstep_refuses_to_run_on_its_own_simulated_time(context):
    with pytest.raises(Exception, match="use_sim_time"):
        make_sim_hand(context, clock="lockstep", use_sim_time=True)
