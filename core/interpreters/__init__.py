"""One module per interpreter: evaluation, staging, jvp, partial evaluation, transpose, batching."""
