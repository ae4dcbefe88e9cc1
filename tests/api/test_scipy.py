"""portax.scipy.special, .stats and .linalg against scipy, with derivative checks."""
import numpy as np
import pytest
import scipy.linalg as sla
import scipy.special as ss
import scipy.stats as sst

import portax
import portax.numpy as jnp
from portax.scipy import linalg, special, stats
from portax.test_util import check_grads

RNG = np.random.RandomState(0)
X = np.linspace(-4.0, 4.0, 17)
POS = np.linspace(0.05, 12.0, 15)
UNIT = np.linspace(0.001, 0.999, 13)

SPECIAL_UNARY = [
    ("erf", X), ("erfc", X), ("erfinv", UNIT * 2 - 1), ("expit", X), ("logit", UNIT), ("gammaln", POS),
    ("digamma", POS), ("gamma", np.linspace(-3.7, 6.2, 11)), ("gammasgn", np.linspace(-3.7, 6.2, 11)),
    ("loggamma", POS), ("ndtr", X * 3), ("log_ndtr", np.concatenate([X * 3, [-30.0, -45.0, 12.0]])),
    ("ndtri", np.concatenate([UNIT, [1e-30, 1e-10, 1 - 1e-9]])), ("entr", np.concatenate([POS, [0.0, -1.0]])),
    ("i0", X * 3), ("i0e", np.concatenate([X * 3, [45.0, -80.0]])), ("i1", X * 3),
    ("i1e", np.concatenate([X * 3, [45.0, -80.0]])),
]


@pytest.mark.parametrize("name,x", SPECIAL_UNARY, ids=[s[0] for s in SPECIAL_UNARY])
def test_special_unary(name, x, x64):
    np.testing.assert_allclose(getattr(special, name)(x), getattr(ss, name)(x), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("name,x", SPECIAL_UNARY[:12], ids=[s[0] for s in SPECIAL_UNARY[:12]])
def test_special_unary_float32(name, x):
    out = getattr(special, name)(x.astype(np.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, getattr(ss, name)(x.astype(np.float32)), rtol=2e-5, atol=1e-6)


SPECIAL_BINARY = [
    ("xlogy", np.array([0.0, 0.0, 1.5, 2.0]), np.array([0.0, 3.0, 2.0, 0.5])),
    ("xlog1py", np.array([0.0, 1.5, 2.0]), np.array([-1.0, 2.0, -0.5])), ("betaln", POS[:5], POS[5:10]),
    ("beta", POS[:5], POS[5:10] / 3), ("rel_entr", np.array([0.0, 1.0, 2.0, 1.0]), np.array([1.0, 2.0, 0.5, 0.0])),
    ("kl_div", np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 0.5])), ("poch", POS[:5], np.array([0.5, 1, 2, 3, 0.1])),
    ("zeta", np.array([1.5, 2.0, 3.0, 7.5]), np.array([1.0, 0.5, 4.0, 2.0])),
    ("boxcox", POS[:4], np.array([0.0, 0.5, -1.0, 2.0])), ("boxcox1p", POS[:4], np.array([0.0, 0.5, -1.0, 2.0])),
]


