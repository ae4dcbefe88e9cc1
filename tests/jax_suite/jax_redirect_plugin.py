"""pytest plugin (``-p jax_redirect_plugin``): JAX's test modules in ``$PORTAX_JAX_TESTS_DIR`` import portax where
they import public jax, and JAX's test harness computes everything it scores with portax.

The harness (``jax._src.test_util`` as ``jtu``, absltest parameterisation, dtype lists, tolerances, numpy
references) stays real jax. Patches, so that no result scored for portax is computed by real jax:

1. ``jtu.JaxTestCase._CompileAndCheck``, ``jtu.check_grads`` (``jax._src.public_test_util.check_grads/check_jvp/
   check_vjp``) and the jaxpr helpers call ``api.jit/jvp/vjp/linearize/make_jaxpr``: their module global ``api``
   becomes a view giving portax's functions for those names (real jax's for the rest).
2. The same modules' ``tree_map/tree_reduce/tree_all/tree_flatten/tree_unflatten`` become portax's (pytrees
   registered with portax are nodes, portax arrays leaves).
3. ``jax.test_util`` (``from jax.test_util import check_grads``) is JAX's checker (``public_test_util``, patched by 1
   and 2): the tests keep JAX's tolerances and checks, computed by portax.
4. ``jtu.JIT_IMPLEMENTATION`` (api_test's jit parameterisation) holds portax's jit instead of real jax's.
5. ``lax_test_util`` (lax_test, lax_vmap_test) builds its op records from ``lax``: that becomes portax.lax (names
   portax lacks are placeholders raising ImportError when a test uses them).
6. ``jax.config`` is portax's config, except ``parse_flags_with_absl`` (the harness's flags: real jax's), and
   ``update`` sets the option in real jax too where it has it, so the harness (dtype lists, x64) agrees with portax.
7. ``JaxTestCase.setUp`` sets the config JAX's tests run under (``jax_numpy_dtype_promotion='strict'``,
   ``jax_numpy_rank_promotion='raise'``, ``jax_enable_checks``, ``jax_legacy_prng_key='error'`` and each class's
   ``jtu.with_config``) in portax too, for every option portax has.
8. ``jtu.strict_promotion_if_dtypes_match`` (a context manager JAX's tests wrap mixed-dtype checks in) sets
   ``jax_numpy_dtype_promotion`` in portax too, not only in real jax.
9. ``jtu.promote_like_jnp`` (numpy references promoted like jnp) promotes with portax's ``promote_dtypes`` and
   ``promote_dtypes_inexact`` rather than real jax's (which reject portax arrays).
10. ``jtu.count_jit_and_pmap_lowerings`` (and ``assert_num_jit_and_pmap_compilations``) counts real jax's
   ``lower_jaxpr_to_module`` events: each backend compilation of portax emits that event (through the hook
   ``portax.core.dispatch.on_compile``), so the tests count portax's own compilations; likewise
   ``jtu.count_jit_tracing_cache_miss`` counts ``trace_to_jaxpr`` events: each trace of a function for jit (or
   ``eval_shape``, which shares jit's traces) emits one through ``portax.core.api.on_trace``; and
   ``jtu.count_pjit_cpp_cache_miss`` counts ``jit_cpp_cache_miss`` events (a jit call missing JAX's C++ fast path):
   each jit call missing portax's fast path emits one through ``portax.core.api.on_jit_general_path``.
11. A context manager of real jax's config (``config.random_seed_offset(3)``, ``@config.explicit_x64_dtypes(mode)``:
   test modules import ``jax._src.config``, the harness's) also sets the option in portax where portax has it, as 6
   and 7 do for ``update`` and ``jtu.with_config``; a value portax refuses raises before real jax's is set.
12. ``from jax._src import dtypes`` gives test modules a view whose key dtype categories ``prng_key`` and
   ``extended`` are portax's (random_test: ``jnp.issubdtype(key.dtype, dtypes.prng_key)``; real jax's classes cannot
   be the categories of portax's key dtypes), real jax's ``jax._src.dtypes`` for every other name.

Real jax raises TypeError on portax arrays (they are not JAX types), so a harness path not patched here fails
loudly rather than computing a portax-scored result with real jax.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import types

import jax_redirect

_API_NAMES = ("jit", "jvp", "vjp", "linearize", "make_jaxpr")
_TREE_NAMES = ("tree_map", "tree_reduce", "tree_all", "tree_flatten", "tree_unflatten")


class _View(types.ModuleType):
    """A module whose listed names (all if None) come from ``primary`` (Missing if it lacks them), others from
    ``fallback``."""

    def __init__(self, name: str, primary, names, fallback, what: str) -> None:
        super().__init__(name)
        self._primary, self._names, self._fallback, self._what = primary, names, fallback, what

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if self._names is None or attr in self._names:
            if hasattr(self._primary, attr):
                return getattr(self._primary, attr)
            return jax_redirect.Missing(f"{self._what}.{attr}")
        return getattr(self._fallback, attr)


def _portax_jit(*args, **kwargs):
    import portax
    return portax.jit(*args, **kwargs)


def patch_harness() -> dict:
    """Apply patches 1-12; returns the redirect overrides (patches 3, 6 and 12)."""
    import portax
    import portax.tree_util
    from jax._src import public_test_util, test_util as jtu
    from jax._src.internal_test_util import lax_test_util
    from portax.core import config as portax_config

    for module in (jtu, public_test_util):
        module.api = _View(f"{module.__name__}.api (portax)", portax, _API_NAMES, module.api, "portax")  # 1
        for name in _TREE_NAMES:  # 2
            if hasattr(module, name) and hasattr(portax.tree_util, name):
                setattr(module, name, getattr(portax.tree_util, name))
    _portax_jit._name = "jit"
    jtu._PJIT_IMPLEMENTATION = _portax_jit
    jtu.JIT_IMPLEMENTATION = (_portax_jit, jtu._NOOP_JIT_IMPLEMENTATION)  # 4
    lax_test_util.lax = _View("lax (portax)", portax.lax, None, None, "portax.lax")  # 5

    original_setup = jtu.JaxTestCase.setUp

    @functools.wraps(original_setup)
    def setUp(self):  # 7
        original_setup(self)
        options = {**self._default_global_config, **self._default_thread_local_config}
        for name, value in options.items():
            try:
                state = portax_config.config._state(name)
            except AttributeError:
                continue  # an option portax does not have (e.g. jax_traceback_filtering)
            self.enterContext(state(value))

    jtu.JaxTestCase.setUp = setUp
    original_promotion = jtu.strict_promotion_if_dtypes_match

    @functools.wraps(original_promotion)
    @contextlib.contextmanager
    def strict_promotion_if_dtypes_match(dtypes):  # 8
        mode = "strict" if all(dtype == dtypes[0] for dtype in dtypes) else "standard"
        with original_promotion(dtypes), portax_config.config._state("jax_numpy_dtype_promotion")(mode):
            yield

    jtu.strict_promotion_if_dtypes_match = strict_promotion_if_dtypes_match
    from portax.core.numpy import _util as portax_np_util
    jtu.promote_dtypes = portax_np_util.promote_dtypes  # 9
    jtu.promote_dtypes_inexact = portax_np_util.promote_to_inexact
    from jax._src import util as jax_util
    from portax.core import dispatch as portax_dispatch
    portax_dispatch.on_compile = lambda: jax_util.test_event("lower_jaxpr_to_module")  # 10
    from portax.core import api as portax_api
    portax_api.on_trace = lambda: jax_util.test_event("trace_to_jaxpr")
    portax_api.on_jit_general_path = lambda: jax_util.test_event("jit_cpp_cache_miss")
    from jax._src import config as jax_config
    _sync_config_managers(jax_config.StateContextManager, portax_config.config)  # 11
    from jax._src import dtypes as jax_dtypes
    key_categories = _View("jax._src.dtypes (portax's key dtype categories)", portax.dtypes, ("prng_key", "extended"),
                           jax_dtypes, "portax.dtypes")  # 12
    return {"jax.test_util": public_test_util, "jax.config": _ConfigView(portax.config),  # 3, 6
            "jax._src.dtypes": key_categories}


def _sync_config_managers(manager_cls, portax_config) -> None:
    """Patch 11: entering/leaving real jax's config context managers enters/leaves portax's for the same option."""
    entered = threading.local()  # per thread, the portax managers of the real ones entered (LIFO)
    enter, leave = manager_cls.__enter__, manager_cls.__exit__

    def __enter__(self):
        try:
            state = portax_config._state(self.state.name)
        except AttributeError:
            state = None  # an option portax does not have
        mine = None if state is None else state(self.new_val)
        enter(self)
        if mine is not None:
            mine.__enter__()
        entered.__dict__.setdefault("stack", []).append(mine)

    def __exit__(self, *exc):
        mine = entered.stack.pop()
        if mine is not None:
            mine.__exit__(*exc)
        return leave(self, *exc)

    manager_cls.__enter__, manager_cls.__exit__ = __enter__, __exit__


class _ConfigView:
    """``jax.config`` for the test modules: portax's, with the harness's flag parsing and real jax kept in sync."""

    def __init__(self, portax_config) -> None:
        self._portax = portax_config

    def __getattr__(self, attr):
        return getattr(self._portax, attr)

    def parse_flags_with_absl(self):
        from jax._src import config
        config.parse_flags_with_absl()

    def update(self, name, value):
        from jax._src import config
        self._portax.update(name, value)
        if name in config.config._value_holders:
            config.config.update(name, value)


def pytest_configure(config):
    directory = os.environ.get("PORTAX_JAX_TESTS_DIR")
    if not directory:
        raise RuntimeError("jax_redirect_plugin: set PORTAX_JAX_TESTS_DIR to the directory of JAX's tests")
    redirector = jax_redirect.Redirector(overrides=patch_harness())
    sys.meta_path.insert(0, jax_redirect.RedirectingFinder(directory, redirector))


def pytest_report_header(config):
    import portax
    return (f"JAX's tests redirected to portax {portax.__version__} on backend {portax.default_backend()} "
            f"(tests from {os.environ.get('PORTAX_JAX_TESTS_DIR')})")
