"""Per-sample learning difficulty, recorded during training at no extra pass (README.md "Models and
pretraining").

For every training example: the fraction of epochs in which its augmented view was
misclassified, and its mean training loss. The hardest forget sets (`--per 101|110`) rank by it.
"""

from __future__ import annotations

import pyarrow as pa
import torch

from unlearn_cli.train.distributed import all_reduce_sum
from unlearn_cli.train.loop import StepOutput


class DifficultyRecorder:
    def __init__(self, num_rows: int, device: torch.device) -> None:
        self.misclassified = torch.zeros(num_rows, dtype=torch.float64, device=device)
        self.loss_sum = torch.zeros(num_rows, dtype=torch.float64, device=device)
        self.seen = torch.zeros(num_rows, dtype=torch.float64, device=device)

    def on_step(self, output: StepOutput) -> None:
        assert output.logits is not None and output.per_sample_loss is not None and output.index is not None
        with torch.no_grad():
            wrong = (output.logits.argmax(dim=1) != output.labels).to(torch.float64)
            self.misclassified.index_add_(0, output.index, wrong)
            self.loss_sum.index_add_(0, output.index, output.per_sample_loss.detach().to(torch.float64))
            self.seen.index_add_(0, output.index, torch.ones_like(wrong))

    def state(self) -> dict[str, torch.Tensor]:
        return {"misclassified": self.misclassified, "loss_sum": self.loss_sum, "seen": self.seen}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            getattr(self, key).copy_(value)

    def table(self) -> pa.Table:
        """The record over all ranks (each rank saw its slice of every batch)."""
        totals = [all_reduce_sum(t.clone()) for t in (self.misclassified, self.loss_sum, self.seen)]
        misclassified, loss_sum, seen = (t.cpu().numpy() for t in totals)
        safe_seen = seen.clip(min=1)
        return pa.table({
            "index": pa.array(range(len(seen)), pa.int64()),
            "misclassified_fraction": (misclassified / safe_seen).astype("float64"),
            "mean_loss": (loss_sum / safe_seen).astype("float64"),
            "epochs_seen": seen.astype("int64"),
        })
