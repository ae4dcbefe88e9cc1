"""JAX's PRNG implementations (threefry2x32, threefry4x32, philox2x32, philox4x32, rbg, unsafe_rbg), registered
by name, and ``lax.rng_bit_generator``, as compositions of uint32 elementwise ops (so they run in generated code on
every backend). Each implementation's seed, split, fold_in and random_bits act on raw uint32 key data and follow
jax/_src/random/<impl>.py bit for bit; ``rng_bit_generator`` follows XLA:CPU's RngBitGenerator (default
algorithm Philox-4x32-10)."""
from __future__ import annotations

import enum
import math
from typing import Any, Sequence

import numpy as np

from . import dtypes
from .primitives import elementwise as ew, structural as st
from .primitives.prng import threefry2x32
from .prng_keys import PRNGImpl, register_prng
from .trace import get_aval

_U32 = dtypes.uint32
_MASK16 = 0xFFFF


def _c(x: Any, value: int) -> Any:
    return ew._const(x, np.uint32(value))


def mulhi_u32(x: Any, c: int) -> Any:
    """The high 32 bits of the 64-bit product of uint32 ``x`` and the constant ``c`` (16-bit halves keep the
    uint32 arithmetic exact)."""
    xl, xh = ew.bitwise_and(x, _c(x, _MASK16)), ew.shift_right_logical(x, _c(x, 16))
    cl, ch = c & _MASK16, c >> 16
    low_carry = ew.shift_right_logical(ew.mul(xl, _c(x, cl)), _c(x, 16))
    mid = ew.add(ew.mul(xh, _c(x, cl)), low_carry)
    mid2 = ew.add(ew.bitwise_and(mid, _c(x, _MASK16)), ew.mul(xl, _c(x, ch)))
    return ew.add(ew.add(ew.mul(xh, _c(x, ch)), ew.shift_right_logical(mid, _c(x, 16))),
                  ew.shift_right_logical(mid2, _c(x, 16)))


def iota_2x32(shape: Sequence[int]) -> tuple:
    """The row-major linear index over ``shape`` as a 64-bit count split into (hi, lo) uint32 words (JAX's
    ``iota_2x32_shape``)."""
    if not shape:
        return st.full((), 0, _U32), st.full((), 0, _U32)
    strides = np.cumprod((1,) + tuple(shape[::-1]))[::-1][1:]
    lo = st.full(shape, 0, _U32)
    hi = st.full(shape, 0, _U32)
    for d, s in enumerate(strides):
        io = st.broadcasted_iota(_U32, shape, d)
        s_lo, s_hi = int(s) & 0xFFFFFFFF, int(s) >> 32
        term_hi = ew.add(mulhi_u32(io, s_lo), ew.mul(io, _c(io, s_hi)))
        new_lo = ew.add(lo, ew.mul(io, _c(io, s_lo)))
        overflow = ew.convert_element_type(ew.lt(new_lo, lo), _U32)
        hi = ew.add(ew.add(hi, term_hi), overflow)
        lo = new_lo
    return hi, lo


def _broadcast(*xs: Any) -> list:
    xs = [ew.asarray(x) for x in xs]
    shape = max((get_aval(x).shape for x in xs), key=len)
    return [st.broadcast_in_dim(x, shape, ()) if get_aval(x).shape != shape else x for x in xs]


def _rotl(x: Any, d: int) -> Any:
    return ew.bitwise_or(ew.shift_left(x, _c(x, d)), ew.shift_right_logical(x, _c(x, 32 - d)))


_ROT_4X32 = ((10, 26), (11, 21), (13, 27), (23, 5), (6, 20), (17, 11), (25, 10), (18, 20))


def threefry4x32(k0, k1, k2, k3, x0, x1, x2, x3) -> tuple:
    """The Threefry-4x32 block function (20 rounds) of jax/_src/random/threefry4x32.py."""
    k0, k1, k2, k3, x0, x1, x2, x3 = _broadcast(k0, k1, k2, k3, x0, x1, x2, x3)
    ks = [k0, k1, k2, k3, ew.bitwise_xor(ew.bitwise_xor(ew.bitwise_xor(ew.bitwise_xor(k0, k1), k2), k3),
                                         _c(k0, 0x1BD11BDA))]
    x0, x1, x2, x3 = ew.add(x0, k0), ew.add(x1, k1), ew.add(x2, k2), ew.add(x3, k3)
    for rnd in range(20):
        r0, r1 = _ROT_4X32[rnd % 8]
        if rnd % 2 == 0:
            x0 = ew.add(x0, x1)
            x1 = ew.bitwise_xor(x0, _rotl(x1, r0))
            x2 = ew.add(x2, x3)
            x3 = ew.bitwise_xor(x2, _rotl(x3, r1))
        else:
            x0 = ew.add(x0, x3)
            x3 = ew.bitwise_xor(x0, _rotl(x3, r0))
            x2 = ew.add(x2, x1)
            x1 = ew.bitwise_xor(x2, _rotl(x1, r1))
        if rnd & 3 == 3:
            j = rnd // 4
            x0, x1, x2 = ew.add(x0, ks[(1 + j) % 5]), ew.add(x1, ks[(2 + j) % 5]), ew.add(x2, ks[(3 + j) % 5])
            x3 = ew.add(ew.add(x3, ks[(4 + j) % 5]), _c(x3, 1 + j))
    return x0, x1, x2, x3


