"""dyncore's built-in trainers: full-batch and minibatch gradient descent with lookahead."""
