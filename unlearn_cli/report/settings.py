"""A run's *setting* — what must be equal for two runs to be replicates — read from its forget
set's config: the forget rule, the manipulation the model was pretrained on, and, in the
corrective setting, the known fraction of the manipulated rows the unlearner is given.

Two shapes of the corrective setting exist, and both give the same Setting:

- since the `known` forget kind, a manipulation is made once with every row known, a model
  is pretrained on it, and each known fraction F is a forget set of kind `known` of that
  model (`make-forget-set --model M --known F`, as `unlearn sweep` plans it);
- before it, the manipulation itself was the forget set, one manipulation per F.

The fraction a setting carries is the forget set's F in both: the manipulation's own record
(`known` 1.0 in the first shape) says nothing about what the unlearner was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unlearn_cli.artifacts import Manifest

RANDOM_PERS = {1: "random 1 %", 10: "random 10 %"}
HARDEST_PERS = {101: "hardest 1 %", 110: "hardest 10 %"}

# The forget family of a corrective forget set: a known part of the manipulated rows.
MANIPULATED = "manipulated"


@dataclass(frozen=True, order=True)
class Setting:
    """What must be equal for two runs to be replicates of one another."""

    dataset: str
    model: str  # architecture, with its width when not 1: "cnn(width=0.5)"
    forget: str  # "random 10 %", "hardest 10 %", "class 7", "known fraction 0.5 of the manipulated rows", …
    manipulation: str  # "" for clean data, else e.g. "poison(size=150, patch_size=3, target=0)"
    known: float | None  # the forget set's known fraction of the manipulated rows (corrective setting)
    # random | hardest | class | subclass | indices | manipulated; follows from `forget`.
    forget_family: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        parts = [self.dataset, self.model, f"forget {self.forget}"]
        if self.manipulation:
            parts.append(self.manipulation)
        return " · ".join(parts)

    @property
    def is_corrective(self) -> bool:
        return self.forget_family == MANIPULATED and self.known is not None

    @property
    def corrective_family(self) -> tuple[str, str, str]:
        """The settings a corrective figure puts on one known-fraction axis: one manipulation
        (kind, size and its other parameters) of one model, whatever fraction is known."""
        return (self.dataset, self.model, self.manipulation)


def known_text(fraction: float) -> str:
    return f"known fraction {fraction:g} of the manipulated rows"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "/".join(_short(v) for v in value)
    return str(value)


def _rule(kind: str, params: dict[str, Any], forget: Manifest) -> tuple[str, str]:
    """(label, family) of a forget set's selection rule (not a corrective one)."""
    if kind == "per":
        per = int(params.get("per", 0))
        if per in RANDOM_PERS:
            return RANDOM_PERS[per], "random"
        if per in HARDEST_PERS:
            by = "" if params.get("difficulty", "record") == "record" else f" by {params['difficulty']}"
            return HARDEST_PERS[per] + by, "hardest"
        return f"per {per}", "per"
    if kind == "fraction":
        balanced = "" if params.get("balance", True) else ", unbalanced"
        return f"random fraction {float(params.get('fraction', math.nan)):g}{balanced}", "random"
    if kind == "class":
        # The resolved index, so "--class 7" and "--class seven" are one setting.
        return f"class {forget.config.get('forget_class', params.get('target'))}", "class"
    if kind == "subclass":
        return f"subclass {params.get('name')}", "subclass"
    if kind == "indices":
        return f"indices {Path(str(params.get('path', ''))).stem}", "indices"
    rest = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{kind}({rest})" if rest else str(kind), str(kind)


def _manipulation_text(manipulation: dict[str, Any], show_known: bool) -> str:
    details = [f"{k}={_short(v)}" for k, v in manipulation.items() if k not in ("kind", "known")]
    known = manipulation.get("known")
    # Only the first shape's models (one manipulation per F) differ by the manipulation's own
    # known fraction; a forget set that is not its known part keeps them apart by it.
    if show_known and known is not None and float(known) != 1.0:
        details.append(f"known={float(known):g}")
    return f"{manipulation.get('kind')}({', '.join(details)})"


def setting_of(dataset: str, model: str, forget: Manifest) -> Setting:
    """The Setting of a run on `forget` (a forget-set manifest) by a model labelled `model`."""
    kind = forget.config.get("kind")
    params = forget.config.get("params") or {}
    manipulation = forget.config.get("manipulation") or None
    known: float | None = None
    if kind is None and manipulation:  # the manipulation itself is the forget set
        known = float(manipulation["known"]) if manipulation.get("known") is not None else None
        text, family = ("known manipulated" if known is None else known_text(known)), MANIPULATED
    elif kind is None:
        text, family = "known manipulated", MANIPULATED
    elif kind == "known":
        known = float(params.get("fraction", math.nan))
        text, family = known_text(known), MANIPULATED
    else:
        text, family = _rule(str(kind), params, forget)
    return Setting(dataset=dataset, model=model, forget=text,
                   manipulation=_manipulation_text(manipulation, show_known=family != MANIPULATED) if manipulation else "",
                   known=known, forget_family=family)
