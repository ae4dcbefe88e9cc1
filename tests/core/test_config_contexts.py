"""Config options as JAX has them: ``config.update``/``read``/attribute reads, context managers usable as
decorators with thread-local values, and the enforced ones (rank and dtype promotion, transfer guards)."""
import threading
import warnings

import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax import config
from portax.dtypes import TypePromotionError
from portax.errors import JaxRuntimeError

RANK_MSG = r"Operands could not be broadcast together for add on shapes \(2, 3\) \(3,\) and with the config option " \
           r"jax_numpy_rank_promotion='raise'"
STRICT_MSG = "have no available implicit dtype promotion path when jax_numpy_dtype_promotion=strict"


def test_update_and_read_with_and_without_prefix():
    assert config.jax_numpy_rank_promotion == "allow" == config.numpy_rank_promotion
    config.update("jax_numpy_rank_promotion", "raise")
    try:
        assert config.jax_numpy_rank_promotion == "raise" == config.read("numpy_rank_promotion")
        config.update("numpy_rank_promotion", "warn")
        assert config.read("jax_numpy_rank_promotion") == "warn"
    finally:
        config.update("jax_numpy_rank_promotion", "allow")
    with pytest.raises(AttributeError, match="Unrecognized config option: jax_no_such_option"):
        config.update("jax_no_such_option", 1)
    with pytest.raises(ValueError, match="new enum value must be in"):
        config.update("jax_numpy_rank_promotion", "sometimes")


def test_bool_of_an_option_is_an_error():
    with pytest.raises(TypeError, match="bool\\(\\) not supported"):
        bool(jax.enable_x64)


def test_rank_promotion_raise_and_warn():
    x, y = jnp.ones((2, 3)), jnp.ones(3)
    with jax.numpy_rank_promotion("raise"):
        with pytest.raises(ValueError, match=RANK_MSG):
            x + y
        with pytest.raises(ValueError, match="for where on shapes"):
            jnp.where(x > 0, x, y)
        assert (x + 1.0).shape == (2, 3) and (x * x).shape == (2, 3)  # scalars and equal ranks are fine
        assert (x + jnp.ones(())).shape == (2, 3)
    with jax.numpy_rank_promotion("warn"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x * y
    assert any("Following NumPy automatic rank promotion for multiply" in str(w.message) for w in caught)
    assert (x + y).shape == (2, 3)


def test_rank_promotion_is_part_of_the_jit_cache_key():
    f = jax.jit(lambda a, b: a + b)
    x, y = jnp.ones((2, 3)), jnp.ones(3)
    assert f(x, y).shape == (2, 3)
    with jax.numpy_rank_promotion("raise"):
        with pytest.raises(ValueError, match=RANK_MSG):
            f(x, y)


def test_context_manager_as_decorator():
    @jax.numpy_rank_promotion("raise")
    def f(a, b):
        return a + b

    with pytest.raises(ValueError, match=RANK_MSG):
        f(jnp.ones((2, 3)), jnp.ones(3))
    with pytest.raises(ValueError, match=RANK_MSG):  # reusable: a new context every call
        f(jnp.ones((2, 3)), jnp.ones(3))
    assert config.jax_numpy_rank_promotion == "allow"

    @jax.transfer_guard("disallow")
    def g(a):
        return jax.jit(lambda v: v)(a)

    with pytest.raises(JaxRuntimeError, match="Disallowed host-to-device transfer"):
        g(np.ones(2, np.float32))


def test_contexts_are_thread_local_and_update_is_global():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def other():
        seen["before"] = config.jax_numpy_rank_promotion
        inside.set()
        release.wait(10)
        seen["after_update"] = config.jax_numpy_rank_promotion

    with jax.numpy_rank_promotion("raise"):
        t = threading.Thread(target=other)
        t.start()
        inside.wait(10)
        config.update("jax_numpy_rank_promotion", "warn")
        try:
            assert config.jax_numpy_rank_promotion == "raise"  # the context wins in this thread
            release.set()
            t.join(10)
        finally:
            config.update("jax_numpy_rank_promotion", "allow")
    assert seen == {"before": "allow", "after_update": "warn"}


def test_one_context_manager_entered_by_several_threads():
    cm = jax.numpy_rank_promotion("raise")
    entered, first_done, seen = threading.Barrier(2), threading.Event(), {}

    def first():  # enters cm from 'warn', leaves it while the other thread is still inside
        with jax.numpy_rank_promotion("warn"):
            with cm:
                entered.wait(10)
            seen["first"] = config.jax_numpy_rank_promotion
        first_done.set()

    def second():  # enters cm from the global value, leaves it last
        with cm:
            entered.wait(10)
            first_done.wait(10)
            seen["second_inside"] = config.jax_numpy_rank_promotion
        seen["second"] = config.jax_numpy_rank_promotion

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"first": "warn", "second_inside": "raise", "second": "allow"}


