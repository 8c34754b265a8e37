"""Chunked conditional flow-matching policy (configuration and model)."""
from dexpie_policy.flow.configuration_flow import (ACTION_KEY, IMAGE_KEY_PREFIX, OBJECT_KEY,
                                                   POLICY_TYPE, STATE_KEY, ConfigError,
                                                   FlowPolicyConfig)
from dexpie_policy.flow.modeling_flow import (ACTION_WEIGHT_KEY, OPTIMALITY_KEY,
                                              FlowMatchingPolicy, sinusoidal_embedding)

__all__ = ["ACTION_KEY", "ACTION_WEIGHT_KEY", "IMAGE_KEY_PREFIX", "OBJECT_KEY", "OPTIMALITY_KEY",
           "POLICY_TYPE", "STATE_KEY", "ConfigError", "FlowMatchingPolicy", "FlowPolicyConfig",
           "sinusoidal_embedding"]
