import pytest

from unlearn_cli.errors import InputError
from unlearn_cli.train.recipes import RECIPES, resolve_recipe
from unlearn_cli.train.schedules import ScheduleSpec, build_schedule


def test_natmu_step_schedule_warms_up_from_zero_then_steps_down():
    spec = resolve_recipe("natmu", "cifar10", "vgg16").schedule
    steps_per_epoch, total = 10, 1000
    f = build_schedule(spec, total, steps_per_epoch)
    assert f(0) == pytest.approx(1 / 20)  # warm-up over 2 epochs = 20 steps, from 0
    assert f(19) == pytest.approx(1.0)
    assert f(20) == pytest.approx(1.0)
    assert f(599) == pytest.approx(1.0)
    assert f(600) == pytest.approx(0.1)
    assert f(799) == pytest.approx(0.1)
    assert f(800) == pytest.approx(0.01)
    assert f(999) == pytest.approx(0.01)


def test_corrective_schedule_ends_at_twenty_percent_of_peak():
    recipe = resolve_recipe("corrective", "cifar10", "resnet9")
    assert recipe.steps == 4000 and recipe.batch_size == 512 and recipe.optimizer.lr == 0.025
    f = build_schedule(recipe.schedule, recipe.steps)
    assert f(0) == pytest.approx(1 / 40)  # 1 % warm-up = 40 steps
    assert f(39) == pytest.approx(1.0)
    assert f(40) == pytest.approx(1.0)
    # linear decay as if to zero at 1.25 × 4000 = 5000 steps
    # (interpolating peak at the warm-up end to 0 at 5000: about 20 % at step 4000)
    assert f(4000) == pytest.approx(1000 / 4960)
    assert f(3999) == pytest.approx(0.2, abs=2e-3)
    assert f(2520) == pytest.approx(1 - (2520 - 40) / (5000 - 40))


def test_corrective_long_runs_on_cifar100():
    assert resolve_recipe("corrective", "cifar100", "wrn28_10").steps == 6000


def test_natmu_batch_on_tinyimagenet():
    assert resolve_recipe("natmu", "tinyimagenet", "resnet34").batch_size == 256
    assert resolve_recipe("natmu", "cifar100", "resnet18").batch_size == 128


@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_resolves_and_overrides(name):
    recipe = resolve_recipe(name, "cifar10", "resnet18").with_overrides(lr=0.01, epochs=3, batch_size=7)
    assert recipe.optimizer.lr == 0.01 and recipe.epochs == 3 and recipe.steps is None and recipe.batch_size == 7
    assert recipe.total_steps(5) == 15
    f = build_schedule(recipe.schedule, recipe.total_steps(5), 5)
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
