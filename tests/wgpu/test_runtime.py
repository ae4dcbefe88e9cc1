"""The wgpu runtime layer with hand-written WGSL: adapters, memory, pipelines, batches, errors.

Runs on the default adapter and again on an OpenGL adapter when one exists; skips without any.
"""
import dataclasses
import gc

import numpy as np
import pytest

wgpu = pytest.importorskip("wgpu")

from portax.backends.wgpu import adapters, runtime as rt  # noqa: E402
from portax.backends.wgpu.buffers import bucket_size  # noqa: E402
from portax.backends.wgpu.errors import (BindingAliasError, DeviceLostError, LimitExceededError,  # noqa: E402
                                         OutOfDeviceMemoryError, ShaderCompileError, WgpuBackendError,
                                         translate_errors)

try:
    ADAPTERS = adapters.list_adapters()
except WgpuBackendError:
    ADAPTERS = []
GL = [a for a in ADAPTERS if a.backend_type == "OpenGL"]

pytestmark = pytest.mark.skipif(
    not ADAPTERS, reason="no wgpu adapter at all (install a Vulkan/Metal/D3D12/OpenGL driver, e.g. mesa-vulkan-drivers)")

ALL_DTYPES = [np.float32, np.int32, np.uint32, np.bool_, np.float16, np.float64, np.int64, np.uint64]


def _device(spec=None, **kw):
    try:
        return rt.create_devices(1, adapter=spec, **kw)[0]
    except WgpuBackendError as e:
        pytest.skip(f"no usable wgpu device: {e}")


@pytest.fixture(scope="module", params=["default", "opengl"])
def device(request):
    if request.param == "opengl" and not GL:
        pytest.skip("no OpenGL adapter")
    d = _device(None if request.param == "default" else str(GL[0].index))
    yield d
    d.destroy()


@pytest.fixture(scope="module")
def native():
    d = _device()
    yield d
    d.destroy()


def elementwise(body, inputs, out, *, header="", extra=""):
    """A 1-D elementwise kernel over n = params.n elements, tiled workgroups, 64 threads."""
    decls = "".join(f"@group(0) @binding({i}) var<storage, read> {name}: array<{t}>;\n"
                    for i, (name, t) in enumerate(inputs))
    return f"""{header}{decls}@group(0) @binding({len(inputs)}) var<storage, read_write> out: array<{out}>;
struct Params {{ n: u32 }}
@group(0) @binding({len(inputs) + 1}) var<uniform> params: Params;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {{
  {rt.WORKGROUP_LINEAR_INDEX_WGSL}
  let i = wg_linear * 64u + lid;
  if (i >= params.n) {{ return; }}
  {extra}out[i] = {body};
}}
"""


