"""The twin experiment: everything that needs both learning and the MuJoCo twin (DAgger rollouts
with the simulated operator, evaluation, the comparison pipeline and suite, results, the main job)."""