_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox2x32(k0, x0, x1) -> tuple:
    """The Philox-2x32-10 block function of jax/_src/random/philox2x32.py."""
    k0, x0, x1 = _broadcast(k0, x0, x1)
    for rnd in range(10):
        if rnd:
            k0 = ew.add(k0, _c(k0, _PHILOX_W0))
        lo, hi = ew.mul(x0, _c(x0, 0xD256D193)), mulhi_u32(x0, 0xD256D193)
        x0, x1 = ew.bitwise_xor(ew.bitwise_xor(hi, x1), k0), lo
    return x0, x1


def philox4x32(k0, k1, x0, x1, x2, x3) -> tuple:
    """The Philox-4x32-10 block function (Random123's, as jax/_src/random/philox4x32.py and XLA)."""
    k0, k1, x0, x1, x2, x3 = _broadcast(k0, k1, x0, x1, x2, x3)
    for rnd in range(10):
        if rnd:
            k0, k1 = ew.add(k0, _c(k0, _PHILOX_W0)), ew.add(k1, _c(k1, _PHILOX_W1))
        lo0, hi0 = ew.mul(x0, _c(x0, 0xD2511F53)), mulhi_u32(x0, 0xD2511F53)
        lo1, hi1 = ew.mul(x2, _c(x2, 0xCD9E8D57)), mulhi_u32(x2, 0xCD9E8D57)
        x0, x1, x2, x3 = (ew.bitwise_xor(ew.bitwise_xor(hi1, x1), k0), lo1,
                          ew.bitwise_xor(ew.bitwise_xor(hi0, x3), k1), lo0)
    return x0, x1, x2, x3


def _word(data: Any, i: int) -> Any:
    return st.index_in_dim(data, i, -1, keepdims=False)


def _stack_last(words: Sequence[Any]) -> Any:
    nd = len(get_aval(words[0]).shape)
    return st.concatenate([st.expand_dims(w, (nd,)) for w in words], nd)


def bits_from_words(words: Sequence[Any], bit_width: int) -> Any:
    """JAX's random_bits tail for the counter-based impls: 64 bits from two words (hi, lo), else the xor of
    all words (truncated to narrow widths)."""
    dt = np.dtype(f"uint{bit_width}")
    if bit_width == 64:
        hi, lo = (ew.convert_element_type(w, dt) for w in words)
        return ew.bitwise_or(ew.shift_left(hi, ew._const(hi, 32)), lo)
    x = words[0]
    for w in words[1:]:
        x = ew.bitwise_xor(x, w)
    return x if bit_width == 32 else ew.convert_element_type(x, dt)


def _check_bits(shape: tuple) -> None:
    if math.prod(shape) > 2 ** 64:
        raise NotImplementedError("random bits array of size exceeding 2 ** 64")


# --- threefry2x32 (JAX's default, partitionable mode) ------------------------------------------------------
def threefry_seed(seed: Any) -> Any:
    """JAX's threefry_seed: the words ``[hi, lo]`` of an integer scalar seed array (``hi``: bits 32-63 of a
    64-bit seed, else 0; ``lo``: the low 32 bits). Every implementation's seed starts from these words."""
    lo = ew.convert_element_type(seed, _U32)
    if get_aval(seed).dtype.itemsize == 8:
        hi = ew.convert_element_type(ew.shift_right_logical(seed, ew._const(seed, 32)), _U32)
    else:
        hi = st.full((), 0, _U32)
    return _stack_last([hi, lo])


def _tf2_split(key: Any, shape: tuple) -> Any:
    return _stack_last(threefry2x32(_word(key, 0), _word(key, 1), *iota_2x32(shape)))


def _tf2_fold_in(key: Any, data: Any) -> Any:
    """The hash of the counts ``[0, data]``: threefry_2x32 of (0, data) as its two words."""
    return _stack_last(threefry2x32(_word(key, 0), _word(key, 1), st.full((), 0, _U32), data))


def _tf2_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    b1, b2 = threefry2x32(_word(key, 0), _word(key, 1), *iota_2x32(shape))
    return bits_from_words((b1, b2), bit_width)