def test_strict_dtype_promotion():
    i32, f32 = jnp.ones(3, jnp.int32), jnp.ones(3, jnp.float32)
    assert (i32 + f32).dtype == jnp.float32
    with jax.numpy_dtype_promotion("strict"):
        with pytest.raises(TypePromotionError, match=STRICT_MSG):
            i32 + f32
        with pytest.raises(TypePromotionError, match=STRICT_MSG):
            i32 * 1.5  # a weak float does not promote a strong int
        with pytest.raises(TypePromotionError, match=STRICT_MSG):
            jnp.promote_types(jnp.float16, jnp.float32)
        assert (f32 + 1).dtype == jnp.float32 and (f32 * 2.5).dtype == jnp.float32
        assert (i32 + 2).dtype == jnp.int32 and (i32 + i32).dtype == jnp.int32
        assert jax.dtypes.result_type(1, 2.0) == jnp.float32
    with jax.numpy_dtype_promotion("standard"):
        assert jnp.promote_types(jnp.float16, jnp.float32) == jnp.float32
    assert issubclass(TypePromotionError, ValueError)


def test_strict_dtype_promotion_inside_jit():
    f = jax.jit(lambda a, b: a + b)
    i32, f32 = jnp.ones(3, jnp.int32), jnp.ones(3, jnp.float32)
    assert f(i32, f32).dtype == jnp.float32
    with jax.numpy_dtype_promotion("strict"), pytest.raises(TypePromotionError, match=STRICT_MSG):
        f(i32, f32)


def test_enable_x64_context():
    prev = config.jax_enable_x64
    with jax.enable_x64(not prev):
        assert config.jax_enable_x64 is (not prev) and config.x64_enabled is (not prev)
        assert jnp.ones(2).dtype == (np.float64 if not prev else np.float32)
    assert config.jax_enable_x64 is prev
    assert jnp.ones(2).dtype == (np.float64 if prev else np.float32)


def test_update_inside_another_option_context_is_seen_at_once():
    """``config.update`` of an option inside a context manager of another one: dtype defaults and jit's cache key
    read the new value in this thread (and in a thread inside its own context), not the one read on entering."""
    f = jax.jit(lambda x: x * 1.5)
    seen = {}
    inside, updated, read = threading.Event(), threading.Event(), threading.Event()

    def other():
        with jax.numpy_rank_promotion("allow"):
            inside.set()
            updated.wait(10)
            seen["dtype"] = jnp.arange(3).dtype
            read.set()

    t = threading.Thread(target=other)
    t.start()
    try:
        with jax.numpy_rank_promotion("allow"):
            assert jnp.arange(3).dtype == np.int32 and f(1).dtype == np.float32
            inside.wait(10)
            config.update("jax_enable_x64", True)
            updated.set()
            assert jnp.arange(3).dtype == np.int64 and jnp.ones(2).dtype == np.float64
            assert f(1).dtype == np.float64 and (jnp.ones(2, np.float32) + 1).dtype == np.float32
            read.wait(10)
            config.update("jax_enable_x64", False)
            assert jnp.arange(3).dtype == np.int32 and f(1).dtype == np.float32
        t.join(10)
    finally:
        config.update("jax_enable_x64", False)
    assert seen == {"dtype": np.int64}


def test_transfer_guard_host_to_device():
    f = jax.jit(lambda v: v * 2)
    host = np.ones(3, np.float32)
    with jax.transfer_guard("disallow"):
        with pytest.raises(JaxRuntimeError, match="Disallowed host-to-device transfer"):
            f(host)
        explicit = f(jax.device_put(host))  # explicit transfers are allowed
        with jax.transfer_guard("allow"):
            np.testing.assert_array_equal(f(host), 2 * host)
    np.testing.assert_array_equal(explicit, 2 * host)
    with jax.transfer_guard_host_to_device("disallow_explicit"):
        with pytest.raises(JaxRuntimeError, match="Disallowed host-to-device transfer"):
            jax.device_put(host)
    with jax.transfer_guard("log"):
        np.testing.assert_array_equal(f(host), 2 * host)
    config.update("jax_transfer_guard", "disallow")
    try:
        assert config.jax_transfer_guard_host_to_device == "disallow"
        with pytest.raises(JaxRuntimeError, match="Disallowed host-to-device transfer"):
            f(host)
    finally:
        config.update("jax_transfer_guard", None)
    np.testing.assert_array_equal(f(host), 2 * host)