def run_elementwise(dev, wgsl, arrays, out_shape, out_dtype):
    bufs = [dev.upload(a) for a in arrays]
    out = dev.empty(out_shape, out_dtype)
    n = int(np.prod(out_shape))
    dev.run(wgsl, bufs + [out], -(-n // 64), params=np.array([n], np.uint32), context="test")
    return dev.download(out, out_shape, out_dtype)


# -- adapters and capabilities ------------------------------------------------------------------

def test_adapters_listed(monkeypatch):
    for a in ADAPTERS:
        print(f"adapter {a.index}: {a.summary} [{a.driver}]")
        assert a.name and a.backend_type and a.adapter_type
    assert adapters.select_adapters("0")[0].summary == adapters.enumerate_adapters()[0].summary
    name = ADAPTERS[0].name.split()[0]
    assert name.lower() in adapters.select_adapters(name)[0].summary.lower()
    with pytest.raises(WgpuBackendError, match="matches no adapter"):
        adapters.select_adapters("no-such-gpu-anywhere")
    monkeypatch.setenv(adapters.ADAPTER_ENV, str(ADAPTERS[-1].index))
    assert adapters.select_adapters()[0].summary == ADAPTERS[-1].summary


def test_capabilities(device):
    caps = device.capabilities
    print(f"\n{device}: dtypes={sorted(str(np.dtype(d)) for d in caps.dtypes)} ieee_specials={caps.ieee_specials} "
          f"nan_comparisons={caps.nan_comparisons} "
          f"probe={device.ieee_probe}\n  {caps.limits}")
    assert {np.dtype(d) for d in (np.float32, np.int32, np.uint32, np.bool_)} <= caps.dtypes
    for dtype, (_, feature, _) in rt.WGSL_TYPES.items():
        if feature is not None and feature not in caps.features:
            assert dtype not in caps.dtypes
    assert caps.has_subgroups == ("subgroup" in caps.features)
    assert caps.is_cpu == (caps.adapter_type == "CPU")
    assert caps.wgsl_header([np.float16, np.float32]) == "enable f16;\n"
    assert caps.wgsl_header([np.float64, np.int64]) == ""


# -- kernels ------------------------------------------------------------------------------------

def test_add_f32(device):
    x, y = np.arange(1000, dtype=np.float32), np.linspace(-1, 1, 1000, dtype=np.float32)
    src = elementwise("a[i] + b[i]", [("a", "f32"), ("b", "f32")], "f32")
    np.testing.assert_array_equal(run_elementwise(device, src, [x, y], (1000,), np.float32), x + y)


def test_u32_op(device):
    x = np.arange(300, dtype=np.uint32) * np.uint32(2654435761)
    src = elementwise("(a[i] ^ (a[i] >> 7u)) * 3u", [("a", "u32")], "u32")
    np.testing.assert_array_equal(run_elementwise(device, src, [x], (300,), np.uint32), (x ^ (x >> 7)) * np.uint32(3))


def test_bool_as_u32(device):
    p, q = np.array([True, False, True, False]), np.array([True, True, False, False])
    src = elementwise("u32(a[i] != 0u && b[i] == 0u)", [("a", "u32"), ("b", "u32")], "u32")
    np.testing.assert_array_equal(run_elementwise(device, src, [p, q], (4,), np.bool_), p & ~q)


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int64, np.uint64])
def test_optional_dtype_kernel(device, dtype):
    dtype = np.dtype(dtype)
    wgsl_type, feature, _ = rt.WGSL_TYPES[dtype]
    caps = device.capabilities
    if dtype not in caps.dtypes:
        print(f"{dtype}: not supported on {device} (feature {feature} present: {feature in caps.features})")
        with pytest.raises(TypeError, match="not supported"):
            device.upload(np.zeros(3, dtype))
        return
    assert feature in caps.features
    x = np.arange(-20, 20).astype(dtype) if dtype.kind == "f" else np.arange(100, dtype=dtype) + dtype.type(2**33)
    src = elementwise(f"a[i] * a[i] - {wgsl_type}(2)", [("a", wgsl_type)], wgsl_type, header=caps.wgsl_header([dtype]))
    np.testing.assert_array_equal(run_elementwise(device, src, [x], (x.size,), dtype), x * x - dtype.type(2))


# -- memory -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3, 5), (1001,)])
def test_round_trip(device, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype not in device.capabilities.dtypes:
        pytest.skip(f"{dtype} not supported on {device}")
    rng = np.random.default_rng(0)
    x = np.asarray(np.abs(rng.standard_normal(shape)) * 100 if dtype.kind == "u" else rng.standard_normal(shape) * 100)
    x = x > 50 if dtype == np.bool_ else x.astype(dtype)
    buf = device.upload(x)
    assert buf.nbytes == x.size * (4 if dtype == np.bool_ else dtype.itemsize)
    assert buf.size >= 256 and buf.size % 4 == 0
    y = device.download(buf, shape, dtype)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_array_equal(y, x)
    buf.release()


def test_round_trip_non_contiguous_and_specials(device):
    x = np.arange(24, dtype=np.float32).reshape(4, 6).T
    np.testing.assert_array_equal(device.download(device.upload(x), x.shape, x.dtype), x)
    s = np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)
    assert device.download(device.upload(s), (4,), np.float32).tobytes() == s.tobytes()