THREEFRY2X32 = PRNGImpl((2,), threefry_seed, _tf2_split, _tf2_bits, _tf2_fold_in, "threefry2x32", "fry")


# --- threefry4x32 --------------------------------------------------------------------------------------------
def _tf4_seed(seed: Any) -> Any:
    hilo, z = threefry_seed(seed), st.full((), 0, _U32)
    return _stack_last(threefry4x32(_word(hilo, 0), _word(hilo, 1), z, z, z, z, z, z))


def _tf4_split(key: Any, shape: tuple) -> Any:
    hi, lo = iota_2x32(shape)
    z = st.full(shape, 0, _U32)
    return _stack_last(threefry4x32(*(_word(key, i) for i in range(4)), z, z, hi, lo))


def _tf4_fold_in(key: Any, data: Any) -> Any:
    z = st.full((), 0, _U32)
    return _stack_last(threefry4x32(*(_word(key, i) for i in range(4)), z, z, z, data))


def _tf4_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    _check_bits(shape)
    hi, lo = iota_2x32(shape)
    z = st.full(shape, 0, _U32)
    o0, o1, o2, o3 = threefry4x32(*(_word(key, i) for i in range(4)), hi, lo, z, z)
    return bits_from_words((ew.bitwise_xor(o0, o2), ew.bitwise_xor(o1, o3)) if bit_width == 64 else
                           (o0, o1, o2, o3), bit_width)


# --- philox2x32 / philox4x32 ---------------------------------------------------------------------------------
def _phx2_seed(seed: Any) -> Any:
    hilo = threefry_seed(seed)
    return _stack_last(philox2x32(st.full((), 0, _U32), _word(hilo, 0), _word(hilo, 1))[:1])


def _phx2_split(key: Any, shape: tuple) -> Any:
    hi, lo = iota_2x32(shape)
    return _stack_last(philox2x32(_word(key, 0), hi, lo)[:1])


def _phx2_fold_in(key: Any, data: Any) -> Any:
    return _stack_last(philox2x32(_word(key, 0), st.full((), 0, _U32), data)[:1])


def _phx2_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    _check_bits(shape)
    hi, lo = iota_2x32(shape)
    return bits_from_words(philox2x32(_word(key, 0), hi, lo), bit_width)


def _phx4_seed(seed: Any) -> Any:
    hilo, z = threefry_seed(seed), st.full((), 0, _U32)
    return _stack_last(philox4x32(z, z, _word(hilo, 0), _word(hilo, 1), z, z)[:2])


def _phx4_split(key: Any, shape: tuple) -> Any:
    hi, lo = iota_2x32(shape)
    z = st.full(shape, 0, _U32)
    return _stack_last(philox4x32(_word(key, 0), _word(key, 1), z, z, hi, lo)[:2])


def _phx4_fold_in(key: Any, data: Any) -> Any:
    z = st.full((), 0, _U32)
    return _stack_last(philox4x32(_word(key, 0), _word(key, 1), z, z, z, data)[:2])


def _phx4_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    _check_bits(shape)
    hi, lo = iota_2x32(shape)
    z = st.full(shape, 0, _U32)
    out = philox4x32(_word(key, 0), _word(key, 1), hi, lo, z, z)
    return bits_from_words(out[:2] if bit_width == 64 else out, bit_width)


# --- rng_bit_generator ---------------------------------------------------------------------------------------
class RandomAlgorithm(enum.IntEnum):
    """``lax.RandomAlgorithm``: the algorithm of ``rng_bit_generator``."""
    RNG_DEFAULT = 0
    RNG_THREE_FRY = 1
    RNG_PHILOX = 2

    def __str__(self) -> str:
        return self.name


def _add_u32_carry(words: list, n: Any) -> list:
    """``words`` (little-endian uint32 words of one wide unsigned integer) plus the uint32 array ``n``."""
    out, carry = [], n
    for w in words:
        s = ew.add(w, carry)
        carry = ew.convert_element_type(ew.lt(s, carry), _U32)
        out.append(s)
    return out


