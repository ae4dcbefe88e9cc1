"""``portax.random``: JAX's PRNGs (threefry2x32 in partitionable mode by default; threefry4x32, philox2x32,
philox4x32, rbg and unsafe_rbg by ``impl=`` or ``jax_default_prng_impl``, see prng_impls.py): typed key arrays
(``key``, dtype ``key<fry>``, ...) and legacy raw keys (``PRNGKey``, uint32 arrays).

Key derivation, ``bits`` and ``uniform`` are bit-identical to ``jax.random``; samplers follow JAX's
algorithms so that values agree to float rounding.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from . import dtypes
from . import numpy as jnp
from .config import config
from .numpy import _util
from .placement import following
from .primitives import elementwise as ew, sorting as so, structural as st
from . import prng_impls  # noqa: F401  (registers the PRNG implementations)
from .array import Array
from .axis_types import maybe_auto_axes, on_mesh
from .explicit_sharding import canonicalize_sharding
from .prng_keys import KeyTy, PRNGImpl, PRNGKeyArray, check_key_data, prngs
from .primitives.custom_derivatives import custom_jvp
from .sharding import AxisType, NamedSharding, PartitionSpec, current_mesh
from .trace import concrete_or_error, concrete_or_none, get_aval

_U32 = dtypes.uint32
Array.register(PRNGKeyArray)  # key arrays are jax.Arrays (prng_keys.py cannot import array.py: an import cycle)


_LEGACY_KEY_MSG = ("Legacy uint32 key array passed as key to jax.random function. Please create keys using "
                   "jax.random.key(). If use of a raw key array was intended, set jax_legacy_prng_key=\"allow\".")


def _check_prng_key(name: str, key: Any, allow_batched: bool = False) -> tuple[PRNGKeyArray, bool]:
    """``key`` as a typed key array, and whether it was raw uint32 data (checked, then per jax_legacy_prng_key)."""
    if isinstance(key, PRNGKeyArray):  # its data keeps the trailing key axis (not so if a transform mapped it)
        check_key_data(key._impl, get_aval(key._base_array))
        typed, wrapped = key, False
    else:
        data = _util.asarray_any(key)
        impl = _resolve_impl(name, None)
        check_key_data(impl, get_aval(data))
        legacy = config.jax_legacy_prng_key
        if legacy == "error":
            raise ValueError(_LEGACY_KEY_MSG)
        if legacy == "warn":
            warnings.warn(_LEGACY_KEY_MSG, stacklevel=3)
        typed, wrapped = PRNGKeyArray(impl, data), True
    if not allow_batched and typed.ndim:
        raise ValueError(f"{name} accepts a single key, but was given a key array of shape {typed.shape} != (). "
                         "Use jax.vmap for batching.")
    return typed, wrapped


def _check_key(name: str, key: Any) -> PRNGKeyArray:
    return _check_prng_key(name, key)[0]


def _follows_key(sampler: Callable) -> Callable:
    """``sampler(key, ...)`` making its values and constants where ``key`` is committed, as JAX's samplers (jitted
    functions of the key) do (``placement``)."""
    @functools.wraps(sampler)
    def sample(key: Any, *args: Any, **kwargs: Any) -> Any:
        with following((key._base_array if isinstance(key, PRNGKeyArray) else key,)):
            return sampler(key, *args, **kwargs)
    return sample


def _empty_shape(*params: str) -> Callable[[dict], bool]:
    """Whether a sample's shape is empty, as JAX's samplers decide it when choosing its sharding: the ``shape``
    argument's, else (None) that of the broadcast parameters ``params`` (with none: None counts as empty, as in JAX)."""
    def empty(args: dict) -> bool:
        if args.get("shape") is not None:
            return _shape_tuple(args["shape"]) == ()
        return all(np.ndim(args[p]) == 0 for p in params)
    return empty


def _out_sharding(empty: Callable[[dict], bool] | None = None) -> Callable[[Callable], Callable]:
    """A sampler's ``out_sharding=`` keyword, as JAX's: the sampler run with the Explicit axes of the sharding's mesh
    made Auto, its sample then laid out and typed by the sharding (``maybe_auto_axes``); the same numbers as without
    it. Without one, a sample of empty shape (``empty`` of the call's arguments; None: not asked) under a mesh of
    only Explicit axes is replicated over it (``canonicalize_sharding_for_samplers``), as is any sample under a mesh
    with Explicit axes (``on_mesh``: JAX's sample of a key typed by that mesh)."""
    def decorate(sampler: Callable) -> Callable:
        sig = inspect.signature(sampler)

        @functools.wraps(sampler)
        def sample(*args: Any, out_sharding: Any = None, **kwargs: Any) -> Any:
            sharding = canonicalize_sharding(out_sharding, sampler.__name__)
            mesh = current_mesh()
            if (sharding is None and empty is not None and not mesh.empty
                    and all(t == AxisType.Explicit for t in mesh.axis_types)):
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                sharding = NamedSharding(mesh, PartitionSpec()) if empty(bound.arguments) else None
            if sharding is None:
                return on_mesh(sampler(*args, **kwargs))
            bound = sig.bind(*args, **kwargs)
            values = {n: v for n, v in bound.arguments.items() if isinstance(v, PRNGKeyArray) or hasattr(v, "aval")}
            static = {n: v for n, v in bound.arguments.items() if n not in values}
            return maybe_auto_axes(lambda vals: sampler(**static, **vals), sharding, values)
        sample.__signature__ = sig.replace(parameters=[
            *sig.parameters.values(), inspect.Parameter("out_sharding", inspect.Parameter.KEYWORD_ONLY, default=None)])
        return sample
    return decorate


def _return_keys(wrapped: bool, keys: PRNGKeyArray) -> Any:
    """Keys out as they came in: raw data for raw keys (typed keys under jax_enable_custom_prng)."""
    return keys._base_array if wrapped and not config.jax_enable_custom_prng else keys


def _resolve_impl(name: str, impl: Any) -> PRNGImpl:
    """The implementation ``impl`` names (a name, a key dtype; None: jax_default_prng_impl)."""
    if impl is None:
        return default_prng_impl()
    if isinstance(impl, KeyTy):
        return impl._impl
    if isinstance(impl, PRNGImpl):
        return impl
    if type(impl) is not str:
        raise TypeError(f"unrecognized type {type(impl)} for specifying PRNG implementation.")
    if impl in prngs:
        return prngs[impl]
    names = ", ".join(f'"{n}"' for n in prngs)
    raise ValueError(f'unrecognized PRNG implementation "{impl}". Did you mean one of: {names}?')


def default_prng_impl() -> PRNGImpl:
    """The implementation ``jax_default_prng_impl`` names (JAX's ``jax._src.random.default_prng_impl``)."""
    return prngs[config.jax_default_prng_impl]


