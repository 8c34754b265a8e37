"""Input checks for the episode writer: bad data is refused before anything is written,
so a rejected call never leaves half a control tick in the bag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def finite_vector(field_name: str, value: object, expected_names: Sequence[str]) -> np.ndarray:
    """A float64 copy of `value`, shape (len(expected_names),), all finite."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1 or array.shape[0] != len(expected_names):
        raise ValueError(
            f"{field_name} has shape {array.shape}, expected ({len(expected_names)},) "
            f"to match names {list(expected_names)}"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        bad_names = [expected_names[i] for i in np.flatnonzero(bad)]
        raise ValueError(f"{field_name} contains NaN/Inf at {bad_names}")
    return array.copy()


def finite_matrix(field_name: str, value: object, columns: int | None = None) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{field_name} must be 2-D, got shape {array.shape}")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{field_name} has {array.shape[1]} columns, expected {columns}")
    if not np.isfinite(array).all():
        raise ValueError(f"{field_name} contains NaN/Inf")
    return array


def enum_value(field_name: str, value: object, allowed: Sequence[int]) -> int:
    as_int = int(value)  # type: ignore[call-overload]
    if as_int != value or as_int not in allowed:
        raise ValueError(f"{field_name}={value!r} is not one of {list(allowed)}")
    return as_int


def unsigned(field_name: str, value: object, bits: int) -> int:
    as_int = int(value)  # type: ignore[call-overload]
    if as_int != value or not 0 <= as_int < 2**bits:
        raise ValueError(f"{field_name}={value!r} must be an integer in [0, 2**{bits})")
    return as_int


def camera_images(
    images: Mapping[str, np.ndarray] | None,
    cameras: Sequence[str],
    known_shapes: dict[str, tuple[int, ...]],
) -> dict[str, np.ndarray]:
    """Every configured camera exactly once per tick, uint8 HxWx3, same size all episode."""
    images = dict(images or {})
    unknown = sorted(set(images) - set(cameras))
    if unknown:
        raise ValueError(f"unknown camera(s) {unknown}; configured cameras: {list(cameras)}")
    missing = [name for name in cameras if name not in images]
    if missing:
        raise ValueError(f"images missing for configured camera(s) {missing}")
    checked = {}
    for name in cameras:
        pixels = np.asarray(images[name])
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(
                f"image of camera {name!r} must be uint8 HxWx3 (rgb8), "
                f"got {pixels.dtype} {pixels.shape}"
            )
        expected = known_shapes.get(name)
        if expected is not None and pixels.shape != expected:
            raise ValueError(
                f"image of camera {name!r} changed size from {expected} to {pixels.shape}"
            )
        checked[name] = pixels
    return checked


def non_finite_problem(
    what: str, array: np.ndarray, names: Sequence[str], rows: np.ndarray | None = None
) -> str | None:
    """None when `array` (T, len(names)) is finite on the `rows` considered (all by default),
    else a message naming the first tick and name holding NaN/Inf and how many ticks do."""
    bad = ~np.isfinite(np.asarray(array, dtype=np.float64))
    if rows is not None:
        bad &= np.asarray(rows, dtype=bool)[:, None]
    if not bad.any():
        return None
    tick, column = (int(i) for i in np.argwhere(bad)[0])
    count = int(bad.any(axis=1).sum())
    return (
        f"{what} holds {array[tick, column]} at tick {tick} ({names[column]!r}); "
        f"{count} tick(s) hold non-finite values"
    )
