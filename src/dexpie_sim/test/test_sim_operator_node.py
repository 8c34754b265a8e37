"""sim_operator on real rclpy, in-process. The twin's messages are published by the test from
a HandTwin, one tick at a time (deterministic), except in the last test where the real
sim_hand node ticks: the operator answers every tick with glove, twist and joy."""
import json

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import String

from dexpie_common import topics
from dexpie_common.messages import joint_state_msg
from dexpie_common.testing import spin_until, wait_for_publishers, wait_for_subscribers
from dexpie_msgs.msg import InterventionState
from dexpie_sim.hand_twin import HandTwin
from dexpie_sim.sim_hand_node import SimHandNode
from dexpie_sim.sim_operator_node import SimOperatorNode

DEADBAND = 0.08    # SpacemouseConfig's


def overrides(**values):
    return dict(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()],
                automatically_declare_parameters_from_overrides=False)


class FakeTwin:
    """Publishes what sim_hand publishes, one tick per `tick()`, and collects the devices."""

    def __init__(self, context, executor, add):
        self.executor = executor
        self.twin = HandTwin("relocate", seed=0)
        probe = add(rclpy.create_node("fake_twin", context=context))
        self.status = probe.create_publisher(String, topics.SIM_TASK_STATUS, 10)
        self.objects = probe.create_publisher(JointState, topics.SIM_OBJECT_STATE, 10)
        self.joints = probe.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.arbiter = probe.create_publisher(InterventionState, topics.INTERVENTION_STATE, 10)
        self.gloves, self.twists, self.joys = [], [], []
        subscriptions = [probe.create_subscription(JointState, topics.GLOVE_JOINT_STATES, self.gloves.append, 50),
                         probe.create_subscription(Twist, topics.SPACENAV_TWIST, self.twists.append, 50),
                         probe.create_subscription(Joy, topics.SPACENAV_JOY, self.joys.append, 50)]
        for publisher in (self.status, self.objects, self.joints, self.arbiter):
            assert wait_for_subscribers(executor, publisher)
        for subscription in subscriptions:
            assert wait_for_publishers(executor, subscription)

    def tick(self, arbiter_source=None) -> Joy:
        """One control tick; returns the operator's joy answer (stamped like the tick)."""
        observation = self.twin.tick()
        stamp = Time(sec=1000 + self.twin.task.tick)
        spec = self.twin.spec
        if arbiter_source is not None:
            self.arbiter.publish(InterventionState(source=arbiter_source))
        self.status.publish(String(data=json.dumps(self.twin.status())))
        self.objects.publish(joint_state_msg(spec.object_names, observation.object_state, stamp))
        self.joints.publish(joint_state_msg(spec.joint_names, observation.joint_positions, stamp,
                                            observation.joint_velocities))
        answered = lambda: self.joys and self.joys[-1].header.stamp == stamp   # noqa: E731
        assert spin_until(self.executor, answered, timeout=10)
        return self.joys[-1]


def test_scripted_mode_presses_at_the_scripted_ticks_and_publishes_devices_every_tick(ros):
    context, executor, add = ros
    add(SimOperatorNode(context=context, **overrides(task="relocate", takeover_mode="scripted",
                                                        scripted_takeover_tick=3, scripted_handback_tick=12,
                                                        press_ticks=2)))
    fake = FakeTwin(context, executor, add)
    buttons = {}
    for _ in range(14):
        joy = fake.tick()
        buttons[fake.twin.task.tick] = list(joy.buttons)
        assert len(joy.axes) == 6 and all(-1.0 <= a <= 1.0 for a in joy.axes)
    assert [t for t, b in buttons.items() if b[0]] == [3, 4, 12, 13]      # rising edges at 3 and 12
    assert all(b[1] == 0 for b in buttons.values())
    assert spin_until(executor, lambda: len(fake.gloves) == 14 and len(fake.twists) == 14, timeout=10)
    spec = fake.twin.spec
    assert all(list(g.name) == list(spec.finger_joints) for g in fake.gloves)
    assert fake.gloves[-1].header.stamp == fake.joys[-1].header.stamp
    twist = fake.twists[-1]
    assert [twist.linear.x, twist.linear.y, twist.linear.z,
            twist.angular.x, twist.angular.y, twist.angular.z] == pytest.approx(list(fake.joys[-1].axes))
    fake.twin.close()


def test_rule_mode_rests_while_the_policy_drives_and_steers_once_given_control(ros):
    context, executor, add = ros
    add(SimOperatorNode(context=context, **overrides(task="relocate", takeover_mode="rule")))
    fake = FakeTwin(context, executor, add)
    n_arm = len(fake.twin.spec.arm_joints)
    for _ in range(12):
        joy = fake.tick(InterventionState.SOURCE_POLICY)
        assert list(joy.buttons) == [0, 0] and max(abs(a) for a in joy.axes) < DEADBAND
    fingers = fake.twin.observe().joint_positions[n_arm:]
    assert np.max(np.abs(np.array(fake.gloves[-1].position) - fingers)) < 0.15   # the glove hand rests
    steering = [max(abs(a) for a in fake.tick(InterventionState.SOURCE_HUMAN).axes) for _ in range(4)]
    assert max(steering) > 0.5                     # reaching for the ball
    fake.twin.close()


def test_the_operator_answers_every_tick_of_the_real_twin(ros):
    context, executor, add = ros
    add(SimHandNode(context=context, **overrides(task="relocate", rate_hz=100.0)))
    add(SimOperatorNode(context=context, **overrides(task="relocate", takeover_mode="never")))
    probe = add(rclpy.create_node("probe", context=context))
    joints, joys = [], []
    probe.create_subscription(JointState, topics.JOINT_STATES, joints.append, 50)
    probe.create_subscription(Joy, topics.SPACENAV_JOY, joys.append, 50)
    assert spin_until(executor, lambda: len(joys) >= 12, timeout=10)
    stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)   # noqa: E731
    ticks = [stamp(j) for j in joints]
    answered = [stamp(j) for j in joys if stamp(j) >= ticks[0]]       # since the probe listens
    assert len(answered) >= 8
    # One answer per tick, in order, none skipped.
    assert answered == ticks[ticks.index(answered[0]):ticks.index(answered[-1]) + 1]