def test_leak_checking_option():
    with jax.checking_leaks():
        assert config.jax_check_tracer_leaks is True
    assert config.jax_check_tracer_leaks is False
    with jax.check_tracer_leaks(False):
        assert config.read("check_tracer_leaks") is False


def test_debug_nans_and_infs_eager():
    x = jnp.array([0.0, 1.0])
    with jax.debug_nans(True):
        assert config.jax_debug_nans is True
        with pytest.raises(FloatingPointError, match=r"invalid value \(nan\) encountered in log"):
            jnp.log(x - 1)
        np.testing.assert_array_equal(jnp.log(x), [-np.inf, 0.0])  # an inf is not a nan
        np.testing.assert_array_equal(jnp.arange(3) - 1, [-1, 0, 1])  # integers are not checked
    with jax.debug_infs(True), pytest.raises(FloatingPointError, match=r"invalid value \(inf\) encountered in log"):
        jnp.log(x)
    assert np.isnan(np.asarray(jnp.log(x - 1))[0])  # off again: no check


def test_debug_nans_under_jit_names_the_primitive():
    @jax.jit
    def f(v):
        return jnp.sqrt(v - 0.5) * 2

    x = jnp.array([0.0, 1.0])
    with jax.debug_nans(True):
        with pytest.raises(FloatingPointError, match=r"invalid value \(nan\) encountered in sqrt"):
            f(x)
        with pytest.raises(FloatingPointError, match=r"encountered in jit\(<lambda>\)\. Because jax_config"):
            jax.jit(lambda: jnp.nan)()
        np.testing.assert_allclose(f(x + 1), 2 * np.sqrt([0.5, 1.5]), rtol=1e-6)
    assert np.isnan(np.asarray(f(x))[0])


def test_legacy_prng_key():
    key = jax.random.PRNGKey(0)
    with jax.legacy_prng_key("error"):
        assert config.jax_legacy_prng_key == "error"
        with pytest.raises(ValueError, match="Legacy uint32 key array passed as key to jax.random function"):
            jax.random.uniform(key)
        with pytest.raises(ValueError, match="Legacy uint32 key array"):
            jax.random.split(key)
        typed = jax.random.wrap_key_data(key)  # wrapping raw data is what it is for
        assert typed.shape == () and jax.random.uniform(typed).shape == ()  # typed keys pass
    with jax.legacy_prng_key("warn"), pytest.warns(UserWarning, match="Legacy uint32 key array"):
        jax.random.normal(key)
    assert jax.random.uniform(key).shape == ()
    with pytest.raises(ValueError, match="new enum value must be in"):
        jax.legacy_prng_key("sometimes")


def test_enable_checks_and_default_matmul_precision_values():
    with jax.enable_checks(True):
        assert config.jax_enable_checks is True
        assert float(jnp.dot(jnp.ones(3), jnp.ones(3))) == 3.0
    assert config.jax_enable_checks is False
    with jax.default_matmul_precision("float32"):
        assert config.jax_default_matmul_precision == "float32"
    assert config.jax_default_matmul_precision is None
    with pytest.raises(ValueError, match="new enum value must be None or in"):
        jax.default_matmul_precision("fastest")
    with pytest.raises(TypeError, match="requires an argument"):
        jax.numpy_rank_promotion()


def test_rank_promotion_checks_user_calls_not_portax_internals():
    x, y = jnp.ones((2, 3)), jnp.ones(3)
    with jax.numpy_rank_promotion("raise"):
        with pytest.raises(ValueError, match="for add on shapes"):
            y.__radd__(x)  # reflected operators are user calls too
        with pytest.raises(ValueError, match="for logical_and on shapes"):
            jnp.logical_and(x > 0, y > 0)
        # these broadcast ranks inside portax only: no error, as in JAX
        assert jnp.percentile(x, jnp.array([10.0, 50.0]), axis=1).shape == (2, 2)
        assert jax.random.multivariate_normal(jax.random.PRNGKey(0), jnp.zeros(2), jnp.eye(2), (3,)).shape == (3, 2)
        assert jnp.cov(x).shape == (2, 2)


