"""Parameters of the viewer node, declared once (pure: no rclpy)."""

from __future__ import annotations

from dexpie_common.parameters import InRange, NonEmpty, Parameter, ParameterSchema, Unique
from dexpie_viewer.rerun_sink import DEFAULT_BIND, DEFAULT_GRPC_PORT, DEFAULT_WEB_PORT

NODE_NAME = "viewer"


def _ports_differ(values) -> str | None:
    if values["web_port"] == values["grpc_port"]:
        return f"parameters 'web_port' and 'grpc_port' are both {values['web_port']}: they must differ"
    return None


VIEWER = ParameterSchema(NODE_NAME, (
    Parameter("bind", str, DEFAULT_BIND,
              "address the web viewer and its data listen on: 127.0.0.1 (this host only) or an "
              "address of this host (0.0.0.0: every interface) to open the view to other hosts",
              (NonEmpty(),)),
    Parameter("web_port", int, DEFAULT_WEB_PORT, "port of the web viewer page", (InRange(1, 65535),)),
    Parameter("grpc_port", int, DEFAULT_GRPC_PORT, "port the page reads the data from (Rerun gRPC)",
              (InRange(1, 65535),)),
    Parameter("memory_limit", str, "1GiB",
              "data kept for browsers that connect later (oldest dropped first), e.g. 1GiB or 10%",
              (NonEmpty(),)),
    Parameter("plot_joints", list[str], [],
              "joints drawn as position / command / plan plots; empty: four spread over the hand",
              (Unique(),)),
    Parameter("image_rate_hz", float, 10.0, "at most this many images per camera per second (0: all)",
              (InRange(0.0, 1000.0),)),
    Parameter("camera_scan_s", float, 2.0,
              "how often the node looks for new /camera/<name>/image_raw topics to show",
              (InRange(0.1, 60.0),)),
    Parameter("report_s", float, 30.0,
              "how often the node logs how much it has shown (one INFO line; 0: never)",
              (InRange(0.0, 3600.0),)),
), checks=(_ports_differ,))
