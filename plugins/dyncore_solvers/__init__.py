"""dyncore's built-in solvers: torchdiffeq methods, SciPy's solve_ivp (stiff), ETDRK4."""
