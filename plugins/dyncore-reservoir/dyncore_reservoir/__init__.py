"""dyncore-reservoir: a ReservoirPy echo state network as a dyncore model named ``esn``."""
