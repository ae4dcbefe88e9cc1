"""Convolution shapes of real CNNs: ``lax.conv_general_dilated`` forward and its lhs and rhs gradients (one
``vjp``) on ResNet-style (56² down to 7²), MNIST-size, depthwise MobileNet-style and dilated layers, in NCHW
and NHWC.

``python -m bench.conv_table FRAMEWORK [--mode M]`` measures in this process and prints one JSON line:
``shapes`` maps each shape's key to ``{"forward": cell, "gradients": cell}``, a cell being ``seconds`` per
call (median of repeats) or ``na``/``error`` with the reason. FRAMEWORK is a portax backend or ``jax``;
every result is checked against NumPy (float64) first, so a wrong result is an error, never a time.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import traceback

import numpy as np

from .checks import WrongResult, relative_error
from .timing import measure
from .workloads import SIZES

KEY = "conv_table"  # its name among bench.run's workloads
PASSES = ("forward", "gradients")
REPEATS = {"full": dict(min_repeats=5, max_repeats=25, budget_s=0.5),
           "quick": dict(min_repeats=2, max_repeats=3, budget_s=0.05)}
TOLERANCE = 1e-3  # relative to the largest expected magnitude: float32 sums of up to 4608 products
DIMENSION_NUMBERS = {"NCHW": ("NCHW", "OIHW", "NCHW"), "NHWC": ("NHWC", "HWIO", "NHWC")}


@dataclasses.dataclass(frozen=True)
class ConvShape:
    """One convolution: 'SAME' padding, square images and kernels, float32."""

    key: str
    family: str  # ResNet, MNIST, MobileNet, dilated
    batch: int
    features: int  # input channels
    side: int  # input height = width
    out_features: int
    kernel: int
    stride: int = 1
    dilation: int = 1  # rhs (atrous) dilation
    groups: int = 1  # feature_group_count (= features: depthwise)
    layout: str = "NCHW"

    @property
    def out_side(self) -> int:
        return -(-self.side // self.stride)

    def flops(self, what: str) -> float:
        """Multiply-adds x 2 of the forward pass; the gradients (lhs and rhs) count twice that."""
        taps = self.features // self.groups * self.kernel ** 2  # products summed per output element
        fwd = 2.0 * self.batch * self.out_features * self.out_side ** 2 * taps
        return fwd if what == "forward" else 2 * fwd

    def title(self) -> str:
        n, c, h, o, k = self.batch, self.features, self.side, self.out_features, self.kernel
        extras = [f"stride {self.stride}"] * (self.stride > 1) + [f"dilation {self.dilation}"] * (self.dilation > 1) \
            + (["depthwise"] if self.groups == c > 1 else [f"groups {self.groups}"] * (self.groups > 1))
        return f"{self.family} {n}x{c}x{h}² * {o}x{c // self.groups}x{k}x{k}" + \
            "".join(f", {e}" for e in extras) + f", {self.layout}"

    def quick(self) -> ConvShape:
        """The same kind of layer, small: batch <= 2, channels / 16, sides / 8 (at least 7)."""
        c, o = max(self.features // 16, 1), max(self.out_features // 16, 1)
        return dataclasses.replace(self, batch=min(self.batch, 2), features=c, out_features=o,
                                   side=max(self.side // 8, 7), groups=c if self.groups == self.features else 1)


SHAPES = [
    ConvShape("resnet_56", "ResNet", 8, 64, 56, 64, 3),
    ConvShape("resnet_56_nhwc", "ResNet", 8, 64, 56, 64, 3, layout="NHWC"),
    ConvShape("resnet_56_28", "ResNet", 8, 64, 56, 128, 3, stride=2),
    ConvShape("resnet_28", "ResNet", 8, 128, 28, 128, 3),
    ConvShape("resnet_14_1x1", "ResNet", 8, 256, 14, 256, 1),
    ConvShape("resnet_7", "ResNet", 8, 512, 7, 512, 3),
    ConvShape("mnist_28", "MNIST", 32, 1, 28, 32, 5),
    ConvShape("mnist_14", "MNIST", 32, 32, 14, 64, 5),
    ConvShape("mnist_14_nhwc", "MNIST", 32, 32, 14, 64, 5, layout="NHWC"),
    ConvShape("mobilenet_112", "MobileNet", 8, 32, 112, 32, 3, groups=32),
    ConvShape("mobilenet_112_nhwc", "MobileNet", 8, 32, 112, 32, 3, groups=32, layout="NHWC"),
    ConvShape("mobilenet_56", "MobileNet", 8, 128, 56, 128, 3, stride=2, groups=128),
    ConvShape("dilated_28", "dilated", 8, 64, 28, 64, 3, dilation=2),
]
BY_KEY = {s.key: s for s in SHAPES}


def shapes(mode: str) -> list[ConvShape]:
    return SHAPES if mode == "full" else [s.quick() for s in SHAPES]


# -- data and the NumPy oracle (NCHW x, OIHW w, float64) ----------------------------------------------

def inputs(shape: ConvShape, seed: int = 9) -> list[np.ndarray]:
    """x (NCHW), w (OIHW) and an output cotangent (NCHW), float32."""
    s, rng = shape, np.random.default_rng(seed)
    dims = ((s.batch, s.features, s.side, s.side), (s.out_features, s.features // s.groups, s.kernel, s.kernel),
            (s.batch, s.out_features, s.out_side, s.out_side))
    return [rng.standard_normal(d, dtype=np.float32) for d in dims]


def to_layout(shape: ConvShape, x: np.ndarray, w: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
    """The arrays in ``shape.layout`` (NHWC: HWIO kernel)."""
    if shape.layout == "NCHW":
        return [x, w, g]
    return [np.ascontiguousarray(a.transpose(p)) for a, p in ((x, (0, 2, 3, 1)), (w, (2, 3, 1, 0)), (g, (0, 2, 3, 1)))]


def from_layout(shape: ConvShape, out: list[np.ndarray]) -> list[np.ndarray]:
    """``out`` (the forward result, or the lhs and rhs gradients) back in NCHW / OIHW."""
    if shape.layout == "NCHW":
        return out
    perms = [(0, 3, 1, 2), (3, 2, 0, 1)]
    return [a.transpose(p) for a, p in zip(out, perms)]


def _pads(shape: ConvShape) -> tuple[int, int]:
    span = (shape.kernel - 1) * shape.dilation + 1
    total = max(0, (shape.out_side - 1) * shape.stride + span - shape.side)
    return total // 2, total - total // 2


def _window(shape: ConvShape, i: int) -> slice:
    start = i * shape.dilation
    return slice(start, start + shape.stride * (shape.out_side - 1) + 1, shape.stride)


def _patches(shape: ConvShape, x: np.ndarray) -> np.ndarray:
    """im2col: (N, groups, C/groups * k * k, Ho * Wo)."""
    s, (lo, hi) = shape, _pads(shape)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (lo, hi), (lo, hi)))
    cols = np.empty((s.batch, s.features, s.kernel, s.kernel, s.out_side, s.out_side))
    for i in range(s.kernel):
        for j in range(s.kernel):
            cols[:, :, i, j] = xp[:, :, _window(s, i), _window(s, j)]
    return cols.reshape(s.batch, s.groups, -1, s.out_side ** 2)


def expected(shape: ConvShape, x: np.ndarray, w: np.ndarray, g: np.ndarray) -> dict[str, list[np.ndarray]]:
    """NumPy's forward result and lhs and rhs gradients (of ``sum(conv(x, w) * g)``), NCHW / OIHW."""
    s = shape
    cols = _patches(s, x)
    wg = w.astype(np.float64).reshape(s.groups, s.out_features // s.groups, -1)  # (G, O/G, C/G*k*k)
    gm = g.astype(np.float64).reshape(s.batch, s.groups, -1, s.out_side ** 2)  # (N, G, O/G, P)
    out = (wg[None] @ cols).reshape(g.shape)
    dw = np.einsum("ngop,ngkp->gok", gm, cols, optimize=True).reshape(w.shape)
    dcols = (wg.transpose(0, 2, 1)[None] @ gm).reshape(s.batch, s.features, s.kernel, s.kernel, -1)
    lo, hi = _pads(s)
    dxp = np.zeros((s.batch, s.features, s.side + lo + hi, s.side + lo + hi))
    for i in range(s.kernel):
        for j in range(s.kernel):
            dxp[:, :, _window(s, i), _window(s, j)] += dcols[:, :, i, j].reshape(s.batch, s.features, s.out_side, -1)
    return {"forward": [out], "gradients": [dxp[:, :, lo:lo + s.side, lo:lo + s.side], dw]}


def check(shape: ConvShape, what: str, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    """Raise ``WrongResult`` unless ``got`` (NCHW / OIHW) equals NumPy's ``want``."""
    for i, (a, e) in enumerate(zip(got, want)):
        err = relative_error(a, e) if a.shape == e.shape else math.inf
        if not err <= TOLERANCE:
            raise WrongResult(f"{shape.key} {what}: output {i} (shape {a.shape}, expected {e.shape}) differs "
                              f"from NumPy's by {err:.3g} (relative), tolerance {TOLERANCE}")


# -- measuring ---------------------------------------------------------------------------------------

def programs(fw, shape: ConvShape) -> dict:
    """The jitted forward pass and lhs + rhs gradients (``vjp``) as a JAX user writes them."""
    lax = fw.jax.lax

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (shape.stride,) * 2, "SAME", rhs_dilation=(shape.dilation,) * 2,
                                        dimension_numbers=DIMENSION_NUMBERS[shape.layout],
                                        feature_group_count=shape.groups)
    return {"forward": fw.jit(lambda x, w, g: [conv(x, w)]),
            "gradients": fw.jit(lambda x, w, g: list(fw.jax.vjp(conv, x, w)[1](g)))}


def measure_shape(fw, shape: ConvShape, mode: str) -> dict[str, dict]:
    """Both passes of ``shape``: checked against NumPy, then timed."""
    data = inputs(shape)
    want = expected(shape, *data)
    args = [fw.put(a) for a in to_layout(shape, *data)]
    cells = {}
    for what, f in programs(fw, shape).items():
        try:
            check(shape, what, from_layout(shape, [np.asarray(a) for a in fw.block(f(*args))]), want[what])
            cells[what] = {"seconds": measure(lambda: f(*args), fw.block, **REPEATS[mode]).median_s}
        except NotImplementedError as e:
            cells[what] = {"na": f"NotImplementedError: {e}"}
        except Exception as e:
            traceback.print_exc()
            cells[what] = {"error": f"{type(e).__name__}: {e}"}
    return cells


def run(framework: str, mode: str) -> dict:
    from .worker import Framework, _configure_cache
    _configure_cache(framework, None)
    try:
        fw = Framework(framework)
    except Exception as e:  # the backend is missing or failed to initialise
        return {"framework": framework, "unavailable": f"{type(e).__name__}: {e}"}
    return {"framework": framework, "shapes": {s.key: measure_shape(fw, s, mode) for s in shapes(mode)}}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.conv_table", description=__doc__.splitlines()[0])
    p.add_argument("framework", help="a portax backend name, or jax")
    p.add_argument("--mode", choices=sorted(SIZES), default="full")
    args = p.parse_args(argv)
    print(json.dumps(run(args.framework, args.mode)), flush=True)


if __name__ == "__main__":
    main()
