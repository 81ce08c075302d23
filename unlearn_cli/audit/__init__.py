"""Statistics of `unlearn audit`: per-example attacks over many models, pure numpy/scipy.

`phi` (the logit-scaled confidence every attack reads), `ulira` (per-example likelihood
ratio), `epsilon` (the NeurIPS 2023 challenge's forgetting score), `klom` (KL of margins),
`bootstrap` (percentile intervals). docs/audits.md states each rule and its reference.
"""

from unlearn_cli.audit.epsilon import (
    EpsilonAudit,
    epsilon_audit,
    epsilon_points,
    final_score,
    forget_score,
    forget_score_null,
    row_epsilons,
)
from unlearn_cli.audit.klom import klom_per_row, klom_summary
from unlearn_cli.audit.phi import logit_scaled_confidence, margin
from unlearn_cli.audit.ulira import (
    GaussianFit,
    UliraAudit,
    UliraScores,
    attack_metrics,
    fit_gaussians,
    log_likelihood_ratio,
    roc_sweep,
    ulira_audit,
    ulira_scores,
)

__all__ = [
    "EpsilonAudit",
    "GaussianFit",
    "UliraAudit",
    "UliraScores",
    "attack_metrics",
    "epsilon_audit",
    "epsilon_points",
    "final_score",
    "fit_gaussians",
    "forget_score",
    "forget_score_null",
    "klom_per_row",
    "klom_summary",
    "log_likelihood_ratio",
    "logit_scaled_confidence",
    "margin",
    "roc_sweep",
    "row_epsilons",
    "ulira_audit",
    "ulira_scores",
]