def key_dtype(impl_spec: Any = None) -> KeyTy:
    """The dtype of typed keys of the implementation ``impl_spec`` (the default one if None)."""
    return KeyTy(_resolve_impl("key_dtype", impl_spec))


def _check_seed(ctor_name: str, seed: Any) -> None:
    if isinstance(seed, PRNGKeyArray):
        raise TypeError(f"{ctor_name} accepts a scalar seed, but was given a PRNG key.")
    if np.ndim(seed):
        raise TypeError(f"{ctor_name} accepts a scalar seed, but was given an array of shape {np.shape(seed)} != (). "
                        "Use jax.vmap for batching")


def PRNGKey(seed: Any, *, impl: Any = None) -> Any:
    """Raw key data from an integer seed by the implementation's seed function, as JAX's (threefry2x32: the words
    ``[hi, lo]`` of the seed in its canonical integer dtype)."""
    impl_ = _resolve_impl("PRNGKey", impl)
    _check_seed("PRNGKey", seed)
    return _return_keys(True, PRNGKeyArray(impl_, impl_.seed(_seed_data(seed))))


def _seed_data(seed: Any) -> Any:
    """The seed plus ``jax_random_seed_offset`` as an integer scalar array of its canonical dtype (a Python int is
    int64, i.e. int32 without x64, wrapping), for the implementation's seed function."""
    offset = config.jax_random_seed_offset
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("PRNG key seed must be an integer; got bool")
    if isinstance(seed, int):
        value, dt = int(np.int64(seed)), dtypes.canonicalize(np.int64)
    else:
        c = concrete_or_none(seed)
        if c is None:
            traced = _traced_seed(_util.asarray_any(seed))
            return ew.add(traced, ew._const(traced, offset)) if offset else traced
        c = np.asarray(c)
        if c.shape != () or dtypes.kind(c.dtype) not in "iu":
            raise TypeError(f"PRNG key seed must be an integer; got {c.dtype.name}{list(c.shape)}")
        value, dt = int(c), dtypes.canonicalize(c.dtype)
    value += offset
    bits_ = 8 * dt.itemsize
    value &= (1 << bits_) - 1
    if dtypes.kind(dt) == "i" and value >> (bits_ - 1):
        value -= 1 << bits_
    return _util.asarray_any(np.array(value, dtype=dt))


def _traced_seed(seed: Any) -> Any:
    aval = get_aval(seed)
    if dtypes.kind(aval.dtype) not in "iu" or aval.shape != ():
        raise TypeError(f"PRNG key seed must be an integer; got {aval.str_short()}")
    return seed


def key(seed: Any, *, impl: Any = None, dtype: Any = None) -> PRNGKeyArray:
    """A typed key array of shape () from an integer seed (its data is ``PRNGKey(seed)``)."""
    if impl is not None and dtype is not None:
        raise ValueError("Cannot specify both `impl` and `dtype` arguments to jax.random.key")
    impl_ = _resolve_impl("key", dtype if impl is None else impl)
    _check_seed("key", seed)
    return PRNGKeyArray(impl_, impl_.seed(_seed_data(seed)))


def key_data(keys: Any) -> Any:
    """The uint32 data of a key array (shape ``keys.shape + impl.key_shape``)."""
    return _check_prng_key("key_data", keys, allow_batched=True)[0]._base_array


def wrap_key_data(key_bits_array: Any, *, impl: Any = None, dtype: Any = None) -> PRNGKeyArray:
    """The key array over uint32 key data of shape ``batch + impl.key_shape`` (shape ``batch``)."""
    if impl is not None and dtype is not None:
        raise ValueError("Cannot specify both `impl` and `dtype` arguments to jax.random.wrap_key_data")
    impl_ = _resolve_impl("wrap_key_data", dtype if impl is None else impl)
    if isinstance(key_bits_array, PRNGKeyArray):
        raise TypeError("JAX encountered invalid PRNG key data: expected key_data.dtype = uint32; "
                        f"got dtype={key_bits_array.dtype}")
    data = _util.asarray_any(key_bits_array)
    check_key_data(impl_, get_aval(data))
    return PRNGKeyArray(impl_, data)


def _shape_tuple(shape: Any) -> tuple:
    """A sample shape as a tuple (an int ``n`` is ``(n,)``, as in JAX)."""
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)


def split(key: Any, num: int | tuple = 2) -> Any:
    """``num`` new keys (shape ``(num,)``; raw keys: ``(num,) + key_shape``) by the keys' implementation (JAX's
    partitionable threefry split for threefry2x32)."""
    typed, wrapped = _check_prng_key("split", key)
    shape = (num,) if isinstance(num, (int, np.integer)) else tuple(num)
    return _return_keys(wrapped, typed._wrap(typed._impl.split(typed._base_array, shape)))


def fold_in(key: Any, data: Any) -> Any:
    """A new key: the implementation's hash of ``uint32(data)`` under ``key`` (Python ints must lie in
    [0, 2**32); integer arrays wrap modulo 2**32)."""
    typed, wrapped = _check_prng_key("fold_in", key)
    if np.ndim(data):
        raise TypeError(f"fold_in accepts a scalar, but was given an array of shape {np.shape(data)} != (). "
                        "Use jax.vmap for batching.")
    if isinstance(data, int) and not isinstance(data, bool):
        if not 0 <= data < 2 ** 32:
            raise OverflowError(f"Python integer {data} out of bounds for uint32")
        d = _util.asarray_any(np.uint32(data))
    else:
        c = concrete_or_none(data)
        d = _util.asarray_any(np.asarray(c).astype(np.int64).astype(np.uint32) if c is not None and
                              dtypes.kind(np.asarray(c).dtype) == "i" else c) if c is not None else \
            ew.convert_element_type(_util.asarray_any(data), _U32)
    d = ew.convert_element_type(d, _U32)
    return _return_keys(wrapped, typed._wrap(typed._impl.fold_in(typed._base_array, d)))


