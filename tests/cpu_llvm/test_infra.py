"""cpu_llvm infrastructure: mathlib accuracy and vectorisation, engine caches, threads, allocator."""
from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
import warnings
import weakref

import numpy as np
import pytest
import scipy.special as sp
from llvmlite import ir

from portax.backends.cpu_llvm import allocator, cache, engine, mathlib, threads

I64, PTR = ir.IntType(64), ir.PointerType()
LLTYPE = {np.float32: ir.FloatType(), np.float64: ir.DoubleType()}
TARGET_DATA = engine.target_machine().target_data


def loop_module(names, elem_ty, name_prefix="k_", vector: int | None = None) -> ir.Module:
    """``void k_<name>(i64 start, i64 end, ptr in..., ptr out)`` applying mathlib's ``name`` elementwise."""
    mod = ir.Module(name="test")
    ty = ir.VectorType(elem_ty, vector) if vector else elem_ty
    for name in names:
        arity = mathlib.FUNCTIONS[name]
        fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [I64, I64] + [PTR] * (arity + 1)), name_prefix + name)
        start, end, *ptrs = fn.args
        entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed("<", start, end), loop, done)
        b.position_at_end(loop)
        i = b.phi(I64)
        i.add_incoming(start, entry)
        align = elem_ty.get_abi_alignment(TARGET_DATA)  # numpy arrays are only element-aligned
        args = [b.load(b.gep(p, [i], inbounds=True, source_etype=ty), typ=ty, align=align) for p in ptrs[:-1]]
        b.store(mathlib.emit(b, name, args, ty), b.gep(ptrs[-1], [i], inbounds=True, source_etype=ty), align=align)
        nxt = b.add(i, ir.Constant(I64, 1))
        i.add_incoming(nxt, loop)
        b.cbranch(b.icmp_signed("<", nxt, end), loop, done)
        b.position_at_end(done)
        b.ret_void()
    return mod


