"""``portax.ad_checkpoint``: as ``jax.ad_checkpoint`` (use ``portax.checkpoint`` to checkpoint a function)."""
from portax.core.ad_checkpoint import checkpoint_name, checkpoint_policies, print_saved_residuals  # noqa: F401

_REMOVED = {name: f"jax.ad_checkpoint.{name} was deprecated in JAX v0.8.2 and removed in JAX v0.10.0; use "
                  f"jax.{name} instead." for name in ("checkpoint", "remat")}


def __getattr__(name: str):
    if name in _REMOVED:
        raise AttributeError(_REMOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
