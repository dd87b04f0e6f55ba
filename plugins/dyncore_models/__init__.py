"""dyncore's built-in models: the windowed RNN and the Neural ODE."""
