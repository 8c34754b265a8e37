"""Learning from recorded episodes: critic, advantages, indicator, policy training and every
baseline, the `train` CLI. Reads the episode format and trains the policy package's models;
imports neither the twin (dexpie_sim) nor ROS, so it runs on a robot workstation."""
