"""Load JAX's test modules with their public ``jax`` imports redirected to portax (pure logic: needs neither jax
nor portax to be importable, so the unit test can drive it with fake modules).

A redirected module gets its own ``__builtins__`` whose ``__import__`` maps ``jax`` and ``jax.X.Y`` to ``portax`` and
``portax.X.Y`` (``overrides`` name exceptions), while ``jax._src...`` (the test harness) stays real jax. Names that a
test module imports, or reads while its module code runs (decorator arguments, dtype lists), that portax lacks become
a ``Missing`` placeholder raising ``ImportError`` naming the missing piece when a test uses it, so only the tests
that use it fail, each with a clear cause. After import, reading a missing attribute raises AttributeError."""
from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import types
from typing import Any, Iterable, Mapping

HARNESS = ("jax._src",)  # modules the harness (jax._src.test_util, ...) needs from real jax
# Internal modules a test module imports as the public API (api_test: `from jax._src import api; api.grad(...)`):
# the test module gets the public module they implement (hence portax); the harness keeps the real one.
# (linalg_test: `from jax._src.lax import linalg as lax_linalg; lax_linalg.geqrf(a)`, i.e. jax.lax.linalg.)
# (random_test: `from jax._src.random import prng as prng_internal; isinstance(k, prng_internal.PRNGKeyArray)`,
# `prng_internal.prngs`: the key-array class and PRNG registry, portax.core.prng_keys in portax;
# `from jax._src import random as jax_random; jax_random.default_prng_impl()`: portax.core.random.)
# (lax_vmap_test: `lax_windowed_reductions._select_and_gather_add(...)`/`_select_and_scatter_add`, the max/min pooling
# derivative's helpers, in portax.core.primitives.windowed; batching_test: `parallel.pargmax/pargmin`, in
# portax.core.primitives.collectives.)
# (api_test: `from jax._src.ad_checkpoint import saved_residuals`, nn_test: `ad_checkpoint.saved_residuals(f, x)`: the
# residuals portax's vjp saves, portax.core.ad_checkpoint; names it lacks, e.g. custom_remat, are placeholders.)
# (api_test, lax_numpy_test: `from jax._src import array; assertIsInstance(x, array.ArrayImpl)`: the concrete class
# of jax.Array, portax.core.array.ArrayImpl; fft_test: `from jax._src.numpy.fft import _fft_norm`, the factor of
# the norm modes, in portax.core.numpy.fft; lax_numpy_indexing_test: `indexing.rewriting_take(x, idx, strategy=...)`
# and `jax._src.indexing.Slice` (what jax.ds makes), in portax.core.numpy.indexing.)
# (random_test: `jnp.issubdtype(key.dtype, dtypes.prng_key)` with `from jax._src import dtypes`: the plugin's
# override of "jax._src.dtypes" gives portax's key dtype categories prng_key and extended, real jax's other names.)
# (lax_numpy_test, lax_test, api_test: `from jax._src.sharding_impls import make_single_device_sharding`, the
# sharding the tests pass to jnp's `device=` and compare with `x.sharding`: portax.core.sharding's.)
ALIASES = {"jax._src.api": "jax", "jax._src.lax.linalg": "jax.lax.linalg",
           "jax._src.random.prng": "portax.core.prng_keys", "jax._src.random": "portax.core.random",
           "jax._src.lax.windowed_reductions": "portax.core.primitives.windowed",
           "jax._src.lax.parallel": "portax.core.primitives.collectives",
           "jax._src.ad_checkpoint": "portax.core.ad_checkpoint", "jax._src.array": "portax.core.array",
           "jax._src.numpy.fft": "portax.core.numpy.fft", "jax._src.numpy.indexing": "portax.core.numpy.indexing",
           "jax._src.indexing": "portax.core.numpy.indexing", "jax._src.dtypes": "jax._src.dtypes",
           "jax._src.sharding_impls": "portax.core.sharding"}


