"""Layer 6: scenario files in, runs out (``loader`` parses and validates, ``run`` drives the simulation)."""
