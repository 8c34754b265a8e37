"""graph_params: the graph's parameter values are the twin task's own (joint order, limits,
spacemouse map), in ROS 2 parameter types."""
import numpy as np
import pytest

from dexpie_sim.graph_params import MAX_FINGER_SPEED, MAX_HINGE_SPEED, MAX_SLIDE_SPEED, graph_params
from dexpie_sim.registry import TASK_NAMES, make_task

ROS_SCALARS = (bool, int, float, str)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_values_are_the_tasks_own(name):
    params = graph_params(name)
    task = make_task(name)
    spec, n_arm = task.spec, len(task.spec.arm_joints)
    assert params.task == name and params.joint_names == list(spec.joint_names)
    assert params.arm_joints + params.finger_joints == params.joint_names
    assert params.object_names == list(spec.object_names) and params.stages == list(spec.stages)
    assert params.control_rate_hz == pytest.approx(30.0) and params.max_episode_steps == spec.max_episode_steps
    np.testing.assert_array_equal(params.lower_limits, task.controller.lower)
    np.testing.assert_array_equal(params.upper_limits, task.controller.upper)
    np.testing.assert_array_equal(params.finger_lower_limits, task.controller.lower[n_arm:])
    np.testing.assert_array_equal(params.finger_upper_limits, task.controller.upper[n_arm:])
    assert len(params.twist_to_joint) == n_arm * 6
    np.testing.assert_array_equal(params.twist_to_joint_matrix(), task.twist_to_joint())
    # The teleop pipeline built from these values is the task's own.
    pipeline = task.make_teleop()
    np.testing.assert_array_equal(pipeline.integrator.max_joint_speed, params.arm_max_joint_speed)
    assert pipeline.spacemouse.config.deadband == params.spacemouse_deadband
    # Slides (the first three arm joints of every task) get m/s, hinges rad/s.
    assert params.max_velocity[:3] == [MAX_SLIDE_SPEED] * 3
    assert set(params.max_velocity[3:n_arm]) == {MAX_HINGE_SPEED}
    assert set(params.max_velocity[n_arm:]) == {MAX_FINGER_SPEED}
    for key, value in params.as_parameters().items():
        if isinstance(value, list):
            assert value and len({type(v) for v in value}) == 1 and isinstance(value[0], ROS_SCALARS), key
        else:
            assert isinstance(value, ROS_SCALARS), key
    task.close()


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="juggle"):
        graph_params("juggle")
