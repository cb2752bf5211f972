"""A model is a default pipeline plus optional per-channel *routes* (``{"e:": pipeline}``).

Each text goes to the pipeline of its channel (:func:`~inmail_guard.models.features.channel_prefix`)
when the model has a route for it, else to the default pipeline. The shipped model routes
e-mail to a pipeline with character n-grams and scores InMail and short messages with the word
pipeline; see ``MODEL_CARD.md``.

A route may have a *partner* (``partner.EmbeddingPartner``): then its text's probability comes
from the route's linear decision value and the text's sentence embedding together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from inmail_guard.models.features import channel_prefix

Routes = Mapping[str, Any]
Encode = Callable[[Sequence[str]], np.ndarray]


def predict_proba(pipeline: Any, routes: Routes, texts: Sequence[str],
                  partners: Routes | None = None, encode: Encode | None = None) -> np.ndarray:
    """Spam probability of each text from the pipeline its channel routes to (batched); for a
    route with a partner in ``partners``, from both (``encode``: texts -> embeddings)."""
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
        group = [texts[i] for i in idx]
        partner = (partners or {}).get(prefix) if prefix is not None else None
        if partner is None:
            out[idx] = chosen.predict_proba(group)[:, 1]
            continue
        if encode is None:
            raise ValueError(f"the {prefix!r} route has a partner: pass encode")
        out[idx] = partnered(chosen, partner, group, encode)
    return out


def partnered(route: Any, partner: Any, texts: Sequence[str], encode: Encode) -> np.ndarray:
    """Spam probability of each text from ``route``'s linear decision value (before its own
    sigmoid) and the text's embedding, combined by ``partner``."""
    decision = route[-1].calibrated_classifiers_[0].estimator.decision_function(
        route[0].transform(texts))
    return partner.probabilities(decision, encode(texts))