class Missing:
    """Stands for a name portax lacks: any use raises ImportError saying what is missing (while the module code runs,
    attributes and calls give further placeholders, so that the module's other tests still load)."""

    def __init__(self, what: str, redirector: "Redirector | None" = None) -> None:
        self._what, self._redirector = what, redirector

    def _fail(self, *args: Any, **kwargs: Any):
        if self._redirector is not None and self._redirector.lenient:
            return self
        raise ImportError(f"portax lacks {self._what}")

    __call__ = __getitem__ = __mro_entries__ = _fail

    def __iter__(self):  # parameterising over a missing name generates no cases (reported as absent)
        return iter(()) if self._redirector is not None and self._redirector.lenient else self._fail()

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self._fail()

    def __repr__(self) -> str:
        return f"<missing in portax: {self._what}>"


class Redirector:
    """Maps public ``jax`` module names onto ``target`` (``portax``); ``overrides`` gives modules for exact names."""

    def __init__(self, source: str = "jax", target: str = "portax", harness: Iterable[str] = HARNESS,
                 overrides: Mapping[str, Any] | None = None, aliases: Mapping[str, str] = ALIASES) -> None:
        self.source, self.target = source, target
        self.aliases = dict(aliases)
        self.harness = tuple(harness)
        self.overrides = dict(overrides or {})
        self.lenient = False  # True while a test module's code runs
        self._proxies: dict[str, _Proxy] = {}
        self.top = _TopModule(self)
        self.builtins = dict(vars(builtins), __import__=self.import_)

    def redirected(self, name: str) -> bool:
        """Whether ``import name`` is sent to portax (public jax) rather than real jax (the harness)."""
        is_source = name == self.source or name.startswith(self.source + ".")
        return is_source and not any(name == h or name.startswith(h + ".") for h in self.harness)

    def resolve(self, name: str) -> Any:
        """The portax module standing for public jax module ``name`` (ImportError naming both if portax lacks it)."""
        if name in self.overrides:
            return self.overrides[name]
        if name == self.source:
            return self.top
        if not self.redirected(name):
            return importlib.import_module(name)
        target = self.target + name[len(self.source):]
        try:
            return self.wrap(importlib.import_module(target))
        except ModuleNotFoundError as e:
            if e.name is not None and not target.startswith(e.name):
                raise  # portax's own import is broken: not a missing jax module
            parent, _, attr = name.rpartition(".")
            module = getattr(importlib.import_module(self.target + parent[len(self.source):]), attr, None) \
                if parent != self.source and self.redirected(parent) else None
            if isinstance(module, types.ModuleType):  # a module that is an attribute (portax.lax.linalg)
                return self.wrap(module)
            raise ImportError(f"portax lacks module {target} (the test imports {name})", name=name) from None

    def import_(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0):
        if not level and fromlist and any(f"{name}.{item}" in self.aliases for item in fromlist):
            module = builtins.__import__(name, globals, locals, fromlist, level)
            return _FromView(name, {item: self.resolve(self.aliases[f"{name}.{item}"]) if f"{name}.{item}" in
                                    self.aliases else getattr(module, item) for item in fromlist})
        if not level and fromlist and name in self.aliases:  # `from jax._src.X import a`, X an aliased module
            module = self.resolve(self.aliases[name])
            return _FromView(name, {item: self._member(module, name, item) for item in fromlist if item != "*"})
        if level or not self.redirected(name):
            return builtins.__import__(name, globals, locals, fromlist, level)
        if not fromlist:  # `import jax.numpy [as jnp]`: Python walks attributes down from the top module
            parts = name.split(".")
            for i in range(2, len(parts) + 1):
                try:
                    self.resolve(".".join(parts[:i]))
                except ImportError:
                    if i == 2:  # `import jax.foo` and portax has no foo: `jax.foo` is a placeholder
                        self.top._missing(parts[1])
                    break
            return self.top
        try:
            module = self.resolve(name)
        except ImportError:
            return _FromView(name, {item: self.missing(f"{self.target}{name[len(self.source):]}.{item} (from {name})")
                                    for item in fromlist})
        return _FromView(getattr(module, "__name__", name),
                         {item: self._member(module, name, item) for item in fromlist if item != "*"})

    def _member(self, module: Any, name: str, item: str) -> Any:
        """``from name import item``: the attribute, else the submodule, else a Missing placeholder."""
        try:
            return getattr(module, item)
        except AttributeError:
            pass
        try:
            return self.resolve(f"{name}.{item}")
        except ImportError:
            return self.missing(f"{self.target}{name[len(self.source):]}.{item} (from {name} import {item})")

    def missing(self, what: str) -> Missing:
        return Missing(what, self)

    def wrap(self, value: Any) -> Any:
        """Target modules reach test modules through a ``_Proxy`` (lenient attribute reads during import)."""
        if not isinstance(value, types.ModuleType) or isinstance(value, (_Proxy, _TopModule)):
            return value
        name = value.__name__
        if not (name == self.target or name.startswith(self.target + ".")):
            return value
        if name not in self._proxies:
            self._proxies[name] = _Proxy(value, self)
        return self._proxies[name]

    def exec_module(self, module: types.ModuleType, code: Any) -> None:
        """Run a test module's code with the redirecting ``__import__`` (missing names lenient meanwhile)."""
        module.__dict__["__builtins__"] = self.builtins
        self.lenient = True
        try:
            exec(code, module.__dict__)
        finally:
            self.lenient = False


