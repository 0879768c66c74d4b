"""The preconditions the paper's positive statements share, written once for every notebook:
a link one gradient step can learn, a full-data learner that learns, and at least r stage-1
points.  Each returns a ``Precondition`` whose detail names the value it was decided on."""
from __future__ import annotations

from ..book.claims import Precondition
from ..tasks import get_link

__all__ = ["LEARNS", "learnable_link", "full_data_learns", "enough_stage1_points"]

# The full-data learner "learns" when its test MSE is at most half the zero predictor's (1).
LEARNS = 0.5


def learnable_link(link: str) -> Precondition:
    """The link has information exponent 2 (read from the link registry): one gradient step
    learns it (``he3``, exponent 3, gives a zero population gradient)."""
    exponent = get_link(link).information_exponent
    return Precondition("a link of information exponent 2", exponent == 2,
                        f"link = {link} (information exponent {exponent})")


def full_data_learns(mse: float, where: str, scope: str = "") -> Precondition:
    """The full-data learner's test MSE ``mse`` (measured ``where``) is at most ``LEARNS``;
    ``scope`` qualifies the condition's name (e.g. "at every size")."""
    name = f"the full-data learner learns{' ' + scope if scope else ''} (test MSE <= {LEARNS})"
    return Precondition(name, mse <= LEARNS, f"full-data test MSE {mse:.3g} {where}".rstrip())


def enough_stage1_points(m1: int, r: int) -> Precondition:
    """m1 >= r: fewer stage-1 points span fewer than r directions (``ddlib.theory.span_bound``)."""
    return Precondition("m1 >= r", m1 >= r, f"m1 = {m1}, r = {r}")
