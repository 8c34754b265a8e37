"""dexpie_msgs is built with rosidl and usable from rclpy across processes: each message
goes to a peer process and back, and each service is called on the peer."""
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from builtin_interfaces.msg import Time

from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from dexpie_msgs.srv import EndEpisode, ResetToStage, StartEpisode

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def node():
    peer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("interface_peer.py"))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline().strip() == "ready"
    rclpy.init()
    test_node = rclpy.create_node("interface_test")
    yield test_node
    test_node.destroy_node()
    rclpy.shutdown()
    peer.stdin.close()          # the peer's stop signal (see interface_peer.py)
    assert peer.wait(timeout=10) == 0


def spin_until(node, condition, what):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        rclpy.spin_once(node, timeout_sec=0.05)


def round_trip(node, message):
    name = type(message).__name__.lower()
    received = []
    pub = node.create_publisher(type(message), f"{name}/in", 10)
    sub = node.create_subscription(type(message), f"{name}/out", received.append, 10)
    # Wait for discovery both ways instead of sleeping: lost first messages otherwise.
    spin_until(node, lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0,
               f"{name} peer discovery")
    # Discovery can be one-sided for a moment (the peer's echo publisher may not have matched
    # our subscription yet, and that echo is dropped): publish again every 0.5 s until echoed.
    deadline = time.monotonic() + TIMEOUT
    while not received:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no echo of {name}")
        pub.publish(message)
        resend = time.monotonic() + 0.5
        spin_until(node, lambda: received or time.monotonic() > resend, f"{name} echo")
    node.destroy_publisher(pub)
    node.destroy_subscription(sub)
    return received[0]


def test_action_chunk_round_trip(node):
    msg = ActionChunk()
    msg.header.stamp = Time(sec=12, nanosec=345)
    msg.chunk_id = 7
    msg.observation_stamp = Time(sec=12, nanosec=100)
    msg.joint_names = ["ARTx", "FFJ0"]
    msg.anchor = [0.1, 0.2]
    msg.group_names = ["arm", "fingers"]
    msg.group_representations = ["relative_joint", "absolute_joint"]
    msg.group_joint_names = ["arm/ARTx", "fingers/FFJ0"]
    msg.horizon, msg.action_dim = 3, 2
    msg.actions = [0.0, 1.0, 0.1, 1.1, 0.2, 1.2]
    msg.targets = [0.1, 1.0, 0.2, 1.1, 0.3, 1.2]
    msg.delay_steps, msg.start_index = 2, 2
    msg.inference_latency, msg.optimality, msg.cfg_scale = 0.012, 1.0, 1.5
    echo = round_trip(node, msg)
    assert echo.chunk_id == 7 and echo.observation_stamp.nanosec == 100
    assert list(echo.joint_names) == ["ARTx", "FFJ0"]
    assert list(echo.actions) == list(msg.actions) and list(echo.targets) == list(msg.targets)
    assert echo.group_representations == msg.group_representations
    assert echo.delay_steps == 2 and math.isclose(echo.cfg_scale, 1.5)


def test_intervention_state_round_trip(node):
    msg = InterventionState(source=InterventionState.SOURCE_HUMAN, edge=InterventionState.EDGE_TAKEOVER,
                            reason=InterventionState.REASON_DEVICE_MOTION, intervention_id=3, tick=99,
                            human_idle_time=0.25, detail="glove moved")
    echo = round_trip(node, msg)
    assert (echo.source, echo.edge, echo.reason) == (1, 1, 2)
    assert echo.intervention_id == 3 and echo.tick == 99 and echo.detail == "glove moved"
    assert InterventionState.SOURCE_SAFETY_HOLD == 2 and InterventionState.EDGE_HANDBACK == 2


def test_episode_event_round_trip(node):
    msg = EpisodeEvent(event=EpisodeEvent.EVENT_END, episode_id="ep-1", task="relocate", stage="grasped",
                       outcome=EpisodeEvent.OUTCOME_SUCCESS, seed=-1, bag_path="/data/ep-1", detail="ok")
    echo = round_trip(node, msg)
    assert (echo.event, echo.outcome, echo.seed) == (EpisodeEvent.EVENT_END, EpisodeEvent.OUTCOME_SUCCESS, -1)
    assert echo.task == "relocate" and echo.stage == "grasped" and echo.bag_path == "/data/ep-1"


def call(node, srv_type, name, request):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=TIMEOUT), f"service {name} not available"
    future = client.call_async(request)
    spin_until(node, future.done, f"{name} response")
    node.destroy_client(client)
    return future.result()


def test_services(node):
    started = call(node, StartEpisode, "start_episode", StartEpisode.Request(task="door", stage="init", seed=5))
    assert started.success and started.episode_id == "door-init-5"
    refused = call(node, StartEpisode, "start_episode", StartEpisode.Request(task="", stage="init"))
    assert not refused.success and "task" in refused.message
    ended = call(node, EndEpisode, "end_episode",
                 EndEpisode.Request(outcome=EndEpisode.Request.OUTCOME_FAILURE, note="dropped"))
    assert ended.success and ended.num_steps == 42 and ended.message == "dropped"
    reset = call(node, ResetToStage, "reset_to_stage", ResetToStage.Request(task="door", stage="unlatched", seed=9))
    assert reset.success and list(reset.joint_positions) == [9.0, 0.5]
