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
    for bad in (lambda x: x, lambda x: (x,), lambda x: (1, 2, 3)):  # JAX's TypeError
        with pytest.raises(TypeError, match="expected function with aux output to return a two-element tuple"):
            jax.grad(bad, has_aux=True)(1.0)


def test_vmap_inconsistent_sizes():
    with pytest.raises(ValueError, match=r"vmap got inconsistent sizes for array axes to be mapped:\n  \* one axis had "
                       r"size 3: axis 0 of argument a of type float32\[3\];\n  \* one axis had size 4: axis 0 of "
                       r"argument b of type float32\[4\]$"):
        jax.vmap(lambda a, b: a + b)(np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"\* the `axis_size` argument was 2;\n  \* most axes \(2 of them\) had size 8, "
                       r"e.g. axis 0 of argument x of type int32\[8\];\n  \* one axis had size 3: axis 0 of "
                       r"kwargs\['z'\] of type int32\[3,2\]$"):
        jax.vmap(lambda x, y, z: x, in_axes=0, axis_size=2)(np.arange(8, dtype=np.int32), np.arange(8, dtype=np.int32),
                                                            z=np.ones((3, 2), np.int32))
    with pytest.raises(ValueError, match=r"vmap wrapped function must be passed at least one argument containing an "
                       r"array or axis_size must be specified, got empty \*args=\(\{\},\) and \*\*kwargs=\{\}"):
        jax.vmap(lambda x: x)({})


def test_vmap_axes_spec_errors():
    with pytest.raises(TypeError, match=r"vmap in_axes must be an int, None, or a tuple of entries corresponding to "
                       r"the positional arguments passed to the function, but got \{'a': 0\}."):
        jax.vmap(lambda x: x["a"], in_axes={"a": 0})
    with pytest.raises(TypeError, match="vmap in_axes must be an int, None, or"):
        jax.vmap(lambda x: x, in_axes=False)
    with pytest.raises(TypeError, match="vmap out_axes must be an int, None, or"):
        jax.vmap(lambda x: x, out_axes=(np.ones(2),))
    with pytest.raises(ValueError, match=r"(?s)vmap in_axes specification must be a tree prefix of the corresponding "
                       r"value;.*Mismatch details.*different types"):
        jax.vmap(lambda x: x, in_axes=([0],))(np.ones(3))
    with pytest.raises(ValueError, match=r"vmap has mapped output \(axis_name=foo\) but out_axes is None"):
        jax.vmap(lambda x: x, out_axes=None, axis_name="foo")(np.ones(2))
    with pytest.raises(ValueError, match=r"at vmap out_axes\[1\], got axis spec None but output was batched on axis 0"):
        jax.vmap(lambda x: (1.0, x), out_axes=None)(np.ones(2))


def test_vmap_docstring():
    def superfun(a):
        """Does things with stuff."""
    assert jax.vmap(superfun).__doc__.startswith("Vectorized version of superfun.")
    assert jax.vmap(superfun).__doc__.endswith("\n\nOriginal documentation:\n\nDoes things with stuff.")


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
    with pytest.raises(TypeError, match=r"dot_general requires contracting dimensions to have the same shape, got \(4,\) and \(5,\)\.$"):
        lax.dot_general(F34, np.ones((5, 2), np.float32), (((1,), (0,)), ((), ())))
    with pytest.raises(ValueError, match="jax.lax.dot: dimension_numbers must be specified"):
        lax.dot(np.ones((2, 2, 2), np.float32), F34)
    with pytest.raises(TypeError, match=r"requires lhs batch dimensions to be distinct, got lhs_batch \(0, 0\)"):
        lax.dot_general(F34, F34, (((), ()), ((0, 0), (0, 1))))
    with pytest.raises(TypeError, match="rhs batch dimensions to be disjoint from contracting dimensions"):
        lax.dot_general(F34, F34, (((1,), (0,)), ((0,), (0,))))
    with pytest.raises(TypeError, match="rhs dimension numbers to be nonnegative and less than the number of axes"):
        lax.dot_general(F34, F34, (((1,), (2,)), ((), ())))


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
    with pytest.raises(ValueError, match=r"unexpected JAX type \(e.g. shape/dtype\) for argument to VJP function: got "
                       r"f32\[2\], but expected f32\[3\]"):
        pullback(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="got f16\\[3\\], but expected f32\\[3\\]"):
        pullback(np.ones(3, np.float16))
    with pytest.raises(ValueError, match="unexpected tree structure"):
        pullback((np.ones(3, np.float32),))
    with pytest.raises(TypeError, match="applied to <lambda> was called with 2 arguments"):
        pullback(np.ones(3, np.float32), np.ones(3, np.float32))