def test_pool_reuse(device):
    assert [bucket_size(n) for n in (0, 256, 257, 320, 321, 512, 513, 1000)] == [256, 256, 320, 320, 384, 512, 640, 1024]
    a = device.upload(np.zeros(100, np.float32))
    raw = a.buffer
    a.release()
    a.release()  # idempotent
    b = device.upload(np.ones(98, np.float32))  # same 448-byte bucket
    assert b.buffer is raw
    raw = b.buffer
    del b
    gc.collect()
    c = device.empty((110,), np.int32)
    assert c.buffer is raw
    d = device.empty((1000,), np.int32)
    assert d.buffer is not raw
    c.release()
    assert device.pool.free_bytes >= 448
    device.pool.trim()
    assert device.pool.free_bytes == 0


def test_pipeline_cache_hit(device):
    src = elementwise("a[i] * 2.0", [("a", "f32")], "f32")
    p = device.pipeline(src)
    assert device.pipeline(src) is p
    assert p.storage == ((0, False), (1, True)) and p.uniform_binding == 2
    np.testing.assert_array_equal(run_elementwise(device, src, [np.ones(5, np.float32)], (5,), np.float32), 2)


# -- batches ------------------------------------------------------------------------------------

def test_batch_with_dependency(device):
    x = np.arange(500, dtype=np.float32)
    add = elementwise("a[i] + a[i]", [("a", "f32")], "f32")
    square = elementwise("a[i] * a[i] + b[i]", [("a", "f32"), ("b", "f32")], "f32")
    n = np.array([500], np.uint32)
    xb, yb, zb = device.upload(x), device.empty((500,), np.float32), device.empty((500,), np.float32)
    with device.batch("two ops") as batch:
        batch.dispatch(add, [xb, yb], 8, params=n, context="add")
        batch.dispatch(square, [yb, xb, zb], 8, params=n, context="square")
        assert len(batch) == 2
        with pytest.raises(WgpuBackendError, match="unsubmitted"):
            device.download(zb, (500,), np.float32)
        raw_y = yb.buffer
        yb.release()  # deferred: the batch still uses it
        other = device.empty((500,), np.float32)
        assert other.buffer is not raw_y
        other.release()
    assert device.empty((500,), np.float32).buffer is raw_y
    np.testing.assert_array_equal(device.download(zb, (500,), np.float32), (2 * x) ** 2 + x)
    with pytest.raises(WgpuBackendError, match="already submitted"):
        batch.submit()


def test_tiling_beyond_max_workgroups(device):
    assert rt.tile_workgroups(65535)[0] == (65535, 1, 1)
    assert rt.tile_workgroups(70000)[0] == (35000, 2, 1)
    (x, y, z), snippet = rt.tile_workgroups(65535 ** 2 + 1)
    assert z == 2 and x <= 65535 and y <= 65535 and x * y * z >= 65535 ** 2 + 1
    assert "wg_linear" in snippet
    n = 70000 * 64
    src = elementwise("i * 3u", [], "u32")
    out = device.empty((n,), np.uint32)
    device.run(src, [out], 70000, params=np.array([n], np.uint32), context="tiling")
    np.testing.assert_array_equal(device.download(out, (n,), np.uint32), np.arange(n, dtype=np.uint32) * 3)
    with device.batch() as b, pytest.raises(LimitExceededError, match="max_compute_workgroups_per_dimension"):
        b.dispatch(src, [out], (70000, 1, 1), params=np.array([n], np.uint32))


def test_storage_buffer_limit(device):
    limit = device.limits.max_storage_buffers_per_shader_stage
    decls = "".join(f"@group(0) @binding({i}) var<storage, read> a{i}: array<f32>;\n" for i in range(limit))
    src = decls + f"@group(0) @binding({limit}) var<storage, read_write> out: array<f32>;\n" \
                  "@compute @workgroup_size(1) fn main() { out[0] = a0[0]; }"
    with pytest.raises(LimitExceededError, match=f"{limit + 1} storage buffers.*split"):
        device.pipeline(src, context="concat of many")


