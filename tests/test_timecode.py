"""SMPTE timecode: exact frame rates, drop/non-drop counting, conversions, strict parsing."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from adr.core.errors import AdrError
from adr.core.timecode import (
    FrameRate,
    format_timecode,
    format_timecodes,
    frames_per_day,
    frames_to_samples,
    parse_timecode,
    parse_timecodes,
    picture_frames_to_seconds,
    samples_to_frames,
    samples_to_timecode,
    seconds_to_picture_frames,
    seconds_to_timecode,
    timecode_to_samples,
    timecode_to_seconds,
)

DF = FrameRate.parse("29.97df")
NDF23 = FrameRate.parse("23.976")


# --- frame rates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate", "drop"),
    [
        ("23.976", Fraction(24000, 1001), False),
        ("23.98", Fraction(24000, 1001), False),
        ("24000/1001", Fraction(24000, 1001), False),
        ("24", Fraction(24), False),
        ("25", Fraction(25), False),
        ("29.97", Fraction(30000, 1001), False),
        ("29.97ndf", Fraction(30000, 1001), False),
        ("29.97df", Fraction(30000, 1001), True),
        ("29.97DF", Fraction(30000, 1001), True),
        (" 29.97 df ", Fraction(30000, 1001), True),
        ("30000/1001", Fraction(30000, 1001), False),
        ("30", Fraction(30), False),
        ("48", Fraction(48), False),
        ("50", Fraction(50), False),
        ("59.94", Fraction(60000, 1001), False),
        ("59.94df", Fraction(60000, 1001), True),
        ("60", Fraction(60), False),
    ],
)
def test_parse_frame_rate(text: str, rate: Fraction, drop: bool) -> None:
    fr = FrameRate.parse(text)
    assert fr.rate == rate and fr.drop_frame is drop
    assert FrameRate.parse(str(fr)) == fr
    assert FrameRate.from_dict(fr.to_dict()) == fr
    assert fr.fps == pytest.approx(float(rate))


def test_nominal_and_str() -> None:
    assert [FrameRate.parse(s).nominal for s in ("23.976", "25", "29.97df", "50", "59.94")] == [
        24,
        25,
        30,
        50,
        60,
    ]
    assert str(FrameRate.parse("30000/1001")) == "29.97"
    assert str(DF) == "29.97df"
    assert DF.frame_duration == Fraction(1001, 30000)


@pytest.mark.parametrize("value", [Fraction(2997, 100), 29.97002997, Fraction(30000, 1001)])
def test_from_fraction_snaps(value: object) -> None:
    assert FrameRate.from_fraction(value).rate == Fraction(30000, 1001)  # type: ignore[arg-type]
    assert FrameRate.from_fraction(23.976023).rate == Fraction(24000, 1001)
    assert FrameRate.from_fraction(Fraction(25, 1)).rate == 25
    assert FrameRate.from_fraction(Fraction(30000, 1001), drop_frame=True) == DF


@pytest.mark.parametrize("text", ["12.5", "15", "0", "120", "abc", "", "1/0", "29.97xx", "-25"])
def test_bad_frame_rate(text: str) -> None:
    with pytest.raises(AdrError, match="frame rate"):
        FrameRate.parse(text)


def test_unsupported_message_and_drop_only_at_2997_5994() -> None:
    with pytest.raises(AdrError, match=r"^12\.5: unsupported frame rate \(supported: .*29\.97df"):
        FrameRate.parse("12.5")
    with pytest.raises(AdrError, match="unsupported frame rate"):
        FrameRate.from_fraction(Fraction(25, 2))
    for text in ("25df", "30df", "24df", "23.976df"):
        with pytest.raises(AdrError, match="drop-frame"):
            FrameRate.parse(text)
    with pytest.raises(AdrError, match="drop-frame"):
        FrameRate(Fraction(25), True)


# --- reference values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tc", "frames"),
    [
        ("00:00:00;00", 0),
        ("00:00:59;29", 1799),
        ("00:01:00;02", 1800),
        ("00:01:59;29", 3597),
        ("00:02:00;02", 3598),
        ("00:09:59;29", 17981),
        ("00:10:00;00", 17982),
        ("00:10:00;01", 17983),
        ("00:11:00;02", 19782),
        ("01:00:00;00", 107892),
        ("10:00:00;00", 1078920),
        ("23:59:59;29", 2589407),
    ],
)
def test_drop_frame_reference(tc: str, frames: int) -> None:
    assert parse_timecode(tc, DF) == frames
    assert format_timecode(frames, DF) == tc


def test_ndf_and_sample_reference() -> None:
    assert parse_timecode("01:00:00:00", NDF23) == 86400
    assert timecode_to_seconds("01:00:00:00", NDF23) == pytest.approx(3603.6, abs=1e-12)
    assert timecode_to_samples("01:00:00:00", NDF23) == 172972800
    pal = FrameRate.parse("25")
    assert parse_timecode("10:00:00:00", pal) == 900000
    assert timecode_to_samples("10:00:00:00", pal, 48000) == 1728000000
    assert samples_to_timecode(1728000000, pal) == "10:00:00:00"
    # DF timecode is not wall-clock: 01:00:00;00 is 107892 frames = 3599.9964 s.
    assert timecode_to_seconds("01:00:00;00", DF) == pytest.approx(107892 * 1001 / 30000)
    assert timecode_to_samples("01:00:00;00", DF) == 172799827  # 172799827.2 rounded


def test_frames_per_day() -> None:
    assert frames_per_day(DF) == 2589408
    assert frames_per_day(FrameRate.parse("59.94df")) == 5178816
    assert frames_per_day(NDF23) == 24 * 86400


def test_format_wraps_at_24h() -> None:
    assert format_timecode(frames_per_day(DF), DF) == "00:00:00;00"
    assert format_timecode(-1, DF) == "23:59:59;29"
    assert format_timecode(24 * 86400 + 5, NDF23) == "00:00:00:05"


def test_5994_drop_frame() -> None:
    r = FrameRate.parse("59.94df")
    assert parse_timecode("00:01:00;04", r) == 3600
    assert format_timecode(3599, r) == "00:00:59;59"
    assert format_timecode(3600, r) == "00:01:00;04"
    with pytest.raises(AdrError, match="dropped"):
        parse_timecode("00:01:00;03", r)
    assert parse_timecode("01:00:00;00", r) == 2 * 107892


# --- exact conversions -------------------------------------------------------------------


def test_samples_and_seconds() -> None:
    ntsc = FrameRate.parse("29.97")
    assert frames_to_samples(1, ntsc) == 1602  # 1601.6
    assert frames_to_samples(5, ntsc) == 8008  # exact
    assert frames_to_samples(2, ntsc) == 3203  # 3203.2
    assert samples_to_frames(1601, ntsc) == 0
    assert samples_to_frames(1602, ntsc) == 1
    assert samples_to_frames(8008, ntsc) == 5
    assert picture_frames_to_seconds(30000, ntsc) == 1001.0
    assert seconds_to_picture_frames(1001.0, ntsc) == 30000
    assert seconds_to_picture_frames(0.5 / 25 - 1e-9, FrameRate.parse("25")) == 0
    assert seconds_to_picture_frames(0.5 / 25 + 1e-9, FrameRate.parse("25")) == 1
    assert seconds_to_timecode(3603.6, NDF23) == "01:00:00:00"
    # A day of frames at 23.976 converts without drift.
    day = frames_per_day(NDF23)
    assert frames_to_samples(day, NDF23) == day * 2002
    assert samples_to_frames(day * 2002, NDF23) == day
    assert frames_to_samples(1, NDF23, 44100) == 1839  # 1839.3375


# --- full-day round trips ----------------------------------------------------------------


def _df_labels() -> np.ndarray:
    """Every valid 29.97 DF label of a day, in order, built independently by enumeration.

    Returns
    -------
    np.ndarray, shape (2589408,), ``<U11``
    """
    h, m, s, f = np.meshgrid(
        *(np.arange(n, dtype=np.uint8) for n in (24, 60, 60, 30)), indexing="ij"
    )
    keep = ~((s == 0) & (f < 2) & (m % 10 != 0))
    fields = [a[keep] for a in (h, m, s, f)]
    text = np.empty((len(fields[0]), 11), dtype=np.uint32)
    for k, a in enumerate(fields):
        text[:, 3 * k] = ord("0") + a // 10
        text[:, 3 * k + 1] = ord("0") + a % 10
    text[:, [2, 5]] = ord(":")
    text[:, 8] = ord(";")
    return text.view("U11").ravel()


def _sample_frames(total: int, per_min: int, edge_minutes: int, stride: int) -> np.ndarray:
    """Every frame of the first and last ``edge_minutes``, every ``stride``-th frame in
    between, and every minute boundary +-2 frames."""
    edge = edge_minutes * per_min
    starts = np.arange(0, total, per_min)
    around = (starts[:, None] + np.arange(-2, 3)[None, :]).ravel()
    frames = np.concatenate(
        [
            np.arange(edge),
            np.arange(total - edge, total),
            np.arange(edge, total - edge, stride),
            around,
        ]
    )
    return np.unique(frames[(frames >= 0) & (frames < total)])


def test_drop_frame_day_matches_enumeration() -> None:
    labels = _df_labels()
    assert len(labels) == frames_per_day(DF)
    assert np.array_equal(format_timecodes(np.arange(len(labels)), DF), labels)


@pytest.mark.parametrize("rate_text", ["29.97df", "23.976"])
def test_vectorized_round_trip_every_frame_of_day(rate_text: str) -> None:
    rate = FrameRate.parse(rate_text)
    frames = np.arange(frames_per_day(rate))
    assert np.array_equal(parse_timecodes(format_timecodes(frames, rate), rate), frames)


@pytest.mark.parametrize("rate_text", ["59.94df", "25", "50", "60"])
def test_vectorized_round_trip_other_rates(rate_text: str) -> None:
    rate = FrameRate.parse(rate_text)
    total = frames_per_day(rate)
    frames = _sample_frames(total, rate.nominal * 60 - (4 if rate.drop_frame else 0), 10, 13)
    labels = format_timecodes(frames, rate)
    assert np.array_equal(parse_timecodes(labels, rate), frames)
    assert labels[-1] == f"23:59:59{';' if rate.drop_frame else ':'}{rate.nominal - 1}"


@pytest.mark.parametrize("rate_text", ["29.97df", "23.976"])
def test_scalar_round_trip_over_day(rate_text: str) -> None:
    """Scalar functions agree with the vectorized ones on a sample of the whole day."""
    rate = FrameRate.parse(rate_text)
    total = frames_per_day(rate)
    per_min = rate.nominal * 60 - (2 if rate.drop_frame else 0)
    frames = _sample_frames(total, per_min, edge_minutes=2, stride=97)
    assert frames[0] == 0 and frames[-1] == total - 1
    expected = format_timecodes(frames, rate)
    for i, tc in zip(frames.tolist(), expected.tolist()):
        assert format_timecode(i, rate) == tc
        assert parse_timecode(tc, rate) == i


def test_vectorized_parse_is_strict() -> None:
    with pytest.raises(AdrError, match="dropped") as info:
        parse_timecodes(["00:00:00;00", "00:01:00;00"], DF)
    assert info.value.where == "00:01:00;00"
    with pytest.raises(AdrError, match="not a timecode"):
        parse_timecodes(["01:00:00:001"], DF)
    with pytest.raises(AdrError, match="non-drop"):
        parse_timecodes(["01:00:00;00"], NDF23)
    assert parse_timecodes([" 1:00:00:00", "01:00:00.00"], DF).tolist() == [107892, 107892]
    assert parse_timecodes([], DF).shape == (0,)


# --- strict parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tc", "rate_text", "why"),
    [
        ("01:00:00", "25", "not a timecode"),
        ("01:00:00:00:00", "25", "not a timecode"),
        ("1:0:0:0", "25", "not a timecode"),
        ("aa:00:00:00", "25", "not a timecode"),
        ("01:00:00:0x", "25", "not a timecode"),
        ("", "25", "not a timecode"),
        ("24:00:00:00", "25", "hours"),
        ("00:60:00:00", "25", "minutes"),
        ("00:00:60:00", "25", "seconds"),
        ("00:00:00:25", "25", "frame 25"),
        ("00:00:00:24", "23.976", "frame 24"),
        ("00:00:00:30", "29.97df", "frame 30"),
        ("00:01:00;00", "29.97df", "dropped"),
        ("00:01:00;01", "29.97df", "dropped"),
        ("00:00:00;05", "25", "non-drop"),
    ],
)
def test_parse_errors(tc: str, rate_text: str, why: str) -> None:
    with pytest.raises(AdrError, match=why) as info:
        parse_timecode(tc, FrameRate.parse(rate_text))
    assert info.value.where == tc


def test_drop_frame_separators() -> None:
    for tc in ("01:00:00;00", "01:00:00,00", "01:00:00.00", "01:00:00:00"):
        assert parse_timecode(tc, DF) == 107892
    assert parse_timecode("00:10:00;00", DF) == 17982  # minute 10 keeps frames 0 and 1
    assert parse_timecode(" 1:00:00:00 ", FrameRate.parse("25")) == 90000
