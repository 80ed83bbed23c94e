"""Thread counts: torch's for one block of work, and onnxruntime sessions of adr's own.

torch's thread count is process-wide and results depend on it in their last bits (a sum's
order), which training magnifies: whatever changes it must restore it (a package that set it
at import made a voice trained in one process differ from the same voice trained in another,
docs/decisions.md "threads").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["torch_threads", "onnx_session"]


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, restoring the previous setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def onnx_session(model: str | Path | bytes, threads: int | None = 1) -> Any:
    """An onnxruntime CPU session of ``model`` (a path or the serialized graph) running on
    ``threads`` intra-op threads (``None``: onnxruntime's default), with one inter-op thread
    (making a session leaves torch's thread count as it is)."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model if isinstance(model, bytes) else str(model),
        sess_options=opts,
        providers=["CPUExecutionProvider"],
    )
