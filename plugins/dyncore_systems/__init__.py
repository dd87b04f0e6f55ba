"""dyncore's built-in systems: spiral, Lorenz-63, Van der Pol, Kuramoto–Sivashinsky."""
