"""Episode format (rosbag2/MCAP via rosbags), recorder node, critic, advantages, indicator and policy training."""
