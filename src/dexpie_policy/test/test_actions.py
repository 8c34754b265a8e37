"""Action representations: exact-inverse properties over random specs and shapes (a seeded
randomized property test; hypothesis is not a dependency), re-anchoring, spec validation."""
import json

import numpy as np
import pytest

from dexpie_policy.actions import (ABSOLUTE_JOINT, RELATIVE_EE_POSE, RELATIVE_JOINT,
                                   ActionGroup, ActionSpec, ActionSpecError, CartesianEulerArm,
                                   reanchor, rotation_from_6d, rotation_to_6d, to_absolute,
                                   to_relative, twin_action_spec)

ARM = ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy", "ARRz")


def _axis_angle(rng, max_angle, shape):
    axis = rng.normal(size=shape + (3,))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(-max_angle, max_angle, size=shape + (1,))
    k = np.zeros(shape + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)  # Rodrigues


def _random_spec(rng):
    fingers = [f"j{i}" for i in range(rng.integers(1, 9))]
    with_arm = rng.random() < 0.6
    names = list(fingers) + (list(ARM) if with_arm else [])
    order = rng.permutation(len(names))
    joint_names = tuple(names[i] for i in order)  # group order need not follow joint order
    groups = []
    if with_arm:
        groups.append(ActionGroup("arm", ARM, RELATIVE_EE_POSE, "cartesian_euler_arm"))
    cuts = sorted(rng.choice(np.arange(1, len(fingers)), size=min(2, len(fingers) - 1),
                             replace=False)) if len(fingers) > 1 else []
    for k, chunk in enumerate(np.split(np.array(fingers), cuts)):
        rep = [ABSOLUTE_JOINT, RELATIVE_JOINT][rng.integers(2)]
        groups.append(ActionGroup(f"g{k}", tuple(chunk.tolist()), rep))
    rng.shuffle(groups)
    return ActionSpec(joint_names, tuple(groups)), with_arm


def _random_joints(rng, spec, shape, arm_ry=1.5, arm_rxz=3.0):
    q = rng.normal(size=shape + (spec.num_joints,))
    if "ARRy" in spec.joint_names:
        i = [spec.joint_names.index(n) for n in ("ARRx", "ARRy", "ARRz")]
        q[..., i[0]] = rng.uniform(-arm_rxz, arm_rxz, size=shape)
        q[..., i[1]] = rng.uniform(-arm_ry, arm_ry, size=shape)  # inside the Euler chart
        q[..., i[2]] = rng.uniform(-arm_rxz, arm_rxz, size=shape)
    return q


@pytest.mark.parametrize("seed", range(40))
def test_to_absolute_inverts_to_relative(seed):
    rng = np.random.default_rng(seed)
    spec, _ = _random_spec(rng)
    lead = tuple(rng.integers(1, 4, size=rng.integers(0, 3)))
    horizon = int(rng.integers(1, 6))
    anchor = _random_joints(rng, spec, lead)
    targets = _random_joints(rng, spec, lead + (horizon,))
    actions = to_relative(targets, anchor, spec)
    assert actions.shape == lead + (horizon, spec.action_dim)
    np.testing.assert_allclose(to_absolute(actions, anchor, spec), targets, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_to_relative_inverts_to_absolute(seed):
    rng = np.random.default_rng(1000 + seed)
    spec, with_arm = _random_spec(rng)
    lead = tuple(rng.integers(1, 4, size=rng.integers(0, 3)))
    horizon = int(rng.integers(1, 6))
    anchor = _random_joints(rng, spec, lead, arm_ry=1.2, arm_rxz=2.5)
    actions = rng.normal(size=lead + (horizon, spec.action_dim))
    if with_arm:
        # A valid pose action: any translation, a rotation small enough that the target
        # stays inside the Euler chart (chunks move the wrist by far less than 0.3 rad).
        part = spec.action_slices()[[g.name for g in spec.groups].index("arm")]
        actions[..., part.start + 3:part.stop] = rotation_to_6d(
            _axis_angle(rng, 0.3, lead + (horizon,)))
    np.testing.assert_allclose(to_relative(to_absolute(actions, anchor, spec), anchor, spec),
                               actions, rtol=0, atol=1e-9)


def test_relative_joint_and_absolute_values():
    spec = ActionSpec(("a", "b", "c"), (ActionGroup("arm", ("b", "a"), RELATIVE_JOINT),
                                        ActionGroup("hand", ("c",), ABSOLUTE_JOINT)))
    targets = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]])
    actions = to_relative(targets, np.array([0.5, 1.0, 9.0]), spec)
    np.testing.assert_array_equal(actions, [[1.0, 0.5, 3.0], [1.5, 1.0, 3.5]])


