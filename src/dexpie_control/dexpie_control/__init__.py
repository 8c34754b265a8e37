"""Hand controller: joint and velocity limits, rate limits, NaN rejection, watchdog; node hand_controller."""