def rng_bit_generator(key: Any, shape: Sequence[int], dtype: Any = np.uint32,
                      algorithm: RandomAlgorithm = RandomAlgorithm.RNG_DEFAULT, *, out_sharding: Any = None) -> tuple:
    """``lax.rng_bit_generator``: (new key, bits) from a uint32[4] key as XLA:CPU's RngBitGenerator. Key words
    (w0, w1) are the cipher key and (w2, w3) a 64-bit block counter; Philox-4x32-10 (the default) hashes the
    128-bit counters ``(w2, w3, w0, w1) + i`` into 4 words each, Threefry-2x32 (RNG_THREE_FRY; 1-d shapes only)
    the 64-bit counters ``(w2, w3) + i`` into 2; each output element takes one word (uint64: two, low first) and
    the new key has the counter advanced by the blocks used."""
    shape = st.canonicalize_shape(shape)
    dt = dtypes.canonicalize(dtype)
    if dt not in (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64)):
        raise TypeError(f"rng_bit_generator: unsupported dtype {np.dtype(dtype)}")
    key = ew.asarray(key)
    aval = get_aval(key)
    if aval.dtype != _U32 or aval.shape != (4,):
        raise TypeError(f"rng_bit_generator: the key must be uint32[4], got {aval.str_short()}")
    algorithm = RandomAlgorithm(algorithm)
    w = [_word(key, i) for i in range(4)]
    n_words = math.prod(shape) * (2 if dt.itemsize == 8 else 1)
    per_block = 2 if algorithm == RandomAlgorithm.RNG_THREE_FRY else 4
    n_blocks = -(-n_words // per_block)
    if n_blocks >= 2 ** 32:
        raise NotImplementedError("rng_bit_generator: more than 2**32 blocks of random bits")
    if algorithm == RandomAlgorithm.RNG_THREE_FRY and len(shape) > 1:
        raise NotImplementedError("rng_bit_generator: RNG_THREE_FRY with a shape of more than one dimension (XLA "
                                  "lays its words out per dimension; portax has the 1-d layout only)")
    i = st.iota(_U32, n_blocks)
    if algorithm == RandomAlgorithm.RNG_THREE_FRY:
        c = _add_u32_carry(w[2:], i)
        blocks = threefry2x32(w[0], w[1], c[0], c[1])
    else:
        c = _add_u32_carry([w[2], w[3], w[0], w[1]], i)
        blocks = philox4x32(w[0], w[1], *c)
    words = st.slice(st.reshape(_stack_last(list(blocks)), (n_blocks * per_block,)), (0,), (n_words,))
    if dt.itemsize == 8:
        pairs = st.reshape(words, (n_words // 2, 2))
        lo, hi = (ew.convert_element_type(_word(pairs, j), dt) for j in range(2))
        out = ew.bitwise_or(ew.shift_left(hi, ew._const(hi, 32)), lo)
    else:
        out = words if dt == _U32 else ew.convert_element_type(words, dt)
    new_counter = _add_u32_carry(w[2:], st.full((), n_blocks, _U32))
    return _stack_last(w[:2] + new_counter), st.reshape(out, shape)


# --- rbg / unsafe_rbg ----------------------------------------------------------------------------------------
def _rbg_seed(seed: Any) -> Any:
    hilo = threefry_seed(seed)
    return st.concatenate([hilo, hilo], 0)


def _halves(key: Any) -> tuple:
    """rbg's key (uint32[4]) as its two threefry2x32 keys."""
    return st.slice(key, (0,), (2,)), st.slice(key, (2,), (4,))


def _rbg_split(key: Any, shape: tuple) -> Any:
    return st.concatenate([_tf2_split(h, shape) for h in _halves(key)], len(shape))


def _rbg_fold_in(key: Any, data: Any) -> Any:
    return st.concatenate([_tf2_fold_in(h, data) for h in _halves(key)], 0)


def _rbg_bits(key: Any, bit_width: int, shape: tuple) -> Any:
    return rng_bit_generator(key, shape, np.dtype(f"uint{bit_width}"))[1]


def _unsafe_rbg_split(key: Any, shape: tuple) -> Any:
    num = math.prod(shape)
    _, keys = rng_bit_generator(key, (10 * num, 4), _U32)
    return st.reshape(st.slice_in_dim(keys, None, None, 10), shape + (4,))


def _unsafe_rbg_fold_in(key: Any, data: Any) -> Any:
    _, bits = rng_bit_generator(_rbg_seed(data), (10, 4), _U32)
    return ew.bitwise_xor(key, st.index_in_dim(bits, 9, 0, keepdims=False))


for _impl in (THREEFRY2X32,
              PRNGImpl((4,), _tf4_seed, _tf4_split, _tf4_bits, _tf4_fold_in, "threefry4x32", "fry4"),
              PRNGImpl((1,), _phx2_seed, _phx2_split, _phx2_bits, _phx2_fold_in, "philox2x32", "phx2"),
              PRNGImpl((2,), _phx4_seed, _phx4_split, _phx4_bits, _phx4_fold_in, "philox4x32", "phx4"),
              PRNGImpl((4,), _rbg_seed, _rbg_split, _rbg_bits, _rbg_fold_in, "rbg", "rbg"),
              PRNGImpl((4,), _rbg_seed, _unsafe_rbg_split, _rbg_bits, _unsafe_rbg_fold_in, "unsafe_rbg", "urbg")):
    register_prng(_impl)
