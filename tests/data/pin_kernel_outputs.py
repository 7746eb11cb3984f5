"""Re-pin the outputs of every shipped kernel (tests/data/kernel_outputs.npz).

Run from the repository root after a deliberate change of kernel numbers:
``python tests/data/pin_kernel_outputs.py``.
"""
import sys
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS), str(TESTS / "codegen")]

from test_kernel_pins import KERNELS, PINS, kernel_outputs  # noqa: E402

if __name__ == "__main__":
    outputs = {}
    for name in KERNELS:
        outputs.update(kernel_outputs(name))
    np.savez_compressed(PINS, **outputs)
    print(f"pinned {len(outputs)} outputs of {len(KERNELS)} kernels in {PINS}")
