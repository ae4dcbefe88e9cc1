"""Kernel variants chosen per adapter: forced by environment, the adapter type's default for small work,
else timed on the device once and remembered in the disk cache (keyed by adapter, driver, op, problem)."""
import json

import numpy as np
import pytest

from portax.backends.wgpu import autotune
from portax.backends.wgpu.kernel_writer import KernelWriter
from portax.core.ir import ShapedArray, Var

from wgpu_helpers import check, wgpu_backend


@pytest.fixture
def tuner(tmp_path, monkeypatch):
    """A fresh memory of choices and an empty disk cache in ``tmp_path``."""
    monkeypatch.setenv("PORTAX_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PORTAX_DISABLE_DISK_CACHE", raising=False)
    monkeypatch.setattr(autotune, "_choices", {})
    monkeypatch.setattr(autotune, "_loaded", False)
    return tmp_path / "wgpu" / "variants.json"


def _device():
    b = wgpu_backend()
    return b.runtime_device(b.devices()[0])


def _kernel(rounds: int):
    """A candidate: ``rounds`` passes of arithmetic per element of a 64K buffer (more rounds: slower)."""
    def build():
        out = Var(ShapedArray((1 << 16,), np.dtype(np.float32)))
        w = KernelWriter(f"autotune-test-{rounds}", 64)
        w.line(f"if (gid >= {1 << 16}u) {{ return; }}")
        w.line("var v = f32(gid);")
        w.line(f"for (var i = 0u; i < {rounds}u; i = i + 1u) {{ v = sin(v) * 1.0001 + 0.5; }}")
        w.line(f"{w.buffer(out, np.float32, write=True)}[gid] = v;")
        return w, (1 << 16) // 64
    return build


def test_fastest_variant_is_timed_once_and_remembered_on_disk(tuner, monkeypatch):
    device = _device()
    candidates = {"slow": _kernel(400), "fast": _kernel(1)}
    assert autotune.choose(device, "testop", "p1", autotune.TUNE_MIN_WORK, "slow", candidates) == "fast"
    saved = json.loads(tuner.read_text())
    assert list(saved.values()) == ["fast"] and "|testop|p1" in next(iter(saved))
    # another process (memory forgotten) reads the choice and times nothing
    monkeypatch.setattr(autotune, "_choices", {})
    monkeypatch.setattr(autotune, "_loaded", False)
    monkeypatch.setattr(autotune, "_time", lambda *a: pytest.fail("timed again"))
    assert autotune.choose(device, "testop", "p1", autotune.TUNE_MIN_WORK, "slow", candidates) == "fast"


def test_small_work_takes_the_default_untimed_and_a_forced_variant_wins(tuner, monkeypatch):
    device = _device()
    monkeypatch.setattr(autotune, "_time", lambda *a: pytest.fail("small work is not timed"))
    candidates = {"slow": _kernel(400), "fast": _kernel(1)}
    assert autotune.choose(device, "testop", "p2", 10, "slow", candidates) == "slow"
    monkeypatch.setenv("PORTAX_WGPU_TESTOP", "slow")
    assert autotune.choose(device, "testop", "p2", autotune.TUNE_MIN_WORK, "fast", candidates) == "slow"
    monkeypatch.setenv("PORTAX_WGPU_TESTOP", "medium")
    with pytest.raises(ValueError, match="PORTAX_WGPU_TESTOP must be one of slow, fast, got 'medium'"):
        autotune.choose(device, "testop", "p2", 10, "slow", candidates)
    assert not tuner.exists()


def test_a_planted_unknown_choice_is_ignored(tuner):
    tuner.parent.mkdir(parents=True)
    device = _device()
    key = "|".join((device.adapter_info.name, device.adapter_info.backend_type, device.adapter_info.driver,
                    "testop", "p3"))
    tuner.write_text(json.dumps({key: "rm -rf /"}))
    candidates = {"slow": _kernel(400), "fast": _kernel(1)}
    assert autotune.choose(device, "testop", "p3", autotune.TUNE_MIN_WORK, "slow", candidates) == "fast"


def test_a_big_matmul_is_tuned_and_right(tuner):
    x, y = np.random.RandomState(0).randn(2, 300, 300).astype(np.float32)
    check(lambda a, b: a @ b, x, y, tol=1e-4)
    assert list(json.loads(tuner.read_text()).values())[0] in ("blocked", "blocked_square", "tiled")
    assert autotune.size_class(1, 300, 300, 300) == "1x256x256x256"
