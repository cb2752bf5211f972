"""A model is a default pipeline plus optional per-channel *routes* (``{"e:": pipeline}``).

Each text goes to the pipeline of its channel (:func:`~inmail_guard.models.features.channel_prefix`)
when the model has a route for it, else to the default pipeline. The shipped model routes
e-mail to a pipeline with character n-grams and scores InMail and short messages with the word
pipeline; see ``MODEL_CARD.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inmail_guard.models.features import channel_prefix

Routes = Mapping[str, Any]


def predict_proba(pipeline: Any, routes: Routes, texts: Sequence[str]) -> np.ndarray:
    """Spam probability of each text from the pipeline its channel routes to (batched)."""
    texts = list(texts)
    out = np.zeros(len(texts))
    if not texts:
        return out
    groups: dict[str | None, list[int]] = {}
    for i, text in enumerate(texts):
        prefix = channel_prefix(text)
        groups.setdefault(prefix if prefix in routes else None, []).append(i)
    for prefix, idx in groups.items():
        chosen = pipeline if prefix is None else routes[prefix]
        out[idx] = chosen.predict_proba([texts[i] for i in idx])[:, 1]
    return out
