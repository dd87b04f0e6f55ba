"""Example dyncore plugin: the Rössler attractor."""
