"""ddlib: the reproducible companion to "Dataset Distillation Efficiently Encodes Low-Dimensional
Representations from Gradient-Based Learning of Non-Linear Tasks" (Kinoshita et al., ICML 2026).

The public API: tasks (``MultiIndexTask`` and its link registry), the network (``TwoLayerNet``), the
learner being distilled (``TwoStageLearner``), the distillers (``distill`` and its stages in
``ddlib.distillers``), baselines (``ddlib.baselines``; label-aware selection of real points,
``ddlib.selection``; the analytic spectral set, ``ddlib.spectral``), the ridge tuned on validation
data for every method (``ddlib.tuning``), metrics, the effective data size (``ddlib.effective``),
the re-scoring of saved sets (``evaluate``, ``ddlib.evaluation``) and the closed forms
(``ddlib.theory``)."""
from . import baselines, effective, evaluation, metrics, moments, selection, spectral, theory, tuning
from ._version import __version__
from .baselines import herding_coreset, kcenter_coreset, random_subset
from .data import Data
from .distillers import METHODS, DistilledSet, distill, distill_moments
from .effective import effective_size, learning_curve
from .evaluation import evaluate
from .learners import TwoStageLearner
from .metrics import alignment, energy_in_subspace, gain_over_random, gap_to_full_data, test_mse
from .networks import TwoLayerNet
from .selection import select
from .spectral import spectral_set
from .tasks import LINKS, Link, MultiIndexTask, register_link, registered_links
from .theory import memory_report
from .tuning import tune_ridge, validation_split

__all__ = [
    "__version__", "Data", "MultiIndexTask", "LINKS", "Link", "register_link", "registered_links", "TwoLayerNet",
    "TwoStageLearner", "distill", "METHODS", "DistilledSet", "distill_moments", "random_subset", "kcenter_coreset",
    "herding_coreset", "select", "spectral_set", "tune_ridge", "validation_split", "test_mse", "alignment",
    "energy_in_subspace", "gap_to_full_data", "gain_over_random", "effective_size", "learning_curve", "evaluate",
    "memory_report", "metrics", "baselines", "theory", "tuning", "selection", "spectral", "moments", "effective",
    "evaluation",
]
