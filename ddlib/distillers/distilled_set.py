"""DistilledSet: the output of every distiller -- stage-1 points, stage-2 points, and the
record of how they were made (theta0 seed, hyper-parameters, losses, ddlib version)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ..data import Data
from ..io import ArtifactError, check_metadata, load_artifact, save_artifact
from ..learners import TwoStageLearner, check_learner
from ..networks import TwoLayerNet
from ..validation import check_data

__all__ = ["DistilledSet"]


@dataclass(frozen=True)
class DistilledSet:
    """Synthetic data for the two-stage learner.

    Attributes:
        stage1: (X1, y1), m1 points for the feature-learning step.
        stage2: (X2, y2), m2 points for the ridge.
        metadata: how the set was made (method, seeds, hyper-parameters, losses, versions):
            JSON data, a dict with str keys of None, bool, int, finite float, str, lists and
            str-keyed dicts, so that ``save`` stores it exactly.

    Every construction checks the sets: (X, y) pairs of finite float32/float64 tensors, at least
    one point each, of one dimension d; they are data, so tensors that require grad are detached.
    Metadata that is not JSON data (a tensor, a set, a tuple, NaN, a non-str key) is an
    ArtifactError (a ValueError) naming the key and the type; ``save`` checks it again, since
    the dict can be changed after construction.
    """

    stage1: Data
    stage2: Data
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        stage1 = Data(*check_data("DistilledSet: stage1", self.stage1))
        stage2 = Data(*check_data("DistilledSet: stage2", self.stage2))
        if stage2.X.shape[1] != stage1.X.shape[1]:
            raise ValueError(f"DistilledSet: stage2 has dimension {stage2.X.shape[1]} but stage1 has "
                             f"d={stage1.X.shape[1]}")
        if not isinstance(self.metadata, dict):
            raise TypeError(f"DistilledSet: metadata must be a dict, got {type(self.metadata).__name__}")
        check_metadata(self.metadata, "DistilledSet: metadata")
        object.__setattr__(self, "stage1", stage1)
        object.__setattr__(self, "stage2", stage2)

    @property
    def m1(self) -> int:
        return self.stage1[0].shape[0]

    @property
    def m2(self) -> int:
        return self.stage2[0].shape[0]

    @property
    def d(self) -> int:
        return self.stage1[0].shape[1]

    @property
    def shared(self) -> bool:
        """Whether one set serves both stages (S2 equals S1 point for point), so it is stored once."""
        return self.m1 == self.m2 and all(torch.equal(p, q) for p, q in zip(self.stage1, self.stage2))

    @property
    def memory_floats(self) -> int:
        """The floats the set stores -- (m1 + m2)(d + 1), inputs and labels of both stages, or m1(d + 1)
        for one set used for both (``shared``); the one count of a set's memory in ddlib."""
        return (self.m1 if self.shared else self.m1 + self.m2) * (self.d + 1)

    def fit(self, net: TwoLayerNet, learner: Optional[TwoStageLearner] = None) -> TwoLayerNet:
        """Train theta0 = ``net`` on this set (stage 1 on S1, stage 2 on S2) with ``learner``
        (default: the one recorded in the metadata)."""
        learner = TwoStageLearner.from_params(self.metadata.get("learner")) if learner is None else learner
        return check_learner(learner).fit(net, self.stage1, self.stage2)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the set and its metadata to one checksummed file (atomically).

        Metadata that is not JSON data (changed after construction) is an ArtifactError naming
        the key and its type, and nothing is written."""
        # The metadata is stored as is (so load(save(s)).equal(s)); the writing ddlib's version
        # is recorded by save_artifact beside it.
        tensors = {"X1": self.stage1[0], "y1": self.stage1[1], "X2": self.stage2[0], "y2": self.stage2[1]}
        return save_artifact(path, "DistilledSet", tensors, dict(self.metadata))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DistilledSet":
        """Read a file written by ``save``; a foreign, truncated or corrupted file raises ValueError."""
        tensors, meta = load_artifact(path, "DistilledSet")
        missing = {"X1", "y1", "X2", "y2"} - set(tensors)
        if missing:
            raise ArtifactError(f"{path}: DistilledSet file lacks tensors {sorted(missing)}")
        try:
            return cls(Data(tensors["X1"], tensors["y1"]), Data(tensors["X2"], tensors["y2"]), meta)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: not a valid DistilledSet: {exc}") from None

    def equal(self, other: "DistilledSet") -> bool:
        """Bit-identical tensors and identical metadata."""
        # torch.equal ignores dtype (float32 1.0 == float64 1.0), so compare dtypes as well.
        return (all(p.dtype == q.dtype and torch.equal(p, q)
                    for p, q in zip(self.stage1 + self.stage2, other.stage1 + other.stage2))
                and self.metadata == other.metadata)