class Kernels:
    """All mathlib functions compiled as loop kernels for one dtype."""

    def __init__(self, dtype, names=tuple(mathlib.FUNCTIONS), vector: int | None = None):
        self.dtype, self.vector = dtype, vector
        addrs = engine.compile(loop_module(names, LLTYPE[dtype], vector=vector), [f"k_{n}" for n in names])
        self.addrs = {n: addrs[f"k_{n}"] for n in names}
        self.fns = {n: threads.Kernel(a, mathlib.FUNCTIONS[n] + 1) for n, a in self.addrs.items()}

    def __call__(self, name, *xs):
        xs = [np.ascontiguousarray(x, dtype=self.dtype) for x in np.broadcast_arrays(*xs)]
        out = np.empty_like(xs[0])
        self.fns[name](out.size // (self.vector or 1), *[x.ctypes.data for x in xs], out.ctypes.data)
        return out


@pytest.fixture(scope="module", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keep this module's compilations out of the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PORTAX_CACHE_DIR", str(tmp_path_factory.mktemp("portax-cache")))
        yield


@pytest.fixture(scope="module")
def kernels():
    return {dt: Kernels(dt) for dt in (np.float32, np.float64)}


# ------------------------------------------------------------------ accuracy

RNG = np.random.default_rng(1234)
N = 150_000


def lin(a, b, n=N):
    return np.concatenate([np.linspace(a, b, n), RNG.uniform(a, b, n)])


def mag(lo, hi, n=N, signed=True):
    m = 10 ** RNG.uniform(np.log10(lo), np.log10(hi), n)
    return np.concatenate([m, -m]) if signed else m


def cat(*parts):
    return np.concatenate(parts)


# name: (reference on f64, input sweep) ; binary functions give (x, y) pairs
CASES = {
    "exp": (np.exp, lambda: cat(lin(-110, 95), mag(1e-30, 1))),
    "exp2": (np.exp2, lambda: cat(lin(-160, 135), mag(1e-30, 1))),
    "expm1": (np.expm1, lambda: cat(lin(-50, 90), mag(1e-30, 2))),
    "log": (np.log, lambda: cat(mag(1e-45, 3e38, signed=False), lin(0.5, 2), mag(1e-320, 1e-300, signed=False))),
    "log2": (np.log2, lambda: cat(mag(1e-45, 3e38, signed=False), lin(0.5, 2))),
    "log10": (np.log10, lambda: cat(mag(1e-45, 3e38, signed=False), lin(0.5, 2))),
    "log1p": (np.log1p, lambda: cat(mag(1e-30, 3e38, signed=False), lin(-1, 2), -mag(1e-30, 1, signed=False))),
    "sin": (np.sin, lambda: cat(lin(-10, 10), mag(1e-30, 1e5), mag(1e5, 4e12))),
    "cos": (np.cos, lambda: cat(lin(-10, 10), mag(1e-30, 1e5), mag(1e5, 4e12))),
    "tan": (np.tan, lambda: cat(lin(-10, 10), mag(1e-30, 1e5))),
    "asin": (np.arcsin, lambda: cat(lin(-1, 1), mag(1e-30, 1))),
    "acos": (np.arccos, lambda: cat(lin(-1, 1), mag(1e-30, 1))),
    "atan": (np.arctan, lambda: cat(lin(-10, 10), mag(1e-30, 1e30))),
    "sinh": (np.sinh, lambda: cat(lin(-95, 95), mag(1e-30, 3))),
    "cosh": (np.cosh, lambda: cat(lin(-95, 95), mag(1e-30, 3))),
    "tanh": (np.tanh, lambda: cat(lin(-25, 25), mag(1e-30, 3))),
    "asinh": (np.arcsinh, lambda: cat(lin(-10, 10), mag(1e-30, 1e30))),
    "acosh": (np.arccosh, lambda: cat(lin(1, 10), 1 + mag(1e-7, 1, signed=False), mag(1, 1e30, signed=False))),
    "atanh": (np.arctanh, lambda: cat(lin(-1, 1), mag(1e-30, 1))),
    "logistic": (sp.expit, lambda: cat(lin(-110, 110), mag(1e-30, 3))),
    "erf": (sp.erf, lambda: cat(lin(-7, 7), mag(1e-30, 3))),
    "erfc": (sp.erfc, lambda: cat(lin(-7, 28), mag(1e-30, 3))),
    "erf_inv": (sp.erfinv, lambda: cat(lin(-1, 1), mag(1e-30, 1), 1 - mag(1e-16, 1e-1, signed=False))),
    "lgamma": (sp.gammaln, lambda: cat(lin(0, 20), mag(1e-30, 1e30, signed=False), lin(-20, 0))),
    "digamma": (sp.psi, lambda: cat(lin(0, 20), mag(1e-30, 1e30, signed=False), lin(-20, 0))),
    "cbrt": (np.cbrt, lambda: cat(mag(1e-45, 3e38), mag(1e-320, 1e-300))),
    "atan2": (np.arctan2, lambda: (cat(lin(-10, 10), mag(1e-20, 1e20)),
                                   cat(RNG.uniform(-10, 10, 2 * N), mag(1e-20, 1e20)))),
    "pow": (np.power, lambda: (cat(mag(1e-3, 1e3, signed=False), lin(0, 4), mag(0.5, 2, signed=False)),
                               cat(RNG.uniform(-30, 30, N), RNG.uniform(-10, 10, 2 * N),
                                   RNG.uniform(-1000, 1000, N)))),
}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1e-45, 5e-324, 1e-38,
            1e-308, 3e38, 1e308, 88.7, 89.5, 709.7, 710.5, -745.2, -103.9, 1e10, -1e10]
F32_ULP = 4.0
F64_REL = 1e-14


def f64_tolerance(name, x, ref):
    """1e-14 relative, plus slack where scipy itself is off (each checked against mpmath at 40 digits)."""
    tol = F64_REL * np.abs(ref)
    if name == "lgamma":  # gammaln is only absolutely accurate near its zeros (1e-11 relative at x=2-3e-5)
        tol += 1e-15
    elif name == "digamma":  # psi: ~2.5e-15 absolute near the negative roots, ~|x|/dist ulps near poles
        tol += 4e-15 + 1e-15 * np.abs(ref) * np.where(x < 0, np.abs(x) / np.abs(x - np.rint(x)), 0.0)
    elif name == "erfc":  # erfc: up to 6e-14 relative for x > 20, flushes subnormal results to 0
        tol = 1e-13 * np.abs(ref) + 1e-305
    return tol
TRIG_LIMIT = 2.0 ** 42


def inputs(name, dtype):
    gen = CASES[name][1]()
    xs = gen if isinstance(gen, tuple) else (gen,)
    special = np.array([v for v in SPECIALS
                        if not (name == "lgamma" and dtype == np.float64 and v == 5e-324)])  # scipy: inf
    if len(xs) == 1:
        xs = (cat(xs[0], special),)
    else:
        a, b = np.meshgrid(special, special)
        xs = (cat(xs[0], a.ravel()), cat(xs[1], b.ravel()))
    with np.errstate(over="ignore"):
        return tuple(x.astype(dtype) for x in xs)


def bad_specials(ours, want, signed_zero=True):
    """Where NaN-ness, infinities or the sign of a zero differ from the reference."""
    nan_ok = np.isnan(want) == np.isnan(ours)
    inf_ok = ~np.isinf(want) | (ours == want)
    sign_ok = (want != 0) | (np.signbit(ours) == np.signbit(want)) | (not signed_zero)
    return ~(nan_ok & inf_ok & sign_ok)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_accuracy(kernels, name, dtype):
    xs = inputs(name, dtype)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ours = kernels[dtype](name, *xs)
        exact = CASES[name][0](*[x.astype(np.float64) for x in xs])
        want = exact.astype(dtype)
        bad = bad_specials(ours, want, signed_zero=name != "erf_inv")  # scipy: erfinv(-0) = +0; ours -0
        assert not bad.any(), f"special values: x={[x[bad][:5] for x in xs]} got {ours[bad][:5]} want {want[bad][:5]}"
        fin = np.isfinite(want) & np.isfinite(exact)
        if dtype == np.float32:
            err = np.abs(ours[fin].astype(np.float64) - exact[fin]) / np.spacing(np.abs(want[fin])).astype(np.float64)
            worst = F32_ULP
        else:
            tol = f64_tolerance(name, xs[0][fin].astype(np.float64), exact[fin])
            err = np.abs(ours[fin] - exact[fin]) / np.maximum(tol, 1e-320)
            worst = 1.0
    i = int(np.argmax(err))
    at = [x[fin][i] for x in xs]
    assert err[i] <= worst, f"{name} {np.dtype(dtype)}: err {err[i]:.3g} at {at}: {ours[fin][i]!r} != {exact[fin][i]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_nextafter_exact(kernels, dtype):
    with np.errstate(over="ignore"):
        special = np.array(SPECIALS + [np.finfo(dtype).max, -np.finfo(dtype).tiny], dtype)
    a, b = np.meshgrid(special, special)
    x = cat(mag(1e-40, 1e30), lin(-2, 2), a.ravel()).astype(dtype)
    y = cat(mag(1e-40, 1e30)[::-1], lin(-2, 2)[::-1], b.ravel()).astype(dtype)
    with np.errstate(over="ignore"):
        ours, want = kernels[dtype]("nextafter", x, y), np.nextafter(x, y)
    np.testing.assert_array_equal(ours, want)
    assert not bad_specials(ours, want).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_trig_of_huge_arguments(kernels, dtype):
    """Past Cody-Waite's range (2**42) the table-driven reduction keeps sin/cos/tan accurate up to the largest
    finite value, including x = 6381956970095103 * 2**797 (the double closest to a multiple of pi/2)."""
    top = np.finfo(dtype).max
    x = np.concatenate([10.0 ** RNG.uniform(12.7, np.log10(top), 3000), [TRIG_LIMIT, -1e15, 1e22, top, -top]])
    if dtype == np.float64:
        x = np.append(x, 6381956970095103 * 2.0 ** 797)
    x = x.astype(dtype)
    for name, ref in (("sin", np.sin), ("cos", np.cos), ("tan", np.tan)):
        want = ref(x.astype(np.float64)).astype(dtype)
        ulps = np.abs(kernels[dtype](name, x).astype(np.float64) - want) / np.spacing(np.abs(want))
        assert ulps.max() <= 8, (name, x[np.argmax(ulps)], ulps.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_vector_types_match_scalar(kernels, dtype):
    names = ("exp", "log", "sin", "tanh", "pow", "atan2")
    vec = Kernels(dtype, names, vector=8)
    x = RNG.uniform(0.1, 20, 8 * 512).astype(dtype)
    y = RNG.uniform(-3, 3, x.size).astype(dtype)
    for name in names:
        args = (x, y)[: mathlib.FUNCTIONS[name]]
        np.testing.assert_array_equal(vec(name, *args), kernels[dtype](name, *args), err_msg=name)


def test_emit_rejects_bad_use():
    mod = ir.Module()
    fn = ir.Function(mod, ir.FunctionType(ir.HalfType(), [ir.HalfType()]), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(TypeError):
        mathlib.emit(b, "exp", [fn.args[0]], ir.HalfType())
    with pytest.raises(TypeError):
        mathlib.emit(b, "pow", [fn.args[0]], ir.FloatType())


# ------------------------------------------------------------------ vectorisation

@pytest.mark.parametrize("name", ["exp", "log", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_loops_vectorise(name, dtype):
    asm = engine.emit_assembly(loop_module([name], LLTYPE[dtype]), [f"k_{name}"])
    suffix = "ps" if dtype == np.float32 else "pd"
    packed_fma = re.findall(rf"\bvfn?m(?:add|sub)\w*{suffix}\s+%[yz]mm", asm)
    assert len(packed_fma) >= 4, f"no packed {suffix} FMAs on ymm/zmm in {name} loop"
    assert not re.search(r"\bcall", asm), "mathlib code must not call out"


# ------------------------------------------------------------------ engine and caches

ADD_IR = """
define void @add1(i64 %s, i64 %e, ptr noalias %x, ptr noalias %y) {{
entry:
  %c = icmp slt i64 %s, %e
  br i1 %c, label %loop, label %done
loop:
  %i = phi i64 [%s, %entry], [%i2, %loop]
  %px = getelementptr double, ptr %x, i64 %i
  %v = load double, ptr %px
  %w = fadd double %v, {c}
  %py = getelementptr double, ptr %y, i64 %i
  store double %w, ptr %py
  %i2 = add i64 %i, 1
  %c2 = icmp slt i64 %i2, %e
  br i1 %c2, label %loop, label %done
done:
  ret void
}}
"""


def test_compile_and_memory_cache():
    ir_text = ADD_IR.format(c="2.5")
    before = engine.stats()
    first = engine.compile(ir_text, ["add1"])
    again = engine.compile(ir_text, ["add1"])
    after = engine.stats()
    assert first == again
    assert after["memory_hits"] == before["memory_hits"] + 1
    x = np.arange(1000.0)
    y = np.empty_like(x)
    threads.Kernel(first["add1"], 2)(x.size, x.ctypes.data, y.ctypes.data)
    np.testing.assert_array_equal(y, x + 2.5)
    # same function name in another module: both stay callable
    other = engine.compile(ADD_IR.format(c="-1.0"), ["add1"])["add1"]
    threads.Kernel(other, 2)(x.size, x.ctypes.data, y.ctypes.data)
    np.testing.assert_array_equal(y, x - 1.0)


def test_loaded_module_is_freed_with_its_last_reference():
    ir_text = ADD_IR.format(c="4.0625")
    module = engine.load(ir_text, ["add1"])
    assert engine.load(ir_text, ["add1"]) is module  # a memory hit while it lives
    x = np.arange(10.0)
    y = np.empty_like(x)
    threads.Kernel(module.addresses["add1"], 2)(x.size, x.ctypes.data, y.ctypes.data)
    np.testing.assert_array_equal(y, x + 4.0625)
    live, ref = engine.live_modules(), weakref.ref(module)
    del module
    gc.collect()
    assert ref() is None and engine.live_modules() == live - 1
    assert not engine._dead_engines  # its engine (the code memory) was disposed


def test_evicted_executables_free_their_code():
    import portax
    prev = portax.config.compile_cache_size
    portax.config.update("compile_cache_size", 3)
    try:
        f = portax.jit(lambda v: v * 1.03125 + 7)
        for n in range(1, 9):
            np.testing.assert_array_equal(f(np.ones(n, np.float32)), np.full(n, 8.03125, np.float32))
        gc.collect()
        live = engine.live_modules()
        del f
        gc.collect()
        assert engine.live_modules() == live - 3  # the three cached programs; the evicted five were freed before
    finally:
        portax.config.update("compile_cache_size", prev)


def test_target_info():
    info = engine.host_target_info()
    assert info.cpu and info.features and info.vector_width in (128, 256, 512)


CHILD = textwrap.dedent("""
    import json, time
    from portax.backends.cpu_llvm import engine
    t = time.perf_counter()
    engine.compile({ir!r}, ["add1"])
    print(json.dumps(dict(engine.stats(), seconds=time.perf_counter() - t)))
""")


def run_child(ir_text, cache_dir):
    import json
    env = dict(os.environ, PORTAX_CACHE_DIR=str(cache_dir), PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("PORTAX_DISABLE_DISK_CACHE", None)
    out = subprocess.run([sys.executable, "-c", CHILD.format(ir=ir_text)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_disk_cache_second_process_skips_llvm(tmp_path):
    ir_text = ADD_IR.format(c="7.0")
    cold = run_child(ir_text, tmp_path)
    assert cold["compiles"] == 1 and cold["disk_hits"] == 0
    warm = run_child(ir_text, tmp_path)
    assert warm["compiles"] == 0 and warm["disk_hits"] == 1 and warm["optimize_seconds"] == 0.0
    assert len(list((tmp_path / "cpu_llvm").glob("*.o"))) == 1


def test_disk_cache_corrupt_entry_is_rewritten(tmp_path):
    ir_text = ADD_IR.format(c="8.0")
    run_child(ir_text, tmp_path)
    (entry,) = (tmp_path / "cpu_llvm").glob("*.o")
    good = entry.read_bytes()
    for bad in (good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 0xFF]), b""):
        entry.write_bytes(bad)
        recovered = run_child(ir_text, tmp_path)
        assert recovered["compiles"] == 1 and recovered["disk_hits"] == 0
        assert entry.read_bytes() == good  # rewritten
    assert run_child(ir_text, tmp_path)["disk_hits"] == 1


def test_disk_cache_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAX_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAX_DISABLE_DISK_CACHE", "1")
    assert cache.entry_path("ab") is None
    assert not cache.store("ab", b"payload") and cache.load("ab") is None
    monkeypatch.delenv("PORTAX_DISABLE_DISK_CACHE")
    assert cache.store("ab", b"payload") and cache.load("ab") == b"payload"


# ------------------------------------------------------------------ threads

IOTA_IR = """
define void @iota(i64 %s, i64 %e, ptr %out) {
entry:
  %c = icmp slt i64 %s, %e
  br i1 %c, label %loop, label %done
loop:
  %i = phi i64 [%s, %entry], [%i2, %loop]
  %v = sitofp i64 %i to double
  %p = getelementptr double, ptr %out, i64 %i
  store double %v, ptr %p
  %i2 = add i64 %i, 1
  %c2 = icmp slt i64 %i2, %e
  br i1 %c2, label %loop, label %done
done:
  ret void
}
"""


def test_threads_split_covers_range_once():
    addr = engine.compile(IOTA_IR, ["iota"])["iota"]
    for n in (0, 1, 63, 1000, 3_000_001):
        out = np.full(n, -1.0)
        threads.Kernel(addr, 1, min_work=0)(n, out.ctypes.data)
        np.testing.assert_array_equal(out, np.arange(n, dtype=np.float64))


def test_threads_big_loop_matches_single_thread(kernels):
    x = RNG.standard_normal(3_000_000).astype(np.float32)
    addr = kernels[np.float32].addrs["tanh"]
    single, split = np.empty_like(x), np.empty_like(x)
    threads.Kernel(addr, 2, min_work=1 << 62)(x.size, x.ctypes.data, single.ctypes.data)
    threads.Kernel(addr, 2, cost=4.0)(x.size, x.ctypes.data, split.ctypes.data)
    np.testing.assert_array_equal(single, split)
    assert threads.get_num_threads() >= 1


def test_limit_threads_keeps_split_calls_on_the_caller():
    addr = engine.compile(IOTA_IR, ["iota"])["iota"]
    prev = threads.get_num_threads()
    out = np.empty(100_000)
    try:
        threads.set_num_threads(2)
        threads.limit_threads(1)
        before = threads.split_calls()
        threads.Kernel(addr, 1, min_work=0)(out.size, out.ctypes.data)
        assert threads.split_calls() == before  # ran on the calling thread alone
        threads.limit_threads(0)
        threads.Kernel(addr, 1, min_work=0)(out.size, out.ctypes.data)
        assert threads.split_calls() == before + 1  # split over the pool's 2 threads
    finally:
        threads.limit_threads(0)
        threads.set_num_threads(prev)
    np.testing.assert_array_equal(out, np.arange(out.size, dtype=np.float64))


def test_split_call_does_not_wait_for_a_worker_that_never_wakes():
    """On a loaded machine a worker may wake up late: the caller runs every chunk itself and returns."""
    addr = engine.compile(IOTA_IR, ["iota"])["iota"]
    pool = threads._pool()
    prev = pool.size
    pool.stop()  # no worker runs: a split call's chunks are all the caller's
    try:
        pool.slots[threads.pool_ir.STOP] = 0
        pool.slots[threads.pool_ir.SIZE] = 2
        before = threads.split_calls()
        out = np.full(10_000, -1.0)
        threads.Kernel(addr, 1, min_work=0)(out.size, out.ctypes.data)
        assert threads.split_calls() == before + 1
        np.testing.assert_array_equal(out, np.arange(out.size, dtype=np.float64))
    finally:
        pool.size = prev


def test_split_calls_from_many_threads_at_once():
    """Threads splitting calls concurrently: one holds the pool, the others run alone; every range once."""
    import threading
    addr = engine.compile(IOTA_IR, ["iota"])["iota"]
    outs = [np.full(50_000, -1.0) for _ in range(6)]

    def run(out):
        for _ in range(200):
            out.fill(-1.0)
            threads.Kernel(addr, 1, min_work=0)(out.size, out.ctypes.data)
            np.testing.assert_array_equal(out, np.arange(out.size, dtype=np.float64))

    workers = [threading.Thread(target=run, args=(o,)) for o in outs]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in workers)
    for out in outs:
        np.testing.assert_array_equal(out, np.arange(out.size, dtype=np.float64))


def test_forked_child_splits_with_workers_of_its_own():
    """A forked child has no worker threads of its parent's: the pool starts new ones and still splits."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as p:
        assert p.apply(_split_in_child) is True


def test_process_with_spinning_workers_exits_cleanly():
    """Workers still spinning in the pool's code when the interpreter exits are stopped before that code is
    freed (a segfault at exit otherwise); PORTAX_CPU_SPIN_US sets their spin."""
    import subprocess
    import sys
    code = ("import numpy as np, portax, portax.numpy as jnp\n"
            "from portax.backends.cpu_llvm import threads, pool_ir\n"
            "x = np.ones(1 << 22, np.float32)\n"
            "for _ in range(20): portax.block_until_ready(portax.jit(lambda v: jnp.tanh(v) * 2)(x))\n"
            "print(threads.split_calls() > 0 or threads.get_num_threads() == 1,"
            " threads._pool().slots[pool_ir.SPIN_NS])\n")
    for spin in ("1000000", "0"):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PORTAX_CPU_SPIN_US": spin})
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == ["True", str(int(spin) * 1000)]


def _split_in_child() -> bool:
    addr = engine.compile(IOTA_IR, ["iota"])["iota"]
    before = threads.split_calls()
    out = np.full(100_000, -1.0)
    threads.Kernel(addr, 1, min_work=0)(out.size, out.ctypes.data)
    return bool((out == np.arange(out.size)).all() and threads.split_calls() == before + (threads.get_num_threads() > 1))


@pytest.mark.parametrize("count,limit", [("1", 0), ("2", max(1, threads.num_cores() // 2))])
def test_virtual_devices_share_the_cores(monkeypatch, count, limit):
    """Each of N virtual devices splits its programs' work over at most cores // N threads."""
    from portax.backends.cpu_llvm.backend import CpuLlvmBackend
    from portax.core.ir import ClosedJaxpr
    import portax
    import portax.numpy as jnp
    monkeypatch.setenv("PORTAX_CPU_DEVICES", count)
    backend = CpuLlvmBackend()
    closed = portax.make_jaxpr(lambda x: jnp.tanh(x) * 2)(np.zeros(4 << 20, np.float32))
    exe = backend.compile(ClosedJaxpr(closed.jaxpr, closed.consts), backend.devices()[0])
    x = np.ones(4 << 20, np.float32)
    try:
        np.testing.assert_allclose(exe(x)[0], np.tanh(x) * 2, rtol=1e-6)
        assert threads._limit.n == limit
    finally:
        threads.limit_threads(0)


# ------------------------------------------------------------------ allocator

def test_allocator_reuses_aligned_buffers():
    pool = allocator.BufferPool(max_cached_bytes=64 << 20)
    a = pool.alloc((1000, 1000), np.float32)
    assert a.shape == (1000, 1000) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % allocator.ALIGN == 0
    addr = a.ctypes.data
    view = a[10:20]
    del a
    gc.collect()
    assert pool.cached_bytes == 0  # the view still holds the block
    del view
    gc.collect()
    assert pool.cached_bytes > 0
    b = pool.alloc(1_000_000, np.float32)
    assert b.ctypes.data == addr and pool.stats["hits"] == 1
    small = pool.alloc((3, 5), np.float64)
    assert small.ctypes.data % allocator.ALIGN == 0 and small.shape == (3, 5)


def test_allocator_is_bounded():
    pool = allocator.BufferPool(max_cached_bytes=6 << 20)
    bufs = [pool.alloc(1 << 20, np.float32) for _ in range(3)]  # 4 MiB each
    del bufs
    gc.collect()
    assert pool.cached_bytes <= 6 << 20 and pool.stats["dropped"] == 2
    pool.clear()
    assert pool.cached_bytes == 0
    assert allocator.size_class(5_000_000) >= 5_000_000
    assert allocator.size_class(5_000_000) <= 5_000_000 * 1.125