def test_cartesian_euler_arm_fk_ik():
    arm = CartesianEulerArm()
    p, r = arm.fk(np.array([1.0, 2.0, 3.0, 0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(p, [1, 2, 3])
    np.testing.assert_allclose(r, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    q = np.array([[0.1, -0.2, 0.3, 2.9, -1.5, -3.0], [0, 0, 0, -0.4, 1.4, 0.7]])
    np.testing.assert_allclose(arm.ik(*arm.fk(q)), q, atol=1e-12)
    # Translation of a relative pose is expressed in the anchor's frame.
    spec = ActionSpec(ARM, (ActionGroup("arm", ARM, RELATIVE_EE_POSE, "cartesian_euler_arm"),))
    anchor = np.array([0, 0, 0, 0, 0, np.pi / 2])
    target = np.array([[1.0, 0, 0, 0, 0, np.pi / 2]])
    np.testing.assert_allclose(to_relative(target, anchor, spec)[0, :3], [0, -1, 0], atol=1e-15)


def test_rotation_from_6d_projects_non_orthonormal_input():
    rng = np.random.default_rng(0)
    rotation = _axis_angle(rng, 3.0, (20,))
    encoding = rotation_to_6d(rotation)
    noisy = encoding * 3.0
    noisy[:, 3:] += 0.5 * encoding[:, :3]  # scaled and skewed columns, same Gram-Schmidt span
    np.testing.assert_allclose(rotation_from_6d(noisy), rotation, atol=1e-12)


def test_reanchor_expresses_prefix_in_new_frame():
    rng = np.random.default_rng(3)
    spec = twin_action_spec(ARM, ("f0", "f1"), arm_representation=RELATIVE_EE_POSE)
    prefix = _random_joints(rng, spec, (3,), arm_ry=1.0)
    new_anchor = _random_joints(rng, spec, (), arm_ry=1.0)
    relative = reanchor(prefix, new_anchor, spec)
    assert relative.shape == (3, spec.action_dim)
    np.testing.assert_allclose(to_absolute(relative, new_anchor, spec), prefix, atol=1e-9)
    joint_spec = twin_action_spec(ARM, ("f0", "f1"), finger_representation=RELATIVE_JOINT)
    np.testing.assert_allclose(reanchor(prefix, new_anchor, joint_spec), prefix - new_anchor)


def test_spec_validation_names_the_problem():
    with pytest.raises(ActionSpecError, match="'z'"):
        ActionSpec(("a",), (ActionGroup("g", ("a", "z"), ABSOLUTE_JOINT),))
    with pytest.raises(ActionSpecError, match="'a' is in two"):
        ActionSpec(("a",), (ActionGroup("g", ("a",), ABSOLUTE_JOINT),
                            ActionGroup("h", ("a",), RELATIVE_JOINT)))
    with pytest.raises(ActionSpecError, match=r"\['b'\]"):
        ActionSpec(("a", "b"), (ActionGroup("g", ("a",), ABSOLUTE_JOINT),))
    with pytest.raises(ActionSpecError, match="'bogus'"):
        ActionGroup("g", ("a",), "bogus")
    with pytest.raises(ActionSpecError, match="6 joints"):
        ActionGroup("g", ("a",), RELATIVE_EE_POSE, "cartesian_euler_arm")
    with pytest.raises(ActionSpecError, match="unknown kinematics"):
        ActionGroup("g", ARM, RELATIVE_EE_POSE, "nope")


def test_spec_json_round_trip_and_shape_errors():
    spec = twin_action_spec(ARM, ("f0",), arm_representation=RELATIVE_EE_POSE)
    assert ActionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.action_dim == 10
    with pytest.raises(ValueError, match="anchor"):
        to_relative(np.zeros((4, 7)), np.zeros(6), spec)
    with pytest.raises(ValueError, match="actions"):
        to_absolute(np.zeros((4, 7)), np.zeros(7), spec)
