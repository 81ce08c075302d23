"""Statistics of `unlearn audit`: per-example attacks over many models, pure numpy/scipy.

`phi` (the logit-scaled confidence every attack reads), `ulira` (per-example likelihood
ratio), `epsilon` (the NeurIPS 2023 challenge's forgetting score), `klom` (KL of margins),
`bootstrap` (percentile intervals). docs/audits.md states each rule and its reference.

The names below are loaded on first use (PEP 562), not when the package is imported: the
command's planning modules (`design.py`, `halves.py`) live in this package too, and `--plan`
should not pay for scipy.stats and sklearn, which only the attacks need (~40 % of its
start-up on a 2-core machine).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "epsilon": ("EpsilonAudit", "epsilon_audit", "epsilon_points", "final_score", "forget_score",
                "forget_score_null", "row_epsilons"),
    "klom": ("klom_per_row", "klom_summary"),
    "phi": ("logit_scaled_confidence", "margin"),
    "ulira": ("GaussianFit", "UliraAudit", "UliraScores", "attack_metrics", "fit_gaussians", "log_likelihood_ratio",
              "roc_sweep", "ulira_audit", "ulira_scores"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
