"""Asynchronous action-chunk scheduling (pure Python: no rclpy, no message packages).

`ChunkScheduler.tick(observation)` returns the joint target of each control tick without ever
waiting for inference; chunks are requested ahead of time, started at index d = delay_steps,
and (mode "async") given the committed prefix so that they continue it.
"""
from dexpie_policy.scheduler.adapters import RunnerPredictor
from dexpie_policy.scheduler.backends import (InferenceBackend, SimulatedClockInference,
                                              ThreadedInference, UniformLatency)
from dexpie_policy.scheduler.chunk_scheduler import ChunkScheduler
from dexpie_policy.scheduler.metrics import (boundary_and_within_steps, boundary_jump_ratio,
                                             hold_runs)
from dexpie_policy.scheduler.types import (MODES, ChunkPredictor, ChunkRecord, ChunkRequest,
                                           InferenceError, InferenceResult, Observation,
                                           TickOutput, joint_positions_of)

__all__ = ["MODES", "ChunkPredictor", "ChunkRecord", "ChunkRequest", "ChunkScheduler",
           "InferenceBackend", "InferenceError", "InferenceResult", "Observation", "RunnerPredictor",
           "SimulatedClockInference", "ThreadedInference", "TickOutput", "UniformLatency",
           "boundary_and_within_steps", "boundary_jump_ratio", "hold_runs",
           "joint_positions_of"]
