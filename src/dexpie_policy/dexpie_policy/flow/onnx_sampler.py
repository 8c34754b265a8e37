"""The chunk sampler of linear_backend "onnxruntime": FiLM and the whole Euler loop of one
chunk (batch size 1) as one ONNX graph, run by ONNX Runtime on one CPU thread.

Why: after `numpy_sampler` removed torch's per-op cost, a guided chunk still spent ~0.6 ms
in ~700 numpy calls from Python and ~1.5 ms streaming the weights through OpenBLAS
(benchmarks/policy_inference_profile.py). The same arithmetic as one graph of ~330 nodes
runs without Python between the ops, and ONNX Runtime's MLAS products on 1-2 rows stream
the weights faster on the project's CPU: one call of ~1.4 ms for a guided chunk
(benchmarks/policy_inference_latency.py).

The graph is written here node by node from the model's parameters (no exporter: the
network is small, and the graph then states exactly what runs). It depends on the
parameters only, not on the prefix length d: the per-step bias for d (flow-time columns of
the input layer at the step's per-position times + bias + time features) and a mask of
the generated positions are inputs, so one session serves every d. The arithmetic is that of
`numpy_sampler` on the full chunk:
  per step  h = x @ W_in[:, :H*D]^T + step_bias[step]          (both rows when guided)
            per block: h += W2 SiLU(W1 (LN(h) * gain + shift) + b1) + b2
            n = LN(h); guided: n = n_u + w (n_c - n_u)
            x += mask * (n @ W_out' + b_out')                    (W_out', b_out': dt and
                                                                  the LayerNorm affine folded)
so the prefix positions keep the values they start with (the reference overwrites them
before every step with the same values).

Shapes: H horizon, D action_dim, N flow steps, R rows (1, or 2 guided: [conditional;
unconditional]), L blocks.
"""
from __future__ import annotations

import numpy as np

