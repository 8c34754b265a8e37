"""Glove retargeting, spacemouse integration with a clutch, the intervention arbiter; node intervention_arbiter."""
