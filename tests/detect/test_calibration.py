import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from dia_augment.detect import Threshold, calibrate_threshold
from dia_augment.detect.calibration import design_effect
from dia_augment.errors import InputError


def test_normal_quantile_keeps_the_target_share_of_normals_below():
    t = calibrate_threshold(np.arange(1.0, 21.0), target=0.95)
    assert (t.value, t.false_alarm_rate, t.sensitivity, t.num_normal) == (19.0, 0.05, None, 20)
    t = calibrate_threshold(torch.arange(10.0), target=0.9)  # ceil(9) = 9th smallest
    assert (t.value, t.false_alarm_rate) == (8.0, 0.1)
    assert calibrate_threshold([3.0, 1.0, 2.0], target=1.0).value == 3.0  # nothing above: no false alarm


def test_sensitivity_is_the_highest_threshold_reaching_the_target():
    t = calibrate_threshold([0.0, 1.0, 2.0, 3.0], [1.5, 2.5, 4.0, 5.0], mode="sensitivity", target=0.75)
    # three anomalies must be above: the 3rd largest is 2.5, the largest score below it is the normal 2
    assert (t.value, t.sensitivity, t.false_alarm_rate) == (2.0, 0.75, 0.25)
    t = calibrate_threshold([5.0], [1.0, 2.0], mode="sensitivity", target=1.0)  # nothing below 1: next float down
    assert t.value == np.nextafter(1.0, -np.inf) and t.sensitivity == 1.0 and t.false_alarm_rate == 1.0


def _best_f1_by_brute_force(normal, anomaly):
    best = None
    for t in sorted(set(normal) | set(anomaly) | {min(normal + anomaly) - 1.0}):
        tp = sum(a > t for a in anomaly)
        fp = sum(n > t for n in normal)
        f1 = 2 * tp / (2 * tp + fp + len(anomaly) - tp)
        if best is None or f1 >= best[0]:
            best = (f1, t)
    return best


def test_best_f1_matches_a_brute_force_search():
    t = calibrate_threshold([0.0, 1.0, 2.0, 3.0], [2.5, 4.0, 5.0], mode="f1")
    assert (t.value, t.sensitivity, t.false_alarm_rate, t.target) == (2.0, 1.0, 0.25, None)  # F1 = 6/7
    rng = np.random.default_rng(0)
    for _ in range(5):
        normal = rng.normal(0, 1, 30).round(1).tolist()
        anomaly = rng.normal(1.5, 1, 7).round(1).tolist()
        f1, value = _best_f1_by_brute_force(normal, anomaly)
        got = calibrate_threshold(normal, anomaly, mode="f1").value
        tp, fp = sum(a > got for a in anomaly), sum(n > got for n in normal)
        assert 2 * tp / (2 * tp + fp + len(anomaly) - tp) == pytest.approx(f1)
        assert got == pytest.approx(value) or got > value  # ties go to the highest threshold


@pytest.mark.parametrize("mode", ["sensitivity", "f1"])
def test_modes_needing_anomalies_refuse_a_set_without_any(mode):
    with pytest.raises(InputError, match=f"calibration mode '{mode}' needs labelled anomalies.*has none"):
        calibrate_threshold([0.1, 0.2], [], mode=mode)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(normal_scores=[]), "normal_scores is empty"),
        (dict(normal_scores=[0.1, float("nan")]), "normal_scores contains NaN"),
        (dict(normal_scores=[[0.1]]), "normal_scores must be 1-D"),
        (dict(normal_scores=[0.1], anomaly_scores=[float("inf")], mode="f1"), "anomaly_scores contains NaN or inf values"),
        (dict(normal_scores=[0.1], target=1.5), "target must be a number in \\(0, 1\\]"),
        (dict(normal_scores=[0.1], mode="best"), "calibration mode must be one of"),
    ],
)
def test_bad_calibration_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        calibrate_threshold(**kwargs)


def test_threshold_round_trips_and_describes_its_false_alarm_rate():
    t = calibrate_threshold(np.arange(1.0, 21.0), target=0.95)
    assert Threshold.from_dict(t.to_dict()) == t
    low, high = scipy_stats.beta(2, 19).ppf([0.025, 0.975])   # 19 of 20 kept: Beta(20 - 19 + 1, 19)
    assert t.new_false_alarm_interval == pytest.approx((low, high)) and (t.num_groups, t.design_effect) == (None, 1.0)
    assert t.describe() == (
        "threshold 19 (keeps 95.0% of the calibration normals below it): false-alarm rate 5.0% on 20 calibration "
        f"normals; on new normal images 95 % interval {low:.1%}-{high:.1%} (20 calibration normals)"
    )


