"""Trained text classifiers: the spam model behind the ``classifier`` detector.

``load_model("builtin:spam-v1")`` returns a verified :class:`SpamModel`; see ``artifact.py``
for what "verified" means and ``MODEL_CARD.md`` for the shipped model.
"""

from inmail_guard.models.artifact import BUILTIN_MODELS, SpamModel, load_model
from inmail_guard.models.data import DatasetError
from inmail_guard.models.manifest import ModelVerificationError

__all__ = ["BUILTIN_MODELS", "DatasetError", "ModelVerificationError", "SpamModel", "load_model"]
