"""ddlib: the reproducible companion to "Dataset Distillation Efficiently Encodes Low-Dimensional
Representations from Gradient-Based Learning of Non-Linear Tasks" (Kinoshita et al., ICML 2026)."""
from . import baselines, metrics
from ._version import __version__
from .baselines import herding_coreset, kcenter_coreset, random_subset
from .distillers import METHODS, DistilledSet, distill
from .learners import TwoStageLearner
from .metrics import alignment, energy_in_subspace, memory_report, test_mse
from .networks import TwoLayerNet
from .tasks import LINKS, MultiIndexTask

__all__ = [
    "__version__", "MultiIndexTask", "LINKS", "TwoLayerNet", "TwoStageLearner", "distill", "METHODS",
    "DistilledSet", "random_subset", "kcenter_coreset", "herding_coreset", "test_mse", "alignment",
    "energy_in_subspace", "memory_report", "metrics", "baselines",
]