def test_jit_non_hashable_static_argument():
    f = jax.jit(lambda x, opts: x, static_argnums=1)
    with pytest.raises(ValueError, match="Non-hashable static arguments"):
        f(1.0, {"a": 1})


def test_tracer_conversion_errors_under_jit():
    with pytest.raises(TracerArrayConversionError, match="__array__"):
        jax.jit(lambda x: np.sin(np.asarray(x)))(1.0)
    with pytest.raises(TracerIntegerConversionError, match=r"The __index__\(\) method was called on traced array with "
                       r"shape int32\[\]") as info:
        jax.jit(lambda n: [1, 2, 3][n])(2)
    assert isinstance(info.value, ConcretizationTypeError) and isinstance(info.value, TypeError)
    with pytest.raises(TracerIntegerConversionError, match="__index__"):
        jax.jit(hex)(2)
    with pytest.raises(TracerBoolConversionError, match=r"Attempted boolean conversion of traced array with shape "
                       r"bool\[\]\.\n"):
        jax.jit(lambda x: 1.0 if x else 0.0)(True)
    for cast in (int, float, complex):  # as JAX: a ConcretizationTypeError suggesting astype
        with pytest.raises(ConcretizationTypeError, match=rf"expected: traced array with shape float32\[\]\n.*"
                           rf"try using `x.astype\({cast.__name__}\)`"):
            jax.jit(cast)(1.0)


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


# --- negative and non-integer dimensions: refused at trace time, with JAX's messages (issue 12, item 15) ----------
NEGATIVE_SHAPES = {
    "zeros": (lambda: jnp.zeros((2, -3)),
              r"^broadcast_in_dim shape must have every element be nonnegative, got \(2, -3\)\.$"),
    "zeros_int": (lambda: jnp.zeros(-3), r"broadcast_in_dim shape .* nonnegative, got \(-3,\)"),
    "ones": (lambda: jnp.ones((-1, 2)), r"broadcast_in_dim shape .* nonnegative, got \(-1, 2\)"),
    "empty": (lambda: jnp.empty((-1,)), r"broadcast_in_dim shape .* nonnegative, got \(-1,\)"),
    "full": (lambda: jnp.full((2, -3), 1.0), r"broadcast_in_dim shape .* nonnegative, got \(2, -3\)"),
    "full_of_an_array": (lambda: jnp.full((-2, 3), jnp.ones(3)), r"nonnegative, got \(-2, 3\)"),
    "zeros_like": (lambda: jnp.zeros_like(F34, shape=(-1, 2)), r"nonnegative, got \(-1, 2\)"),
    "full_like": (lambda: jnp.full_like(F34, 2.0, shape=(3, -2)), r"nonnegative, got \(3, -2\)"),
    "lax_full": (lambda: lax.full((2, -3), 1.0), r"nonnegative, got \(2, -3\)"),
    "broadcast_to": (lambda: jnp.broadcast_to(F34[0], (-2, 4)), r"nonnegative, got \(-2, 4\)"),
    "lax_broadcast": (lambda: lax.broadcast(F34, (-2,)), r"nonnegative, got \(-2, 3, 4\)"),
    "iota": (lambda: lax.iota(jnp.int32, -3), r"iota shape must have every element be nonnegative, got \(-3,\)"),
    "broadcasted_iota": (lambda: lax.broadcasted_iota(jnp.int32, (2, -3), 0), r"iota shape .* got \(2, -3\)"),
    "indices": (lambda: jnp.indices((2, -3)), r"iota shape .* got \(2, -3\)"),
    "tri": (lambda: jnp.tri(-2), r"iota shape .* got \(-2, -2\)"),
    "tile": (lambda: jnp.tile(F34[0], -1), r"nonnegative, got \(-1, 4\)"),
    "repeat": (lambda: jnp.repeat(F34[0], -1), r"nonnegative, got \(4, -1\)"),
    "random_normal": (lambda: jax.random.normal(jax.random.PRNGKey(0), (2, -3)), r"nonnegative, got \(2, -3\)"),
    "lax_reshape": (lambda: lax.reshape(np.zeros(0, np.float32), (-2, 0)), r"reshape new_sizes must all be positive, "
                                                                           r"got \(-2, 0\)"),
}


@pytest.mark.parametrize("case", list(NEGATIVE_SHAPES))
def test_negative_dimensions_raise_at_trace_time(case):
    f, message = NEGATIVE_SHAPES[case]
    with pytest.raises(TypeError, match=message):
        jax.make_jaxpr(f)()
    with pytest.raises(TypeError, match=message):
        f()