@pytest.mark.parametrize("name,a,b", SPECIAL_BINARY, ids=[s[0] for s in SPECIAL_BINARY])
def test_special_binary(name, a, b, x64):
    np.testing.assert_allclose(getattr(special, name)(a, b), getattr(ss, name)(a, b), rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("a,x", [(0.1, 0.05), (0.5, 0.7), (1.0, 3.0), (3.0, 2.0), (10.0, 12.0), (50.0, 45.0),
                                 (200.0, 210.0), (2.0, 0.0), (0.7, 40.0)])
def test_incomplete_gamma(a, x, x64):
    np.testing.assert_allclose(special.gammainc(a, x), ss.gammainc(a, x), rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(special.gammaincc(a, x), ss.gammaincc(a, x), rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("a,b,x", [(0.3, 0.3, 0.1), (2.0, 5.0, 0.5), (5.0, 1.0, 0.9), (1.0, 1.0, 0.99),
                                   (10.0, 7.0, 0.3), (50.0, 30.0, 0.6), (0.5, 0.5, 0.0), (2.0, 3.0, 1.0)])
def test_incomplete_beta(a, b, x, x64):
    np.testing.assert_allclose(special.betainc(a, b, x), ss.betainc(a, b, x), rtol=1e-11, atol=1e-300)


def test_incomplete_function_gradients(x64):
    check_grads(lambda a, x: special.gammainc(a, x), (np.array([0.8, 3.0, 6.0]), np.array([0.5, 4.5, 5.0])), order=1)
    check_grads(lambda b, x: special.betainc(2.5, b, x), (np.array([0.8, 3.0]), np.array([0.2, 0.7])), order=1)


def test_special_misc(x64):
    for n in (1, 2, 3):
        np.testing.assert_allclose(special.polygamma(n, POS), ss.polygamma(n, POS), rtol=1e-9)
    np.testing.assert_allclose(special.polygamma(0, POS), ss.digamma(POS), rtol=1e-12)
    np.testing.assert_allclose(special.multigammaln(POS + 2, 3), ss.multigammaln(POS + 2, 3), rtol=1e-12)
    np.testing.assert_allclose(special.factorial(np.array([0.0, 3.0, 5.5, -1.0])),
                               ss.factorial(np.array([0.0, 3.0, 5.5, -1.0])), rtol=1e-12)
    np.testing.assert_allclose(special.comb(10.0, np.array([0.0, 3.0, 10.0, 11.0])),
                               ss.comb(10.0, np.array([0.0, 3.0, 10.0, 11.0])), rtol=1e-12)
    np.testing.assert_allclose(special.bernoulli(8), ss.bernoulli(8), rtol=1e-10)
    x = RNG.randn(3, 4)
    np.testing.assert_allclose(special.logsumexp(x, axis=0), ss.logsumexp(x, axis=0), rtol=1e-12)
    np.testing.assert_allclose(special.softmax(x, axis=1), ss.softmax(x, axis=1), rtol=1e-12)


@pytest.mark.parametrize("name", ["erf", "erfc", "expit", "logit", "gammaln", "digamma", "ndtr", "log_ndtr", "ndtri",
                                  "i0e", "i1", "entr"])
def test_special_gradients(name, x64):
    x = np.array([0.2, 0.45, 0.8]) if name in ("logit", "ndtri") else np.array([0.3, 1.7, 3.2])
    check_grads(getattr(special, name), (x,), order=1)


def test_special_binary_gradients(x64):
    check_grads(special.xlogy, (np.array([0.5, 2.0]), np.array([1.5, 3.0])), order=2)
    check_grads(special.xlog1py, (np.array([0.5, 2.0]), np.array([0.5, 3.0])), order=2)
    check_grads(special.betaln, (np.array([0.5, 2.0]), np.array([1.5, 3.0])), order=1)
    check_grads(lambda q: special.zeta(3.0, q), (np.array([0.5, 2.0]),), order=1)


DISTRIBUTIONS = [  # module, scipy, functions, extra args
    ("norm", sst.norm, ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"], (0.5, 2.0)),
    ("logistic", sst.logistic, ["logpdf", "pdf", "cdf", "sf", "logcdf", "logsf"], (-0.5, 1.5)),
    ("expon", sst.expon, ["logpdf", "pdf", "cdf", "sf"], (0.3, 2.0)),
    ("laplace", sst.laplace, ["logpdf", "pdf", "cdf"], (0.1, 0.7)),
    ("cauchy", sst.cauchy, ["logpdf", "pdf", "cdf"], (1.0, 0.5)),
    ("uniform", sst.uniform, ["logpdf", "pdf", "cdf"], (-1.0, 3.0)),
    ("t", sst.t, ["logpdf", "pdf", "cdf"], (3.5, 0.2, 1.3)),
    ("beta", sst.beta, ["logpdf", "pdf", "cdf"], (2.0, 3.0, -3.0, 7.0)),
    ("gamma", sst.gamma, ["logpdf", "pdf", "cdf", "sf"], (2.5, -1.0, 1.5)),
    ("chi2", sst.chi2, ["logpdf", "pdf", "cdf", "sf"], (4.0, -2.0, 1.0)),
]


@pytest.mark.parametrize("name,dist,fns,args", DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_continuous_distributions(name, dist, fns, args, x64):
    x = np.linspace(-3.5, 3.5, 15)
    module = getattr(stats, name)
    for fn in fns:
        with np.errstate(all="ignore"):
            ref = getattr(dist, fn)(x, *args)
        np.testing.assert_allclose(getattr(module, fn)(x, *args), ref, rtol=1e-9, atol=1e-300, err_msg=fn)


def test_quantile_functions(x64):
    np.testing.assert_allclose(stats.norm.ppf(UNIT, 1.0, 2.0), sst.norm.ppf(UNIT, 1.0, 2.0), rtol=1e-9)
    np.testing.assert_allclose(stats.norm.isf(UNIT), sst.norm.isf(UNIT), rtol=1e-9)
    np.testing.assert_allclose(stats.logistic.ppf(UNIT, 0.5), sst.logistic.ppf(UNIT, 0.5), rtol=1e-9)
    np.testing.assert_allclose(stats.logistic.isf(UNIT), sst.logistic.isf(UNIT), rtol=1e-9)
    np.testing.assert_allclose(stats.expon.ppf(UNIT), sst.expon.ppf(UNIT), rtol=1e-9)
    np.testing.assert_allclose(stats.cauchy.ppf(UNIT), sst.cauchy.ppf(UNIT), rtol=1e-9)
    np.testing.assert_allclose(stats.uniform.ppf(UNIT, 2.0, 3.0), sst.uniform.ppf(UNIT, 2.0, 3.0), rtol=1e-12)


def test_discrete_distributions(x64):
    k = np.arange(-1.0, 9.0)
    np.testing.assert_allclose(stats.poisson.logpmf(k, 3.5), sst.poisson.logpmf(k, 3.5), rtol=1e-12)
    np.testing.assert_allclose(stats.poisson.pmf(k, 3.5, 1), sst.poisson.pmf(k, 3.5, 1), rtol=1e-12)
    np.testing.assert_allclose(stats.poisson.cdf(k + 0.5, 3.5), sst.poisson.cdf(k + 0.5, 3.5), rtol=1e-12)
    np.testing.assert_allclose(stats.geom.logpmf(k, 0.3), sst.geom.logpmf(k, 0.3), rtol=1e-12)
    b = np.array([-1.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(stats.bernoulli.logpmf(b, 0.3), sst.bernoulli.logpmf(b, 0.3), rtol=1e-12)
    np.testing.assert_allclose(stats.bernoulli.cdf(np.array([-0.5, 0.5, 1.5]), 0.3),
                               sst.bernoulli.cdf(np.array([-0.5, 0.5, 1.5]), 0.3))
    np.testing.assert_allclose(stats.bernoulli.ppf(np.array([0.1, 0.9]), 0.3), sst.bernoulli.ppf([0.1, 0.9], 0.3))


def test_multivariate_distributions(x64):
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    mean = np.array([0.5, -1.0, 0.0])
    x = RNG.randn(4, 3)
    ref = sst.multivariate_normal(mean, cov).logpdf(x)
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, mean, cov), ref, rtol=1e-10)
    np.testing.assert_allclose(stats.multivariate_normal.pdf(x, mean, cov), np.exp(ref), rtol=1e-10)
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, mean, np.array([1.0, 2.0, 0.5])),
                               sst.multivariate_normal(mean, np.diag([1.0, 2.0, 0.5])).logpdf(x), rtol=1e-10)
    alpha = np.array([1.5, 2.0, 0.7])
    p = np.array([0.2, 0.5, 0.3])
    np.testing.assert_allclose(stats.dirichlet.logpdf(p, alpha), sst.dirichlet.logpdf(p, alpha), rtol=1e-10)
    check_grads(lambda m, c: stats.multivariate_normal.logpdf(x, m, c @ c.T + np.eye(3)), (mean, cov), order=1)


def test_distribution_gradients(x64):
    x = np.array([-0.7, 0.4, 2.1])
    check_grads(lambda v, s: stats.norm.logpdf(v, 0.3, s), (x, np.array(1.3)), order=2)
    check_grads(lambda v: stats.norm.cdf(v), (x,), order=2)
    check_grads(lambda v: stats.logistic.logcdf(v), (x,), order=1)
    check_grads(lambda a: stats.beta.logpdf(0.3, a, 2.0), (np.array([0.7, 2.5]),), order=1)


SQ = RNG.randn(4, 4) + 4 * np.eye(4)
SPD = SQ @ SQ.T


def test_scipy_linalg_solvers(x64):
    b = RNG.randn(4, 2)
    np.testing.assert_allclose(linalg.solve(SQ, b), sla.solve(SQ, b), rtol=1e-10)
    np.testing.assert_allclose(linalg.solve(SPD, b[:, 0], assume_a="pos"), sla.solve(SPD, b[:, 0], assume_a="pos"),
                               rtol=1e-10)
    np.testing.assert_allclose(linalg.inv(SQ), sla.inv(SQ), rtol=1e-10)
    np.testing.assert_allclose(linalg.det(SQ), sla.det(SQ), rtol=1e-10)
    for lower in (False, True):
        c = linalg.cholesky(SPD, lower=lower)
        np.testing.assert_allclose(c, sla.cholesky(SPD, lower=lower), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(linalg.cho_solve(linalg.cho_factor(SPD, lower=lower), b),
                                   sla.cho_solve(sla.cho_factor(SPD, lower=lower), b), rtol=1e-10)
    for trans in (0, 1, "T"):
        for lower in (False, True):
            np.testing.assert_allclose(linalg.solve_triangular(SQ, b, trans=trans, lower=lower),
                                       sla.solve_triangular(SQ, b, trans=trans, lower=lower), rtol=1e-10)
    lu_piv = linalg.lu_factor(SQ)
    ref_lu, ref_piv = sla.lu_factor(SQ)
    np.testing.assert_allclose(lu_piv[0], ref_lu, rtol=1e-10)
    np.testing.assert_array_equal(lu_piv[1], ref_piv)
    for trans in (0, 1):
        np.testing.assert_allclose(linalg.lu_solve(lu_piv, b, trans=trans),
                                   sla.lu_solve((ref_lu, ref_piv), b, trans=trans), rtol=1e-10)


def test_scipy_linalg_decompositions(x64):
    tall = RNG.randn(5, 3)
    p, l, u = linalg.lu(tall)
    rp, rl, ru = sla.lu(tall)
    for got, want in ((p, rp), (l, rl), (u, ru)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    pl, u2 = linalg.lu(tall, permute_l=True)
    np.testing.assert_allclose(pl @ u2, tall, rtol=1e-10)
    q, r = linalg.qr(tall)
    rq, rr = sla.qr(tall)
    np.testing.assert_allclose(np.abs(q), np.abs(rq), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.abs(r), np.abs(rr), rtol=1e-10, atol=1e-12)
    assert linalg.qr(tall, mode="economic")[0].shape == (5, 3) and linalg.qr(tall, mode="r")[0].shape == (5, 3)
    np.testing.assert_allclose(linalg.svd(tall, compute_uv=False), sla.svd(tall, compute_uv=False), rtol=1e-10)
    w, v = linalg.eigh(SPD)
    np.testing.assert_allclose(w, sla.eigh(SPD)[0], rtol=1e-10)
    np.testing.assert_allclose(linalg.eigh(SPD, eigvals_only=True), sla.eigh(SPD, eigvals_only=True), rtol=1e-10)
    up, pp = linalg.polar(SQ)
    rup, rpp = sla.polar(SQ)
    np.testing.assert_allclose(up, rup, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pp, rpp, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_expm(scale, x64):
    a = RNG.randn(4, 4) * scale / 4
    np.testing.assert_allclose(linalg.expm(a), sla.expm(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(linalg.expm(a.astype(np.float32)), sla.expm(a), rtol=2e-4, atol=1e-5)


def test_expm_gradient_and_helpers(x64):
    check_grads(linalg.expm, (RNG.randn(3, 3) * 0.5,), order=1)
    np.testing.assert_array_equal(linalg.block_diag(np.ones((2, 2)), 3.0, np.arange(3.0)),
                                  sla.block_diag(np.ones((2, 2)), 3.0, np.arange(3.0)))
    np.testing.assert_array_equal(linalg.toeplitz(np.arange(3.0), np.arange(5.0) * 2),
                                  sla.toeplitz(np.arange(3.0), np.arange(5.0) * 2))
    np.testing.assert_allclose(linalg.hilbert(4), sla.hilbert(4), rtol=1e-15)


def test_scipy_linalg_gradients(x64):
    b = RNG.randn(4, 2)
    check_grads(lambda a: linalg.solve(a, b), (SQ,), order=1)
    check_grads(lambda a: linalg.cho_solve(linalg.cho_factor(a), b), (SPD,), order=1)
    check_grads(lambda a: linalg.solve_triangular(a, b, lower=True), (SQ,), order=2)
    check_grads(lambda a: linalg.lu(a)[2], (SQ,), order=1)
    assert portax.jit(lambda a: linalg.expm(a))(np.eye(2)).shape == (2, 2)


def test_betainc_of_16_bit_floats_is_computed_in_float32():
    # was NaN in float16 (a silent wrong result): JAX upcasts float16/bfloat16 to float32
    a, b, x = (np.array(v, np.float16) for v in ([0.5, 0.9, 0.3, 0.7], [0.6, 0.2, 0.8, 0.4], [0.5, 0.9, 0.5, 0.2]))
    want = ss.betainc(*(v.astype(np.float32) for v in (a, b, x)))
    for f in (portax.lax.betainc, portax.jit(portax.lax.betainc)):
        out = f(a, b, x)
        assert out.dtype == np.float16
        np.testing.assert_allclose(np.asarray(out, np.float32), want, rtol=2e-3)
