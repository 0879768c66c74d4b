"""ddlib: the reproducible companion to "Dataset Distillation Efficiently Encodes Low-Dimensional
Representations from Gradient-Based Learning of Non-Linear Tasks" (Kinoshita et al., ICML 2026).

The front door holds what a researcher uses: the task (``MultiIndexTask``; ``register_link`` adds
a link), the network (``TwoLayerNet``), the learner being distilled (``TwoStageLearner``), the
distiller (``distill``, returning a ``DistilledSet``; its stages are in ``ddlib.distillers``), every
method as a pair of registered stages (``compose``; ``ddlib.methods`` holds the contract, the
registries and ``register_stage1`` / ``register_stage2`` for a user's own), the baselines at equal
memory (random and coreset subsets, label-aware selection ``select``, moment matching), the ridge tuned on validation data (``tune_ridge``), the metrics,
the effective data size, the re-scoring of saved sets (``evaluate``) and the memory accounting
(``memory_report``).  Everything else lives one level down: ``ddlib.tasks``, ``ddlib.distillers``,
``ddlib.metrics``, ``ddlib.theory`` (every closed form), ``ddlib.stats``, ...  The book layer
(``ddlib.book``, ``ddlib.experiments``) and the command line (``ddlib.cli``) are not imported here.
"""
from ._version import __version__
from .baselines import herding_coreset, kcenter_coreset, random_subset
from .data import Data
from .distillers import DistilledSet, distill
from .effective import effective_size
from .evaluation import evaluate
from .learners import TwoStageLearner
from .methods import compose, distill_moments, select
from .metrics import alignment, energy_in_subspace, test_mse
from .networks import TwoLayerNet
from .tasks import MultiIndexTask, register_link
from .theory import memory_report
from .tuning import tune_ridge

__all__ = [
    "__version__", "MultiIndexTask", "register_link", "TwoLayerNet", "TwoStageLearner", "Data", "distill",
    "DistilledSet", "distill_moments", "random_subset", "kcenter_coreset", "herding_coreset", "select",
    "compose", "tune_ridge", "test_mse", "alignment", "energy_in_subspace", "effective_size", "evaluate",
    "memory_report",
]