def test_transfer_guard_device_to_device_and_cpu_device_to_host():
    src, dst = jax.devices("cpu_llvm")[0], jax.devices("reference")[0]
    x = jax.device_put(np.arange(3, dtype=np.float32), src)
    f = jax.jit(lambda v: v * 2, backend="reference")
    with jax.transfer_guard("disallow"):
        np.testing.assert_array_equal(np.asarray(x), [0, 1, 2])  # a CPU array is host memory: no transfer
        with pytest.raises(JaxRuntimeError, match="Disallowed device-to-device transfer"):
            f(x)
        moved = jax.device_put(x, dst)  # explicit
        np.testing.assert_array_equal(f(moved), [0, 2, 4])
    with jax.transfer_guard_device_to_device("disallow_explicit"):
        with pytest.raises(JaxRuntimeError, match="Disallowed device-to-device transfer"):
            jax.device_put(x, dst)


def test_transfer_guard_device_to_host_on_a_gpu_device():
    try:
        gpu = jax.devices("wgpu")[0]
    except Exception as e:  # no Vulkan adapter here
        pytest.skip(f"wgpu unavailable: {e}")
    x = jax.device_put(np.arange(3, dtype=np.float32), gpu)
    with jax.transfer_guard("disallow"):
        y = jax.jit(lambda v: v * 2 + 1)(x)  # portax's own reads (constant folding) are not user transfers
        with pytest.raises(JaxRuntimeError, match="Disallowed device-to-host transfer"):
            np.asarray(y)
        with pytest.raises(JaxRuntimeError, match="Disallowed device-to-host transfer"):
            y.tolist()
    np.testing.assert_array_equal(y, [1, 3, 5])


def test_jit_of_a_function_wrapping_a_ufunc_object():
    # jit copies the wrapped function's __dict__ (functools.update_wrapper): a ufunc's attributes must not
    # shadow jit's own methods
    g = jax.jit(jax.grad(jnp.maximum, argnums=(0, 1)))
    np.testing.assert_array_equal(np.array(g(2.0, 2.0)), [0.5, 0.5])
    with jax.debug_nans(True):
        np.testing.assert_array_equal(np.array(g(3.0, 2.0)), [1.0, 0.0])


def test_portax_functions_promote_nothing_implicitly_in_strict_mode():
    x = jnp.linspace(0.1, 3.0, 4)
    a = jnp.array([[0.5, 0.2], [0.1, 0.3]])
    with jax.numpy_dtype_promotion("strict"):
        strict = (jax.scipy.special.gammainc(2.0, x), jax.scipy.special.gammaincc(0.5, x),
                  jax.scipy.special.betainc(2.0, 3.0, x / 4), jax.scipy.linalg.expm(4 * a))
    standard = (jax.scipy.special.gammainc(2.0, x), jax.scipy.special.gammaincc(0.5, x),
                jax.scipy.special.betainc(2.0, 3.0, x / 4), jax.scipy.linalg.expm(4 * a))
    for s, t in zip(strict, standard):
        np.testing.assert_array_equal(s, t)


def test_user_context_is_part_of_jits_cache_key():
    traces = []
    f = jax.jit(lambda x: traces.append(1) or x)
    ctx = jax.make_user_context()
    f(1.0)
    with ctx(2):
        f(1.0)
        f(1.0)
        with ctx(3):
            assert ctx.value == 3
            f(1.0)
    f(1.0)
    assert len(traces) == 3 and ctx.value is None
    try:
        ctx.set_global(7)
        assert ctx.get_global() == 7
        f(1.0)
        assert len(traces) == 4
    finally:
        ctx.set_global(None)


def test_state_get_global_ignores_the_threads_override():
    before = jax.numpy_rank_promotion.get_global()
    with jax.numpy_rank_promotion("warn" if before != "warn" else "raise"):
        assert jax.numpy_rank_promotion.get_global() == before
        assert jax.config.jax_numpy_rank_promotion != before


def test_default_matmul_precision_is_recorded_on_dots():
    import portax.numpy as jnp
    x = jnp.zeros((2, 2))
    assert jax.make_jaxpr(jnp.dot)(x, x).jaxpr.eqns[0].params["precision"] is None
    for name, expected in (("bfloat16", "DEFAULT"), ("tensorfloat32", "HIGH"), ("float32", "HIGHEST")):
        with jax.default_matmul_precision(name):
            text = str(jax.make_jaxpr(jnp.dot)(x, x))
            np.testing.assert_array_equal(jnp.dot(x + 1, x + 1), np.full((2, 2), 2.0))
        assert f"precision=(Precision.{expected}, Precision.{expected})" in text
    with jax.default_matmul_precision("tensorfloat32"):  # an explicit precision wins
        text = str(jax.make_jaxpr(lambda a, b: jnp.dot(a, b, precision=jax.lax.Precision.HIGHEST))(x, x))
    assert "Precision.HIGHEST" in text
