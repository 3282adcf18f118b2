"""One check per kind: ints, number pairs, step ranges, and the device of a module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dia_augment.errors import ConfigError, InputError, InputTypeError
from dia_augment.utils.checks import check_int, check_pair, check_range_pair
from dia_augment.utils.device import module_device


@pytest.mark.parametrize("value, kwargs, expected", [
    (3, {}, 3),
    (np.int64(3), {}, 3),
    (0, {"minimum": 0}, 0),
    (-5, {"minimum": None}, -5),
    (10, {"minimum": 0, "maximum": 10}, 10),
    (None, {"allow_none": True}, None),
])
def test_check_int_accepts(value, kwargs, expected):
    got = check_int(value, "n", **kwargs)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, kwargs, error, message", [
    (2.5, {}, InputTypeError, "n must be a positive int; got float 2.5"),
    (True, {}, InputTypeError, "n must be a positive int; got bool True"),
    (None, {}, InputTypeError, "n must be a positive int; got NoneType None"),
    ("3", {"minimum": 0}, InputTypeError, "n must be an int >= 0; got str '3'"),
    (0, {}, InputError, "n must be a positive int; got 0"),
    (-1, {"minimum": 0}, InputError, "n must be an int >= 0; got -1"),
    (11, {"minimum": 0, "maximum": 10}, InputError, r"n must be an int in \[0, 10\]; got 11"),
    (11, {"minimum": None, "maximum": 10}, InputError, r"n must be an int in \[-inf, 10\]; got 11"),
    (0, {"allow_none": True}, InputError, "n must be a positive int or None; got 0"),
    (2.0, {"error": ConfigError}, ConfigError, "n must be a positive int; got float 2.0"),
    (0, {"error": ConfigError}, ConfigError, "n must be a positive int; got 0"),
])
def test_check_int_names_the_value_and_the_bounds(value, kwargs, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        check_int(value, "n", **kwargs)


def test_one_error_class_for_every_failure_when_given():
    assert check_int(4, "n", error=InputError) == 4 and check_int(None, "n", error=InputError, allow_none=True) is None
    for value in (0, 2.5, True):
        with pytest.raises(InputError, match="n must be a positive int; got"):
            check_int(value, "n", error=InputError)
        with pytest.raises(ConfigError, match="n must be a positive int; got"):
            check_int(value, "n", error=ConfigError)


def test_check_pair():
    assert check_pair((0.08, 1), "crop_scale", low=0, high=1) == (0.08, 1.0)
    assert check_pair(torch.tensor([2, 2]), "ratio") == (2.0, 2.0)
    assert check_pair((-3, 4.5), "shift") == (-3.0, 4.5)
    bad = [
        (0.5, "scale must be a pair of numbers \\(low, high\\); got 0.5"),
        ("ab", "scale must be a pair of numbers"),
        ((1, 2, 3), "scale must be a pair of numbers"),
        ((True, 2), "scale must be a pair of numbers"),
        ((0.9, 0.1), r"scale = \(0.9, 0.1\) must satisfy 0 < low <= high <= 1$"),
        ((0.0, 1.0), r"scale = \(0.0, 1.0\) must satisfy 0 < low <= high <= 1$"),
        ((0.5, 1.5), r"scale = \(0.5, 1.5\) must satisfy 0 < low <= high <= 1$"),
        ((0.5, float("nan")), "must satisfy"),
    ]
    for pair, message in bad:
        with pytest.raises(InputError, match=message):
            check_pair(pair, "scale", low=0, high=1, error=InputError)
    with pytest.raises(ConfigError, match=r"ratio = \(2, 1\) must satisfy low <= high$"):
        check_pair((2, 1), "ratio")


def test_check_range_pair():
    assert check_range_pair((30.0, 100), 0, 1000, "step_range") == (30, 100)
    assert check_range_pair(torch.tensor([0, 1000]), 0, 1000, "step_range") == (0, 1000)
    bad = [
        ((30.5, 100), r"step_range must hold two integers; got \(30.5, 100\)"),
        (30, r"step_range must be a pair of integers \(low, high\); got 30"),
        ((100, 30), r"step_range = \(100, 30\) is empty or inverted"),
        ((30, 30), r"step_range = \(30, 30\) is empty or inverted"),
        ((-1, 30), r"step_range = \(-1, 30\) must lie within \[0, 1000\]"),
        ((30, 1001), r"must lie within \[0, 1000\]"),
    ]
    for pair, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_range_pair(pair, 0, 1000, "step_range")


def test_module_device_is_the_first_parameters_else_the_first_buffers_else_the_cpu():
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.Linear(2, 2).to("meta")) == torch.device("meta")
    buffers_only = torch.nn.BatchNorm1d(2, affine=False).to("meta")
    assert list(buffers_only.parameters()) == [] and module_device(buffers_only) == torch.device("meta")
    assert module_device(torch.nn.Identity()) == torch.device("cpu")
