"""torch's CPU thread count for one block of work, put back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads, then put back the count found.

    Put back, because the count outlives the call: a live stream's one thread must not become the
    second opinion's or the face finder's. It also picks kernels: with one thread torch runs a 1x1
    convolution with its own kernels, with more with oneDNN's, whose sums differ in the last bits.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
