"""Host callbacks inside pmap: they run once per device, on that device's slice."""
import numpy as np
import pytest

import portax as jax
import portax.numpy as jnp
from portax.experimental import io_callback


def test_callbacks_run_per_device(devices):
    n = len(devices)
    sums, firsts = [], []

    def f(x):
        io_callback(lambda v: sums.append(float(v)), None, jnp.sum(x))
        y = jax.pure_callback(lambda a: np.sqrt(a), jax.ShapeDtypeStruct(x.shape, x.dtype), x)
        jax.debug.callback(lambda a: firsts.append(float(a[0])), y)
        return y * 2

    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3) ** 2
    out = jax.pmap(f, devices=devices)(x)
    np.testing.assert_allclose(out, 2 * np.sqrt(x), rtol=1e-6)
    assert sorted(sums) == sorted(x.sum(1).tolist())
    np.testing.assert_allclose(sorted(firsts), np.sqrt(x[:, 0]), rtol=1e-6)


def test_debug_print_inside_pmap_prints_each_device(devices, capsys):
    n = len(devices)
    jax.pmap(lambda x: jax.debug.print("dev {}", x), devices=devices)(jnp.arange(n))
    assert sorted(capsys.readouterr().out.splitlines()) == [f"dev {i}" for i in range(n)]


def test_ordered_debug_print_in_pmap_of_several_devices_is_an_error(devices, capsys):
    # As in JAX: an ordered debug.print only runs in a pmap of one device; ordered io_callback runs on each.
    n = len(devices)
    f = jax.pmap(lambda x: jax.debug.print("dev {}", x, ordered=True), devices=devices)
    if n > 1:
        with pytest.raises(ValueError, match=r"ordered effects are not supported for more than 1 device: \[Ordered"):
            f(jnp.arange(n))
    else:
        f(jnp.arange(n))
    calls = []
    g = jax.pmap(lambda x: io_callback(lambda v: calls.append(int(v)), None, x, ordered=True), devices=devices)
    g(jnp.arange(n))
    assert capsys.readouterr().out == ("dev 0\n" if n == 1 else "") and sorted(calls) == list(range(n))
