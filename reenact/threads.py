"""CPU thread limits for torch, for the stages made of many small operations.

The FLAME fit and the guidance rasteriser are many small batched tensor operations; OpenMP
synchronisation costs them more than extra threads give. Measured on the 2-core test machine:
rendering a 512 FLAME frame took 67 ms with 1 thread and 272 ms with torch's default 2.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int):
    """Run with n torch CPU threads (0 = unchanged), restoring the previous setting after."""
    before = torch.get_num_threads()
    if n > 0 and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