def test_a_threshold_saved_before_the_interval_loads_without_one():
    record = calibrate_threshold(np.arange(1.0, 21.0)).to_dict()
    for key in ("new_false_alarm_interval", "num_groups", "design_effect"):
        del record[key]
    old = Threshold.from_dict(record)
    assert old.new_false_alarm_interval is None and old.design_effect == 1.0
    assert old.describe().endswith("on 20 calibration normals")


def test_design_effect_by_hand():
    # groups a: (1, 3), b: (5, 7); grand mean 4, group means 2 and 6
    # MSB = 2 * (4 + 4) / 1 = 16, MSW = (1 + 1 + 1 + 1) / 2 = 2, m0 = (4 - 8 / 4) / 1 = 2
    # ICC = (16 - 2) / (16 + 2) = 7 / 9; design effect 1 + (8 / 4 - 1) * 7 / 9
    assert design_effect([1.0, 3.0, 5.0, 7.0], ["a", "a", "b", "b"]) == pytest.approx(1 + 7 / 9)
    assert design_effect([1.0, 2.0, 3.0], ["a", "b", "c"]) == 1.0   # one image a group
    with pytest.raises(InputError, match="one group per score"):
        design_effect([1.0, 2.0], ["a"])


def _coverage(groups_known: bool, sims: int = 400) -> float:
    """How often the interval holds the true new-image false-alarm rate: 20 patients of 5 slices,
    score = patient effect + slice noise (both standard normal), so P(new > T) = 1 - Phi(T / sqrt 2)."""
    rng = np.random.default_rng(0)
    groups = [str(g) for g in range(20) for _ in range(5)]
    hits = 0
    for _ in range(sims):
        scores = rng.normal(size=20).repeat(5) + rng.normal(size=100)
        t = calibrate_threshold(scores, target=0.95, groups=groups if groups_known else None)
        low, high = t.new_false_alarm_interval
        hits += low <= 1 - scipy_stats.norm.cdf(t.value / np.sqrt(2)) <= high
    return hits / sims


def test_the_interval_holds_on_new_patients_only_when_the_groups_are_known():
    assert 0.93 <= _coverage(groups_known=True) <= 1.0
    assert _coverage(groups_known=False) < 0.90   # slices counted as independent: too narrow


def test_the_interval_covers_independent_images():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(1000):
        scores = rng.random(60)
        t = calibrate_threshold(scores, target=0.9)
        low, high = t.new_false_alarm_interval
        hits += low <= 1 - t.value <= high       # uniform scores: P(new > T) = 1 - T
    assert 0.93 <= hits / 1000 <= 0.97


def test_one_group_is_one_observation_and_bad_interval_arguments_are_named():
    from dia_augment.detect.calibration import false_alarm_interval

    scores = np.linspace(0.0, 1.0, 40)
    assert design_effect(scores, ["p1"] * 40) == 40.0  # one patient: one independent observation's worth
    low, high = calibrate_threshold(scores, groups=["p1"] * 40).new_false_alarm_interval
    assert low < 0.05 and high > 0.9  # nothing is known of other patients: the interval says so
    with pytest.raises(InputError, match="confidence must be a number in \\(0, 1\\)"):
        false_alarm_interval(95, 100, confidence=95)
    with pytest.raises(InputError, match="design .a design effect. must be a number >= 1"):
        false_alarm_interval(95, 100, design=0)
    with pytest.raises(InputError, match="design"):
        false_alarm_interval(95, 100, design=0.5)


def test_a_tiny_target_keeps_the_lowest_score_not_the_highest():
    scores = np.array([0.3, 0.1, 0.2])
    assert calibrate_threshold(scores, target=1e-12).value == pytest.approx(0.1)
    anomalies = np.array([0.9, 0.8])
    threshold = calibrate_threshold(scores, anomalies, mode="sensitivity", target=1e-12)
    assert threshold.value == pytest.approx(0.8) and threshold.sensitivity == 0.5  # catches one anomaly at least
