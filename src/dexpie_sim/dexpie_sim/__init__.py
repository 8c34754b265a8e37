"""MuJoCo simulation twin: Adroit hand tasks, stage snapshots, success checks and the simulated operator; nodes sim_hand and sim_operator."""
