"""Saving and loading trained models with skops (never pickle), and scoring with them.

An artifact is one skops archive (a zip file) holding ``{"format", "estimator",
"metadata"}``, the metadata a JSON string (feature names and hash, pack name and
version, training window, metrics, creation time). It is what
``casework.model_store.save`` keeps as a version's ``artifact`` bytes, with
``algorithm``, ``features`` and ``metrics`` from the same metadata; the file store
here keeps it as ``DIR/<model>/<version>.skops`` beside a readable
``<version>.json`` and an ``ACTIVE`` file naming the active version.

Loading passes skops an explicit list of trusted types: the few scikit-learn
internals our two estimators are made of beyond skops' own defaults. An archive
needing anything else is refused (``ModelError``), as is a model whose feature hash
is not the one the pack's model declares now.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from engine.models.training import KINDS, ModelError, TrainedModel, score_with

FORMAT = "vigil-model/1"
#: skops archives are zip files
ZIP_MAGIC = b"PK\x03\x04"
#: the types skops does not trust by default that our estimators are made of
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
)
_VERSION = re.compile(r"^v(\d+)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def dumps(model: TrainedModel) -> bytes:
    """The model as skops bytes (a zip archive), estimator and metadata together."""
    return bytes(
        sio.dumps({"format": FORMAT, "estimator": model.estimator, "metadata": model.metadata_json()})
    )


def loads(data: bytes, expected_hash: str | None = None) -> TrainedModel:
    """A model from skops bytes; raises ``ModelError`` for anything but a trusted Vigil artifact.

    With ``expected_hash``, a model trained on other features (another feature list
    or pack) is refused.
    """
    if not data.startswith(ZIP_MAGIC):
        raise ModelError("not a skops model archive (a zip file); Vigil never loads pickles")
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ModelError(f"refusing a model archive with untrusted types: {', '.join(untrusted)}")
    try:
        content = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises several kinds on a damaged archive
        raise ModelError(f"cannot load the model archive: {exc}") from exc
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelError(f"not a {FORMAT} archive")
    meta = json.loads(content["metadata"])
    if meta.get("kind") not in KINDS:
        raise ModelError(f"unknown model kind {meta.get('kind')!r}")
    model = TrainedModel(
        kind=meta["kind"],
        estimator=content["estimator"],
        feature_names=tuple(meta.get("feature_names", ())),
        feature_hash=meta.get("feature_hash", ""),
        pack=meta.get("pack", ""),
        pack_version=meta.get("pack_version", ""),
        window=(str(meta.get("window", ["", ""])[0]), str(meta.get("window", ["", ""])[1])),
        metrics=meta.get("metrics", {}),
        created_at=meta.get("created_at", ""),
        version=meta.get("version", ""),
    )
    if expected_hash is not None:
        check_hash(model, expected_hash)
    return model


def casework_fields(model: TrainedModel) -> dict[str, Any]:
    """The arguments ``casework.model_store.save`` takes besides session, context, name and version.

    The metrics it lists are the model's own; the feature hash, pack and training
    window travel inside the artifact, so a version read back from the database is
    checked exactly as one read from files.
    """
    return {
        "algorithm": model.algorithm,
        "features": list(model.feature_names),
        "metrics": dict(model.metrics),
        "artifact": dumps(model),
    }


def check_hash(model: TrainedModel, expected_hash: str) -> None:
    if model.feature_hash != expected_hash:
        raise ModelError(
            f"model {model.pack}/{model.version or '?'} was trained on other features "
            f"(feature hash {model.feature_hash[:12] or 'none'}, the pack's is {expected_hash[:12]}); retrain it"
        )


_controller: Any = None


def _one_thread() -> Any:
    """A context in which OpenMP (scikit-learn's tree predictors) runs on the calling thread only."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="openmp")


class Scorer:
    """What ``Engine.set_model`` takes: ``score(X)`` gives one score in 0..1 per feature row.

    Scoring runs on the calling thread (``threads=1``, the default): an engine batch of
    a thousand rows takes a few milliseconds that way, while waking an OpenMP team for
    it costs several times more, and an engine process already has its own work on
    the other cores. ``threads=None`` leaves OpenMP as configured.
    """

    def __init__(self, model: TrainedModel, threads: int | None = 1) -> None:
        self.model = model
        self.kind = model.kind
        self.n_features = len(model.feature_names) or None
        self.threads = threads
        self._estimator = model.estimator

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if self.n_features is not None and X.ndim == 2 and X.shape[1] != self.n_features:
            raise ModelError(f"expected {self.n_features} features per row, got {X.shape[1]}")
        if self.threads == 1:
            with _one_thread():
                return score_with(self.kind, self._estimator, X)
        return score_with(self.kind, self._estimator, X)

    @classmethod
    def from_bytes(cls, data: bytes, expected_hash: str | None = None) -> Scorer:
        return cls(loads(data, expected_hash))


class ModelStore:
    """Model versions in a folder (``var/models`` for the command line); one active version per name."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ModelError(f"bad model name {name!r}")
        return self.root / name

    def versions(self, name: str) -> list[str]:
        """Saved versions of ``name``, oldest first."""
        folder = self._dir(name)
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p.stem) for p in folder.glob("v*.skops") if (m := _VERSION.match(p.stem))]
        return [v for _, v in sorted(found)]

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def save(self, name: str, model: TrainedModel, activate: bool = True) -> str:
        """Store a new version (``v1``, ``v2``, ...) of ``name``; make it active unless told not to."""
        folder = self._dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        existing = self.versions(name)
        number = int(existing[-1][1:]) + 1 if existing else 1
        while True:
            version = f"v{number}"
            model.version = version
            try:
                # exclusive create: two trainers racing for a number never overwrite each other
                with open(folder / f"{version}.skops", "xb") as fh:
                    fh.write(dumps(model))
                break
            except FileExistsError:
                number += 1
        (folder / f"{version}.json").write_text(json.dumps(model.metadata(), indent=2, sort_keys=True) + "\n")
        if activate:
            self.activate(name, version)
        return version

    def activate(self, name: str, version: str) -> None:
        folder = self._dir(name)
        if not (folder / f"{version}.skops").is_file():
            raise ModelError(f"model {name} has no version {version}")
        tmp = folder / "ACTIVE.tmp"
        tmp.write_text(version + "\n")
        tmp.replace(folder / "ACTIVE")

    def active(self, name: str) -> str | None:
        path = self._dir(name) / "ACTIVE"
        return path.read_text().strip() if path.is_file() else None

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self._dir(name) / f"{version}.json").read_text())
        return result

    def load(self, name: str, version: str | None = None, expected_hash: str | None = None) -> TrainedModel:
        """A version (default: the active one), its feature hash checked against ``expected_hash``."""
        version = version or self.active(name)
        if version is None:
            raise ModelError(f"model {name} has no active version")
        path = self._dir(name) / f"{version}.skops"
        if not path.is_file():
            raise ModelError(f"model {name} has no version {version}")
        return loads(path.read_bytes(), expected_hash)

    def scorer(self, name: str, expected_hash: str | None = None) -> Scorer | None:
        """A scorer for the active version, or None when ``name`` has none."""
        if self.active(name) is None:
            return None
        return Scorer(self.load(name, expected_hash=expected_hash))


def attach_active(
    engine: Any, store: ModelStore, on_mismatch: Callable[[str, ModelError], None] | None = None
) -> list[str]:
    """Set every model of the engine's packs that has an active version in ``store``; returns their names.

    A model whose stored feature hash differs from the pack's is left unset (its rules
    do not fire) and reported to ``on_mismatch``, or raised without one.
    """
    attached: list[str] = []
    for pack in engine.packs:
        for name, spec in getattr(pack, "models", {}).items():
            try:
                scorer = store.scorer(name, expected_hash=spec.feature_hash)
            except ModelError as exc:
                if on_mismatch is None:
                    raise
                on_mismatch(name, exc)
                continue
            if scorer is not None:
                engine.set_model(name, scorer)
                attached.append(name)
    return attached