def test_aliasing_error_keeps_batch_usable(device):
    src = elementwise("a[i] + 1.0", [("a", "f32")], "f32")
    x = device.upload(np.zeros(10, np.float32))
    y = device.empty((10,), np.float32)
    n = np.array([10], np.uint32)
    with device.batch() as batch:
        with pytest.raises(BindingAliasError, match="add1"):
            batch.dispatch(src, [x, x], 1, params=n, context="add1")
        batch.dispatch(src, [x, y], 1, params=n)
    np.testing.assert_array_equal(device.download(y, (10,), np.float32), 1)
    read_twice = elementwise("a[i] * b[i]", [("a", "f32"), ("b", "f32")], "f32")
    device.run(read_twice, [y, y, x], 1, params=n)  # two read-only bindings of one buffer are fine
    np.testing.assert_array_equal(device.download(x, (10,), np.float32), 1)


def test_binding_size_limit(device, monkeypatch):
    src = elementwise("a[i]", [("a", "f32")], "f32")
    x, y = device.upload(np.zeros(1024, np.float32)), device.empty((1024,), np.float32)
    monkeypatch.setattr(device, "limits", dataclasses.replace(device.limits, max_storage_buffer_binding_size=2048))
    with device.batch() as b, pytest.raises(LimitExceededError, match="4096 bytes exceed max_storage_buffer_binding_size=2048"):
        b.dispatch(src, [x, y], 16, params=np.array([1024], np.uint32), context="copy f32[1024]")


def test_params_and_buffer_checks(device):
    src = elementwise("a[i]", [("a", "f32")], "f32")
    x, y = device.upload(np.zeros(4, np.float32)), device.empty((4,), np.float32)
    with device.batch() as b:
        with pytest.raises(ValueError, match="params"):
            b.dispatch(src, [x, y], 1)
        with pytest.raises(ValueError, match="2 storage bindings"):
            b.dispatch(src, [x], 1, params=np.array([4], np.uint32))
        y.release()
        with pytest.raises(ValueError, match="released"):
            b.dispatch(src, [x, y], 1, params=np.array([4], np.uint32))


# -- errors -------------------------------------------------------------------------------------

def test_compile_error_then_recovery(device):
    with pytest.raises(ShaderCompileError, match=r"(?s)\[sin f32\[3\]\].*expected to be .f32., but got .u32."):
        device.pipeline("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }", context="sin f32[3]")
    with pytest.raises(ShaderCompileError):
        device.pipeline(elementwise("a[i]", [("a", "f32")], "f32"), entry_point="nope")
    src = elementwise("-a[i]", [("a", "f32")], "f32")
    np.testing.assert_array_equal(run_elementwise(device, src, [np.ones(3, np.float32)], (3,), np.float32), -1)