def available() -> bool:
    """Whether onnx (to write the graph) and onnxruntime (to run it) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxChunkSampler:
    """One ONNX Runtime session for a model's parameters and a guidance setting.

    parameters, in torch's layout (float32 or float64 numpy arrays): film_weight
    (L * 2 * hidden, hidden), film_bias; blocks: L tuples (w1 (hidden, hidden), b1, w2, b2,
    eps); norm_eps, norm_weight, norm_bias (the output LayerNorm); input_weight (hidden,
    H * D + H), output_weight (H * D, hidden), output_bias; num_steps N.
    """

    def __init__(self, *, film_weight: np.ndarray, film_bias: np.ndarray, blocks, norm_eps: float,
                 norm_weight: np.ndarray, norm_bias: np.ndarray, input_weight: np.ndarray,
                 output_weight: np.ndarray, output_bias: np.ndarray, num_steps: int,
                 guided: bool):
        import onnxruntime as ort
        self.guided, self.num_steps = guided, num_steps
        self.dtype = film_weight.dtype
        model = _graph(film_weight, film_bias, blocks, norm_eps, norm_weight, norm_bias,
                       input_weight, output_weight, output_bias, num_steps, guided)
        options = ort.SessionOptions()
        # One thread, like the torch and numpy samplers: the policy server shares a small
        # machine with the control chain, and at batch size 1 more threads buy little.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3   # warnings about unused initializers are not ours
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._output = self._session.get_outputs()[0].name

    def __call__(self, conditions: np.ndarray, chunk: np.ndarray, step_bias: np.ndarray,
                 generated: np.ndarray, cfg_scale: float | None) -> np.ndarray:
        """conditions (R, hidden): observation + optimality condition per row; chunk (1,
        H * D): the noise with the committed prefix written in; step_bias (N, hidden);
        generated (1, H * D): 1 at generated positions, 0 at the prefix -> chunk (1, H * D)."""
        feed = {"conditions": conditions, "chunk": chunk, "step_bias": step_bias,
                "generated": generated}
        if self.guided:
            feed["cfg_scale"] = np.asarray(cfg_scale, dtype=self.dtype)
        return self._session.run([self._output], feed)[0]


def _graph(film_weight, film_bias, blocks, norm_eps, norm_weight, norm_bias, input_weight,
           output_weight, output_bias, num_steps, guided) -> bytes:
    """The serialized ONNX model (opset 17: LayerNormalization)."""
    from onnx import TensorProto, helper, numpy_helper

    dtype = film_weight.dtype
    elem = {np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE}[np.dtype(dtype)]
    hidden = film_weight.shape[1]
    chunk = output_weight.shape[0]
    rows = 2 if guided else 1
    initializers, nodes = [], []

    def const(name, array, as_type=None):
        initializers.append(numpy_helper.from_array(
            np.ascontiguousarray(np.asarray(array, dtype=as_type or dtype)), name))
        return name

    def node(op, inputs, **attributes):
        out = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    # FiLM, once per chunk: per block a gain (1 + scale) and a shift, (R, hidden) each.
    silu = node("Mul", ["conditions", node("Sigmoid", ["conditions"])])
    gains, shifts = [], []
    for block in range(len(blocks)):
        for part, out, offset in ((0, gains, 1.0), (1, shifts, 0.0)):
            rows_of = slice((2 * block + part) * hidden, (2 * block + part + 1) * hidden)
            out.append(node("Add", [node("MatMul", [silu, const(f"film_w{block}{part}",
                                                                 film_weight[rows_of].T)]),
                                    const(f"film_b{block}{part}", film_bias[rows_of] + offset)]))
    chunk_weight = const("chunk_w", input_weight[:, :chunk].T)
    dt = 1.0 / num_steps
    out_weight = const("out_w", (output_weight * (dt * norm_weight)).T)
    out_bias = const("out_b", dt * (output_weight @ norm_bias + output_bias))
    ones = const("ones", np.ones(hidden))
    weights = [(const(f"w1_{i}", w1.T), const(f"b1_{i}", b1), const(f"w2_{i}", w2.T),
                const(f"b2_{i}", b2), float(eps)) for i, (w1, b1, w2, b2, eps) in enumerate(blocks)]
    if guided:
        both = const("rows", [2, hidden], np.int64)
        first, second = const("i0", 0, np.int64), const("i1", 1, np.int64)

    x = "chunk"
    for step in range(num_steps):
        step_bias = node("Gather", ["step_bias", const(f"step{step}", step, np.int64)], axis=0)
        h = node("Add", [node("MatMul", [x, chunk_weight]), step_bias])
        if guided:   # both branches see the same chunk; only their FiLM differs
            h = node("Expand", [h, both])
        for (w1, b1, w2, b2, eps), gain, shift in zip(weights, gains, shifts):
            normed = node("LayerNormalization", [h, ones], axis=-1, epsilon=eps)
            a = node("Add", [node("MatMul", [node("Add", [node("Mul", [normed, gain]), shift]),
                                              w1]), b1])
            a = node("Mul", [a, node("Sigmoid", [a])])
            h = node("Add", [h, node("Add", [node("MatMul", [a, w2]), b2])])
        normed = node("LayerNormalization", [h, ones], axis=-1, epsilon=float(norm_eps))
        if guided:   # v_u + w (v_c - v_u) is linear in the output layer's input
            conditional = node("Gather", [normed, first], axis=0)
            unconditional = node("Gather", [normed, second], axis=0)
            normed = node("Add", [unconditional, node("Mul", [
                "cfg_scale", node("Sub", [conditional, unconditional])])])
        velocity = node("Add", [node("MatMul", [normed, out_weight]), out_bias])
        x = node("Add", [x, node("Mul", [velocity, "generated"])])
    nodes.append(helper.make_node("Identity", [x], ["chunk_out"]))

    inputs = [helper.make_tensor_value_info("conditions", elem, [rows, hidden]),
              helper.make_tensor_value_info("chunk", elem, [1, chunk]),
              helper.make_tensor_value_info("step_bias", elem, [num_steps, hidden]),
              helper.make_tensor_value_info("generated", elem, [1, chunk])]
    if guided:
        inputs.append(helper.make_tensor_value_info("cfg_scale", elem, []))
    graph = helper.make_graph(nodes, "flow_chunk", inputs,
                              [helper.make_tensor_value_info("chunk_out", elem, [1, chunk])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="dexpie_policy")
    model.ir_version = 8   # readable by every onnxruntime >= 1.13
    return model.SerializeToString()
