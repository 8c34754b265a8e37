"""Parameters of the policy_server node, declared once (pure: no rclpy)."""
from __future__ import annotations

from dexpie_common.parameters import (Finite, InRange, OneOf, Parameter, ParameterSchema,
                                      Positive, Unique)

from dexpie_policy.linear_backends import LINEAR_BACKENDS
from dexpie_policy.scheduler import MODES
from dexpie_policy.torch_device import TorchDevice

NODE_NAME = "policy_server"


def _checkpoint_given(values) -> str | None:
    if not values["checkpoint"].strip():
        return "parameter 'checkpoint' is required: the policy folder to load"
    return None


POLICY_SERVER = ParameterSchema(NODE_NAME, (
    Parameter("checkpoint", str, "",
              "policy folder (model.safetensors, config.json, normalization.json, "
              "action_spec.json); required"),
    Parameter("joint_names", list[str], [],
              "joint order of /policy/command and /policy/action_chunk; must name exactly the "
              "checkpoint's joints; empty = the checkpoint's action-spec order", (Unique(),)),
    Parameter("object_names", list[str], [],
              "order in which /sim/object_state is read by name; empty = the message's order "
              "(only used when the checkpoint uses object state)", (Unique(),)),
    Parameter("mode", str, "async",
              "chunk execution: async (committed prefix, start at d), naive_async (no prefix) "
              "or sync (stop, infer, execute)", (OneOf(MODES),)),
    Parameter("request_threshold", int, 4,
              "request the next chunk when at most this many queued actions remain (should "
              "cover the inference delay in control ticks)", (InRange(0, 1000),)),
    Parameter("max_prefix_steps", int, 4,
              "longest committed prefix given to the policy (capped at the checkpoint's "
              "max_delay_steps, the longest prefix it was trained with)", (InRange(0, 1000),)),
    Parameter("first_chunk_wait", float, 0.0,
              "seconds the tick that requests the first chunk after a reset (start-up, episode "
              "start, hand-back) waits for it, answering with its first row instead of staying "
              "silent; the twin's lockstep graph sets it (its clock waits for the chain, so the "
              "inference takes no simulated time); 0: never block the tick",
              (InRange(0.0, 60.0),)),
    Parameter("optimality", float, 1.0,
              "indicator s in [0, 1] asked of an indicator-conditioned policy",
              (InRange(0.0, 1.0),)),
    Parameter("condition_on_optimality", bool, True,
              "ask an indicator-conditioned policy for `optimality` with guidance; false = the "
              "null (unconditioned) model. Ignored for plain BC checkpoints"),
    Parameter("cfg_scale", float, 1.5,
              "classifier-free guidance weight w (1 = no guidance)", (InRange(0.0, 100.0),)),
    Parameter("sync_tolerance", float, 0.01,
              "seconds by which object state and image stamps may differ from the /joint_states "
              "stamp they are paired with; keep it below one control period",
              (InRange(0.0, 10.0), Finite())),
    Parameter("max_observation_age", float, 0.5,
              "seconds an observation may be old (node clock minus stamp) and still be used",
              (Positive(), Finite())),
    Parameter("inference_threads", int, 1,
              "torch intra-op threads for inference (1: the small model gains nothing from "
              "more, and extra threads stall on a busy machine)", (InRange(1, 256),)),
    Parameter("device", str, "cpu", "torch device of the model, e.g. cpu or cuda:0",
              (TorchDevice(),)),
    Parameter("sampler", str, "auto", "how a chunk is computed (PolicyRunner linear_backend): "
              "'auto' (on a CPU with one inference thread: 'onnxruntime' where installed, else "
              "'numpy'; else 'torch'), 'onnxruntime' or 'numpy' (CPU, one observation; within "
              "1e-5 of 'torch'), 'torch' (bit-identical to the reference sampler)",
              (OneOf(("auto",) + LINEAR_BACKENDS),)),
    Parameter("log_period", float, 2.0,
              "seconds between two log lines about the same kind of problem (stale "
              "observation, rejected image, inference error)", (Positive(), Finite())),
), checks=(_checkpoint_given,))
