"""``portax.example_libraries``: the small neural-network (``stax``) and optimizer (``optimizers``)
libraries JAX ships for its examples, written against portax."""
