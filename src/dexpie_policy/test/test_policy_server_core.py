"""The policy server's pure core: observation layout, conditioning, output order, chunk
fields, when a target is a command, log throttling; and the parameter schema."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from dexpie_common.hand import HandDescription, JointGroup
from dexpie_common.parameters import ParameterError
from policy_helpers import ARM, FINGERS, make_spec

from dexpie_policy.actions import to_absolute
from dexpie_policy.policy_server_core import (Conditioning, ObservationError, ObservationLayout,
                                              ProblemThrottle, check_running_hand, chunk_fields,
                                              command_is_valid, output_order)
from dexpie_policy.policy_server_parameters import POLICY_SERVER
from dexpie_policy.scheduler import ChunkRecord, TickOutput

JOINTS = ARM + FINGERS
CONFIG = SimpleNamespace(object_dim=3, camera_names=("front",), image_size=(16, 12),
                         image_channels=3)


def test_layout_streams_checks_and_observation():
    layout = ObservationLayout.from_checkpoint(CONFIG, make_spec())
    assert layout.joint_names == JOINTS and layout.image_shape == (16, 12, 3)
    assert layout.streams == ("joint_states", "object_state", "image/front")
    with pytest.raises(ObservationError, match="object_dim=3"):
        layout.object_vector([1.0, 2.0])
    with pytest.raises(ObservationError, match="not finite"):
        layout.object_vector([1.0, math.nan, 2.0])
    with pytest.raises(ObservationError, match=r"'front': image \(16, 16, 3\) uint8, the "
                                               r"checkpoint was trained on \(16, 12, 3\)"):
        layout.image("front", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ObservationError, match="'side' is not used"):
        layout.image("side", np.zeros((16, 12, 3), np.uint8))
    with pytest.raises(ObservationError, match="8 finite values"):
        layout.joint_vector(np.zeros(7))
    frame = np.ones((16, 12, 3), np.uint8)
    q, obj = np.arange(8.0), np.array([1.0, 2.0, 3.0])
    observation = layout.observation({"joint_states": q, "object_state": obj,
                                      "image/front": layout.image("front", frame)}, stamp="t")
    # The evaluation's observation: joint positions as the anchor, object state and images.
    assert observation.stamp == "t" and observation.joint_positions is q
    assert observation.extras["object_state"] is obj
    assert observation.extras["images"]["front"] is frame
    proprio_only = ObservationLayout(JOINTS)
    assert proprio_only.streams == ("joint_states",)
    assert proprio_only.observation({"joint_states": q}, "t").extras == {
        "object_state": None, "images": None}
    with pytest.raises(ObservationError, match="object_names lists 2 features"):
        ObservationLayout(JOINTS, object_dim=3, object_names=("a", "b"))


def test_conditioning():
    asked = Conditioning.resolve(True, True, 0.8, 2.0)
    assert asked.runner_kwargs == {"optimality": 0.8, "cfg_scale": 2.0}
    assert (asked.optimality, asked.cfg_scale) == (0.8, 2.0)
    for null in (Conditioning.resolve(True, False, 1.0, 1.5),
                 Conditioning.resolve(False, True, 1.0, 1.5)):
        assert null.runner_kwargs["optimality"] is None
        assert math.isnan(null.optimality) and null.cfg_scale == 1.0


def test_output_order():
    np.testing.assert_array_equal(output_order(JOINTS, []), np.arange(8))
    order = output_order(JOINTS, list(reversed(JOINTS)))
    assert [JOINTS[i] for i in order] == list(reversed(JOINTS))
    with pytest.raises(ObservationError, match=r"missing \['THJ1'\], not in the checkpoint "
                                               r"\['XX'\]"):
        output_order(JOINTS, list(JOINTS[:-1]) + ["XX"])


def test_a_checkpoint_for_another_hand_is_refused_naming_the_joints():
    n = len(JOINTS)
    hand = HandDescription("lab_hand", JOINTS, [JointGroup("all", JOINTS, "glove", "absolute_joint")],
                           [-1.0] * n, [1.0] * n, [1.0] * n, 30.0, 100)
    check_running_hand(list(reversed(JOINTS)), hand)     # same joints, any order: fine
    check_running_hand(["XX"], None)                     # no hand in the parameters: not checked
    with pytest.raises(ObservationError, match=r"running hand 'lab_hand': the hand's joints "
                                               r"\['THJ1'\] are not in the checkpoint, the "
                                               r"checkpoint's joints \['XX'\] are not the hand's"):
        check_running_hand(list(JOINTS[:-1]) + ["XX"], hand)


def test_chunk_fields_recover_the_trained_representation():
    spec = make_spec()
    rng = np.random.default_rng(0)
    anchor = rng.uniform(-0.3, 0.3, 8)
    targets = anchor + rng.normal(scale=0.1, size=(5, 8))
    record = ChunkRecord(chunk_id=3, observation_tick=10, observation_stamp="s", anchor=anchor,
                         targets=targets, arrival_tick=12, delay_steps=2, start_index=2,
                         inference_latency=0.01, prefix_steps=2, executed=True)
    order = output_order(JOINTS, list(reversed(JOINTS)))
    fields = chunk_fields(record, spec, order, Conditioning.resolve(True, True, 1.0, 1.5))
    assert fields["joint_names"] == list(reversed(JOINTS))
    np.testing.assert_array_equal(fields["anchor"], anchor[::-1])
    np.testing.assert_array_equal(np.reshape(fields["targets"], (5, 8)), targets[:, ::-1])
    assert fields["horizon"] == 5 and fields["action_dim"] == spec.action_dim == 11
    actions = np.reshape(fields["actions"], (5, 11))
    np.testing.assert_allclose(actions[:, 9:], targets[:, 6:] - anchor[6:], atol=1e-12)
    np.testing.assert_allclose(to_absolute(actions, anchor, spec), targets, atol=1e-9)
    assert fields["group_names"] == ["arm", "fingers"]
    assert fields["group_representations"] == ["relative_ee_pose", "relative_joint"]
    assert fields["group_joint_names"] == [f"arm/{j}" for j in ARM] + [f"fingers/{j}"
                                                                       for j in FINGERS]
    assert (fields["delay_steps"], fields["start_index"], fields["chunk_id"]) == (2, 2, 3)
    assert (fields["optimality"], fields["cfg_scale"]) == (1.0, 1.5)


def _out(hold, reason=None):
    return TickOutput(tick=0, target=np.zeros(2), hold=hold, hold_reason=reason, chunk_id=None,
                      chunk_index=None, arrived=None, requested_chunk_id=None, error=None)


def test_which_targets_are_commands():
    assert command_is_valid(_out(False), inference_failing=False)
    assert command_is_valid(_out(False), inference_failing=True)  # the queue still runs
    assert not command_is_valid(_out(True, "startup"), inference_failing=False)
    assert command_is_valid(_out(True, "starved"), inference_failing=False)  # a late chunk
    assert not command_is_valid(_out(True, "starved"), inference_failing=True)


def test_problem_throttle_counts_per_kind():
    throttle = ProblemThrottle(2.0)
    assert throttle.admit("stale", 0.0) == 0
    assert throttle.admit("stale", 1.0) is None and throttle.admit("stale", 1.5) is None
    assert throttle.admit("image", 1.5) == 0  # another kind is not silenced
    assert throttle.admit("stale", 2.1) == 2


@pytest.mark.parametrize("name, value, fragment", [
    ("mode", "turbo", "'turbo' is not one of ['async', 'naive_async', 'sync']"),
    ("optimality", 1.5, "1.5 is outside [0.0, 1.0]"),
    ("optimality", math.nan, "nan is NaN"),
    ("cfg_scale", -1.0, "-1.0 is outside"),
    ("sync_tolerance", math.inf, "inf is outside"),
    ("max_observation_age", 0.0, "0.0 is outside (0.0, inf]"),
    ("inference_threads", 0, "0 is outside [1, 256]"),
    ("request_threshold", 2.5, "must be int, got 2.5"),
    ("joint_names", ["a", "a"], "'a' appears twice"),
])
def test_parameter_schema_rejects_bad_values_naming_them(name, value, fragment):
    with pytest.raises(ParameterError) as error:
        POLICY_SERVER.validate({"checkpoint": "/some/policy", name: value})
    assert f"policy_server: parameter '{name}'" in str(error.value)
    assert fragment in str(error.value)


def test_checkpoint_is_required():
    with pytest.raises(ParameterError, match="'checkpoint' is required"):
        POLICY_SERVER.validate({})
    assert POLICY_SERVER.validate({"checkpoint": "p"}).cfg_scale == 1.5
