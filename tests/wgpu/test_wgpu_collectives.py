"""pmap's collectives on a wgpu backend with several logical devices (reductions in WGSL, data staged
through the host since wgpu devices share no memory); the full pmap suite is tests/multidevice with
PORTAX_BACKEND=wgpu."""
import numpy as np
import pytest

from wgpu_helpers import wgpu_backend

R = np.random.RandomState(10)


@pytest.fixture(scope="module")
def backend(request):
    wgpu_backend()
    from portax.backends.wgpu.backend import WgpuBackend
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PORTAX_WGPU_DEVICES", "3")
        return WgpuBackend()


def _run(backend, name, arrays, **params):
    devs = backend.devices()
    bufs = [backend.put(a, d) for a, d in zip(arrays, devs)]
    outs = backend.collective(name, bufs, devs, **params)
    assert [o.device for o in outs] == [backend.runtime_device(d) for d in devs]
    return [backend.get(o) for o in outs]


@pytest.mark.parametrize("name,fold", [("psum", np.add), ("pmax", np.maximum), ("pmin", np.minimum)])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_reductions(backend, name, fold, dtype):
    xs = [(R.randn(4, 5) * 10).astype(dtype) for _ in range(3)]
    for out in _run(backend, name, xs):
        np.testing.assert_allclose(out, fold.reduce(np.stack(xs)), rtol=1e-6)


def test_data_movement(backend):
    xs = [R.randn(3, 6).astype(np.float32) for _ in range(3)]
    for out in _run(backend, "all_gather", xs, all_gather_dimension=1, tiled=False):
        np.testing.assert_array_equal(out, np.stack(xs, axis=1))
    outs = _run(backend, "reduce_scatter", xs, scatter_dimension=1, tiled=True)
    for k, out in enumerate(outs):
        np.testing.assert_allclose(out, np.split(sum(xs), 3, axis=1)[k], rtol=1e-6)
    outs = _run(backend, "ppermute", xs, perm=((0, 1), (1, 2)))
    np.testing.assert_array_equal(outs[0], 0)
    np.testing.assert_array_equal(outs[1], xs[0])
    np.testing.assert_array_equal(outs[2], xs[1])
    outs = _run(backend, "all_to_all", xs, split_axis=1, concat_axis=0)
    np.testing.assert_array_equal(outs[2], np.concatenate([np.split(x, 3, axis=1)[2] for x in xs], axis=0))
