"""adr: automatic dialog replacement for film and TV post-production.

The library API mirrors the command line: each ``adr`` command is one call here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from adr.core.errors import AdrError

__all__ = ["AdrError", "__version__"]
