"""lgamma and digamma of positive arguments in 50-digit decimal arithmetic, where float64 formulas cancel:
near lgamma's zeros at 1 and 2 and digamma's root at 1.4616 (Python's math.lgamma is only absolutely
accurate there). Recurrence up to 100, then Stirling's / the asymptotic series with Bernoulli numbers."""
from __future__ import annotations

from decimal import Decimal, localcontext

_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494")
_BERNOULLI = ((1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6), (-3617, 510), (43867, 798),
              (-174611, 330))  # B2, B4, ..., B20
_SHIFT = 100  # the first omitted term is below 1e-41


def lgamma(v: float) -> float:
    """lgamma(v) for -100 < v < 100 but the poles, correctly rounded but for rare ties (reflection below 0)."""
    if v in (1.0, 2.0):  # exact zeros (the series leaves ~1e-41)
        return 0.0
    with localcontext() as ctx:
        ctx.prec = 50
        z = Decimal(v)
        if z > 0:
            return float(_lgamma_pos(z))
        return float((_PI / abs(_sin_pi(z - z.to_integral_value()))).ln() - _lgamma_pos(1 - z))


def _lgamma_pos(z: Decimal) -> Decimal:
    prod = Decimal(1)
    while z < _SHIFT:
        prod *= z
        z += 1
    s = (z - Decimal("0.5")) * z.ln() - z + (2 * _PI).ln() / 2
    power, zz = z, z * z
    for k, (num, den) in enumerate(_BERNOULLI, 1):
        s += Decimal(num) / (Decimal(den) * (2 * k) * (2 * k - 1) * power)
        power *= zz
    return s - prod.ln()


def _sin_pi(r: Decimal) -> Decimal:
    """sin(pi r) for |r| <= 1/2 by its Taylor series."""
    x = _PI * r
    term = total = x
    k = 1
    while abs(term) > Decimal("1e-60"):
        term *= -x * x / ((2 * k) * (2 * k + 1))
        total += term
        k += 1
    return total


def digamma(v: float) -> float:
    """digamma(v) for 0 < v < 100, correctly rounded but for rare ties."""
    with localcontext() as ctx:
        ctx.prec = 50
        z, acc = Decimal(v), Decimal(0)
        while z < _SHIFT:
            acc -= 1 / z
            z += 1
        s = z.ln() - 1 / (2 * z)
        power, zz = z * z, z * z
        for k, (num, den) in enumerate(_BERNOULLI, 1):
            s -= Decimal(num) / (Decimal(den) * (2 * k) * power)
            power *= zz
        return float(acc + s)
