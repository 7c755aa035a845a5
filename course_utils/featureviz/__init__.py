"""Feature visualization by optimization (being split into modules by concept)."""
from .objectives import *  # noqa: F401,F403
from .objectives import INPUT, LOGITS  # noqa: F401
