import numpy as np
import pytest

from dexpie_common.image_codec import (
    ENCODINGS, MalformedImage, UnsupportedEncoding, decode_image, encode_image, to_rgb)


def sample(encoding, rng):
    spec = ENCODINGS[encoding]
    dtype = np.dtype(spec.dtype)
    shape = (5, 7, spec.channels)
    if dtype.kind == "f":
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_accepted_encoding(encoding):
    pixels = sample(encoding, np.random.default_rng(0))
    fields = encode_image(pixels, encoding)
    back = decode_image(fields["height"], fields["width"], fields["encoding"],
                        fields["is_bigendian"], fields["step"], fields["data"])
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ["mono16", "32FC1", "rgb8"])
def test_big_endian_and_row_padding(encoding):
    pixels = sample(encoding, np.random.default_rng(1))
    spec = ENCODINGS[encoding]
    big = pixels.astype(np.dtype(spec.dtype).newbyteorder(">"))
    row = big.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([row, np.full((row.shape[0], 6), 255, np.uint8)], axis=1)
    back = decode_image(pixels.shape[0], pixels.shape[1], encoding, True, padded.shape[1],
                        padded.tobytes())
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ["yuv422", "bayer_rggb8", "16SC1", "jpeg", ""])
def test_other_encodings_are_rejected_by_name(encoding):
    with pytest.raises(UnsupportedEncoding, match=repr(encoding)):
        decode_image(2, 2, encoding, False, 8, bytes(16))
    with pytest.raises(UnsupportedEncoding):
        encode_image(np.zeros((2, 2, 3), np.uint8), encoding)


def test_malformed_messages_are_rejected():
    with pytest.raises(MalformedImage, match="expected 12"):
        decode_image(2, 2, "rgb8", False, 6, bytes(11))
    with pytest.raises(MalformedImage, match="step 5 is smaller"):
        decode_image(2, 2, "rgb8", False, 5, bytes(12))
    with pytest.raises(MalformedImage, match="does not fit rgb8"):
        encode_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(MalformedImage, match="dtype float64"):
        encode_image(np.zeros((2, 2, 3)), "rgb8")


def test_to_rgb_swaps_bgr_drops_alpha_and_expands_mono():
    rgb = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(to_rgb(rgb[:, :, ::-1], "bgr8"), rgb)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((2, 2, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb(bgra, "bgra8"), rgb)
    mono = rgb[:, :, :1]
    assert to_rgb(mono, "mono8").shape == (2, 2, 3)
    with pytest.raises(UnsupportedEncoding, match="32FC1"):
        to_rgb(np.zeros((2, 2, 1), np.float32), "32FC1")