def test_memory_errors(native):
    with pytest.raises(LimitExceededError, match="max_buffer_size"):
        native.empty((native.limits.max_buffer_size // 4 + 1,), np.float32)
    with pytest.raises(OutOfDeviceMemoryError, match=r"\[alloc\]") as info:
        with translate_errors("alloc"):
            raise wgpu.GPUOutOfMemoryError("out of memory")
    assert isinstance(info.value, MemoryError)


def test_device_lost_leaves_others_working(native):
    doomed = _device()
    keep = doomed.upload(np.ones(4, np.float32))
    doomed.raw.destroy()  # as if the driver dropped it
    with pytest.raises(DeviceLostError, match="lost"):
        doomed.empty((12345,), np.float32, context="after loss")
    assert doomed.is_lost
    with pytest.raises(DeviceLostError):
        doomed.download(keep, (4,), np.float32)
    src = elementwise("a[i] + 1.0", [("a", "f32")], "f32")
    np.testing.assert_array_equal(run_elementwise(native, src, [np.ones(3, np.float32)], (3,), np.float32), 2)


# -- devices ------------------------------------------------------------------------------------

def test_two_logical_devices(monkeypatch):
    monkeypatch.setenv(rt.DEVICES_ENV, "2")
    try:
        d0, d1 = rt.create_devices()
    except WgpuBackendError as e:
        pytest.skip(f"no usable wgpu device: {e}")
    assert (d0.id, d1.id) == (0, 1) and d0.adapter_info.summary == d1.adapter_info.summary
    src = elementwise("a[i] * 10.0", [("a", "f32")], "f32")
    x0, x1 = d0.upload(np.arange(8, dtype=np.float32)), d1.upload(-np.arange(8, dtype=np.float32))
    y0, y1 = d0.empty((8,), np.float32), d1.empty((8,), np.float32)
    n = np.array([8], np.uint32)
    b0, b1 = d0.batch(), d1.batch()
    b0.dispatch(src, [x0, y0], 1, params=n)
    b1.dispatch(src, [x1, y1], 1, params=n)
    b1.submit()
    b0.submit()
    np.testing.assert_array_equal(d0.download(y0, (8,), np.float32), np.arange(8) * 10)
    np.testing.assert_array_equal(d1.download(y1, (8,), np.float32), -np.arange(8) * 10)
    with d0.batch() as b, pytest.raises(ValueError, match="another device"):
        b.dispatch(src, [x0, y1], 1, params=n)
    with d0.batch() as b, pytest.raises(ValueError, match="another device"):
        b.dispatch(d1.pipeline(src), [x0, y0], 1, params=n)
    d0.destroy()
    np.testing.assert_array_equal(d1.download(y1, (8,), np.float32), -np.arange(8) * 10)
    d1.destroy()


def test_default_limits_clamp(monkeypatch):
    monkeypatch.setenv(rt.DEFAULT_LIMITS_ENV, "1")
    d = _device()
    assert d.default_limits
    assert d.limits.max_storage_buffers_per_shader_stage <= 8
    assert d.limits.max_compute_invocations_per_workgroup <= 256
    assert d.limits.max_buffer_size <= 268435456
    big = "@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n" \
          "@compute @workgroup_size(512) fn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x] = 1.0; }"
    with pytest.raises(ShaderCompileError, match="512"):
        d.pipeline(big, context="workgroup of 512")
    src = elementwise("a[i] + b[i]", [("a", "f32"), ("b", "f32")], "f32")
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(run_elementwise(d, src, [x, x], (100,), np.float32), 2 * x)
    d.destroy()


def test_measure_overhead(device):
    o = rt.measure_overhead(device, repeats=10, dispatches=16)
    print(f"\n{device}: per submit {o.submit_s * 1e6:.0f} us, per extra dispatch {o.dispatch_s * 1e6:.1f} us")
    assert 0 < o.submit_s < 1 and 0 <= o.dispatch_s < 1


def test_timed_batch_gives_each_dispatch_its_gpu_time(device):
    # the profiler's timed batches: one pass per dispatch, timestamp queries where the adapter has them
    # (else the batch's host time shared out)
    from portax.backends.wgpu.timestamps import DispatchTimer
    dev = device
    wgsl = ("@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n"
            "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) "
            "{ if (g.x < arrayLength(&a)) { a[g.x] = a[g.x] * 2.0; } }")
    buf = dev.upload(np.ones(1024, np.float32))
    timer = DispatchTimer(dev)
    with rt.CommandBatch(dev, "timed", timer) as batch:
        for k in range(3):
            batch.dispatch(wgsl, [buf], 16, label=(f"double{k}", 4096, 0))
    events = timer.events()
    assert [e[0] for e in events] == [(f"double{k}", 4096, 0) for k in range(3)]
    assert all(dur >= 0 for _, _, dur in events) and events[0][1] <= events[1][1] <= events[2][1]
    np.testing.assert_array_equal(dev.download(buf, (1024,), np.float32), np.full(1024, 8.0, np.float32))
