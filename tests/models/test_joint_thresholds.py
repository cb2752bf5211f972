"""``metrics.choose_joint_thresholds``: the InMail channels' thresholds chosen together, each
file held to its own ham false-positive rate over all its rows."""

from __future__ import annotations

import numpy as np

from inmail_guard.models.metrics import above, choose_joint_thresholds


def _rows(*groups: tuple[int, str, int, list[float]]):
    """(file, channel, label, scores) groups -> the arrays the chooser takes."""
    scores, labels, files, channels = [], [], [], []
    for file, channel, label, values in groups:
        scores += values
        labels += [label] * len(values)
        files += [file] * len(values)
        channels += [channel] * len(values)
    return np.array(scores), np.array(labels), np.array(files), np.array(channels)


def _fp(scores, labels, files, channels, thresholds, file):
    cut = np.array([thresholds[c] for c in channels])
    return int(((files == file) & (labels == 0) & (scores >= cut)).sum())


def test_a_files_budget_is_spent_in_the_channel_where_it_buys_recall() -> None:
    # File 0: 100 ham at 1% -> one false positive allowed in all. Its ham in "n:" has one high
    # score (0.9) just above its spam there; "m:" has an outlier ham at 0.95 over no spam.
    # Held to 1% in each channel alone, "m:" (50 ham) allows none, and "n:" (50 ham) none:
    # the spam at 0.85 is lost. Chosen together, the budget goes to "n:".
    data = _rows((0, "n:", 0, [0.9] + [0.1] * 49), (0, "n:", 1, [0.85, 0.95]),
                 (0, "m:", 0, [0.2] * 50), (0, "m:", 1, [0.7, 0.8]))
    thresholds, rule = choose_joint_thresholds(*data, {0: 0.01})
    assert thresholds == {"n:": above(0.1), "m:": above(0.2)}
    assert _fp(*data, thresholds, 0) == 1
    assert rule["mean_recall"] == 1.0 and rule["fp_budget"] == {"0": 1}


def test_every_measurable_file_keeps_its_target() -> None:
    rng = np.random.default_rng(7)
    data = _rows((0, "n:", 0, rng.uniform(0, 0.8, 400).tolist()),
                 (0, "n:", 1, rng.uniform(0.5, 1, 60).tolist()),
                 (1, "n:", 0, rng.uniform(0, 0.9, 150).tolist()),
                 (1, "m:", 0, rng.uniform(0, 0.7, 150).tolist()),
                 (1, "m:", 1, rng.uniform(0.4, 1, 100).tolist()),
                 (1, "n:", 1, rng.uniform(0.4, 1, 100).tolist()))
    targets = {0: 0.005, 1: 0.01}
    thresholds, _ = choose_joint_thresholds(*data, targets)
    assert _fp(*data, thresholds, 0) <= 0.005 * 400
    assert _fp(*data, thresholds, 1) <= 0.01 * 300


def test_a_file_too_small_to_measure_its_target_does_not_constrain() -> None:
    # File 1 has 20 ham: fewer than 1 / 1%, so its false positives are not a rate.
    data = _rows((0, "n:", 0, [0.1] * 200), (0, "n:", 1, [0.6] * 10),
                 (1, "n:", 0, [0.7] + [0.1] * 19), (1, "n:", 1, [0.65] * 5))
    thresholds, rule = choose_joint_thresholds(*data, {0: 0.01, 1: 0.01})
    assert thresholds["n:"] <= 0.6
    assert rule["fp_budget"] == {"0": 2}


def test_ties_go_to_the_higher_thresholds() -> None:
    # Above 0.3 (no false positive) and above 0.2 (one, within the budget of two) both catch
    # all the spam: the higher is chosen.
    data = _rows((0, "n:", 0, [0.3, 0.2] + [0.1] * 198), (0, "n:", 1, [0.9, 0.95]))
    thresholds, _ = choose_joint_thresholds(*data, {0: 0.01})
    assert thresholds == {"n:": above(0.3)}
    assert _fp(*data, thresholds, 0) == 0


def test_ham_of_a_file_without_a_budget_does_not_hide_lower_thresholds() -> None:
    # The channel's three highest ham belong to file 1 (too small to measure 1%): file 0's
    # budget of two false positives must still be reachable below them.
    data = _rows((1, "n:", 0, [0.95, 0.94, 0.93] + [0.1] * 7),
                 (0, "n:", 0, [0.5, 0.4] + [0.1] * 198), (0, "n:", 1, [0.45, 0.9]))
    thresholds, _ = choose_joint_thresholds(*data, {0: 0.01, 1: 0.01})
    assert thresholds == {"n:": above(0.4)}
    assert _fp(*data, thresholds, 0) == 1
