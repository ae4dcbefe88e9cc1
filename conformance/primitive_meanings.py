"""One line per core primitive saying what it computes: the text of ``docs/primitives.md``.

The generator (``primitive_docs``) fails when a primitive of the table has no line here, so a new
primitive cannot go undocumented.
"""
from __future__ import annotations

MEANINGS = {
    # elementwise: unary
    "neg": "Negation `-x` (integers wrap: `-INT_MIN == INT_MIN`).",
    "sign": "-1, 0 or 1 by the sign of `x` (NaN for NaN; for complex `x`, `x / abs(x)`).",
    "floor": "Largest integral value not greater than `x`.",
    "ceil": "Smallest integral value not less than `x`.",
    "round": "Round to an integral value; `rounding_method` 0 rounds half away from zero, 1 half to even.",
    "is_finite": "True where `x` is neither infinite nor NaN.",
    "abs": "Absolute value (the modulus for complex operands, whose result is real).",
    "exp": "Natural exponential `e**x`.",
    "exp2": "Base-2 exponential `2**x`.",
    "log": "Natural logarithm.",
    "log1p": "`log(1 + x)`, accurate near zero.",
    "expm1": "`exp(x) - 1`, accurate near zero.",
    "tanh": "Hyperbolic tangent.",
    "logistic": "The logistic sigmoid `1 / (1 + exp(-x))`.",
    "sin": "Sine.",
    "cos": "Cosine.",
    "tan": "Tangent.",
    "asin": "Inverse sine.",
    "acos": "Inverse cosine.",
    "atan": "Inverse tangent.",
    "sinh": "Hyperbolic sine.",
    "cosh": "Hyperbolic cosine.",
    "asinh": "Inverse hyperbolic sine.",
    "acosh": "Inverse hyperbolic cosine.",
    "atanh": "Inverse hyperbolic tangent.",
    "sqrt": "Square root.",
    "rsqrt": "Reciprocal square root `1 / sqrt(x)`.",
    "cbrt": "Cube root (real, defined for negative `x`).",
    "erf": "The error function.",
    "erfc": "The complementary error function `1 - erf(x)`.",
    "erf_inv": "Inverse of the error function on [-1, 1].",
    "lgamma": "Logarithm of the absolute value of the gamma function.",
    "digamma": "The digamma function, derivative of `lgamma`.",
    "square": "`x * x`.",
    "integer_pow": "`x ** y` for a static Python integer exponent `y` (repeated multiplication).",
    "not": "Bitwise NOT of integers; logical NOT of booleans.",
    "population_count": "Number of bits set in the two's-complement representation of `x`.",
    "clz": "Number of leading zero bits of `x`.",
    "stop_gradient": "The identity, whose derivative is zero.",
    "convert_element_type": "Convert to `new_dtype`; float to integer truncates toward zero, saturates, and maps NaN "
                            "to 0.",
    # elementwise: binary
    "add": "`x + y` (integers wrap on overflow).",
    "sub": "`x - y` (integers wrap on overflow).",
    "mul": "`x * y` (integers wrap on overflow).",
    "div": "`x / y`; integer division truncates toward zero.",
    "rem": "Remainder of `x / y` truncated toward zero; takes the sign of `x` (C's `fmod`).",
    "pow": "`x ** y` for float or complex `x` and `y` (complex: the principal branch, `exp(y log x)`).",
    "max": "Elementwise maximum; NaN if either operand is NaN (the sign of `max(-0.0, 0.0)` is unspecified); "
           "complex operands compare lexicographically by (real, imaginary) parts.",
    "min": "Elementwise minimum; NaN if either operand is NaN (the sign of `min(-0.0, 0.0)` is unspecified); "
           "complex operands compare lexicographically by (real, imaginary) parts.",
    "atan2": "Four-quadrant inverse tangent of `x / y` (`atan2(x, y)`, JAX's argument order).",
    "nextafter": "The next representable float after `x` in the direction of `y`.",
    "and": "Bitwise AND of integers; logical AND of booleans.",
    "or": "Bitwise OR of integers; logical OR of booleans.",
    "xor": "Bitwise XOR of integers; logical XOR of booleans.",
    "shift_left": "`x << y`; shift amounts outside [0, bit width) give 0.",
    "shift_right_logical": "`x >> y` filling with zeros; shift amounts outside [0, bit width) give 0.",
    "shift_right_arithmetic": "`x >> y` filling with the sign bit; amounts outside [0, bit width) shift by width - 1.",
    "eq": "`x == y` (NaN is unequal to everything, -0.0 equals 0.0).",
    "ne": "`x != y`.",
    "lt": "`x < y`.",
    "le": "`x <= y`.",
    "gt": "`x > y`.",
    "ge": "`x >= y`.",
    # elementwise: others
    "select_n": "`cases[which]` elementwise; `which` is bool (two cases) or an integer array or scalar.",
    "clamp": "`min(max(x, lo), hi)` with bounds `lo`, `hi` given as scalars or arrays of `x`'s shape.",
    "bitcast_convert_type": "Reinterpret the bits of `x` as `new_dtype`; a width change adds or removes a "
                            "trailing axis.",
    "real": "Real part of a complex array.",
    "imag": "Imaginary part of a complex array.",
    "conj": "Complex conjugate.",
    "complex": "`x + i*y` from two real arrays of one float dtype.",
    # structural
    "iota": "An array of `shape` counting 0, 1, 2, ... along `dimension`.",
    "broadcast_in_dim": "Broadcast `x` to `shape`, operand axis i becoming output axis `broadcast_dimensions[i]`.",
    "reshape": "The same elements in row-major order with the shape `new_sizes`.",
    "squeeze": "Remove the size-1 axes listed in `dimensions`.",
    "transpose": "Permute the axes: output axis i is operand axis `permutation[i]`.",
    "rev": "Reverse the order of elements along `dimensions`.",
    "pad": "Pad with a scalar value: `(low, high, interior)` per axis; negative low/high crop.",
    "concatenate": "Join operands along `dimension`.",
    "slice": "Static strided slice `[start:limit:stride]` per axis.",
    "dynamic_slice": "Slice of static `slice_sizes` at traced start indices (clamped so the slice fits).",
    "dynamic_update_slice": "Overwrite a slice of `x` with `update` at traced start indices (clamped to fit).",
    # reductions
    "reduce_sum": "Sum over `axes` (integers wrap).",
    "reduce_max": "Maximum over `axes` (complex: lexicographic); NaN propagates; the sign of a zero result is "
                  "unspecified.",
    "reduce_min": "Minimum over `axes` (complex: lexicographic); NaN propagates; the sign of a zero result is "
                  "unspecified.",
    "reduce_prod": "Product over `axes`.",
    "reduce_and": "Bitwise/logical AND over `axes`.",
    "reduce_or": "Bitwise/logical OR over `axes`.",
    "reduce_xor": "Bitwise/logical XOR over `axes`.",
    "argmax": "Index (of dtype `index_dtype`) of the first maximum along the single axis in `axes` (complex: "
              "lexicographic).",
    "argmin": "Index (of dtype `index_dtype`) of the first minimum along the single axis in `axes` (complex: "
              "lexicographic).",
    "cumsum": "Inclusive running sum along `axis` (from the end if `reverse`).",
    "cumprod": "Inclusive running product along `axis` (from the end if `reverse`).",
    "cummax": "Inclusive running maximum along `axis` (from the end if `reverse`).",
    "cummin": "Inclusive running minimum along `axis` (from the end if `reverse`).",
    "cumlogsumexp": "Inclusive running `log(sum(exp(x)))` along `axis` (from the end if `reverse`), computed stably "
                    "(a logaddexp scan: its decomposition).",
    # indexing
    "gather": "XLA gather: slices of `slice_sizes` at start indices; out-of-bounds by `mode` (clip or fill).",
    "scatter": "XLA scatter that overwrites; out-of-bounds updates clipped or dropped by `mode`.",
    "scatter_add": "XLA scatter that adds the updates (duplicates accumulate).",
    "scatter_mul": "XLA scatter that multiplies by the updates.",
    "scatter_min": "XLA scatter that keeps the minimum of the operand and the updates.",
    "scatter_max": "XLA scatter that keeps the maximum of the operand and the updates.",
    # contractions
    "dot_general": "Tensor contraction with batch and contracting dimensions (`dimension_numbers`).",
    # sorting
    "sort": "Sort operands together along `dimension` by the first `num_keys` operands (NaNs sort last).",
    # calls and control flow
    "pjit": "Call of a staged jaxpr (the body of `jit`).",
    "checkpoint": "Call of a jaxpr whose intermediates are recomputed in the backward pass (`jax.checkpoint`).",
    "cond": "Run `branches[index]` (index clamped into range) on the operands.",
    "while": "Run `body_jaxpr` on the carry while `cond_jaxpr` returns True.",
    "scan": "Loop of `length` steps threading a carry and stacking per-step outputs (`lax.scan`).",
    "custom_jvp_call": "Call of a function with a user-defined JVP rule (`jax.custom_jvp`).",
    "custom_vjp_call": "Call of a function with user-defined forward and backward rules (`jax.custom_vjp`).",
    "custom_lin": "The linearized part of a `custom_vjp` call, applying its `bwd` when transposed (it never reaches a "
                  "backend).",
    # prng
    "threefry2x32": "The Threefry-2x32 block cipher (20 rounds) of the counter pairs under the key pair.",
    # convolution and windows
    "conv_general_dilated": "N-d convolution with strides, padding, dilations and feature/batch groups.",
    "reduce_window_sum": "Sum over sliding windows (padding with 0).",
    "reduce_window_max": "Maximum over sliding windows (padding with -inf or the dtype's minimum).",
    "reduce_window_min": "Minimum over sliding windows (padding with +inf or the dtype's maximum).",
    "top_k": "The `k` largest entries along `axis` in descending order, and their int32 indices.",
    # linalg
    "cholesky": "Lower Cholesky factor of a symmetric (Hermitian) positive definite matrix.",
    "triangular_solve": "Solve `op(a) x = b` or `x op(a) = b` for triangular `a` (`op` transposes if `transpose_a`, "
                        "conjugates if `conjugate_a`).",
    "tridiagonal_solve": "Solve `A x = b` for the tridiagonal `A` given by its sub-, main and super-diagonals `dl`, "
                         "`d`, `du` (`dl[0]` and `du[-1]` unused); `b` is `[..., m, k]`. Row pivoting as LAPACK's "
                         "gtsv; a zero pivot gives NaN (finite with `perturb_singular`).",
    "qr": "QR decomposition.",
    "svd": "Singular value decomposition (singular values in descending order).",
    "eigh": "Eigenvalues (ascending) and eigenvectors of a symmetric (Hermitian) matrix.",
    "eig": "Eigenvalues and eigenvectors of a general square matrix, as (real, imaginary) parts.",
    "lu": "LU decomposition with partial pivoting: factors, pivots and the permutation.",
    "complex_linalg": "The decomposition `op` (with its `params`) of complex matrices given as (real, imaginary) part "
                      "pairs, complex results split the same way: what backends without complex dtypes run for the "
                      "decompositions above on complex matrices (made at compile time).",
    # fft
    "fft": "Fast Fourier transform (`fft_type`: FFT, IFFT, RFFT, IRFFT) over the trailing `fft_lengths` axes.",
    # collectives
    "psum": "Sum over the devices of the named axes.",
    "pmax": "Maximum over the devices of the named axes.",
    "pmin": "Minimum over the devices of the named axes.",
    "all_gather": "Every device's operand stacked (or concatenated if `tiled`) along `all_gather_dimension`.",
    "reduce_scatter": "Sum over the devices of the named axis, each device keeping its block along "
                      "`scatter_dimension`.",
    "ppermute": "Send each device's operand to another device by the `(source, destination)` pairs of `perm`.",
    "all_to_all": "Split along `split_axis`, exchange the blocks between devices, concatenate along `concat_axis`.",
    "axis_index": "This device's index along the named axis.",
    # callbacks
    "pure_callback": "Call a pure Python function on the host with the operands (numpy arrays); its results "
                     "must match `result_avals`. Batched as `vmap_method` says; not differentiable.",
    "io_callback": "Call an impure Python function on the host; never dropped, and with `ordered` run in program "
                   "order with the other ordered callbacks. Not differentiable.",
    "debug_callback": "Call a Python function on the host for its side effect (`debug.callback`, `debug.print`); "
                      "no results, never dropped, sees primal values under differentiation.",
    # solves
    "custom_linear_solve": "Solve a linear system with a user `solve` function and differentiate implicitly "
                           "(`lax.custom_linear_solve`).",
}
