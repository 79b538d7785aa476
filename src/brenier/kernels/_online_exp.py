"""A vectorisable ``exp`` for the numba kernels.

LLVM does not vectorise calls to ``math.exp`` (numba ships no vector math library by
default), and the exponential is most of the work of a softmin. This module writes
it with operations that every SIMD unit has:

.. math::

    e^x = 2^n \\, e^r, \\qquad n = \\operatorname{round}(x \\log_2 e), \\quad
    r = x - n \\log 2 \\in [-\\tfrac{\\log 2}{2}, \\tfrac{\\log 2}{2}],

with :math:`\\log 2` split in two parts (Cody-Waite) so that ``r`` is exact, a
polynomial for :math:`e^r` (Cephes' minimax ``expf`` coefficients in float32, the
Taylor series to degree 13 in float64: both about 1 ulp), and :math:`2^n` built by
writing ``n + bias`` into the exponent bits. Inputs are clamped so that
:math:`2^n` never leaves the normal range; anything below about -87.7 (float32) or
-709 (float64) gives exactly 0, so zero weights (``h = -inf`` clamped to a large
negative number) add nothing. Subnormal results are flushed to zero.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


@intrinsic
def _bits_to_float32(typingctx, bits):
    """Reinterprets the bits of an int32 as a float32 (no conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _bits_to_float64(typingctx, bits):
    """Reinterprets the bits of an int64 as a float64 (no conversion)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _float32_to_bits(typingctx, value):
    """Reinterprets the bits of a float32 as an int32 (no conversion)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


_F32 = np.float32
_LOG2E_32 = _F32(1.4426950408889634)
_LN2_HI_32 = _F32(0.693359375)
_LN2_LO_32 = _F32(-2.12194440e-4)
_LO_32 = _F32(-88.0)  # n = round(x log2 e) >= -127: 2^n is +0.0 at the bottom
_HI_32 = _F32(88.0)
_SHIFT_32 = _F32(12582912.0)  # 1.5 * 2^23
_ONE_32 = _F32(1.0)
_C32 = (
    _F32(1.9875691500e-4),
    _F32(1.3981999507e-3),
    _F32(8.3334519073e-3),
    _F32(4.1665795894e-2),
    _F32(1.6666665459e-1),
    _F32(5.0000001201e-1),
)

_LOG2E_64 = 1.4426950408889634
_LN2_HI_64 = 6.93145751953125e-1
_LN2_LO_64 = 1.42860682030941723212e-6
_LO_64 = -709.0  # n >= -1023: 2^n is +0.0 at the bottom
_HI_64 = 709.0
_C64 = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))  # 1/13!, ..., 1/2!


def fast_exp(x):
    """``exp(x)``; compiled to the branch-free, vectorisable form inside numba kernels."""
    return math.exp(x)


def _exp32(x):
    # Round-to-nearest by the "shifter" trick: adding 1.5 * 2^23 leaves n in the low
    # mantissa bits of t, so n needs no float-to-int conversion and 2^n is one shift.
    x = min(max(x, _LO_32), _HI_32)
    t = x * _LOG2E_32 + _SHIFT_32
    n = t - _SHIFT_32
    r = x - n * _LN2_HI_32
    r = r - n * _LN2_LO_32
    c0, c1, c2, c3, c4, c5 = _C32
    q = c0 * r + c1
    q = q * r + c2
    q = q * r + c3
    q = q * r + c4
    q = q * r + c5
    q = q * r + _ONE_32
    q = q * r + _ONE_32
    scale = _bits_to_float32((_float32_to_bits(t) + np.int32(127)) << np.int32(23))
    return q * scale


def _exp64(x):
    x = min(max(x, _LO_64), _HI_64)
    n = math.floor(x * _LOG2E_64 + 0.5)
    r = x - n * _LN2_HI_64
    r = r - n * _LN2_LO_64
    c13, c12, c11, c10, c9, c8, c7, c6, c5, c4, c3, c2 = _C64
    q = c13 * r + c12
    q = q * r + c11
    q = q * r + c10
    q = q * r + c9
    q = q * r + c8
    q = q * r + c7
    q = q * r + c6
    q = q * r + c5
    q = q * r + c4
    q = q * r + c3
    q = q * r + c2
    q = q * (r * r) + r + 1.0
    scale = _bits_to_float64((np.int64(n) + np.int64(1023)) << np.int64(52))
    return q * scale


@overload(fast_exp, jit_options={"fastmath": {"contract", "afn", "arcp"}})
def _fast_exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _exp32
    if isinstance(x, types.Float) and x.bitwidth == 64:
        return _exp64
    return None


def prefer_wide_vectors() -> None:
    """Inside a numba kernel: let LLVM use 512-bit vectors in the calling function.

    LLVM's tuning for recent Intel cores prefers 256-bit vectors even where AVX-512
    exists; for these exp-bound loops 512 bits are ~1.4x faster (measured). This sets
    the calling function's ``"prefer-vector-width"="512"`` attribute at compile time;
    CPUs without AVX-512 are unaffected (LLVM clamps the width to what is legal).
    Outside numba it does nothing.
    """


@intrinsic
def _prefer_wide_vectors(typingctx):
    def codegen(context, builder, signature, args):
        # llvmlite validates attribute names against a fixed list that lacks key="value"
        # attributes: add to the underlying set. If that ever fails, keep the default.
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # pragma: no cover - depends on the llvmlite version
            pass
        return context.get_dummy_value()

    return types.none(), codegen


@overload(prefer_wide_vectors, inline="always")
def _prefer_wide_vectors_overload():
    return lambda: _prefer_wide_vectors()


def fast_max(a, b):
    """``max(a, b)`` of two floats; compiled to LLVM's ``maxnum`` inside numba kernels.

    numba's ``max`` compiles to a compare and a branch that LLVM does not turn into a
    vector maximum; ``maxnum`` is one ``vmaxps`` per vector of lanes. ``b`` is
    converted to the type of ``a``. Inputs must not be NaN (the kernels' inputs are
    finite).
    """
    return max(a, b)


@intrinsic
def _maxnum(typingctx, a, b):
    if not (isinstance(a, types.Float) and isinstance(b, (types.Float, types.Integer))):
        return None

    def codegen(context, builder, signature, args):
        fty = context.get_value_type(signature.return_type)
        name = "llvm.maxnum.f32" if signature.return_type.bitwidth == 32 else "llvm.maxnum.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(fty, [fty, fty]), name)
        other = context.cast(builder, args[1], signature.args[1], signature.return_type)
        return builder.call(fn, [args[0], other], fastmath=("fast",))

    return a(a, b), codegen


@overload(fast_max, inline="always")
def _fast_max_overload(a, b):
    if isinstance(a, types.Float):
        return lambda a, b: _maxnum(a, b)
    return None
