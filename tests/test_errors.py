"""AdrError crosses process boundaries (issue #13: ``adr batch`` runs units in Ray workers)."""

from __future__ import annotations

import copy
import pickle

import pytest

from adr.core.errors import AdrError


class _PathError(AdrError):
    """A subclass with its own signature and an extra attribute."""

    def __init__(self, path: str, count: int) -> None:
        super().__init__(path, f"{count} bad   samples\nin it")
        self.count = count


@pytest.mark.parametrize(
    "make", [lambda: AdrError("cue 101", "silent  line"), lambda: _PathError("a.wav", 3)]
)
def test_adr_error_survives_pickle(make) -> None:  # type: ignore[no-untyped-def]
    err = make()
    err.add_note("while analysing reel1")
    dumps = [pickle.dumps(err, protocol=p) for p in range(2, pickle.HIGHEST_PROTOCOL + 1)]
    try:
        import ray.cloudpickle as cloudpickle  # what Ray uses between processes
    except ImportError:
        cloudpickle = None
    copies = [pickle.loads(d) for d in dumps] + [copy.copy(err), copy.deepcopy(err)]
    if cloudpickle is not None:
        copies.append(cloudpickle.loads(cloudpickle.dumps(err)))
    for back in copies:
        assert type(back) is type(err)
        assert str(back) == str(err) and back.args == err.args
        assert (back.where, back.problem) == (err.where, err.problem)
        assert back.__dict__ == err.__dict__  # count, __notes__
        with pytest.raises(type(err), match=r"^(cue 101: silent line|a\.wav: 3 bad samples in it)"):
            raise back
