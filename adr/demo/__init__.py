"""The built-in demo production: three synthetic actors, a noisy ten-line scene, a talking-head
picture with timecode, and the ground truth to score the pipeline against.

Everything is generated on the user's machine from installed packages (festival voices,
the piper ``joe`` voice, scikit-image's sample photograph); nothing is downloaded.

>>> from adr.demo import build_demo
>>> demo = build_demo(Path("sessions/demo-production"), quick=True)   # doctest: +SKIP
"""

from __future__ import annotations

from adr.demo.build import CONDITIONS, START_TIMECODE, build_demo
from adr.demo.truth import ActorInfo, DemoProduction, GroundTruth, LineTruth

__all__ = [
    "build_demo",
    "DemoProduction",
    "GroundTruth",
    "LineTruth",
    "ActorInfo",
    "CONDITIONS",
    "START_TIMECODE",
]
