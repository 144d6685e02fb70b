"""What runs around the engine: the command line, batches, evaluation, data sets and training."""