class _TopModule(types.ModuleType):
    """The ``jax`` a redirected test module sees: portax's attributes, real ``jax._src`` for the harness."""

    def __init__(self, redirector: Redirector) -> None:
        super().__init__(redirector.source, f"{redirector.source} redirected to {redirector.target}")
        object.__setattr__(self, "_redirector", redirector)

    def _missing(self, attr: str) -> None:
        r = self._redirector
        self.__dict__.setdefault(attr, r.missing(f"{r.target}.{attr} (import {r.source}.{attr})"))

    def __getattr__(self, attr: str) -> Any:
        r = self._redirector
        full = f"{r.source}.{attr}"
        if full in r.overrides or not r.redirected(full):
            return r.resolve(full)
        target = importlib.import_module(r.target)
        try:
            return r.wrap(getattr(target, attr))
        except AttributeError:
            pass
        try:
            return r.resolve(full)
        except ImportError:
            if r.lenient:
                return r.missing(f"{r.target}.{attr} (jax.{attr})")
            raise AttributeError(f"module '{r.source}' (redirected to {r.target}) has no attribute '{attr}': "
                                 f"{r.target} lacks {r.target}.{attr}") from None

    def __repr__(self) -> str:
        return f"<module '{self.__name__}' (redirected to {self._redirector.target})>"


class _Proxy(types.ModuleType):
    """A target module as test modules see it: its attributes (submodules proxied in turn)."""

    def __init__(self, module: types.ModuleType, redirector: Redirector) -> None:
        super().__init__(module.__name__, module.__doc__)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_redirector", redirector)

    def __getattr__(self, attr: str) -> Any:
        r = self._redirector
        try:
            return r.wrap(getattr(self._module, attr))
        except AttributeError:
            if attr.startswith("__"):
                raise
        try:  # a submodule its package does not import
            return r.wrap(importlib.import_module(f"{self._module.__name__}.{attr}"))
        except ImportError:
            if r.lenient:
                return r.missing(f"{self._module.__name__}.{attr}")
            raise AttributeError(f"module '{self._module.__name__}' has no attribute '{attr}'") from None

    def __dir__(self):
        return dir(self._module)

    def __repr__(self) -> str:
        return repr(self._module)


class _FromView(types.ModuleType):
    """What ``from X import a, b`` gets back: the requested names, resolved (or Missing) for one import statement."""

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        super().__init__(name)
        self.__dict__.update(members)


class _Loader(importlib.machinery.SourceFileLoader):
    redirector: Redirector

    def exec_module(self, module: types.ModuleType) -> None:
        self.redirector.exec_module(module, self.get_code(module.__name__))


class RedirectingFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level modules whose source is in ``directory`` (JAX's tests/) and loads them redirected."""

    def __init__(self, directory: str, redirector: Redirector) -> None:
        self.directory = os.path.abspath(directory)
        self.redirector = redirector

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if "." in fullname:
            return None
        file = os.path.join(self.directory, fullname + ".py")
        if not os.path.isfile(file):
            return None
        loader = type("RedirectLoader", (_Loader,), {"redirector": self.redirector})(fullname, file)
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)