@_out_sharding(_empty_shape())
def bits(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform random bits of an unsigned integer dtype (the default unsigned integer by default)."""
    key = _check_key("bits", key)
    dtype = dtypes.default_uint() if dtype is None else dtypes.canonicalize_explicit(dtype)
    if dtypes.kind(dtype) != "u":
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dtype}")
    return _random_bits(key, dtype.itemsize * 8, _shape_tuple(shape))


def _random_bits(key: PRNGKeyArray, bit_width: int, shape: tuple) -> Any:
    return key._impl.random_bits(key._base_array, bit_width, shape)


def _float_dtype(name: str, dtype) -> np.dtype:
    dt = dtypes.default_float() if dtype is None else dtypes.canonicalize_explicit(dtype)
    if dtypes.kind(dt) != "f":
        raise ValueError(f"dtype argument to `{name}` must be a float dtype, got {dt}")
    return dt


def _inexact_dtype(name: str, dtype) -> np.dtype:
    dt = dtypes.default_float() if dtype is None else dtypes.canonicalize_explicit(dtype)
    if dtypes.kind(dt) not in "fc":
        raise ValueError(f"dtype argument to `{name}` must be a float or complex dtype, got {dt}")
    return dt


@_out_sharding(_empty_shape())
@_follows_key
def uniform(key: Any, shape: Sequence[int] = (), dtype: Any = None, minval: Any = 0.0, maxval: Any = 1.0) -> Any:
    """Uniform floats in [minval, maxval): mantissa bits from ``bits`` under the exponent of 1.0."""
    key = _check_key("uniform", key)
    dt = _float_dtype("uniform", dtype)
    shape = _shape_tuple(shape)
    nbits = dt.itemsize * 8
    nmant = np.finfo(dt).nmant
    minval = ew.convert_element_type(_util.asarray_any(minval), dt)
    maxval = ew.convert_element_type(_util.asarray_any(maxval), dt)
    minval = _util.broadcast_to(minval, shape) if get_aval(minval).shape != shape else minval
    maxval = _util.broadcast_to(maxval, shape) if get_aval(maxval).shape != shape else maxval
    b = _random_bits(key, nbits, shape)
    ut = b.dtype if hasattr(b, "dtype") else get_aval(b).dtype
    one_bits = np.array(1.0, dt).view(ut)
    fb = ew.bitwise_or(ew.shift_right_logical(b, ew._const(b, nbits - nmant)), ew._const(b, int(one_bits)))
    floats = ew.sub(ew.bitcast_convert_type(fb, dt), ew._const(minval, 1.0))
    span = ew.sub(maxval, minval)
    if nbits < 32 or _exact_product(span):
        out = ew.add(ew.mul(floats, span), minval)
    else:
        out = _fma(floats, span, minval)
    return ew.max(minval, out)


def _exact_product(span: Any) -> bool:
    """Whether ``floats * span`` is exact (a concrete power-of-two or zero span), so that the affine map has a
    single rounding without a fused multiply-add."""
    c = concrete_or_none(span)
    if c is None:
        return False
    m, _ = np.frexp(np.abs(np.asarray(c, np.float64)))
    return bool(np.all((m == 0.5) | (m == 0)))


def _two_sum(a: Any, b: Any) -> tuple:
    """Knuth's TwoSum: ``s + e == a + b`` exactly, ``s = fl(a + b)``."""
    s = ew.add(a, b)
    bb = ew.sub(s, a)
    return s, ew.add(ew.sub(a, ew.sub(s, bb)), ew.sub(b, bb))


def _two_prod(a: Any, b: Any) -> tuple:
    """Dekker's TwoProduct with Veltkamp splitting: ``p + e == a * b`` exactly, ``p = fl(a * b)``."""
    factor = float(2 ** ((np.finfo(get_aval(a).dtype).nmant + 2) // 2) + 1)

    def split_(x):
        t = ew.mul(ew._const(x, factor), x)
        hi = ew.sub(t, ew.sub(t, x))
        return hi, ew.sub(x, hi)

    (ah, al), (bh, bl) = split_(a), split_(b)
    p = ew.mul(a, b)
    e = ew.add(ew.add(ew.add(ew.sub(ew.mul(ah, bh), p), ew.mul(ah, bl)), ew.mul(al, bh)), ew.mul(al, bl))
    return p, e


def _fma(a: Any, b: Any, c: Any) -> Any:
    """``a * b + c`` with one rounding, as XLA:CPU's fused multiply-add (Boldo & Melquiond 2008: error-free
    product and sum, the low parts added with rounding to odd, then one rounding to nearest)."""
    uh, ul = _two_prod(a, b)
    th, tl = _two_sum(c, uh)
    v, err = _two_sum(tl, ul)
    ibits = np.dtype(f"uint{get_aval(v).dtype.itemsize * 8}")
    even = ew.eq(ew.bitwise_and(ew.bitcast_convert_type(v, ibits), ew._const(ew.bitcast_convert_type(v, ibits), 1)),
                 ew._const(ew.bitcast_convert_type(v, ibits), 0))
    toward = ew.select(ew.gt(err, ew._const(err, 0)), st.full_like(v, np.inf), st.full_like(v, -np.inf))
    v_odd = ew.select(ew.bitwise_and(ew.ne(err, ew._const(err, 0)), even), ew.nextafter(v, toward), v)
    return ew.add(th, v_odd)


@_out_sharding(_empty_shape())
@_follows_key
def normal(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Standard normal samples: ``sqrt(2) * erf_inv(u)`` for u uniform in (-1, 1). A complex dtype has real and
    imaginary parts drawn with the two keys of ``split(key)``, each divided by sqrt(2) (variance 1/2), as JAX."""
    key = _check_key("normal", key)
    dt = _inexact_dtype("normal", dtype)
    if dtypes.kind(dt) == "c":
        parts = (normal(k, shape, dtypes.real_dtype(dt)) for k in _split2(key))
        return ew.complex(*(ew.div(p, ew._const(p, np.sqrt(2))) for p in parts))
    lo = np.nextafter(np.array(-1.0, dt), np.array(0.0, dt))
    u = uniform(key, shape, dt, lo, 1.0)
    return ew.mul(ew._const(u, np.sqrt(2)), ew.erf_inv(u))


@_out_sharding()
@_follows_key
def truncated_normal(key: Any, lower: Any, upper: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    dt = _float_dtype("truncated_normal", dtype)
    lower, upper = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (lower, upper))
    if shape is None:
        shape = _util.broadcast_shapes(get_aval(lower).shape, get_aval(upper).shape)
    shape = _shape_tuple(shape)
    sqrt2 = np.sqrt(2)
    a = ew.erf(ew.div(lower, ew._const(lower, sqrt2)))
    b = ew.erf(ew.div(upper, ew._const(upper, sqrt2)))
    u = uniform(key, shape, dt, a, b)
    out = ew.mul(ew._const(u, sqrt2), ew.erf_inv(u))
    from .numpy.ufuncs import nextafter
    lo_b = _util.broadcast_to(lower, shape)
    hi_b = _util.broadcast_to(upper, shape)
    return ew.clamp(nextafter(lo_b, st.full_like(lo_b, np.inf)), out, nextafter(hi_b, st.full_like(hi_b, -np.inf)))


def _convert_and_clip_integer(val: Any, dtype) -> Any:
    """Convert an integer array to ``dtype``, clipping values outside its range first."""
    val = _util.asarray_any(val)
    if dtypes.kind(get_aval(val).dtype) not in "iu":
        val = ew.convert_element_type(val, dtypes.default_int())
    info = np.iinfo(dtype)
    src = np.iinfo(get_aval(val).dtype)
    lo, hi = max(info.min, src.min), min(info.max, src.max)
    src_dt = get_aval(val).dtype
    val = ew.clamp(ew.convert_element_type(lo, src_dt), val, ew.convert_element_type(hi, src_dt))
    return ew.convert_element_type(val, dtype)


@_out_sharding(_empty_shape())
@_follows_key
def randint(key: Any, shape: Sequence[int], minval: Any, maxval: Any, dtype: Any = None) -> Any:
    """Uniform integers in [minval, maxval), with JAX's two-draw method (bias below 2**-nbits)."""
    key = _check_key("randint", key)
    dt = dtypes.default_int() if dtype is None else dtypes.canonicalize_explicit(dtype)
    if dtypes.kind(dt) not in "iu":
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    shape = _shape_tuple(shape)
    info = np.iinfo(dt)
    if info.bits >= 32:
        return _randint(key, shape, minval, maxval, dt)
    # narrow dtypes sample in int32 with bounds clipped to the dtype's range (maxval up to max + 1)
    lo = ew.clamp(info.min, _to_int32(minval), info.max)
    hi = ew.clamp(info.min, _to_int32(maxval), info.max + 1)
    return ew.convert_element_type(_randint(key, shape, lo, hi, dtypes.int32), dt)


def _to_int32(v: Any) -> Any:
    v = _util.asarray_any(v)
    if dtypes.kind(get_aval(v).dtype) not in "iu":
        v = ew.convert_element_type(v, dtypes.default_int())
    return ew.convert_element_type(v, dtypes.int32)


def _randint(key: Any, shape: tuple, minval: Any, maxval: Any, dt: np.dtype) -> Any:
    nbits = dt.itemsize * 8
    udt = np.dtype(f"uint{nbits}")
    maxval = _util.asarray_any(maxval)
    if dtypes.kind(get_aval(maxval).dtype) not in "iu":
        maxval = ew.convert_element_type(maxval, dtypes.default_int())
    max_in = _convert_and_clip_integer(np.array(np.iinfo(dt).max, dt), get_aval(maxval).dtype)
    out_of_range = _util.broadcast_to(ew.gt(maxval, max_in), shape)
    minval = _util.broadcast_to(_convert_and_clip_integer(minval, dt), shape)
    maxval = _util.broadcast_to(_convert_and_clip_integer(maxval, dt), shape)
    k1, k2 = _split2(key)
    higher, lower = _random_bits(k1, nbits, shape), _random_bits(k2, nbits, shape)
    span = ew.convert_element_type(ew.sub(maxval, minval), udt)
    span = ew.select(ew.le(maxval, minval), st.full_like(span, 1), span)
    span = ew.select(ew.bitwise_and(out_of_range, ew.gt(maxval, minval)), ew.add(span, ew._const(span, 1)), span)
    multiplier = ew.rem(st.full_like(span, 2 ** (nbits // 2)), span)
    multiplier = ew.rem(ew.mul(multiplier, multiplier), span)
    offset = ew.add(ew.mul(ew.rem(higher, span), multiplier), ew.rem(lower, span))
    offset = ew.rem(offset, span)
    return ew.add(minval, ew.convert_element_type(offset, dt))


@_out_sharding()
@_follows_key
def bernoulli(key: Any, p: Any = 0.5, shape: Sequence[int] | None = None, mode: str = "low") -> Any:
    """Booleans that are True with probability ``p`` (``mode='high'`` uses two draws for tiny ``p``)."""
    key = _check_key("bernoulli", key)
    if mode not in ("high", "low"):
        raise ValueError(f"got mode={mode!r}, expected 'high' or 'low'")
    p = _util.asarray_any(p)
    if dtypes.kind(get_aval(p).dtype) != "f":
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {get_aval(p).dtype}.")
    shape = get_aval(p).shape if shape is None else _shape_tuple(shape)
    dt = get_aval(p).dtype
    if mode == "high":
        u = uniform(key, (2,) + shape, dt)
        u1, u2 = u[0], u[1] * (2.0 ** -np.finfo(dt).nmant)
        return u2 < p - u1
    return ew.lt(uniform(key, shape, dt), _util.broadcast_to(p, shape))


def _shuffle(key: Any, x: Any, axis: int) -> Any:
    """JAX's shuffle: ceil(3 * log(n) / log(2**32 - 1)) rounds of sorting by random 32-bit keys."""
    size = int(np.prod(get_aval(x).shape, dtype=np.int64))
    num_rounds = int(np.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(num_rounds):
        key, subkey = _split2(key)
        sort_keys = _random_bits(subkey, 32, get_aval(x).shape)
        _, x = so.sort((sort_keys, x), axis, num_keys=1)
    return x


def _split2(key: Any) -> tuple:
    keys = split(key)
    return keys[0], keys[1]


@_out_sharding()
@_follows_key
def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of ``arange(x)`` (integer ``x``) or of ``x`` along ``axis``."""
    key = _check_key("permutation", key)
    if isinstance(x, (int, np.integer)) or (np.ndim(x) == 0 and not hasattr(x, "aval")):
        return _shuffle(key, st.iota(dtypes.default_int(), int(x)), 0)
    x = _util.asarray_any(x)
    if get_aval(x).ndim == 0:
        raise TypeError("x must be an integer or at least 1-dimensional")
    axis = _util.canonicalize_axis(axis, get_aval(x).ndim)
    if independent or get_aval(x).ndim == 1:
        return _shuffle(key, x, axis)
    ind = _shuffle(key, st.iota(dtypes.default_int(), get_aval(x).shape[axis]), 0)
    return jnp.take(x, ind, axis=axis, mode="clip")


def _top_k_indices(x: Any, k: int) -> Any:
    """Indices of the k largest entries along the last axis (ties: lower index first), as lax.top_k."""
    return jnp.argsort(x, axis=-1, descending=True, stable=True)[..., :k]


@_follows_key
def choice(key: Any, a: Any, shape: Sequence[int] = (), replace: bool = True, p: Any = None, axis: int = 0,
           mode: str | None = None) -> Any:
    """Random samples from ``a`` (or ``arange(a)``), uniformly or with probabilities ``p``."""
    key = _check_key("choice", key)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape argument of jax.random.choice must be a sequence, got {shape}")
    shape = _shape_tuple(shape)
    arr = _util.asarray_any(a)
    if get_aval(arr).ndim == 0:
        n_inputs = int(concrete_or_error(a, "The error occurred in jax.random.choice()"))
    else:
        axis = _util.canonicalize_axis(axis, get_aval(arr).ndim)
        n_inputs = get_aval(arr).shape[axis]
    n_draws = int(np.prod(shape, dtype=np.int64))
    if n_draws == 0:
        return jnp.zeros(shape, dtype=get_aval(arr).dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population (size {n_inputs}) when "
                         "'replace=False'")
    scalar = get_aval(arr).ndim == 0
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
            result = ind if scalar else jnp.take(arr, ind, axis=axis, mode="clip")
        else:
            perm = permutation(key, n_inputs if scalar else arr, axis)
            result = perm[(slice(None),) * (0 if scalar else axis) + (slice(n_draws),)]
    else:
        (p_arr,) = _util.promote_to_inexact(p)
        if get_aval(p_arr).shape != (n_inputs,):
            raise ValueError(f"p must be None or a 1D vector with the same size as a.shape[axis]. p has shape "
                             f"{get_aval(p_arr).shape} and a.shape[axis] is {n_inputs}.")
        if replace:
            p_cuml = jnp.cumsum(p_arr)
            r = p_cuml[-1] * (1 - uniform(key, shape, get_aval(p_cuml).dtype))
            ind = jnp.searchsorted(p_cuml, r)
        else:
            g = gumbel(key, (n_inputs,), get_aval(p_arr).dtype, mode=mode) + jnp.log(p_arr)
            ind = _top_k_indices(g, n_draws)
        result = ind if scalar else jnp.take(arr, ind, axis=axis, mode="clip")
    out_shape = shape if scalar else get_aval(arr).shape[:axis] + shape + get_aval(arr).shape[axis + 1:]
    return jnp.reshape(result, out_shape)


@_out_sharding(_empty_shape())
@_follows_key
def gumbel(key: Any, shape: Sequence[int] = (), dtype: Any = None, mode: str | None = None) -> Any:
    """Standard Gumbel samples; ``mode='high'`` spends a second draw on the small-probability tail."""
    key = _check_key("gumbel", key)
    dt = _float_dtype("gumbel", dtype)
    shape = _shape_tuple(shape)
    info = np.finfo(dt)
    if mode in (None, "low"):
        return -jnp.log(-jnp.log(uniform(key, shape, dt, info.tiny, 1.0)))
    if mode == "high":
        u = uniform(key, (2,) + shape, dt, 0.0, 1.0)
        high, low = u[0], u[1]
        x = jnp.where(high >= 0.5, high, high + 2.0 ** -info.nmant * low + info.tiny)
        return -jnp.log(-jnp.log1p(-x))
    raise ValueError(f"gumbel mode must be 'low' or 'high', got {mode!r}")


@_out_sharding()
@_follows_key
def categorical(key: Any, logits: Any, axis: int = -1, shape: Sequence[int] | None = None, replace: bool = True,
                mode: str | None = None) -> Any:
    """Samples from categorical distributions given by ``logits`` along ``axis`` (Gumbel-max, or Gumbel
    top-k without replacement)."""
    key = _check_key("categorical", key)
    logits = _util.asarray_any(logits)
    lshape = get_aval(logits).shape
    nd = len(lshape)
    axis_pos = _util.canonicalize_axis(axis, nd)
    batch_shape = lshape[:axis_pos] + lshape[axis_pos + 1:]
    shape = batch_shape if shape is None else _shape_tuple(shape)
    if tuple(_util.broadcast_shapes(shape[len(shape) - len(batch_shape):], batch_shape)) != \
            tuple(shape[len(shape) - len(batch_shape):]) or len(shape) < len(batch_shape):
        raise ValueError(f"categorical: shape {shape} is not broadcast-compatible with the batch shape {batch_shape}")
    prefix = shape[:len(shape) - len(batch_shape)]
    dt = get_aval(logits).dtype
    if replace:
        neg_axis = axis_pos - nd
        logits_shape = list(shape[len(shape) - len(batch_shape):])
        logits_shape.insert(axis_pos, lshape[axis_pos])
        g = gumbel(key, prefix + tuple(logits_shape), dt, mode=mode)
        return jnp.argmax(g + jnp.reshape(logits, (1,) * len(prefix) + lshape), axis=neg_axis)
    noisy = logits + gumbel(key, lshape, dt, mode=mode)
    k = int(np.prod(prefix, dtype=np.int64))
    if k > lshape[axis_pos]:
        raise ValueError(f"Number of samples without replacement ({k}) cannot exceed number of categories "
                         f"({lshape[axis_pos]}).")
    idx = _top_k_indices(jnp.moveaxis(noisy, axis_pos, -1), k)
    return jnp.reshape(jnp.moveaxis(idx, -1, 0), shape)


@_out_sharding(_empty_shape())
@_follows_key
def exponential(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("exponential", key)
    u = uniform(key, shape, _float_dtype("exponential", dtype))
    return ew.neg(ew.log1p(ew.neg(u)))


@_out_sharding(_empty_shape())
@_follows_key
def laplace(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("laplace", key)
    dt = _float_dtype("laplace", dtype)
    u = uniform(key, shape, dt, -1.0 + np.finfo(dt).epsneg, 1.0)
    return ew.mul(ew.sign(u), ew.log1p(ew.neg(ew.abs(u))))


@_out_sharding(_empty_shape())
@_follows_key
def logistic(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("logistic", key)
    dt = _float_dtype("logistic", dtype)
    u = uniform(key, shape, dt, np.finfo(dt).tiny, 1.0)
    return ew.sub(ew.log(u), ew.log1p(ew.neg(u)))


@_out_sharding(_empty_shape())
@_follows_key
def cauchy(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("cauchy", key)
    dt = _float_dtype("cauchy", dtype)
    u = uniform(key, shape, dt, np.finfo(dt).eps, 1.0)
    return jnp.tan(np.pi * (u - 0.5))


# --- gamma and the distributions built on it ----------------------------------------------------------------
def _gamma_one(key: Any, alpha: Any, log_space: bool) -> Any:
    """Marsaglia & Tsang (2000) for one scalar ``alpha``, with the ``alpha < 1`` boost, exactly as JAX draws it."""
    from .primitives.control_flow import while_loop
    dt = get_aval(alpha).dtype
    zero, one = ew._const(alpha, 0.0), ew._const(alpha, 1.0)
    boost_mask = ew.ge(alpha, one)
    alpha_orig = alpha
    alpha = ew.select(boost_mask, alpha, ew.add(alpha, one))
    d = ew.sub(alpha, ew._const(alpha, 1.0 / 3.0))
    c = ew.div(ew._const(alpha, 1.0 / 3.0), ew.sqrt(d))

    def cond_fn(state):
        _, X, V, U = state
        reject_squeeze = ew.ge(U, ew.sub(one, ew.mul(ew._const(U, 0.0331), ew.mul(X, X))))
        reject_log = ew.ge(ew.log(U), ew.add(ew.mul(X, ew._const(X, 0.5)),
                                             ew.mul(d, ew.add(ew.sub(one, V), ew.log(V)))))
        return ew.bitwise_and(reject_squeeze, reject_log)

    def next_xv(state):
        k, _, _ = state
        k, sub = _split2(k)
        x = normal(sub, (), dt)
        return k, x, ew.add(one, ew.mul(x, c))

    def body_fn(state):
        k = state[0]
        ks = split(k, 3)
        k, x_key, u_key = ks[0], ks[1], ks[2]
        _, x, v = while_loop(lambda s: ew.le(s[2], zero), next_xv, (x_key, zero, ew._const(alpha, -1.0)))
        X = ew.mul(x, x)
        V = ew.mul(ew.mul(v, v), v)
        return k, X, V, uniform(u_key, (), dt)

    key, subkey = _split2(key)
    _, _, V, _ = while_loop(cond_fn, body_fn, (key, zero, one, ew._const(alpha, 2.0)))
    if log_space:
        log_samples = ew.neg(exponential(subkey, (), dt))
        log_boost = ew.select(ew.bitwise_or(boost_mask, ew.eq(log_samples, zero)), zero,
                              ew.mul(log_samples, ew.div(one, alpha_orig)))
        return ew.add(ew.add(ew.log(d), ew.log(V)), log_boost)
    samples = ew.sub(one, uniform(subkey, (), dt))
    boost = ew.select(boost_mask, one, ew.pow(samples, ew.div(one, alpha_orig)))
    return ew.mul(ew.mul(d, V), boost)


def _gamma_impl(key: Any, a: Any, log_space: bool) -> Any:
    """One key per element (``split(key, a.size)``), each sampled by its own rejection loop."""
    from .api import vmap
    shape = get_aval(a).shape
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return a
    keys = split(key, n)
    flat = vmap(lambda k, alpha: _gamma_one(k, alpha, log_space))(keys, jnp.reshape(a, (n,)))
    return jnp.reshape(flat, shape)


@functools.partial(custom_jvp, nondiff_argnums=(2,))
def _gamma_sample(key: Any, a: Any, log_space: bool) -> Any:
    return _gamma_impl(key, a, log_space)


@_gamma_sample.defjvp
def _gamma_sample_jvp(log_space, primals, tangents):
    """Implicit reparameterization, as JAX: the tangent is ``random_gamma_grad(a, x) * da`` (divided by ``x``
    for log-space samples, whose ``x = exp(sample)`` is kept away from zero)."""
    from .gamma_grad import random_gamma_grad
    key, a = primals
    _, a_dot = tangents
    out = _gamma_sample(key, a, log_space)
    if not log_space:
        return out, ew.mul(random_gamma_grad(a, out), a_dot)
    x = jnp.exp(out)
    x = jnp.where(x == 0, jnp.finfo(get_aval(x).dtype).tiny, x)
    return out, ew.mul(ew.div(random_gamma_grad(a, x), x), a_dot)


def _gamma_args(name: str, key: Any, a: Any, shape: Sequence[int] | None, dtype: Any) -> tuple:
    key = _check_key(name, key)
    dt = _float_dtype(name, dtype)
    a = ew.convert_element_type(_util.asarray_any(a), dt)
    shape = get_aval(a).shape if shape is None else _shape_tuple(shape)
    return key, _util.broadcast_to(a, shape)


@_out_sharding(_empty_shape())
@_follows_key
def gamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Gamma(a, 1) samples (Marsaglia–Tsang), the same values as ``jax.random.gamma``."""
    key, a = _gamma_args("gamma", key, a, shape, dtype)
    return _gamma_sample(key, a, False)


@_out_sharding()
@_follows_key
def loggamma(key: Any, a: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """log of Gamma(a, 1) samples, accurate for small ``a`` where the samples underflow."""
    key, a = _gamma_args("loggamma", key, a, shape, dtype)
    return _gamma_sample(key, a, True)


@_out_sharding(_empty_shape("a", "b"))
@_follows_key
def beta(key: Any, a: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("beta", key)
    dt = _float_dtype("beta", dtype)
    a, b = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (a, b))
    shape = (tuple(_util.broadcast_shapes(get_aval(a).shape, get_aval(b).shape)) if shape is None
             else _shape_tuple(shape))
    key_a, key_b = _split2(key)
    log_a = loggamma(key_a, _util.broadcast_to(a, shape), shape, dt)
    log_b = loggamma(key_b, _util.broadcast_to(b, shape), shape, dt)
    log_max = jnp.maximum(log_a, log_b)
    ga, gb = jnp.exp(log_a - log_max), jnp.exp(log_b - log_max)
    return ga / (ga + gb)


@_out_sharding(_empty_shape())
@_follows_key
def dirichlet(key: Any, alpha: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    from .nn import softmax
    key = _check_key("dirichlet", key)
    dt = _float_dtype("dirichlet", dtype)
    alpha = ew.convert_element_type(_util.asarray_any(alpha), dt)
    ash = get_aval(alpha).shape
    if not ash:
        raise ValueError("dirichlet requires alpha.ndim >= 1, got alpha.ndim == 0")
    shape = ash[:-1] if shape is None else _shape_tuple(shape)
    log_g = loggamma(key, _util.broadcast_to(alpha, shape + ash[-1:]), shape + ash[-1:], dt)
    return softmax(log_g, -1)


@_out_sharding(_empty_shape("df"))
@_follows_key
def t(key: Any, df: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Student's t samples: ``normal * sqrt(df/2 / gamma(df/2))``."""
    key = _check_key("t", key)
    dt = _float_dtype("t", dtype)
    df = ew.convert_element_type(_util.asarray_any(df), dt)
    shape = get_aval(df).shape if shape is None else _shape_tuple(shape)
    key_n, key_g = _split2(key)
    n = normal(key_n, shape, dt)
    half_df = df / 2
    g = gamma(key_g, half_df, shape, dt)
    return n * jnp.sqrt(half_df / g)


@_out_sharding(_empty_shape("df"))
@_follows_key
def chisquare(key: Any, df: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("chisquare", key)
    dt = _float_dtype("chisquare", dtype)
    df = ew.convert_element_type(_util.asarray_any(df), dt)
    shape = get_aval(df).shape if shape is None else _shape_tuple(shape)
    return jnp.exp(loggamma(key, df / 2, shape, dt)) * 2


@_out_sharding(_empty_shape("dfnum", "dfden"))
@_follows_key
def f(key: Any, dfnum: Any, dfden: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("f", key)
    dt = _float_dtype("f", dtype)
    dfnum, dfden = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (dfnum, dfden))
    if shape is None:
        shape = tuple(_util.broadcast_shapes(get_aval(dfnum).shape, get_aval(dfden).shape))
    key_dfd, key_dfn = _split2(key)
    chi_n = chisquare(key_dfn, dfnum, shape, dt)
    chi_d = chisquare(key_dfd, dfden, shape, dt)
    return (chi_n / dfnum) / (chi_d / dfden)


@_out_sharding(_empty_shape())
@_follows_key
def generalized_normal(key: Any, p: float, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("generalized_normal", key)
    dt = _float_dtype("generalized_normal", dtype)
    keys = split(key)
    g = gamma(keys[0], 1 / p, shape, dt)
    r = rademacher(keys[1], shape, dt)
    return r * g ** (1 / p)


@_out_sharding()
@_follows_key
def ball(key: Any, d: int, p: float = 2, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform samples from the unit p-norm ball in d dimensions."""
    key = _check_key("ball", key)
    dt = _float_dtype("ball", dtype)
    k1, k2 = split(key)
    g = generalized_normal(k1, p, _shape_tuple(shape) + (d,), dt)
    e = exponential(k2, shape, dt)
    return g / (((jnp.abs(g) ** p).sum(-1) + e) ** (1 / p))[..., None]


# --- samplers from one uniform or normal draw ---------------------------------------------------------------
@_out_sharding(_empty_shape("b"))
@_follows_key
def pareto(key: Any, b: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("pareto", key)
    dt = _float_dtype("pareto", dtype)
    b = ew.convert_element_type(_util.asarray_any(b), dt)
    shape = get_aval(b).shape if shape is None else _shape_tuple(shape)
    return jnp.exp(exponential(key, shape, dt) / b)


@_out_sharding()
@_follows_key
def lognormal(key: Any, sigma: Any = np.float32(1), shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("lognormal", key)
    dt = _float_dtype("lognormal", dtype)
    sigma = ew.convert_element_type(_util.asarray_any(sigma), dt)
    shape = get_aval(sigma).shape if shape is None else _shape_tuple(shape)
    return jnp.exp(normal(key, shape, dt) * sigma)


@_out_sharding(_empty_shape())
@_follows_key
def rademacher(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    """Uniform samples from {-1, +1}."""
    key = _check_key("rademacher", key)
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    b = bernoulli(key, 0.5, shape).astype(dt)
    return (2 * b - 1).astype(dt)


@_out_sharding(_empty_shape())
@_follows_key
def maxwell(key: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("maxwell", key)
    dt = _float_dtype("maxwell", dtype)
    return jnp.linalg.norm(normal(key, _shape_tuple(shape) + (3,), dt), axis=-1)


@_follows_key
def double_sided_maxwell(key: Any, loc: Any, scale: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("double_sided_maxwell", key)
    dt = _float_dtype("double_sided_maxwell", dtype)
    params = tuple(_util.broadcast_shapes(np.shape(loc), np.shape(scale)))
    shape = (_shape_tuple(shape) if shape else params) + params
    maxwell_key, sign_key = _split2(key)
    return rademacher(sign_key, shape, dt) * maxwell(maxwell_key, shape, dt) * scale + loc


@_follows_key
def weibull_min(key: Any, scale: Any, concentration: Any, shape: Sequence[int] = (), dtype: Any = None) -> Any:
    key = _check_key("weibull_min", key)
    dt = _float_dtype("weibull_min", dtype)
    u = uniform(key, shape, dt, 0, 1)
    return jnp.power(-jnp.log1p(-u), 1.0 / concentration) * scale


@_out_sharding(_empty_shape("scale"))
@_follows_key
def rayleigh(key: Any, scale: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("rayleigh", key)
    dt = _float_dtype("rayleigh", dtype)
    scale = ew.convert_element_type(_util.asarray_any(scale), dt)
    shape = get_aval(scale).shape if shape is None else _shape_tuple(shape)
    u = uniform(key, shape, dt)
    return _util.broadcast_to(scale, shape) * jnp.sqrt(jnp.log(u) * -2)


@_out_sharding()
@_follows_key
def wald(key: Any, mean: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    key = _check_key("wald", key)
    dt = _float_dtype("wald", dtype)
    mean = ew.convert_element_type(_util.asarray_any(mean), dt)
    shape = get_aval(mean).shape if shape is None else _shape_tuple(shape)
    k1, k2 = _split2(key)
    mean = _util.broadcast_to(mean, shape)
    v = normal(k1, shape, dt)
    z = uniform(k2, shape, dt)
    y = v ** 2
    y_sq = y ** 2
    mean_sq = mean ** 2
    sqrt_term = jnp.sqrt(4 * mean * y + mean_sq * y_sq)
    x = mean + mean_sq * y / 2 - mean / 2 * sqrt_term
    return jnp.where(z <= mean / (mean + x), x, mean_sq / x)


@_out_sharding(_empty_shape("p"))
@_follows_key
def geometric(key: Any, p: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Number of Bernoulli(p) trials up to and including the first success."""
    key = _check_key("geometric", key)
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    (p,) = _util.promote_to_inexact(p)
    shape = get_aval(p).shape if shape is None else _shape_tuple(shape)
    u = uniform(key, shape, get_aval(p).dtype)
    u = jnp.where(u == 0, 1, u)
    g = jnp.floor(jnp.log(u) / _util.broadcast_to(jnp.log1p(-p), shape)) + 1
    return g.astype(dt)


@_out_sharding(_empty_shape("left", "mode", "right"))
@_follows_key
def triangular(key: Any, left: Any, mode: Any, right: Any, shape: Sequence[int] | None = None,
               dtype: Any = None) -> Any:
    key = _check_key("triangular", key)
    dt = _float_dtype("triangular", dtype)
    left, mode, right = (ew.convert_element_type(_util.asarray_any(v), dt) for v in (left, mode, right))
    if shape is None:
        shape = tuple(_util.broadcast_shapes(get_aval(left).shape, get_aval(mode).shape, get_aval(right).shape))
    left, mode, right = (_util.broadcast_to(v, _shape_tuple(shape)) for v in (left, mode, right))
    fc = (mode - left) / (right - left)
    u = uniform(key, shape, dt)
    out1 = left + jnp.sqrt(u * (right - left) * (mode - left))
    out2 = right - jnp.sqrt((1 - u) * (right - left) * (right - mode))
    return jnp.where(u < fc, out1, out2)


# --- poisson ----------------------------------------------------------------------------------------------------
def _poisson_knuth(key: Any, lam: Any, shape: tuple, dtype, max_iters: int) -> Any:
    """Multiply uniforms until their product drops below exp(-lam) (one key stream for the whole array)."""
    from .primitives.control_flow import while_loop

    def body_fn(carry):
        i, k, rng, log_prod = carry
        rng, subkey = _split2(rng)
        k = jnp.where(log_prod > -lam, k + 1, k)
        u = uniform(subkey, shape, dtypes.float32)
        return i + 1, k, rng, log_prod + jnp.log(u)

    def cond_fn(carry):
        i, log_prod = carry[0], carry[3]
        return jnp.any(log_prod > -lam) & (i < max_iters)

    init = (jnp.zeros((), dtypes.int32), jnp.zeros(shape, dtype), key, jnp.zeros(shape, dtypes.float32))
    k = while_loop(cond_fn, body_fn, init)[1]
    return (k - 1).astype(dtype)


def _poisson_rejection(key: Any, lam: Any, shape: tuple, dtype, max_iters: int) -> Any:
    """Hörmann's transformed rejection with squeeze (PTRS) for lam >= 10."""
    from .primitives.control_flow import while_loop
    from .scipy.special import gammaln
    log_lam = jnp.log(lam)
    b = 0.931 + 2.53 * jnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def body_fn(carry):
        i, k_out, accepted, key = carry
        keys = split(key, 3)
        key, sub0, sub1 = keys[0], keys[1], keys[2]
        u = uniform(sub0, shape, lam.dtype) - 0.5
        v = uniform(sub1, shape, lam.dtype)
        u_shifted = 0.5 - jnp.abs(u)
        k = jnp.floor((2 * a / u_shifted + b) * u + lam + 0.43)
        s = jnp.log(v * inv_alpha / (a / (u_shifted * u_shifted) + b))
        t_ = -lam + k * log_lam - gammaln(k + 1)
        accept1 = (u_shifted >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((u_shifted < 0.013) & (v > u_shifted))
        accept = accept1 | (~reject & (s <= t_))
        return i + 1, jnp.where(accept, k, k_out), accepted | accept, key

    def cond_fn(carry):
        i, _, accepted, _ = carry
        return jnp.any(~accepted) & (i < max_iters)

    init = (jnp.zeros((), dtypes.int32), jnp.full(shape, -1, lam.dtype), jnp.zeros(shape, dtypes.bool_), key)
    return while_loop(cond_fn, body_fn, init)[1].astype(dtype)


@_out_sharding(_empty_shape("lam"))
@_follows_key
def poisson(key: Any, lam: Any, shape: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """Poisson samples: Knuth's method for lam < 10, transformed rejection above (JAX's algorithms)."""
    key = _check_key("poisson", key)
    dt = dtypes.canonicalize(dtype or dtypes.default_int())
    lam = _util.asarray_any(lam)
    shape = get_aval(lam).shape if shape is None else _shape_tuple(shape)
    lam = ew.convert_element_type(_util.broadcast_to(lam, shape), dtypes.float32)
    use_knuth = jnp.isnan(lam) | (lam < 10)
    lam_knuth = jnp.where(use_knuth, lam, 0.0)
    lam_rejection = jnp.where(use_knuth, 1e5, lam)
    max_iters = int(np.iinfo(dt).max)
    result = jnp.where(use_knuth, _poisson_knuth(key, lam_knuth, shape, dt, max_iters),
                       _poisson_rejection(key, lam_rejection, shape, dt, max_iters))
    return jnp.where(lam == 0, jnp.zeros_like(result), result)


# --- multivariate samplers ----------------------------------------------------------------------------------------
@_out_sharding(_empty_shape())
@_follows_key
def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Sequence[int] | None = None, dtype: Any = None,
                        method: str = "cholesky") -> Any:
    """``mean + factor @ z`` with ``factor`` from a Cholesky ('cholesky'), SVD ('svd') or eigh ('eigh') of cov."""
    key = _check_key("multivariate_normal", key)
    if method not in ("svd", "eigh", "cholesky"):
        raise ValueError("method must be one of {'svd', 'eigh', 'cholesky'}")
    dt = _float_dtype("multivariate_normal", dtype)
    mean = ew.convert_element_type(_util.asarray_any(mean), dt)
    cov = ew.convert_element_type(_util.asarray_any(cov), dt)
    if get_aval(mean).ndim < 1:
        raise ValueError(f"multivariate_normal requires mean.ndim >= 1, got mean.ndim == {get_aval(mean).ndim}")
    if get_aval(cov).ndim < 2:
        raise ValueError(f"multivariate_normal requires cov.ndim >= 2, got cov.ndim == {get_aval(cov).ndim}")
    n = get_aval(mean).shape[-1]
    if get_aval(cov).shape[-2:] != (n, n):
        raise ValueError(f"multivariate_normal requires cov.shape == (..., n, n) for n={n}, but got cov.shape == "
                         f"{get_aval(cov).shape}.")
    if shape is None:
        shape = tuple(_util.broadcast_shapes(get_aval(mean).shape[:-1], get_aval(cov).shape[:-2]))
    shape = _shape_tuple(shape)
    if method == "svd":
        u, s, _ = jnp.linalg.svd(cov)
        factor = u * jnp.sqrt(s[..., None, :])
    elif method == "eigh":
        w, v = jnp.linalg.eigh(cov)
        factor = v * jnp.sqrt(w[..., None, :])
    else:
        factor = jnp.linalg.cholesky(cov)
    z = normal(key, shape + (n,), dt)
    return mean + jnp.einsum("...ij,...j->...i", factor, z)


@_out_sharding(_empty_shape())
@_follows_key
def orthogonal(key: Any, n: int, shape: Sequence[int] = (), dtype: Any = None, m: int | None = None) -> Any:
    """Haar-random orthogonal (``m is None``) or semi-orthogonal ``n x m`` matrices (Mezzadri 2007); unitary ones
    for a complex dtype."""
    key = _check_key("orthogonal", key)
    dt = _inexact_dtype("orthogonal", dtype)
    n = int(concrete_or_error(n, "The error occurred in jax.random.orthogonal()"))
    m_ = n if m is None else int(m)
    z = normal(key, _shape_tuple(shape) + (max(n, m_), min(n, m_)), dt)
    q, r = jnp.linalg.qr(z)
    d = jnp.linalg.diagonal(r)
    x = q * jnp.expand_dims(jnp.sign(d), -2)
    return jnp.swapaxes(x, -1, -2) if n < m_ else x


def clone(key: Any) -> Any:
    """Keys are immutable values in portax: cloning returns the key itself."""
    typed, wrapped = _check_prng_key("clone", key, allow_batched=True)
    return _return_keys(wrapped, typed)


def key_impl(keys: Any) -> str:
    """The name of the keys' PRNG implementation."""
    return _check_prng_key("key_impl", keys, allow_batched=True)[0]._impl.name


__all__ = ["PRNGKey", "ball", "bernoulli", "beta", "bits", "categorical", "cauchy", "chisquare", "choice", "clone",
           "dirichlet", "double_sided_maxwell", "exponential", "f", "fold_in", "gamma", "generalized_normal",
           "geometric", "gumbel", "key", "key_data", "key_dtype", "key_impl", "laplace", "loggamma", "logistic",
           "lognormal", "maxwell", "multivariate_normal", "normal", "orthogonal", "pareto", "permutation", "poisson",
           "rademacher", "randint", "rayleigh", "split", "t", "triangular", "truncated_normal", "uniform", "wald",
           "weibull_min", "wrap_key_data"]
