import pytest
import torch

from unlearn_cli.errors import InputError
from unlearn_cli.train.recipes import RECIPES, resolve_recipe
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule

# ---------------------------------------------------------------------------------------
# The two reference schedules, each checked over every step of a short run against a hand
# transcription of the reference's lr function, driven the way the reference drives it: a
# torch scheduler built before training, scheduler.step() right after optimizer.step().
# Our schedule(k) must be the factor optimiser step k actually trained with.


class _Epochs:
    """A batch source of `n` batches per epoch (only its length matters here)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def steps_in(self, epoch: int) -> int:
        return self.n


def _natmu_lr_lambda_step(x, warmup_epoch, epoch, lr_min=0.0, max_lr=0.1, loader_length=0):
    # NatMU sample-wise/utils/lr_scheduler.py:lr_lambda_step (constant_epoch unused there)
    total_steps = epoch * loader_length
    warmup_steps = warmup_epoch * loader_length
    step = x
    if step < warmup_steps:
        return step / warmup_steps
    elif step <= int(total_steps * 0.6):
        return (1 * (max_lr - lr_min) + lr_min) / max_lr
    elif step <= int(total_steps * 0.8):
        return (0.1 * (max_lr - lr_min) + lr_min) / max_lr
    else:
        return (0.01 * (max_lr - lr_min) + lr_min) / max_lr


class _CorrectiveLinearLR(torch.optim.lr_scheduler.LRScheduler):
    # corrective-unlearning-bench src/utils.py:LinearLR
    def __init__(self, optimizer, T, warmup_epochs=100, last_epoch=-1):
        self.T = float(T)
        self.warm_ep = warmup_epochs
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch - self.warm_ep >= 0:
            rate = 1 - ((self.last_epoch - self.warm_ep) / self.T)
        else:
            rate = (self.last_epoch + 1) / (self.warm_ep + 1)
        return [rate * base_lr for base_lr in self.base_lrs]


def _factors_used(make_scheduler, peak_lr: float, steps: int) -> list[float]:
    """The lr (as a factor of the peak) of each optimiser step, in the references' order."""
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=peak_lr, momentum=0.9)
    scheduler = make_scheduler(optimizer)
    used = []
    for _ in range(steps):
        weight.grad = torch.zeros(1)
        used.append(optimizer.param_groups[0]["lr"] / peak_lr)
        optimizer.step()
        scheduler.step()
    return used


@pytest.mark.parametrize(("epochs", "steps_per_epoch"), [(10, 10), (7, 13)])
def test_natmu_step_equals_lr_lambda_step_at_every_step(epochs: int, steps_per_epoch: int) -> None:
    recipe = resolve_recipe("natmu", "cifar10", "vgg16").with_overrides(epochs=epochs)
    total = recipe.total_steps(_Epochs(steps_per_epoch))
    ours = build_schedule(recipe.schedule, total, steps_per_epoch)

    def reference(x: int) -> float:
        return _natmu_lr_lambda_step(x, warmup_epoch=2, epoch=epochs, loader_length=steps_per_epoch)

    used = _factors_used(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, reference), 0.1, total)
    assert [ours(k) for k in range(total)] == pytest.approx(used, rel=1e-12, abs=1e-15)
    assert [ours(k) for k in range(total)] == pytest.approx([reference(k) for k in range(total)], rel=1e-12)


def test_natmu_step_pinned_factors() -> None:
    # 10 epochs × 10 batches: warm-up W = 20 steps from 0; ×0.1 after step 60, ×0.01 after 80.
    f = build_schedule(resolve_recipe("natmu", "cifar10", "vgg16").schedule, 100, 10)
    assert f(0) == 0.0  # the first step does not move the weights
    assert f(1) == pytest.approx(1 / 20) and f(19) == pytest.approx(19 / 20)
    assert f(20) == 1.0 and f(60) == 1.0
    assert f(61) == pytest.approx(0.1) and f(80) == pytest.approx(0.1)
    assert f(81) == pytest.approx(0.01) and f(99) == pytest.approx(0.01)


