from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dia_augment.data import DataError, convert_channels, prepare_image, read_image, resize_square


def _triangle_resize_1d(n_in: int, n_out: int) -> torch.Tensor:
    """The (n_out, n_in) matrix of an antialiased bilinear (triangle filter) downsize, written out."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        for j in range(n_in):
            weights[i, j] = max(0.0, 1.0 - abs(j + 0.5 - centre) / support)
        weights[i] /= weights[i].sum()
    return weights


class TestReadImage:
    def test_8bit_gray(self, tmp_path):
        pixels = np.array([[0, 51], [255, 102]], np.uint8)
        Image.fromarray(pixels).save(tmp_path / "a.png")
        image = read_image(tmp_path / "a.png")
        assert image.dtype == torch.float32
        torch.testing.assert_close(image, torch.tensor([[[0.0, 0.2], [1.0, 0.4]]]))

    def test_16bit_png_scales_by_65535(self, tmp_path):
        pixels = np.array([[0, 32768], [65535, 655]], np.uint16)
        Image.fromarray(pixels).save(tmp_path / "a.png")
        with Image.open(tmp_path / "a.png") as im:
            assert im.mode == "I;16"
        image = read_image(tmp_path / "a.png")
        torch.testing.assert_close(image, torch.tensor([[[0.0, 32768 / 65535], [1.0, 655 / 65535]]]))
        assert abs(image[0, 0, 1].item() - 0.5) < 1e-4

    def test_32bit_int_tiff_read_as_16bit(self, tmp_path):
        Image.fromarray(np.array([[65535, 0]], np.int32), mode="I").save(tmp_path / "a.tif")
        torch.testing.assert_close(read_image(tmp_path / "a.tif"), torch.tensor([[[1.0, 0.0]]]))
        Image.fromarray(np.array([[70000, 0]], np.int32), mode="I").save(tmp_path / "b.tif")
        with pytest.raises(DataError, match=r"b\.tif.*\[0, 65535\]"):
            read_image(tmp_path / "b.tif")

    def test_rgb_rgba_and_palette(self, tmp_path):
        rgb = np.array([[[255, 0, 51]]], np.uint8)
        Image.fromarray(rgb).save(tmp_path / "rgb.png")
        Image.fromarray(np.concatenate([rgb, np.full((1, 1, 1), 7, np.uint8)], -1)).save(tmp_path / "rgba.png")
        Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
        expected = torch.tensor([1.0, 0.0, 0.2]).view(3, 1, 1)
        torch.testing.assert_close(read_image(tmp_path / "rgb.png"), expected)
        torch.testing.assert_close(read_image(tmp_path / "rgba.png"), expected)  # alpha dropped
        assert read_image(tmp_path / "p.png").shape == (3, 1, 1)

    def test_jpeg_and_bmp(self, tmp_path, image_writer):
        for suffix in (".jpg", ".bmp"):
            image = read_image(image_writer(tmp_path / f"a{suffix}", value=200, mode="RGB"))
            torch.testing.assert_close(image, torch.full((3, 6, 6), 200 / 255), atol=2 / 255, rtol=0)

    def test_corrupt_file_names_the_file(self, tmp_path):
        bad = tmp_path / "broken_scan.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        with pytest.raises(DataError, match="broken_scan.png"):
            read_image(bad)
        truncated = tmp_path / "cut.png"
        Image.fromarray(np.zeros((64, 64), np.uint8) + np.arange(64, dtype=np.uint8)).save(truncated)
        truncated.write_bytes(truncated.read_bytes()[:60])
        with pytest.raises(DataError, match="cut.png"):
            read_image(truncated)

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="nothing.png"):
            read_image(tmp_path / "nothing.png")

    def test_float_mode_is_rejected(self, tmp_path):
        Image.fromarray(np.zeros((2, 2), np.float32), mode="F").save(tmp_path / "f.tif")
        with pytest.raises(DataError, match=r"f\.tif.*'F'"):
            read_image(tmp_path / "f.tif")


class TestChannelsAndResize:
    def test_gray_to_rgb_repeats(self):
        gray = torch.rand(1, 3, 4)
        rgb = convert_channels(gray, 3)
        assert rgb.shape == (3, 3, 4)
        for c in range(3):
            torch.testing.assert_close(rgb[c], gray[0])

    def test_rgb_to_gray_is_bt601_luma(self):
        rgb = torch.tensor([[[1.0, 0.0, 0.0, 0.5]], [[0.0, 1.0, 0.0, 0.5]], [[0.0, 0.0, 1.0, 0.5]]])
        torch.testing.assert_close(convert_channels(rgb, 1), torch.tensor([[[0.299, 0.587, 0.114, 0.5]]]))

    def test_batched_and_errors(self):
        x = torch.rand(2, 1, 3, 3)
        assert torch.equal(convert_channels(x, 3)[:, 2], x[:, 0])
        with pytest.raises(ValueError, match="channels must be 1 or 3"):
            convert_channels(x, 2)
        with pytest.raises(ValueError, match="1 or 3 channels; got 2"):
            convert_channels(torch.rand(2, 3, 3), 1)

    def test_resize_matches_triangle_filter_reference(self):
        image = torch.rand(2, 12, 8, generator=torch.Generator().manual_seed(0))
        rows, cols = _triangle_resize_1d(12, 4), _triangle_resize_1d(8, 4)
        expected = torch.einsum("ij,cjk,lk->cil", rows, image.double(), cols).float()
        torch.testing.assert_close(resize_square(image, 4), expected, atol=1e-5, rtol=0)

    def test_resize_keeps_constants_and_identity(self):
        torch.testing.assert_close(resize_square(torch.full((1, 7, 5), 0.3), 3), torch.full((1, 3, 3), 0.3))
        x = torch.rand(3, 5, 5)
        assert resize_square(x, 5) is x
        with pytest.raises(ValueError, match="size must be a positive int"):
            resize_square(x, 0)

    def test_prepare_image_converts_then_resizes(self):
        rgb = torch.stack([torch.full((4, 4), v) for v in (1.0, 0.5, 0.0)])
        out = prepare_image(rgb, load_size=2, channels=1)
        torch.testing.assert_close(out, torch.full((1, 2, 2), 0.299 + 0.587 * 0.5))
        assert prepare_image(rgb) is rgb
