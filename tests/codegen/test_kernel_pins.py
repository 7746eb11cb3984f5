"""Every shipped kernel's outputs on fixed inputs (tests/data/kernel_outputs.npz), to the last bits.

The pins were written before the layout move (issue 10) from the kernels then shipped; a change that moves
any output by more than :data:`ULPS` units in the last place of its array's largest entry fails here
(about 1e-14 relative: any change of a formula moves them far more). Not bit for bit: NumPy's sin, cos, exp
and the like take different SIMD code paths on different CPUs, and their last bits differ. On a machine
without AVX-512 (NumPy 2.4.6, AVX2) the pins of the kernels of abs, cos, erf, gelu, heaviside, probit, relu and
sin differed by up to 32 such units (cos's fourth cumulant, whose terms cancel), where the machines the pins
were checked on before matched them bit for bit; the polynomial kernels (arithmetic only) matched on both.
A deliberate change of the numbers re-pins with ``python tests/data/pin_kernel_outputs.py`` and says why in its
commit.
"""
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest
from builders import PIN_PARAMETERS, kernel_pin_inputs

import symcorr.codegen.generated as generated

PINS = Path(__file__).resolve().parent.parent / "data" / "kernel_outputs.npz"
KERNELS = sorted(info.name for info in pkgutil.iter_modules(generated.__path__) if not info.name.startswith("_"))
#: Units in the last place of an array's largest entry by which an output may differ from its pin (module docstring).
ULPS = 64


def kernel_outputs(name: str) -> dict[str, np.ndarray]:
    """``{'name/n': cumulant_n(inputs)}`` of one shipped kernel on its pinned inputs."""
    module = importlib.import_module(f"{generated.__name__}.{name}")
    kappa = kernel_pin_inputs(module.CLOSURE)
    parameters = [PIN_PARAMETERS[p] for p in module.PARAMETERS]
    # as pointwise calls them: a pair formula is evaluated on its whole grid, and is singular (rho = 1) on the
    # grid's diagonal, which the single-neuron pattern then overwrites (a NaN left in an output fails the comparison)
    with np.errstate(invalid="ignore", divide="ignore"):
        if not hasattr(module, "CUMULANTS"):     # a factored module: its block functions (docs/theory.md section 12)
            return {f"{name}/{function.__name__}": function(kappa, *parameters) for function in module.BLOCK_ARRAYS}
        return {f"{name}/{n}": cumulant(kappa, *parameters) for n, cumulant in enumerate(module.CUMULANTS, start=1)}


@pytest.mark.parametrize("name", KERNELS)
def test_shipped_kernel_outputs_equal_their_pins_to_the_last_bits(name):
    with np.load(PINS) as pins:
        for key, value in kernel_outputs(name).items():
            assert key in pins, f"{key} has no pin: re-pin with python tests/data/pin_kernel_outputs.py"
            pin = pins[key]                      # (every pin is finite and nonzero somewhere)
            assert value.shape == pin.shape, key
            unit, difference = np.spacing(np.max(np.abs(pin))), np.max(np.abs(value - pin))
            assert difference <= ULPS * unit, (
                f"{key} differs from its pin by up to {difference:.3e}, {difference / unit:.0f} units in the last "
                f"place of its largest entry (at most {ULPS})")


def test_every_pin_has_a_shipped_kernel():
    with np.load(PINS) as pins:
        assert {key.partition("/")[0] for key in pins.files} == set(KERNELS)