def test_natmu_step_pinned_on_the_paper_run() -> None:
    # CIFAR-10, batch 128: 391 batches × 100 epochs; W = 782, int(0.6·39100) = 23460.
    f = build_schedule(resolve_recipe("natmu", "cifar10", "vgg16").schedule, 39100, 391)
    assert f(0) == 0.0 and f(781) == pytest.approx(781 / 782) and f(782) == 1.0
    assert f(23460) == 1.0 and f(23461) == pytest.approx(0.1)
    assert f(31280) == pytest.approx(0.1) and f(31281) == pytest.approx(0.01) and f(39099) == pytest.approx(0.01)


@pytest.mark.parametrize("steps", [100, 150, 4000])
def test_corrective_linear_equals_linear_lr_at_every_step(steps: int) -> None:
    recipe = resolve_recipe("corrective", "cifar10", "resnet9").with_overrides(steps=steps)
    ours = build_schedule(recipe.schedule, recipe.total_steps(_Epochs(1)))
    # As methods.py builds it: T = iterations × 1.25, warm-up = iterations // 100.
    used = _factors_used(lambda opt: _CorrectiveLinearLR(opt, T=steps * 1.25, warmup_epochs=steps // 100),
                         0.025, steps)
    assert [ours(k) for k in range(steps)] == pytest.approx(used, rel=1e-12, abs=1e-15)


def test_corrective_linear_pinned_factors() -> None:
    recipe = resolve_recipe("corrective", "cifar10", "resnet9")
    assert recipe.steps == 4000 and recipe.batch_size == 512 and recipe.optimizer.lr == 0.025
    f = build_schedule(recipe.schedule, recipe.steps)
    # W = 4000 // 100 = 40 warm-up steps at (k + 1)/41; T = 5000.
    assert f(0) == pytest.approx(1 / 41) and f(39) == pytest.approx(40 / 41)
    assert f(40) == 1.0
    assert f(2520) == pytest.approx(1 - 2480 / 5000)
    assert f(3999) == pytest.approx(1 - 3959 / 5000)  # ≈ 0.208 of the peak at the end


def test_corrective_warmup_is_floored_like_integer_division() -> None:
    # 150 // 100 = 1 warm-up step (rounding 1.5 would give 2).
    f = build_schedule(resolve_recipe("corrective", "cifar10", "resnet9").schedule, 150)
    assert f(0) == pytest.approx(1 / 2) and f(1) == 1.0 and f(2) == pytest.approx(1 - 1 / 187.5)


def test_corrective_long_runs_on_cifar100():
    assert resolve_recipe("corrective", "cifar100", "wrn28_10").steps == 6000


def test_natmu_batch_on_tinyimagenet():
    assert resolve_recipe("natmu", "tinyimagenet", "resnet34").batch_size == 256
    assert resolve_recipe("natmu", "cifar100", "resnet18").batch_size == 128


@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_resolves_and_overrides(name):
    recipe = resolve_recipe(name, "cifar10", "resnet18").with_overrides(lr=0.01, epochs=3, batch_size=7)
    assert recipe.optimizer.lr == 0.01 and recipe.epochs == 3 and recipe.steps is None and recipe.batch_size == 7
    assert recipe.total_steps(_Epochs(5)) == 15
    f = build_schedule(recipe.schedule, recipe.total_steps(_Epochs(5)), 5)
    assert all(0 <= f(s) <= 1.0 + 1e-9 for s in range(15))


def test_bad_overrides():
    recipe = resolve_recipe("fast", "digits", "cnn")
    with pytest.raises(InputError, match="exclude each other"):
        recipe.with_overrides(epochs=1, steps=1)
    with pytest.raises(InputError, match="--lr must be positive"):
        recipe.with_overrides(lr=-1)
    with pytest.raises(InputError, match="--epochs must be positive"):
        recipe.with_overrides(epochs=0)


def test_onecycle_and_cosine_shapes():
    one = build_schedule(ScheduleSpec("onecycle", warmup_fraction=0.1), 100)
    assert one(9) == pytest.approx(1.0) and one(99) == pytest.approx(0.0)
    cos = build_schedule(ScheduleSpec("cosine"), 100)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.5) and cos(99) < 0.01


def test_unknown_schedule():
    with pytest.raises(InputError, match="unknown schedule"):
        build_schedule(ScheduleSpec("zigzag"), 10)
