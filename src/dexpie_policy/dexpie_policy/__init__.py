"""Action representations, the chunked generative policy and asynchronous chunk scheduling; node policy_server."""
