"""How `FlowMatchingPolicy.sample` computes a chunk (a light module: parameter schemas
import it without torch).

"torch": the chunks are bit-identical to the reference sampler's. On CPU, for one
observation, FiLM and the Euler loop can instead run in numpy ("numpy",
flow/numpy_sampler.py) or as one ONNX Runtime graph ("onnxruntime", flow/onnx_sampler.py):
the same arithmetic summed in another order, within ~1e-6 of the reference. Batches of
several observations run the torch loop.
"""
LINEAR_BACKENDS = ("torch", "numpy", "onnxruntime")
