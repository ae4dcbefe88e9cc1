"""``jax.scipy.special``: special functions as compositions of lax primitives.

Series and asymptotic expansions are evaluated with enough terms for float64; their coefficients are
computed here from their closed forms (Bernoulli numbers, factorials), not tabulated.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .. import dtypes, nn
from .. import numpy as jnp
from ..numpy._util import promote_args_inexact
from ..primitives import elementwise as ew
from ..primitives.control_flow import fori_loop
from ..primitives.custom_derivatives import custom_jvp
from ..trace import get_aval

logsumexp = nn.logsumexp
softmax = nn.softmax
log_softmax = nn.log_softmax


def _float(*args: Any) -> list:
    return promote_args_inexact("special", *args)


def erf(x: Any) -> Any:
    (x,) = _float(x)
    return ew.erf(x)


def erfc(x: Any) -> Any:
    (x,) = _float(x)
    return ew.erfc(x)


def erfinv(x: Any) -> Any:
    (x,) = _float(x)
    return ew.erf_inv(x)


def expit(x: Any) -> Any:
    """The logistic sigmoid ``1 / (1 + exp(-x))``."""
    (x,) = _float(x)
    return ew.logistic(x)


def logit(x: Any) -> Any:
    """``log(x / (1 - x))``, the inverse of expit."""
    (x,) = _float(x)
    return ew.sub(ew.log(x), ew.log1p(ew.neg(x)))


def gammaln(x: Any) -> Any:
    """``log|Gamma(x)|``."""
    (x,) = _float(x)
    return ew.lgamma(x)


def gammasgn(x: Any) -> Any:
    """The sign of Gamma(x): 1 for x > 0, alternating between the poles for x < 0 (NaN at the poles)."""
    (x,) = _float(x)
    fl = jnp.floor(x)
    neg_sign = jnp.where(jnp.remainder(fl, 2) == 0, 1.0, -1.0).astype(x.dtype)
    out = jnp.where(x > 0, 1.0, neg_sign).astype(x.dtype)
    return jnp.where((x <= 0) & (fl == x), jnp.nan, out)


def gamma(x: Any) -> Any:
    (x,) = _float(x)
    return gammasgn(x) * jnp.exp(ew.lgamma(x))


def loggamma(x: Any) -> Any:
    """log(Gamma(x)) for real x > 0 (NaN for x < 0, as scipy's real loggamma)."""
    (x,) = _float(x)
    return jnp.where(x < 0, jnp.nan, ew.lgamma(x))


def digamma(x: Any) -> Any:
    (x,) = _float(x)
    return ew.digamma(x)


def betaln(a: Any, b: Any) -> Any:
    """``log|B(a, b)|``."""
    a, b = _float(a, b)
    return ew.lgamma(a) + ew.lgamma(b) - ew.lgamma(a + b)


def beta(a: Any, b: Any) -> Any:
    a, b = _float(a, b)
    sign = gammasgn(a) * gammasgn(b) * gammasgn(a + b)
    return sign * jnp.exp(betaln(a, b))


def factorial(n: Any, exact: bool = False) -> Any:
    """``n!`` as ``Gamma(n + 1)`` (0 for negative n)."""
    if exact:
        raise NotImplementedError("factorial with exact=True is not supported in portax (it needs arbitrary precision)")
    (n,) = _float(n)
    return jnp.where(n < 0, 0.0, jnp.exp(ew.lgamma(n + 1))).astype(n.dtype)


def comb(N: Any, k: Any, *, exact: bool = False, repetition: bool = False) -> Any:
    """Binomial coefficient ``N choose k`` through log-gamma (0 outside ``0 <= k <= N``)."""
    if exact:
        raise NotImplementedError("comb with exact=True is not supported in portax (it needs arbitrary precision)")
    N, k = _float(N, k)
    if repetition:
        N = N + k - 1
    out = jnp.exp(ew.lgamma(N + 1) - ew.lgamma(k + 1) - ew.lgamma(N - k + 1))
    return jnp.where((k < 0) | (k > N) | (N < 0), 0.0, out).astype(out.dtype)


def poch(z: Any, m: Any) -> Any:
    """Rising factorial ``Gamma(z + m) / Gamma(z)``."""
    z, m = _float(z, m)
    return gammasgn(z + m) * gammasgn(z) * jnp.exp(ew.lgamma(z + m) - ew.lgamma(z))


def multigammaln(a: Any, d: int) -> Any:
    """Log of the multivariate gamma function of dimension ``d``."""
    (a,) = _float(a)
    d = int(d)
    out = d * (d - 1) / 4 * np.log(np.pi)
    return out + sum(ew.lgamma(a - 0.5 * j) for j in range(d))


def xlogy(x: Any, y: Any) -> Any:
    """``x * log(y)``, 0 where x == 0 (also its derivatives there)."""
    x, y = _float(x, y)
    safe_y = jnp.where(x == 0, jnp.ones_like(y), y)
    return jnp.where(x == 0, jnp.zeros_like(x), x * jnp.log(safe_y))


def xlog1py(x: Any, y: Any) -> Any:
    """``x * log1p(y)``, 0 where x == 0."""
    x, y = _float(x, y)
    safe_y = jnp.where(x == 0, jnp.zeros_like(y), y)
    return jnp.where(x == 0, jnp.zeros_like(x), x * jnp.log1p(safe_y))


def entr(x: Any) -> Any:
    """``-x log x`` for x > 0, 0 at 0, -inf for x < 0."""
    (x,) = _float(x)
    return jnp.where(x < 0, -jnp.inf, -xlogy(x, x))


def rel_entr(x: Any, y: Any) -> Any:
    """``x log(x / y)`` for x, y > 0; 0 at x == 0, y >= 0; inf otherwise."""
    x, y = _float(x, y)
    safe_x = jnp.where(x > 0, x, 1.0)
    safe_y = jnp.where(y > 0, y, 1.0)
    out = safe_x * jnp.log(safe_x / safe_y)
    return jnp.where((x > 0) & (y > 0), out, jnp.where((x == 0) & (y >= 0), 0.0, jnp.inf)).astype(out.dtype)


def kl_div(x: Any, y: Any) -> Any:
    """``x log(x / y) - x + y`` for x, y > 0; ``y`` at x == 0, y >= 0; inf otherwise."""
    x, y = _float(x, y)
    return jnp.where((x == 0) & (y >= 0), y, rel_entr(x, y) - x + y)


def boxcox(x: Any, lmbda: Any) -> Any:
    x, lmbda = _float(x, lmbda)
    safe_l = jnp.where(lmbda == 0, 1.0, lmbda)
    return jnp.where(lmbda == 0, jnp.log(x), jnp.expm1(safe_l * jnp.log(x)) / safe_l)


def boxcox1p(x: Any, lmbda: Any) -> Any:
    x, lmbda = _float(x, lmbda)
    safe_l = jnp.where(lmbda == 0, 1.0, lmbda)
    return jnp.where(lmbda == 0, jnp.log1p(x), jnp.expm1(safe_l * jnp.log1p(x)) / safe_l)


# --- the normal distribution function ------------------------------------------------------------------------
def ndtr(x: Any) -> Any:
    """Standard normal CDF, through erf near 0 and erfc in the tails (accurate in both)."""
    (x,) = _float(x)
    half_sqrt_2 = 0.5 * np.sqrt(2.0)
    w = x * half_sqrt_2
    z = jnp.abs(w)
    y = jnp.where(z < half_sqrt_2, 1.0 + ew.erf(w), jnp.where(w > 0, 2.0 - ew.erfc(z), ew.erfc(z)))
    return 0.5 * y


def _log_ndtr_asymptotic(x: Any, terms: int = 3) -> Any:
    """log Phi(x) for x << 0: log(phi(x) / -x) + log(1 + sum_k (-1)^k (2k-1)!! / x^(2k))."""
    x_sq = x * x
    series, inv = jnp.ones_like(x), jnp.ones_like(x)
    double_fact = 1.0
    for k in range(1, terms + 1):
        double_fact *= 2 * k - 1
        inv = inv / x_sq
        series = series + ((-1) ** k * double_fact) * inv
    return -0.5 * x_sq - jnp.log(-x) - 0.5 * np.log(2 * np.pi) + jnp.log(series)


def log_ndtr(x: Any, series_order: int = 3) -> Any:
    """log of the standard normal CDF, accurate far into both tails."""
    (x,) = _float(x)
    lower, upper = (-20.0, 8.0) if x.dtype == dtypes.float64 else (-10.0, 5.0)
    safe_mid = jnp.clip(x, lower, upper)
    safe_low = jnp.minimum(x, lower)
    mid = jnp.where(safe_mid > 0, jnp.log1p(-ndtr(-safe_mid)), jnp.log(ndtr(safe_mid)))
    return jnp.where(x > upper, -ndtr(-jnp.maximum(x, upper)),
                     jnp.where(x > lower, mid, _log_ndtr_asymptotic(safe_low, series_order)))


@custom_jvp
def ndtri(p: Any) -> Any:
    """Inverse of ndtr. For the lower tail ``q = min(p, 1 - p)``: an erfinv start in the centre or the
    asymptotic ``-sqrt(t - log t - log 2pi)``, ``t = -2 log q``, in the tail, refined by Newton steps on
    ``log_ndtr(x) = log q``; the sign flips for the upper half."""
    (p,) = _float(p)
    q = jnp.minimum(p, 1.0 - p)
    safe_q = jnp.clip(q, jnp.finfo(p.dtype).tiny, 0.5)
    central = np.sqrt(2.0) * ew.erf_inv(2.0 * safe_q - 1.0)
    t = -2.0 * jnp.log(safe_q)
    tail = -jnp.sqrt(jnp.maximum(t - jnp.log(t) - np.log(2 * np.pi), 0.0))
    x = jnp.where(safe_q > 0.075, central, tail)
    log_q = jnp.log(safe_q)
    for _ in range(4):
        lcdf = log_ndtr(x)
        log_pdf = -0.5 * x * x - 0.5 * np.log(2 * np.pi)
        x = x - (lcdf - log_q) * jnp.exp(lcdf - log_pdf)
    x = jnp.where(p > 0.5, -x, x)
    x = jnp.where(p == 0.5, 0.0, x)
    x = jnp.where(p <= 0, -jnp.inf, jnp.where(p >= 1, jnp.inf, x))
    return jnp.where((p < 0) | (p > 1) | jnp.isnan(p), jnp.nan, x)


@ndtri.defjvp
def _ndtri_jvp(primals, tangents):
    (p,), (g,) = primals, tangents
    x = ndtri(p)
    return x, g * np.sqrt(2 * np.pi) * jnp.exp(0.5 * x * x)


# --- zeta and polygamma -------------------------------------------------------------------------------------------
def _bernoulli_numbers(n: int) -> list[Fraction]:
    """B_0 .. B_n (with B_1 = -1/2) by the Akiyama–Tanigawa recurrence."""
    out = []
    a = [Fraction(0)] * (n + 1)
    for m in range(n + 1):
        a[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        out.append(a[0])
    if n >= 1:
        out[1] = -out[1]
    return out


_EM_TERMS = 12
_EM_COEFFS = [float(b / math.factorial(2 * j)) for j, b in
              ((j, _bernoulli_numbers(2 * _EM_TERMS)[2 * j]) for j in range(1, _EM_TERMS + 1))]


def zeta(x: Any, q: Any = None) -> Any:
    """Hurwitz zeta ``sum_k (k + q)^-x`` (Riemann's for q = 1) by Euler–Maclaurin summation; x > 1, q > 0."""
    if q is None:
        q = 1.0
    x, q = _float(x, q)
    n = 9
    total = jnp.zeros_like(x + q)
    for k in range(n):
        total = total + jnp.power(q + k, -x)
    w = q + n
    total = total + jnp.power(w, 1.0 - x) / (x - 1.0) + 0.5 * jnp.power(w, -x)
    rising = x
    w_pow = jnp.power(w, -x - 1.0)
    for j, c in enumerate(_EM_COEFFS):
        total = total + c * rising * w_pow
        rising = rising * (x + 2 * j + 1) * (x + 2 * j + 2)
        w_pow = w_pow / (w * w)
    return jnp.where(x == 1, jnp.inf, jnp.where(x < 1, jnp.nan, total))


def polygamma(n: Any, x: Any) -> Any:
    """The n-th derivative of digamma: ``(-1)^(n+1) n! zeta(n + 1, x)`` for n >= 1; digamma for n == 0."""
    (x,) = _float(x)
    if isinstance(n, (int, np.integer)) and n == 0:
        return ew.digamma(x)
    n = jnp.asarray(n, dtype=x.dtype)
    sign = jnp.where(jnp.remainder(n, 2) == 0, -1.0, 1.0).astype(x.dtype)
    out = sign * jnp.exp(ew.lgamma(n + 1)) * zeta(n + 1, x)
    return jnp.where(n == 0, ew.digamma(x), out)


def bernoulli(n: int) -> Any:
    """The Bernoulli numbers B_0 .. B_n (B_1 = -1/2, as scipy)."""
    return jnp.asarray(np.array([float(b) for b in _bernoulli_numbers(int(n))]), dtype=dtypes.default_float())


# --- incomplete gamma and beta functions -------------------------------------------------------------------
_SERIES_STEPS = 300  # fixed iteration counts (the loops are scans, so they differentiate in both modes)


def _tiny(x: Any) -> Any:
    return jnp.finfo(x.dtype).tiny * 1e3


def _lentz(step: Callable, first_b: Any, n: int) -> Any:
    """The continued fraction ``b0 + a1/(b1 + a2/(b2 + ...))`` by the modified Lentz method; ``step(i)`` returns
    ``(a_i, b_i)`` for i >= 1."""
    tiny = _tiny(first_b)
    f = jnp.where(jnp.abs(first_b) < tiny, tiny, first_b)

    def body(i, carry):
        f, c, d = carry
        a_i, b_i = step(i.astype(f.dtype) + 1.0)  # a float counter: no int/float promotion (strict mode)
        d = b_i + a_i * d
        d = 1.0 / jnp.where(jnp.abs(d) < tiny, tiny, d)
        c = b_i + a_i / c
        c = jnp.where(jnp.abs(c) < tiny, tiny, c)
        return f * c * d, c, d

    f, _, _ = fori_loop(0, n, body, (f, f, jnp.zeros_like(f)))
    return f


def _igamma_series(a: Any, x: Any) -> Any:
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1)...(a + n)), for x < a + 1."""
    def body(i, carry):
        term, total = carry
        term = term * x / (a + i.astype(term.dtype) + 1.0)
        return term, total + term

    _, total = fori_loop(0, _SERIES_STEPS, body, (jnp.ones_like(x), jnp.ones_like(x)))
    return total * jnp.exp(a * jnp.log(x) - x - ew.lgamma(a + 1.0))


def _igammac_fraction(a: Any, x: Any) -> Any:
    """Q(a, x) = x^a e^-x / Gamma(a) / (x + 1 - a - 1(1 - a)/(x + 3 - a - ...)), for x >= a + 1."""
    cf = _lentz(lambda i: (-i * (i - a), x + 2.0 * i + 1.0 - a), x + 1.0 - a, _SERIES_STEPS)
    return jnp.exp(a * jnp.log(x) - x - ew.lgamma(a)) / cf


def _igamma_pair(a: Any, x: Any) -> tuple:
    """(P, Q), each from whichever of the series and the continued fraction converges at (a, x)."""
    a, x = _float(a, x)
    use_series = x < a + 1.0
    xs = jnp.where(use_series, x, jnp.minimum(a, 1.0))
    xc = jnp.where(use_series, a + 1.0, x)
    p_series = _igamma_series(a, jnp.maximum(xs, _tiny(x)))
    q_fraction = _igammac_fraction(a, xc)
    p = jnp.where(use_series, p_series, 1.0 - q_fraction)
    q = jnp.where(use_series, 1.0 - p_series, q_fraction)
    bad = (a <= 0) | (x < 0) | jnp.isnan(a) | jnp.isnan(x)
    p = jnp.where(bad, jnp.nan, jnp.where(x == 0, 0.0, p))
    q = jnp.where(bad, jnp.nan, jnp.where(x == 0, 1.0, q))
    at_inf = jnp.isinf(x) & ~bad
    return jnp.where(at_inf, 1.0, p), jnp.where(at_inf, 0.0, q)


def gammainc(a: Any, x: Any) -> Any:
    """The regularized lower incomplete gamma function P(a, x) (a > 0, x >= 0)."""
    return _igamma_pair(a, x)[0]


def gammaincc(a: Any, x: Any) -> Any:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return _igamma_pair(a, x)[1]


def _betainc_fraction(a: Any, b: Any, x: Any) -> Any:
    """I_x(a, b) by its continued fraction (accurate for x < (a + 1) / (a + b + 2))."""
    def step(i):
        m = jnp.floor(i / 2.0)
        odd = jnp.remainder(i, 2.0) == 1.0
        even_coef = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
        odd_coef = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
        return jnp.where(odd, odd_coef, even_coef), jnp.ones_like(x)

    cf = _lentz(step, jnp.ones_like(x), 2 * _SERIES_STEPS)
    log_front = a * jnp.log(x) + b * jnp.log1p(-x) - betaln(a, b) - jnp.log(a)
    return jnp.exp(log_front) / cf


def betainc(a: Any, b: Any, x: Any) -> Any:
    """The regularized incomplete beta function I_x(a, b) (a, b > 0, 0 <= x <= 1); float16/bfloat16 computed in
    float32, as JAX (the continued fraction underflows in 16 bits)."""
    a, b, x = _float(a, b, x)
    dt = get_aval(x).dtype
    if dt.itemsize == 2:
        return betainc(*(v.astype(dtypes.float32) for v in (a, b, x))).astype(dt)
    swap = x > (a + 1.0) / (a + b + 2.0)
    inner = jnp.clip(jnp.where(swap, 1.0 - x, x), _tiny(x), 1.0 - jnp.finfo(x.dtype).epsneg)
    direct = _betainc_fraction(jnp.where(swap, b, a), jnp.where(swap, a, b), inner)
    out = jnp.where(swap, 1.0 - direct, direct)
    out = jnp.where(x <= 0, 0.0, jnp.where(x >= 1, 1.0, out))
    return jnp.where((a <= 0) | (b <= 0) | (x < 0) | (x > 1) | jnp.isnan(x), jnp.nan, out)


# --- modified Bessel functions of the first kind ---------------------------------------------------------------
_SERIES_TERMS, _ASYMPTOTIC_START, _ASYMPTOTIC_TERMS = 50, 30.0, 20


def _bessel_series(x: Any, nu: int) -> Any:
    """``sum_k (x/2)^(2k+nu) / (k! (k+nu)!)`` for |x| <= 30."""
    h2 = 0.25 * x * x
    term = jnp.power(0.5 * x, nu) / math.factorial(nu)
    total = term
    for k in range(1, _SERIES_TERMS):
        term = term * h2 / (k * (k + nu))
        total = total + term
    return total


def _bessel_asymptotic_scaled(x: Any, nu: int) -> Any:
    """``I_nu(x) e^-x`` for x >= 30: ``(2 pi x)^-1/2 sum_k (-1)^k a_k(nu) / x^k``."""
    mu = 4.0 * nu * nu
    total, term = jnp.ones_like(x), jnp.ones_like(x)
    for k in range(1, _ASYMPTOTIC_TERMS):
        term = term * (-(mu - (2 * k - 1) ** 2) / (k * 8.0)) / x
        total = total + term
    return total / jnp.sqrt(2 * np.pi * x)


def _bessel_scaled(x: Any, nu: int) -> Any:
    ax = jnp.abs(x)
    small = ax <= _ASYMPTOTIC_START
    series = _bessel_series(jnp.where(small, ax, 0.0), nu) * jnp.exp(-jnp.where(small, ax, 0.0))
    big = _bessel_asymptotic_scaled(jnp.where(small, _ASYMPTOTIC_START, ax), nu)
    out = jnp.where(small, series, big)
    out = out if nu % 2 == 0 else jnp.sign(x) * out
    return ew.convert_element_type(out, get_aval(x).dtype, weak_type=get_aval(x).weak_type)  # as lax.bessel_i0e


def i0e(x: Any) -> Any:
    """Exponentially scaled modified Bessel function of order 0: ``exp(-|x|) I0(x)``."""
    (x,) = _float(x)
    return _bessel_scaled(x, 0)


def i0(x: Any) -> Any:
    (x,) = _float(x)
    return jnp.exp(jnp.abs(x)) * _bessel_scaled(x, 0)


def i1e(x: Any) -> Any:
    (x,) = _float(x)
    return _bessel_scaled(x, 1)


def i1(x: Any) -> Any:
    (x,) = _float(x)
    return jnp.exp(jnp.abs(x)) * _bessel_scaled(x, 1)


__all__ = ["bernoulli", "beta", "betainc", "betaln", "boxcox", "boxcox1p", "comb", "digamma", "entr", "erf", "erfc",
           "erfinv", "expit", "factorial", "gamma", "gammainc", "gammaincc", "gammaln", "gammasgn", "i0", "i0e", "i1",
           "i1e", "kl_div", "log_ndtr", "log_softmax", "loggamma", "logit", "logsumexp", "multigammaln", "ndtr",
           "ndtri", "poch", "polygamma", "rel_entr", "softmax", "xlog1py", "xlogy", "zeta"]
