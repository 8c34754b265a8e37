"""Peer process for test_interfaces.py: echoes every dexpie_msgs message it receives on
`<type>/in` back on `<type>/out` and serves the three services, until its stdin closes
(the test's way to stop it) or SIGTERM.

Why stdin and not only SIGTERM: on the 2-core machine, 2 of ~15 runs of the test left the
peer spinning after one SIGTERM (the signal caught by rclpy, the context not shut down; a
second SIGTERM stopped it). Closing a pipe cannot be lost."""
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from dexpie_msgs.msg import ActionChunk, EpisodeEvent, InterventionState
from dexpie_msgs.srv import EndEpisode, ResetToStage, StartEpisode


class InterfacePeer(Node):
    def __init__(self):
        super().__init__("interface_peer")
        self._keep = []
        for msg_type in (ActionChunk, EpisodeEvent, InterventionState):
            name = msg_type.__name__.lower()
            pub = self.create_publisher(msg_type, f"{name}/out", 10)
            self._keep.append(self.create_subscription(msg_type, f"{name}/in", pub.publish, 10))
        self.create_service(StartEpisode, "start_episode", self.start_episode)
        self.create_service(EndEpisode, "end_episode", self.end_episode)
        self.create_service(ResetToStage, "reset_to_stage", self.reset_to_stage)

    def start_episode(self, request, response):
        response.success = request.task != ""
        response.episode_id = f"{request.task}-{request.stage}-{request.seed}"
        response.bag_path = f"/tmp/{response.episode_id}"
        response.message = "" if response.success else "task must not be empty"
        return response

    def end_episode(self, request, response):
        response.success = request.outcome in (EndEpisode.Request.OUTCOME_SUCCESS,
                                               EndEpisode.Request.OUTCOME_FAILURE,
                                               EndEpisode.Request.OUTCOME_ABORTED)
        response.num_steps = 42
        response.message = request.note
        return response

    def reset_to_stage(self, request, response):
        response.success = True
        response.joint_names = ["a", "b"]
        response.joint_positions = [float(request.seed), 0.5]
        return response


def main():
    rclpy.init(args=sys.argv)
    node = InterfacePeer()
    print("ready", flush=True)
    stdin_closed = threading.Event()

    def wait_for_stdin_to_close():
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    try:
        while not stdin_closed.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
