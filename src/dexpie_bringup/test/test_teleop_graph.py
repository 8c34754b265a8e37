"""The demonstration-collection graph (teleop.launch.py / `dexpie-launch teleop`): the arbiter in
human-only mode, the simulated operator on glove + spacemouse, the recorder. A recorded
episode is a demonstration: every tick is human-operated, and the operator carries the ball
to the target (the graph runs in real time on a shared machine, so the test asks for most
of the way there, not for the success check that a loaded machine can make it miss)."""
import numpy as np

from dexpie_bringup.graph import GraphOptions, teleop_graph
from dexpie_bringup.supervisor import GraphSupervisor
from dexpie_episode import read_episode

from graph_harness import Monitor, Transcript, limits

TASK = "relocate"


def test_teleop_graph_records_a_human_demonstration(tmp_path):
    options = GraphOptions(task=TASK, output_dir=str(tmp_path / "demos"), operator="rule")
    transcript = Transcript()
    supervisor = GraphSupervisor(teleop_graph(options), output=transcript, log_dir=tmp_path / "logs").start()
    monitor = Monitor(limits(TASK)["hand_controller"]["joint_names"])
    try:
        result = monitor.client.run_episode(TASK, "lifted", seed=3, max_ticks=200, timeout=300)
        assert not supervisor.dead(), transcript.getvalue()[-5000:]
    finally:
        monitor.close()
        codes = supervisor.stop()
    assert all(code == 0 for code in codes.values()), (codes, transcript.getvalue()[-5000:])
    episode = read_episode(result.bag_path)
    flags = np.asarray(episode.intervention, bool)
    assert episode.meta.stage == "lifted" and flags.size == result.ticks
    # The hand holds until the operator's devices are fresh after the reset (a tick or two),
    # then the human has it for the rest of the episode.
    first_human = int(np.argmax(flags))
    assert flags[first_human:].all() and first_human <= 3, flags
    objects = np.asarray(episode.object_state)
    names = list(episode.meta.object_names)
    gap = objects[:, [names.index(f"target_from_ball_{a}") for a in "xyz"]]
    start, closest = np.linalg.norm(gap[0]), np.linalg.norm(gap, axis=1).min()
    assert closest < 0.3 * start, (start, closest, result.outcome)
