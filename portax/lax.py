"""``portax.lax``: the primitive-level API (``jax.lax``)."""
from portax.core.primitives.elementwise import (RoundingMethod, abs, acos, acosh, add, asin, asinh, atan, atan2,  # noqa: F401
                                                atanh, bitcast_convert_type, bitwise_and, bitwise_not, bitwise_or,
                                                bitwise_xor, cbrt, ceil, clamp, clz, convert_element_type, cos, cosh,
                                                digamma, div, eq, erf, erf_inv, erfc, exp, exp2, expm1, floor, ge, gt,
                                                integer_pow, is_finite, le, lgamma, log, log1p, logistic, lt, max, min,
                                                mul, ne, neg, nextafter, population_count, pow, reciprocal, rem, round,
                                                rsqrt, select, select_n, shift_left, shift_right_arithmetic,
                                                shift_right_logical, sign, sin, sinh, sqrt, square, stop_gradient, sub,
                                                tan, tanh)
from portax.core.primitives.elementwise import bitwise_and as bitwise_and_, bitwise_not as not_  # noqa: F401
from portax.core.primitives.elementwise import AccuracyMode, Tolerance  # noqa: F401
from portax.core.primitives.structural import (broadcast, broadcast_in_dim, concatenate,  # noqa: F401
                                               dynamic_index_in_dim, dynamic_slice, dynamic_slice_in_dim,
                                               dynamic_update_index_in_dim, dynamic_update_slice,
                                               dynamic_update_slice_in_dim, expand_dims,
                                               index_in_dim, pad, reshape, rev, slice, slice_in_dim, squeeze,
                                               transpose)
from portax.core.primitives.reductions import (argmax, argmin, associative_scan, cumlogsumexp, cummax, cummin,  # noqa: F401
                                               cumprod, cumsum, reduce_and, reduce_max, reduce_min, reduce_or,
                                               reduce_prod, reduce_sum, reduce_xor)
from portax.core.primitives.indexing import (GatherDimensionNumbers, GatherScatterMode, ScatterDimensionNumbers,  # noqa: F401
                                             gather, scatter, scatter_add, scatter_max, scatter_min, scatter_mul)
from portax.core.primitives.contractions import dot, dot_general  # noqa: F401
from portax.core.primitives.sorting import sort, sort_key_val  # noqa: F401
from portax.core.primitives.control_flow import (cond, fori_loop, map, platform_dependent, scan, switch,  # noqa: F401
                                                 while_loop)
from portax.core.primitives.solves import custom_linear_solve, custom_root  # noqa: F401
from portax.core.primitives.convolution import (ConvDimensionNumbers, conv, conv_dimension_numbers,  # noqa: F401
                                                conv_general_dilated, conv_general_permutations, conv_shape_tuple,
                                                conv_transpose, conv_with_general_padding, padtype_to_pads)
from portax.core.primitives.windowed import reduce_window, reduce_window_shape_tuple, top_k  # noqa: F401
from portax.core.lax_composites import (Precision, batch_matmul, broadcast_shapes, broadcast_to_rank,  # noqa: F401,E402
                                        collapse, optimization_barrier, reduce, scatter_apply,
                                        scatter_sub, split, stack, tile, unstack)
from portax.core.gamma_grad import random_gamma_grad  # noqa: F401,E402
from portax.core.prng_impls import RandomAlgorithm, rng_bit_generator  # noqa: F401,E402
from portax.core.primitives import linalg  # noqa: F401,E402  (lax.linalg: cholesky, qr, svd, eigh, lu, ...)
from portax.core.primitives.fft import FftType, fft, fft_split  # noqa: F401,E402
from portax.core.scipy.special import i0e as bessel_i0e, i1e as bessel_i1e, polygamma, zeta  # noqa: F401,E402
from portax.core.primitives.collectives import (all_gather, all_to_all, axis_index, axis_size, pmax, pmean,  # noqa: F401,E402
                                                pmin, ppermute, pshuffle, psum, psum_scatter)
from portax.core.sharded import with_sharding_constraint  # noqa: F401,E402
from portax.core.primitives import all_primitives as _all_primitives  # noqa: E402

globals().update({f"{_p.name}_p": _p for _p in _all_primitives()})  # lax.add_p, lax.cholesky_p, ... as in JAX
from portax.core.scipy.special import betainc  # noqa: F401,E402
from portax.core.scipy.special import (betainc as regularized_incomplete_beta, gammainc as igamma,  # noqa: F401,E402
                                       gammaincc as igammac)
from portax.core.primitives.elementwise import complex, imag, real  # noqa: F401,E402
from portax.core.lax_extras import (broadcasted_iota, conj, empty, full, full_like, index_take, iota,  # noqa: F401,E402
                                   mulhi, reduce_precision, reduce_precision_p)
from portax.core.conv_patches import conv_general_dilated_local, conv_general_dilated_patches  # noqa: F401,E402
from portax.core.dot_algorithms import DotAlgorithm, DotAlgorithmPreset  # noqa: F401,E402
from portax.core.ragged_dot import RaggedDotDimensionNumbers, ragged_dot, ragged_dot_general  # noqa: F401,E402
