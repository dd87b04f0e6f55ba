"""dyncore's built-in chaos tests: the Gottwald–Melbourne 0-1 test and the largest Lyapunov exponent."""
