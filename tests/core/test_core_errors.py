"""Errors users meet, with JAX's exception types and messages that name the op, shapes and dtypes."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import lax
from portax.core import dtypes
from portax.errors import (ConcretizationTypeError, TracerArrayConversionError, TracerBoolConversionError,
                           TracerIntegerConversionError)

F34 = np.ones((3, 4), np.float32)


def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match=r"Gradient only defined for scalar-output functions. Output had shape: \(3,\)"):
        jax.grad(lambda x: x * 2)(np.ones(3, np.float32))


def test_grad_of_integer_output():
    with pytest.raises(TypeError, match="grad requires real-valued outputs.*int32"):
        jax.grad(lambda x: jnp.sum(x).astype(jnp.int32))(np.ones(3, np.float32))


def test_grad_with_respect_to_integer_input():
    with pytest.raises(TypeError, match="grad requires real- or complex-valued inputs.*int32"):
        jax.grad(lambda x: x * 2.0)(np.int32(3))
    with pytest.raises(TypeError, match="int32"):
        jax.grad(lambda x: x * 2.0)(3)
    g = jax.grad(lambda x: x * 2.0, allow_int=True)(np.int32(3))
    assert np.asarray(g).dtype == dtypes.float0


def test_grad_argnums_out_of_range_and_bad_aux():
    with pytest.raises(TypeError, match="argnums"):
        jax.grad(lambda x: x, argnums=2)(1.0)
    with pytest.raises(ValueError, match="has_aux"):
        jax.grad(lambda x: x, has_aux=True)(1.0)


def test_vmap_inconsistent_sizes():
    with pytest.raises(ValueError, match=r"(?s)vmap got inconsistent sizes for array axes to be mapped.*\(3,\).*\(4,\)"):
        jax.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))


def test_vmap_bad_axes():
    with pytest.raises(ValueError, match="axis 2"):
        jax.vmap(lambda a: a, in_axes=2)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="in_axes"):
        jax.vmap(lambda a, b: a, in_axes=(0, 0, 0))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="at least one non-None"):
        jax.vmap(lambda a: a, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="tree prefix"):
        jax.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": np.ones(3)})


def test_lax_binary_op_dtype_mismatch_names_both_dtypes():
    with pytest.raises(TypeError, match="add requires arguments to have the same dtypes, got float32, int32"):
        lax.add(np.float32(1), np.int32(1))
    with pytest.raises(TypeError, match="mul requires arguments to have the same dtypes, got float32, int32"):
        jax.jit(lax.mul)(F34, np.ones((3, 4), np.int32))


def test_lax_shape_mismatch_names_shapes():
    with pytest.raises(TypeError, match=r"\(3, 4\).*\(4, 3\)"):
        lax.add(F34, np.ones((4, 3), np.float32))


def test_reshape_size_mismatch():
    with pytest.raises(TypeError, match=r"reshape total size must be unchanged.*\(5, 2\).*\(3, 4\)"):
        lax.reshape(F34, (5, 2))


def test_dot_general_contracting_mismatch():
    with pytest.raises(TypeError, match=r"dot_general requires contracting dimensions to have the same shape, got \[4\] and \[5\]"):
        lax.dot_general(F34, np.ones((5, 2), np.float32), (((1,), (0,)), ((), ())))
    with pytest.raises(TypeError, match="lax.dot requires 1-D or 2-D"):
        lax.dot(np.ones((2, 2, 2), np.float32), F34)


def test_jvp_argument_errors():
    with pytest.raises(TypeError, match="same tree structure"):
        jax.jvp(lambda x: x, (1.0,), ([1.0],))
    with pytest.raises(ValueError, match="primal and tangent shapes"):
        jax.jvp(lambda x: x, (np.ones(3, np.float32),), (np.ones(2, np.float32),))
    with pytest.raises(TypeError, match="float32.*float16"):
        jax.jvp(lambda x: x, (np.ones(3, np.float32),), (np.ones(3, np.float16),))
    with pytest.raises(TypeError, match="tuples or lists"):
        jax.jvp(lambda x: x, 1.0, 1.0)


def test_vjp_cotangent_errors():
    _, pullback = jax.vjp(lambda x: x * 2, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"cotangent shape \(2,\) does not match primal output shape \(3,\)"):
        pullback(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="Tree structure of cotangent"):
        pullback((np.ones(3, np.float32),))


def test_jit_non_hashable_static_argument():
    f = jax.jit(lambda x, opts: x, static_argnums=1)
    with pytest.raises(ValueError, match="Non-hashable static arguments"):
        f(1.0, {"a": 1})


def test_tracer_conversion_errors_under_jit():
    with pytest.raises(TracerArrayConversionError, match="__array__"):
        jax.jit(lambda x: np.sin(np.asarray(x)))(1.0)
    with pytest.raises(TracerIntegerConversionError) as info:
        jax.jit(lambda n: jnp.zeros(3)[: int(n)])(2)
    assert isinstance(info.value, ConcretizationTypeError) and isinstance(info.value, TypeError)
    with pytest.raises(TracerBoolConversionError):
        jax.jit(lambda x: 1.0 if x else 0.0)(True)
    with pytest.raises(ConcretizationTypeError):
        jax.jit(lambda x: float(x))(1.0)


def test_concrete_values_are_available_under_grad_and_jvp():
    assert float(jax.grad(lambda x: x * int(x))(3.0)) == 3.0
    assert float(jax.jvp(lambda x: x ** 2 if float(x) > 0 else -x, (2.0,), (1.0,))[1]) == 4.0


def test_sequences_are_not_arrays_for_lax():
    with pytest.raises(TypeError, match="not a valid array"):
        lax.sin([1.0, 2.0])


BAD_CALLS = [
    lambda: lax.add(np.float32(1), np.int32(1)),
    lambda: lax.reshape(F34, (7,)),
    lambda: lax.transpose(F34, (0, 0)),
    lambda: lax.slice(F34, (0, 0), (4, 4)),
    lambda: lax.dynamic_slice(F34, (0,), (1, 1)),
    lambda: lax.concatenate([F34, np.ones((2, 2), np.float32)], 0),
    lambda: lax.reduce_sum(F34, (2,)),
    lambda: lax.broadcast_in_dim(F34, (5,), (0,)),
    lambda: lax.pad(F34, np.int32(0), ((0, 0, 0), (0, 0, 0))),
    lambda: lax.sort(F34, dimension=3),
    lambda: lax.exp(np.int32(1)),
    lambda: lax.select(np.ones(3, bool), np.ones(3, np.float32), np.ones(3, np.int32)),
    lambda: lax.gather(F34, np.ones((2, 1), np.float32), lax.GatherDimensionNumbers((1,), (0,), (0,)), (1, 4)),
    lambda: lax.cond(np.ones(2, bool), lambda: 1.0, lambda: 2.0),
    lambda: lax.scan(lambda c, x: (c, x), 0.0, np.float32(1)),
    lambda: lax.while_loop(lambda c: c, lambda c: c + 1.0, 0.0),
    lambda: jax.grad(lambda x: x)(np.ones(2, np.float32)),
    lambda: jax.vmap(lambda x: x)(np.float32(1)),
    lambda: jax.jit(lambda x: x[int(x[0])])(np.ones(2, np.int32)),
    lambda: jax.jvp(lambda x: x, (1.0,), (1.0, 2.0)),
    lambda: jax.eval_shape(lambda x: lax.dot(x, x), jax.ShapeDtypeStruct((2, 3), np.float32)),
]


@pytest.mark.parametrize("call", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_bad_calls_raise_ordinary_errors(call):
    with pytest.raises((TypeError, ValueError)):
        call()
