"""Node plumbing shared by every DexPIE node (parameters, conversions, entry point)."""
