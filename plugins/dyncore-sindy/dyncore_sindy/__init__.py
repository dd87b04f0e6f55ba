"""dyncore-sindy: PySINDy (sparse identification of nonlinear dynamics) as a dyncore model named ``sindy``."""
