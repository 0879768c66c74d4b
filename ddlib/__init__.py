"""ddlib: the reproducible companion to "Dataset Distillation Efficiently Encodes Low-Dimensional
Representations from Gradient-Based Learning of Non-Linear Tasks" (Kinoshita et al., ICML 2026).

The public API: tasks (``MultiIndexTask``), the network (``TwoLayerNet``), the learner being
distilled (``TwoStageLearner``), the distillers (``distill`` and its stages in
``ddlib.distillers``), baselines, metrics, and the closed forms (``ddlib.theory``)."""
from . import baselines, metrics, theory
from ._version import __version__
from .baselines import herding_coreset, kcenter_coreset, random_subset
from .data import Data
from .distillers import METHODS, DistilledSet, distill
from .learners import TwoStageLearner
from .metrics import alignment, energy_in_subspace, test_mse
from .networks import TwoLayerNet
from .tasks import LINKS, MultiIndexTask
from .theory import memory_report

__all__ = [
    "__version__", "Data", "MultiIndexTask", "LINKS", "TwoLayerNet", "TwoStageLearner", "distill", "METHODS",
    "DistilledSet", "random_subset", "kcenter_coreset", "herding_coreset", "test_mse", "alignment",
    "energy_in_subspace", "memory_report", "metrics", "baselines", "theory",
]