def test_negative_dimensions_of_eye_and_an_empty_arange():
    for f in (lambda: jnp.eye(-2), lambda: jnp.identity(-2), lambda: jnp.eye(2, -1)):
        with pytest.raises(ValueError, match="negative dimensions are not allowed, got -?2 and"):
            jax.make_jaxpr(f)()
    assert jnp.arange(-3).shape == (0,)
    np.testing.assert_array_equal(jnp.arange(2.5), np.arange(2.5))


@pytest.mark.parametrize("f", [lambda: jnp.full((2.5,), 1.0), lambda: jnp.ones((2.0, 3)), lambda: lax.full((1.5,), 0.0),
                               lambda: jnp.zeros_like(F34, shape=(2.5,))], ids=range(4))
def test_non_integer_dimensions_are_type_errors(f):
    with pytest.raises(TypeError, match=r"Shapes must be 1D sequences of concrete values of integer type, got "
                                        r"\((2.5|2.0, 3|1.5)"):
        f()


# --- indexers, vmap out_axes, static_argnums and jacrev inputs like JAX's (issue 12, item 16) -----------------
X4 = np.arange(4, dtype=np.float32)


@pytest.mark.parametrize("index", [1.5, np.float32(1), jnp.array(1.5), (0, 1.5)], ids=range(4))
def test_non_integer_indexers_are_type_errors(index):
    x = jnp.ones((4, 4))
    with pytest.raises(TypeError, match="Indexer must have integer or boolean type, got indexer with type float"):
        x[index]
    with pytest.raises(TypeError, match="Indexer must have integer or boolean type"):
        x.at[index].set(1.0)


def test_string_and_other_indexers():
    x = jnp.asarray(X4)
    with pytest.raises(TypeError, match="does not support string indexing; got idx='a'"):
        x["a"]
    with pytest.raises(TypeError, match="does not support string indexing; got idx='a'"):
        x.at["a"].set(1.0)
    with pytest.raises(IndexError, match=r"only integers, slices \(`:`\), ellipsis \(`...`\), newaxis \(`None`\) and "
                                         "integer or boolean arrays are valid indices"):
        x[object()]
    for index in ([], [0.5], [0, 1]):  # any list index, as JAX 0.10.2
        with pytest.raises(TypeError, match="Using a non-tuple sequence for multidimensional indexing"):
            x[index]


def test_boolean_mask_of_the_wrong_shape_is_an_index_error():
    x, m = jnp.asarray(X4), jnp.ones((2, 3))
    with pytest.raises(IndexError, match=r"boolean index did not match shape of indexed array in index 0: got "
                                         r"\(2,\), expected \[4\]"):
        x[np.array([True, False])]
    with pytest.raises(IndexError, match=r"in index 1: got \(2,\), expected \[3\]"):
        m[..., np.array([True, False])]
    with pytest.raises(IndexError, match="boolean index did not match"):
        x.at[np.array([True, False, True])].set(0.0)
    np.testing.assert_array_equal(m[..., np.array([True, False, True])], np.ones((2, 2)))


def test_take_from_an_empty_axis():
    with pytest.raises(IndexError, match=r"Cannot do a non-empty jnp.take\(\) from an empty axis."):
        jnp.take(jnp.zeros((0, 2)), jnp.array([0, 1]), axis=0, mode="fill")
    assert jnp.take(jnp.zeros((0, 2)), jnp.zeros(0, jnp.int32), axis=0).shape == (0, 2)


def test_static_out_of_bounds_indices_are_clamped_as_in_jax():
    x = jnp.asarray(X4)
    assert float(x[10]) == 3.0 and float(x[-10]) == 0.0


def test_vmap_out_axes_out_of_range():
    x = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="axis 5 is out of bounds for array of dimension 2"):
        jax.vmap(lambda y: y * 2, out_axes=5)(x)
    with pytest.raises(ValueError, match="axis -3 is out of bounds for array of dimension 2"):
        jax.vmap(lambda y: y * 2, out_axes=-3)(x)
    with pytest.raises(ValueError, match="axis 1 is out of bounds for array of dimension 1"):
        jax.vmap(lambda y: jnp.float32(1), out_axes=1)(x)
    assert jax.vmap(lambda y: y * 2, out_axes=-1)(x).shape == (2, 3)


def test_static_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"Jitted function has static_argnums=\(5,\), but only accepts 1 positional "
                                         "arguments."):
        jax.jit(lambda y: y, static_argnums=5)
    with pytest.raises(ValueError, match=r"static_argnums=\(-2,\)"):
        jax.jit(lambda y: y, static_argnums=-2)
    assert jax.jit(lambda *ys: ys[0], static_argnums=5)(1.0) == 1.0


