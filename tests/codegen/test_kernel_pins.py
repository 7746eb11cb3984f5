"""Every shipped kernel's outputs, bit for bit, on fixed inputs (tests/data/kernel_outputs.npz).

The pins were written before the layout move (issue 10) from the kernels then shipped; a
change that alters any output bit fails here. A deliberate change of the numbers re-pins with
``python tests/data/pin_kernel_outputs.py`` and says why in its commit.
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


def kernel_outputs(name: str) -> dict[str, np.ndarray]:
    """``{'name/n': cumulant_n(inputs)}`` of one shipped kernel on its pinned inputs."""
    module = importlib.import_module(f"{generated.__name__}.{name}")
    kappa = kernel_pin_inputs(module.CLOSURE)
    parameters = [PIN_PARAMETERS[p] for p in module.PARAMETERS]
    if not hasattr(module, "CUMULANTS"):     # a factored module: its block functions (docs/theory.md section 12)
        return {f"{name}/{function.__name__}": function(kappa, *parameters) for function in module.BLOCK_ARRAYS}
    return {f"{name}/{n}": cumulant(kappa, *parameters) for n, cumulant in enumerate(module.CUMULANTS, start=1)}


@pytest.mark.parametrize("name", KERNELS)
def test_shipped_kernel_outputs_are_bit_identical_to_their_pins(name):
    with np.load(PINS) as pins:
        for key, value in kernel_outputs(name).items():
            assert key in pins, f"{key} has no pin: re-pin with python tests/data/pin_kernel_outputs.py"
            assert np.array_equal(value, pins[key]), (
                f"{key} differs from its pin by up to {np.max(np.abs(value - pins[key])):.3e}")


def test_every_pin_has_a_shipped_kernel():
    with np.load(PINS) as pins:
        assert {key.partition("/")[0] for key in pins.files} == set(KERNELS)
