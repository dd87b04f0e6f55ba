"""Entry point of the dyncore_models plugin: registers its components by lazy target (no torch import)."""

import dyncore


@dyncore.hookimpl
def register_models(registry):
    registry.add("rnn", "dyncore_models.rnn:WindowRNN", summary="Windowed RNN: past states in, next state out (learns the trajectory)")
    registry.add("node", "dyncore_models.node:NeuralODE", summary="Neural ODE: an MLP vector field integrated by a solver (learns the field)")
    registry.add(
        "hybrid", "dyncore_models.hybrid:HybridODE",
        summary="Knowledge-based Neural ODE: a known system's field and an MLP, learned coupling (uses prior knowledge)",
    )
    registry.add(
        "semilinear", "dyncore_models.semilinear:SemilinearModel",
        summary="Semilinear PDE model u_t = L u + N(u) on a periodic grid, L diagonal in Fourier space, ETDRK4 (learned or known L)",
    )
    registry.add("stiff_node", "dyncore_models.stiff_node:StiffNODE", summary="Neural ODE for stiff systems: range-scaled states, slow time, trapezoidal training, radau rollout")
