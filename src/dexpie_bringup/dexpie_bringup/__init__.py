"""Launch files, parameter files, RViz configuration and the experiment entry points of DexPIE."""
