"""check_trainable's row counts are exactly what training needs: enough, and no more."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.models.data import read_dataset
from inmail_guard.models.train import (
    Pooled,
    TrainingDataError,
    TrainParams,
    check_trainable,
    rows_needed,
    train,
)

WORDS = ["alpha", "bravo", "delta", "echo", "golf", "hotel", "india", "kilo", "lima", "mike",
         "oscar", "papa", "romeo", "sierra", "tango", "victor", "xray", "yankee", "zulu"]


def pooled(tmp_path: Path, per_label: int) -> Pooled:
    rows = ["id,label,text"]
    for i in range(per_label):
        rows += [f"h{i},ham,meeting notes {WORDS[i]}", f"s{i},spam,win cash now {WORDS[i]}"]
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Pooled.of([read_dataset(path)])


@pytest.mark.parametrize(("val", "cv", "need"), [(5, 0, 7), (5, 2, 14), (5, 5, 9),
                                                 (5, 100, 100), (2, 0, 10)])
def test_rows_needed(val: int, cv: int, need: int) -> None:
    assert rows_needed(val, cv) == need


def test_the_fewest_rows_needed_do_train(tmp_path: Path) -> None:
    data = pooled(tmp_path, 7)
    check_trainable(data, TrainParams())
    trained = train(data, TrainParams())
    assert set(trained.thresholds) == {"s:"}


def test_one_row_fewer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError) as info:
        check_trainable(pooled(tmp_path, 6), TrainParams())
    assert str(info.value) == (
        "rows.csv: training needs at least 7 ham and 7 spam rows (5 validation folds, each fit "
        "calibrating on 5 folds), found 6 ham and 6 spam. Fix: add labelled rows."
    )


def test_no_feature_left_after_min_df_is_a_training_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.pipeline import Pipeline

    def pruned(self: Pipeline, *args: object) -> None:  # scikit-learn's own words
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")

    monkeypatch.setattr(Pipeline, "fit", pruned)
    with pytest.raises(TrainingDataError) as info:
        train(pooled(tmp_path, 10), TrainParams(min_df=3))
    assert str(info.value) == (
        "no feature appears in at least 3 rows of a fit (--min-df 3). Fix: lower --min-df, "
        "or add rows."
    )


def test_other_fit_errors_are_not_disguised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from sklearn.pipeline import Pipeline

    def broken(self: Pipeline, *args: object) -> None:
        raise ValueError("something else")

    monkeypatch.setattr(Pipeline, "fit", broken)
    with pytest.raises(ValueError) as info:
        train(pooled(tmp_path, 10), TrainParams())
    assert (info.type, str(info.value)) == (ValueError, "something else")