def test_jacrev_of_an_integer_input():
    with pytest.raises(TypeError, match=r"^jacrev requires real- or complex-valued inputs \(input dtype that is a "
                                        r"sub-dtype of np.inexact\), but got int32. If you want to use Boolean- or "
                                        r"integer-valued inputs, use vjp or set allow_int to True.$"):
        jax.jacrev(lambda y: y * 2)(jnp.arange(3))
    with pytest.raises(TypeError, match="jacrev with holomorphic=True requires inputs with complex dtype"):
        jax.jacrev(lambda y: y * 2, holomorphic=True)(X4)


def test_vmap_non_jax_output_error_names_the_batched_output():
    with pytest.raises(TypeError, match="Output from batched function 'hello' with type <class 'str'> is not a "
                                        "valid JAX type"):
        jax.vmap(lambda x: "hello")(np.arange(5))


def test_jacobian_dtype_checks_and_holomorphic_hessian():
    with pytest.raises(TypeError, match="jacfwd with holomorphic=True requires inputs with complex dtype, but got float32"):
        jax.jacfwd(lambda x: x ** 2, holomorphic=True)(np.float32(3.))
    with pytest.raises(TypeError, match=r"jacrev requires real-valued outputs \(output dtype that is a sub-dtype of "
                       r"np.floating\), but got complex64"):
        jax.jacrev(jnp.sin)(np.complex64(1 + 2j))
    a = np.arange(16, dtype=np.float32).reshape(4, 4) / 10
    x = (np.arange(4, dtype=np.float32) * (1 + 2j)).astype(np.complex64)
    h = jax.hessian(lambda v: jnp.dot(v, jnp.dot(a.astype(v.dtype), v)), holomorphic=True)(x)
    np.testing.assert_allclose(np.asarray(h), (a + a.T).astype(np.complex64), rtol=1e-5)


def test_jvp_primal_and_tangent_containers_must_match():
    with pytest.raises(TypeError, match="primal and tangent arguments to jax.jvp must have the same tree structure"):
        jax.jvp(lambda x: x, (np.float32(2),), [np.float32(2)])


def test_shape_dtype_struct_len_and_missing_dtype():
    assert len(jax.ShapeDtypeStruct((3, 2), np.float32)) == 3
    with pytest.raises(TypeError, match=r"len\(\) of unsized object"):
        len(jax.ShapeDtypeStruct((), np.float32))
    with pytest.raises(ValueError, match="dtype must be specified"):
        jax.ShapeDtypeStruct((), None)


def test_non_array_arguments_and_outputs_name_their_path():
    def f(x):
        return x
    with pytest.raises(TypeError, match=r"Error interpreting argument to .* as an abstract array. The problematic value "
                       r"is of type <class 'str'> and was passed to the function at path x."):
        jax.jit(f)("foo")
    with pytest.raises(TypeError, match=r"passed to the function at path b\['k'\]\[0\]."):
        jax.jit(lambda a, b: a)(1., {"k": [object()]})
    with pytest.raises(TypeError, match=r"Argument 'foo' of type <class 'str'> is not a valid JAX type"):
        jax.grad(f)("foo")

    def g(x):
        return 2.0, g
    for transform in (jax.jit(g), lambda x: jax.eval_shape(g, x)):
        with pytest.raises(TypeError, match=r"function g at .*:\d+ traced for jit returned a value of type <class "
                           r"'function'> at output component \[1\], which is not a valid JAX type"):
            transform(1.)


def test_masked_arrays_are_rejected():
    x = np.ma.array([1, 2, 3], mask=[True, False, True])
    with pytest.raises(ValueError, match="numpy masked arrays are not supported as direct inputs to JAX functions"):
        jax.jit(lambda v: v)(x)


def test_pmap_argument_errors():
    with pytest.raises(ValueError, match="pmap requires at least one argument with a mapped axis"):
        jax.pmap(lambda x: x)({})
    with pytest.raises(TypeError, match="pmap in_axes must be an int"):
        jax.pmap(lambda x: x, in_axes=False)
    g = jax.pmap(lambda a, b: a + b, static_broadcasted_argnums=(1,))
    with pytest.raises(ValueError, match=r"pmapped function has static_broadcasted_argnums=\(1,\) but was called with "
                       r"only 1 positional argument. All static broadcasted arguments must be passed positionally."):
        g(jnp.ones((1, 1)), b=1)
