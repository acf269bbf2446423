"""Machine-learning scores for rules: training, metrics, skops storage and scorers.

``train`` fits a pack model's estimator on feature rows built by
``Engine.features`` (the same compiled feature code that scoring runs, so there
is no training/serving skew) and measures it on a time-based held-out split;
``ModelStore`` keeps versions as skops archives with JSON metadata and one active
version per model; ``Scorer`` is what ``Engine.set_model`` takes.
"""

from engine.models.metrics import card_precision_at_k, quality
from engine.models.store import ModelStore, Scorer, attach_active, casework_fields, dumps, loads
from engine.models.training import ModelError, TrainedModel, fit, train

__all__ = [
    "ModelError",
    "ModelStore",
    "Scorer",
    "TrainedModel",
    "attach_active",
    "card_precision_at_k",
    "casework_fields",
    "dumps",
    "fit",
    "loads",
    "quality",
    "train",
]
