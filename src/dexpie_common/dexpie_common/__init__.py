"""Node plumbing shared by every DexPIE node (parameters, conversions, entry point, topic
and service names) and the base of configs stored as JSON."""
