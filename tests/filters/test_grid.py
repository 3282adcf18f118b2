from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from dia_augment.cli import main
from dia_augment.filters.base import Dissolver, ResizeDissolving
from dia_augment.filters.grid import class_row_labels, dissolve_grid, grid_to_pil, save_dissolve_grid, save_readiness_curve


class FadeDissolving(Dissolver):
    """A known dissolver: multiplies the image by 1 - t / 1000."""

    def dissolve(self, images: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return images * (1 - t.view(-1, 1, 1, 1).to(images.dtype) / 1000)


class IdentityDissolving(Dissolver):
    """Returns the images unchanged (at any size)."""

    def dissolve(self, images: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return images


def cell(grid: torch.Tensor, row: int, col: int, h: int, w: int, padding: int) -> torch.Tensor:
    y, x = padding + row * (h + padding), padding + col * (w + padding)
    return grid[:, y : y + h, x : x + w]


def test_identity_dissolver_repeats_the_originals_and_pads_with_pad_value():
    x = torch.rand(3, 1, 5, 6, generator=torch.Generator().manual_seed(0))
    steps, p = (0, 30, 200), 2
    grid = dissolve_grid(IdentityDissolving(), x, steps=steps, padding=p, pad_value=0.25)
    assert grid.shape == (1, p + 3 * (5 + p), p + 4 * (6 + p))
    mask = torch.ones_like(grid, dtype=torch.bool)
    for row in range(3):
        for col in range(4):
            assert torch.equal(cell(grid, row, col, 5, 6, p), x[row])
            y, xx = p + row * (5 + p), p + col * (6 + p)
            mask[:, y : y + 5, xx : xx + 6] = False
    assert torch.all(grid[mask] == 0.25)
    assert int(mask.sum()) == grid.numel() - 3 * 4 * 5 * 6


def test_known_dissolver_columns_hold_the_dissolved_values():
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    steps = (0, 100, 500)
    grid = dissolve_grid(FadeDissolving(), x, steps=steps, padding=1)
    for row in range(2):
        assert torch.equal(cell(grid, row, 0, 4, 4, 1), x[row])
        for j, t in enumerate(steps):
            expected = (x[row] * (1 - torch.tensor(t / 1000))).clamp(0, 1)
            torch.testing.assert_close(cell(grid, row, j + 1, 4, 4, 1), expected, rtol=0, atol=1e-7)
    # t = 500 halves the image
    torch.testing.assert_close(cell(grid, 1, 3, 4, 4, 1), x[1] * 0.5, rtol=0, atol=1e-7)


def test_zero_padding_tiles_without_gaps():
    x = torch.arange(8, dtype=torch.float32).view(2, 1, 2, 2) / 8
    grid = dissolve_grid(ResizeDissolving(2), x, steps=(0,), padding=0)
    expected = torch.cat([torch.cat([x[0, 0], x[0, 0]], 1), torch.cat([x[1, 0], x[1, 0]], 1)], 0)[None]
    assert torch.equal(grid, expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_saved_png_holds_the_grid_pixels(tmp_path, channels):
    x = torch.rand(2, channels, 6, 6, generator=torch.Generator().manual_seed(2))
    path = tmp_path / "g.png"
    grid = save_dissolve_grid(FadeDissolving(), x, path, steps=(0, 300), padding=2, scale=3, labels=True)
    image = np.asarray(Image.open(path))
    label_strip = 14
    assert image.shape[:2] == (label_strip + 3 * grid.shape[1], 3 * grid.shape[2])
    body = torch.from_numpy(image[label_strip:].copy())
    if channels == 1:
        body = body[..., None]
    expected = (grid * 255).round().to(torch.uint8).permute(1, 2, 0)
    expected = expected.repeat_interleave(3, 0).repeat_interleave(3, 1)
    assert torch.equal(body, expected)
    assert image[:label_strip].min() < 64  # the labels were drawn in black on white


def test_row_labels_sit_left_of_their_rows_and_leave_the_grid_untouched(tmp_path):
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    path = tmp_path / "g.png"
    rows = class_row_labels([0, 1, 1], [1, 0, 2], ["COVID", "non-COVID", "other"])
    assert rows == ["normal: non-COVID", "anomalous: COVID", "anomalous: other"]
    grid = save_dissolve_grid(FadeDissolving(), x, path, steps=(0, 500), padding=2, scale=2, row_labels=rows)
    image = np.asarray(Image.open(path)).astype(int)
    strip = image.shape[1] - 2 * grid.shape[2]
    widest = max(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(t) for t in rows)
    assert strip == int(np.ceil(widest)) + 8 and image.shape[0] == 14 + 2 * grid.shape[1]
    body = torch.from_numpy(image[14:, strip:].astype(np.uint8))
    assert torch.equal(body, (grid[0] * 255).round().to(torch.uint8).repeat_interleave(2, 0).repeat_interleave(2, 1))
    for row in range(3):  # ink in each row's band of the strip, none in the padding between rows
        band = image[14 + 2 * (2 + row * 10) : 14 + 2 * (2 + row * 10 + 8), :strip]
        assert band.min() < 128
    assert image[14 : 14 + 2 * 2, :strip].min() == 255
    with pytest.raises(ValueError, match="one label per image: got 2 for 3"):
        save_dissolve_grid(FadeDissolving(), x, path, row_labels=rows[:2])
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        class_row_labels([0, 2])


def test_unlabelled_png_is_the_bare_grid(tmp_path):
    x = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    path = tmp_path / "g.png"
    grid = save_dissolve_grid(ResizeDissolving(4), x, path, steps=(0,), padding=1, scale=1, labels=False)
    image = torch.from_numpy(np.asarray(Image.open(path)).copy())
    assert torch.equal(image, (grid[0] * 255).round().to(torch.uint8))


def test_bad_arguments_raise_clear_errors(tmp_path):
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="steps must be a non-empty"):
        dissolve_grid(ResizeDissolving(4), x, steps=())
    with pytest.raises(ValueError, match="padding"):
        dissolve_grid(ResizeDissolving(4), x, padding=-1)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        dissolve_grid(ResizeDissolving(4), x * 3)
    with pytest.raises(ValueError, match="scale"):
        grid_to_pil(torch.rand(1, 4, 4), scale=0)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        grid_to_pil(torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="no held-out loss"):
        save_readiness_curve([{"kind": "train", "step": 1, "loss": 0.5}], tmp_path / "c.png")
    with pytest.raises(FileNotFoundError, match="metrics log not found"):
        save_readiness_curve(tmp_path / "missing.jsonl", tmp_path / "c.png")


def test_readiness_curve_reads_a_metrics_log(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text(
        '{"kind": "eval", "step": 0, "holdout_loss": 0.9, "holdout_loss_raw": 0.9}\n'
        '{"kind": "train", "step": 5, "loss": 0.7}\n'
        '{"kind": "eval", "step": 5, "holdout_loss": 0.6, "holdout_loss_raw": 0.55}\n'
    )
    save_readiness_curve(log, tmp_path / "curve.png")
    assert Image.open(tmp_path / "curve.png").size == (500, 320)


def test_cli_writes_the_grid_of_a_resize_dissolver(tmp_path):
    out = tmp_path / "grid.png"
    code = main(["dissolve-grid", "--dissolver", "resize", "--resolution", "16", "--data", "embedded",
                 "--image-size", "32", "--num-images", "2", "--steps", "0", "50", "--scale", "1", "--out", str(out)])
    assert code == 0
    image = np.asarray(Image.open(out))
    # 2 rows and 3 columns of 32 px cells with 2 px padding, under the 14 px label strip, right of
    # the row labels' strip (both rows of the train split are "normal: normal")
    strip = int(np.ceil(ImageDraw.Draw(Image.new("L", (1, 1))).textlength("normal: normal"))) + 8
    assert image.shape == (14 + 2 + 2 * 34, strip + 2 + 3 * 34, 3)
    # an identity-free check: the original and the t = 0 column differ (down to 16 px and back)
    original = image[16:48, strip + 2 : strip + 34].astype(int)
    dissolved = image[16:48, strip + 36 : strip + 68].astype(int)
    assert np.abs(original - dissolved).mean() > 1
