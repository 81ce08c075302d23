"""Losses the methods share, computed in float32 whatever the autocast dtype."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distill_kl(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float,
               reduction: str = "batchmean") -> torch.Tensor:
    """KL(teacher ‖ student) with the student's softmax at `temperature`, summed over classes
    and averaged over the batch (`batchmean`: the true KL per sample); `mean`, PyTorch's
    default, also divides by the number of classes."""
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_student, teacher_probs.float(), reduction=reduction)


def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.softmax(teacher_logits.float() / temperature, dim=1)


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels)
