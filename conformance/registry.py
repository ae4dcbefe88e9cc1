"""The case registry: generators of conformance cases keyed by primitive.

A generator is ``fn(ctx: GenContext) -> Iterable[Case]``. The suite covers every primitive of
``portax.core.primitives.all_primitives()`` plus every primitive that has a registered generator (a plugin's
new primitive); a primitive without a generator is reported as ``no-cases``. Plugins register their
generators from a module named by an entry point in the ``portax.conformance`` group (see plugins/README.md).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from portax.core import dtypes
from portax.core.dtypes import short_name

TRANSFORMS = ("eval", "jit", "vmap", "jvp", "vjp")


@dataclasses.dataclass
class GenContext:
    """What a generator may read: the dtypes under test, a seeded RNG and the backend's declared limits."""

    dtypes: tuple  # numpy dtypes the backend claims (after --dtypes filtering)
    rng: np.random.RandomState
    ieee_specials: bool = True
    large_size: int | None = None  # an element count past the backend's single-dispatch limit, if it has one
    flushes_subnormals: bool = False  # the backend declares it may flush subnormals (then none are generated)

    def dtypes_of(self, kinds: str) -> list:
        """The dtypes under test whose numpy kind is in ``kinds`` (e.g. ``"f"``, ``"iu"``, ``"fiub"``)."""
        return [d for d in self.dtypes if dtypes.kind(d) in kinds]


@dataclasses.dataclass
class Case:
    """One check: ``fn(*args)`` (by default ``primitive.bind(*args, **params)``) on the backend vs reference.

    ``dtype`` is the report card's dtype column. ``transforms`` limits where the case applies;
    ``diff_argnums`` (default: the floating-point args) are differentiated under jvp/vjp; ``layout_args``
    (default: all) may be fed transposed or broadcast; ``accum`` is the number of terms accumulated into
    each output element (reductions, dots), which scales the absolute tolerance.
    """

    primitive: Any
    dtype: np.dtype
    args: tuple
    params: dict = dataclasses.field(default_factory=dict)
    fn: Callable | None = None
    label: str = ""
    transforms: tuple = TRANSFORMS
    diff_argnums: tuple | None = None
    layout_args: tuple | None = None
    accum: int = 1
    tolerance: Any = None  # a tolerances.Tolerance overriding the table

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)
        self.args = tuple(np.asarray(a) for a in self.args)
        if self.fn is None:
            prim, params = self.primitive, self.params
            self.fn = lambda *xs: prim.bind(*xs, **params)
        if not self.label:
            self.label = describe(self.args, self.params)

    @property
    def differentiable(self) -> tuple:
        if self.diff_argnums is not None:
            return self.diff_argnums
        return tuple(i for i, a in enumerate(self.args) if dtypes.kind(a.dtype) == "f")


def describe(args: Sequence[np.ndarray], params: dict | None = None) -> str:
    """``f32[3,5], i32[]`` plus the params that are short enough to read."""
    text = ", ".join(f"{short_name(a.dtype)}[{','.join(map(str, a.shape))}]" for a in args) or "no operands"
    shown = {k: v for k, v in (params or {}).items() if len(repr(v)) <= 60 and not callable(v)}
    if shown:
        text += " " + " ".join(f"{k}={_short(v)}" for k, v in sorted(shown.items()))
    return text


def _short(v: Any) -> str:
    if isinstance(v, np.dtype):
        return short_name(v)
    return repr(v)


Generator = Callable[[GenContext], Iterable[Case]]
_GENERATORS: dict = {}
_loaded = False


def register_cases(primitive: Any, generator: Generator) -> None:
    """Add a case generator for ``primitive`` (several may be registered for one primitive)."""
    _GENERATORS.setdefault(primitive, []).append(generator)


def generators_for(primitive: Any) -> list:
    load_generators()
    return list(_GENERATORS.get(primitive, []))


def tested_primitives() -> list:
    """The core's primitive table followed by plugin primitives that registered cases."""
    from portax.core.primitives import all_primitives
    load_generators()
    prims = list(all_primitives())
    seen = set(prims)
    return prims + [p for p in _GENERATORS if p not in seen]


def load_generators() -> None:
    """Import the suite's own generators and those of plugins (entry point group ``portax.conformance``)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import cases  # noqa: F401  (registers the core primitives' generators)
    from importlib.metadata import entry_points
    for ep in entry_points(group="portax.conformance"):
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as e:  # one broken plugin must not hide the others' cases
            warnings.warn(f"portax.conformance: cases of plugin '{ep.name}' ({ep.value}) failed to load: {e!r}")
