"""Hand transcriptions of the reference functions the audit statistics must equal.

Each function below follows its reference line by line (cited as repository file:line at
the commit named), in numpy: torch tensors become float64 arrays, `.cuda()` and
`.detach().cpu().numpy()` are dropped, `.type(torch.float32)` is `.astype(np.float32)`,
`torch.mean(x, 0)` is `np.mean(x, 0)` (float32 in, float32 out, as torch's).
They are test oracles, written for fidelity, not speed: keep the inputs small.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.special
import scipy.stats
from scipy import stats
from sklearn.metrics import auc, roc_curve

# =============================================================================================
# google-deepmind/unlearning_evaluation metric.py @ ffae0fff4c3e9523b22618c47df6c26e4eebe0df
# =============================================================================================

DELTA = 1e-05  # metric.py:24
EPSILON_CAP = 50  # metric.py:25
NUM_THRESHOLDS_PER_UNIT = 100  # metric.py:26


def compute_logit_scaled_confidence(logits, targets):
    """metric.py:29-61 (already numpy in the reference; it shifts `logits` in place)."""
    count = logits.shape[0]
    logits -= np.max(logits, axis=1, keepdims=True)
    probs = np.array(np.exp(logits), dtype=np.float64)
    probs /= np.sum(probs, axis=1, keepdims=True)
    prob_correct = probs[np.arange(count), targets[:count]]
    probs[np.arange(count), targets[:count]] = 0
    prob_wrong = np.sum(probs, axis=1)
    conf = np.log(prob_correct + 1e-45) - np.log(prob_wrong + 1e-45)
    return prob_correct, conf


def torch_linspace(start, end, steps):
    """`torch.linspace(start, end, steps)` as metric.py:144 calls it: no dtype, so torch's
    default float32. pytorch aten/src/ATen/native/cuda/RangeFactories.cu (`linspace_cuda_out`):
    both ends cast to float, a float step, the first half `start + step * ind`, the second
    `end - step * (steps - ind - 1)`, each a multiply-add that nvcc fuses by default
    (--fmad=true): one rounding, written here as float64 arithmetic (the product of a float and
    an index below 2^24 is exact in float64) rounded to float32. torch 2.14's CPU kernel gave
    these same values on 16 million thresholds of random grids."""
    start, end = np.float32(start), np.float32(end)
    if steps == 0:
        return np.empty(0, dtype=np.float32)
    if steps == 1:
        return np.array([start], dtype=np.float32)
    step = (end - start) / np.float32(steps - 1)
    halfway = steps // 2
    out = np.empty(steps, dtype=np.float32)
    for ind in range(steps):
        if ind < halfway:
            out[ind] = np.float32(np.float64(start) + np.float64(step) * ind)
        else:
            out[ind] = np.float32(np.float64(end) - np.float64(step) * (steps - ind - 1))
    return out


def _get_double_threshold_rates(pos_confs_, neg_confs_):
    """metric.py:64-129."""
    pos_diff = pos_confs_.max() - pos_confs_.min()
    neg_diff = neg_confs_.max() - neg_confs_.min()
    smallest = neg_diff if pos_diff > neg_diff else pos_diff

    if pos_diff >= neg_diff:
        pos_confs_, neg_confs_ = neg_confs_, pos_confs_

    buffer = 2.0
    width = smallest
    min_ = pos_confs_.min() + width - buffer
    max_ = pos_confs_.max() + buffer
    num_right_thresholds = int(np.ceil((max_ - min_) * NUM_THRESHOLDS_PER_UNIT))
    right_thresholds_ = np.linspace(min_, max_, num=num_right_thresholds)

    num_left_thresholds = int(np.ceil(2 * buffer * NUM_THRESHOLDS_PER_UNIT))
    thr_left_ = np.concatenate(
        [np.linspace(tr - width - buffer, tr - width + buffer, num=num_left_thresholds) for tr in right_thresholds_],
        axis=0,
    )
    thr_right_ = np.tile(np.reshape(right_thresholds_, (-1, 1)), (1, num_left_thresholds)).reshape(-1)
    # thresholds_flat = [(l, r) for l, r in zip(thr_left_, thr_right_)] only feeds the
    # reference's plotting lists; its length is what the rates need.
    thresholds_flat = None
    total_num_thresholds = len(thr_left_)

    num_models = pos_confs_.shape[0]
    thr_right_ = np.tile(np.expand_dims(thr_right_, 0), (num_models, 1))
    thr_left_ = np.tile(np.expand_dims(thr_left_, 0), (num_models, 1))
    pos_confs_ = np.tile(pos_confs_[:, None], (1, total_num_thresholds))
    neg_confs_ = np.tile(neg_confs_[:, None], (1, total_num_thresholds))

    def _is_pp(c):
        return np.logical_and(np.less_equal(thr_left_, c), np.less_equal(c, thr_right_)).astype(np.float32)

    def _is_pn(c):
        return np.logical_not(_is_pp(c)).astype(np.float32)

    tpr = np.mean(_is_pp(pos_confs_), 0)
    fnr = np.mean(_is_pn(pos_confs_), 0)
    fpr = np.mean(_is_pp(neg_confs_), 0)
    tnr = np.mean(_is_pn(neg_confs_), 0)
    return tpr, fnr, fpr, tnr, thresholds_flat


def _get_single_threshold_rates(pos_confs_, neg_confs_):
    """metric.py:132-162."""
    all_confs = np.concatenate([pos_confs_, neg_confs_])
    min_val = all_confs.min()
    max_val = all_confs.max()

    num_thresholds = int(np.ceil((max_val - min_val) * NUM_THRESHOLDS_PER_UNIT))
    thresholds_ = torch_linspace(min_val, max_val, num_thresholds)
    thresholds_flat = None  # list(thresholds_) only feeds the reference's plotting lists

    num_models = pos_confs_.shape[0]
    thresholds_ = np.tile(thresholds_[None, :], (num_models, 1))
    pos_confs_ = np.tile(pos_confs_[:, None], (1, num_thresholds))
    neg_confs_ = np.tile(neg_confs_[:, None], (1, num_thresholds))

    # torch compares the float64 confidences with the float32 thresholds in float64.
    tpr = np.mean((pos_confs_ >= thresholds_).astype(np.float32), 0)
    fpr = np.mean((neg_confs_ >= thresholds_).astype(np.float32), 0)
    tnr = np.mean((neg_confs_ < thresholds_).astype(np.float32), 0)
    fnr = np.mean((pos_confs_ < thresholds_).astype(np.float32), 0)
    return tpr, fnr, fpr, tnr, thresholds_flat


def _get_epsilons(pos_confs, neg_confs, delta):
    """metric.py:165-301, without the auxiliary lists it only collects for plots."""
    epsilons = []
    num_examples = pos_confs.shape[1]
    for i in range(num_examples):
        pos_confs_ = pos_confs[:, i].reshape(-1)
        neg_confs_ = neg_confs[:, i].reshape(-1)

        pos_diff = np.max(pos_confs_) - np.min(pos_confs_)
        neg_diff = np.max(neg_confs_) - np.min(neg_confs_)
        largest = pos_diff if pos_diff > neg_diff else neg_diff
        smallest = neg_diff if pos_diff > neg_diff else pos_diff
        with np.errstate(invalid="ignore"):
            if smallest / largest < 0.01:
                epsilons.append(EPSILON_CAP)
                continue

        tpr_d, fnr_d, fpr_d, tnr_d, tf_d = _get_double_threshold_rates(pos_confs_, neg_confs_)
        tpr_s, fnr_s, fpr_s, tnr_s, tf_s = _get_single_threshold_rates(pos_confs_, neg_confs_)
        tpr = np.concatenate([tpr_d, tpr_s], 0)
        fnr = np.concatenate([fnr_d, fnr_s], 0)
        fpr = np.concatenate([fpr_d, fpr_s], 0)
        tnr = np.concatenate([tnr_d, tnr_s], 0)

        total_num_thresholds = tpr.shape[0]
        thr_eps = np.zeros(total_num_thresholds, dtype=np.float32)  # torch.zeros: float32

        fpr_fnr_both_zero = np.equal(fpr + fnr, np.zeros(total_num_thresholds, dtype=np.float32))
        tpr_tnr_both_ones = np.equal(tpr + tnr, 2 * np.ones(total_num_thresholds, dtype=np.float32))
        thr_eps = np.where(
            fpr_fnr_both_zero * tpr_tnr_both_ones, np.full(thr_eps.shape, np.inf, dtype=np.float32), thr_eps
        )

        thr_eps_is_zero = np.equal(thr_eps, np.zeros_like(thr_eps))
        fpr_or_fnr_is_zero = np.equal(fpr * fnr, np.zeros_like(thr_eps))
        thr_eps = np.where(
            thr_eps_is_zero * fpr_or_fnr_is_zero, np.full(thr_eps.shape, np.nan, dtype=np.float32), thr_eps
        )

        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmax of two NaNs, as in the reference
            computed = np.clip(
                np.nanmax(
                    [
                        np.log(1 - delta - fpr) - np.log(fnr),
                        np.log(1 - delta - fnr) - np.log(fpr),
                    ],
                    axis=0,
                ),
                0,
                None,
            )
        thr_eps = np.where(np.equal(thr_eps, np.zeros_like(thr_eps)), computed, thr_eps)

        # keep_inds = [ind for ind, te in enumerate(thr_eps) if not np.isnan(te)], vectorised.
        keep_inds = np.nonzero(~np.isnan(thr_eps))[0]
        thr_eps = thr_eps[keep_inds]

        # metric.py:285 reads `assert thr_eps, ...`, which on a numpy array of more than one
        # element raises "truth value ... is ambiguous"; its message states the intent:
        assert len(thr_eps) > 0, "Something went wrong, all thresholds gave nan epsilon..."
        thr_eps = np.array(thr_eps)
        epsilons.append(np.nanmax(thr_eps))

    epsilons = np.clip(epsilons, 0, EPSILON_CAP)
    return epsilons


def compute_forget_score_from_confs(unlearned_confs, retrained_confs):
    """metric.py:304-349."""
    _, forget_set_size = retrained_confs.shape
    retrain_means = np.median(retrained_confs, axis=0)
    unlearned_means = np.median(unlearned_confs, axis=0)

    retrain_is_positive = retrain_means > unlearned_means
    pos_confs = np.where(retrain_is_positive, retrained_confs, unlearned_confs)
    neg_confs = np.where(retrain_is_positive, unlearned_confs, retrained_confs)
    eps = _get_epsilons(pos_confs, neg_confs, delta=DELTA)
    return forget_score_from_epsilons(eps, unlearned_confs.shape[0], forget_set_size)


def forget_score_from_epsilons(eps, num_models, forget_set_size):
    """metric.py:324-349, the part of compute_forget_score_from_confs after `_get_epsilons`."""
    max_epsilon = np.ceil(np.log(num_models - 1))

    start_idx = 0
    bucket_size = 0.5
    end_idx = start_idx + bucket_size
    points = 1
    bucket_points = {}
    while end_idx <= max_epsilon:
        bucket_points[start_idx] = points
        points /= 2
        start_idx += bucket_size
        end_idx = start_idx + bucket_size

    forget_score = 0
    for e in eps:
        for start_idx, points in bucket_points.items():
            if e < start_idx + bucket_size:
                forget_score += points
                break

    forget_score /= forget_set_size
    return forget_score


def final_score(forget_score, unlearned_retain_accs, unlearned_test_accs, retrain_retain_accs, retrain_test_accs):
    """main.py:292-337 (the forget accuracies it also averages only feed its logs)."""
    u_r_mean = np.mean(unlearned_retain_accs)
    u_t_mean = np.mean(unlearned_test_accs)
    r_r_mean = np.mean(retrain_retain_accs)
    r_t_mean = np.mean(retrain_test_accs)
    return forget_score * (u_r_mean / r_r_mean) * (u_t_mean / r_t_mean)


# =============================================================================================
# tensorflow/privacy research/mi_lira_2021 @ 03035d5d4a271ac795dab80f5bc1cef82fc3d462
# =============================================================================================


def score_py_logit(opredictions, labels):
    """score.py:40-54: logits (examples, 1, augmentations, classes) → φ (examples, augmentations)."""
    predictions = opredictions - np.max(opredictions, axis=3, keepdims=True)
    predictions = np.array(np.exp(predictions), dtype=np.float64)
    predictions = predictions / np.sum(predictions, axis=3, keepdims=True)
    COUNT = predictions.shape[0]
    y_true = predictions[np.arange(COUNT), :, :, labels[:COUNT]]
    predictions[np.arange(COUNT), :, :, labels[:COUNT]] = 0
    y_wrong = np.sum(predictions, axis=3)
    return np.log(y_true.mean(1) + 1e-45) - np.log(y_wrong.mean(1) + 1e-45)


def sweep(score, x):
    """plot.py:32-38."""
    fpr, tpr, _ = roc_curve(x, -score)
    acc = np.max(1 - (fpr + (1 - tpr)) / 2)
    return fpr, tpr, auc(fpr, tpr), acc


def generate_ours(
    keep, scores, check_keep, check_scores, in_size=100000, out_size=100000, fix_variance=False, per_side=False
):
    """plot.py:62-102, verbatim (line 87 included: `std_out = np.std(dat_in)`); `per_side=True`
    (not in the reference) reads line 87 as `np.std(dat_out)`, the variant the audit uses."""
    dat_in = []
    dat_out = []

    for j in range(scores.shape[1]):
        dat_in.append(scores[keep[:, j], j, :])
        dat_out.append(scores[~keep[:, j], j, :])

    in_size = min(min(map(len, dat_in)), in_size)
    out_size = min(min(map(len, dat_out)), out_size)

    dat_in = np.array([x[:in_size] for x in dat_in])
    dat_out = np.array([x[:out_size] for x in dat_out])

    mean_in = np.median(dat_in, 1)
    mean_out = np.median(dat_out, 1)

    if fix_variance:
        std_in = np.std(dat_in)
        std_out = np.std(dat_out) if per_side else np.std(dat_in)
    else:
        std_in = np.std(dat_in, 1)
        std_out = np.std(dat_out, 1)

    prediction = []
    answers = []
    for ans, sc in zip(check_keep, check_scores):
        pr_in = -scipy.stats.norm.logpdf(sc, mean_in, std_in + 1e-30)
        pr_out = -scipy.stats.norm.logpdf(sc, mean_out, std_out + 1e-30)
        score = pr_in - pr_out

        prediction.extend(score.mean(1))
        answers.extend(ans)

    return prediction, answers


def do_plot_numbers(fn, keep, scores, ntest):
    """plot.py:153-176 without the drawing: (fpr, tpr, auc, acc, TPR at FPR < 0.1 %)."""
    prediction, answers = fn(keep[:-ntest], scores[:-ntest], keep[-ntest:], scores[-ntest:])
    fpr, tpr, auc_, acc = sweep(np.array(prediction), np.array(answers, dtype=bool))
    low = tpr[np.where(fpr < 0.001)[0][-1]]
    return fpr, tpr, auc_, acc, low, np.array(prediction)


# =============================================================================================
# RoyRin/data-unlearning-bench unlearning_bench @ eb261f9c652aa1daae62c7f23f4e56286edf745c
# =============================================================================================


def compute_binned_KL_div(p_arr, q_arr, bin_count=20, eps=1e-5, min_val=-100, max_val=100):
    """eval.py:80-130."""
    p_arr = np.clip(p_arr, min_val, max_val)
    q_arr = np.clip(q_arr, min_val, max_val)

    bins_start = min(p_arr.min(), q_arr.min())
    bins_end = max(p_arr.max(), q_arr.max())
    if bins_start >= bins_end:
        bins_end = bins_start + 1
    bins = np.linspace(bins_start, bins_end, bin_count + 1)

    p_binned_indices = np.digitize(p_arr, bins)
    q_binned_indices = np.digitize(q_arr, bins)

    p_bin_counts = np.array([np.sum(p_binned_indices == i) for i in range(1, bin_count + 1)])
    q_bin_counts = np.array([np.sum(q_binned_indices == i) for i in range(1, bin_count + 1)])

    p_total = p_bin_counts.sum()
    q_total = q_bin_counts.sum()

    p_bin_probs = p_bin_counts / p_total if p_total > 0 else np.zeros_like(p_bin_counts, dtype=float)
    q_bin_probs = q_bin_counts / q_total if q_total > 0 else np.zeros_like(q_bin_counts, dtype=float)

    q_bin_probs_safe = np.where(p_bin_probs > 0, np.maximum(q_bin_probs, eps), q_bin_probs)
    return stats.entropy(pk=p_bin_probs, qk=q_bin_probs_safe)


def kl_from_margins(all_unlearned_margins, all_oracle_margins, clip_min=-100, clip_max=100):
    """eval.py:133-153 (numpy margins: `to_np_cpu` is the identity on them)."""
    assert all_oracle_margins.shape == all_unlearned_margins.shape, "Margin tensors must have the same shape"
    results_list = []
    N = all_oracle_margins.shape[1]
    for sample in range(N):
        oracle_arr = all_oracle_margins[:, sample]
        unlearned_arr = all_unlearned_margins[:, sample]
        KL_div = compute_binned_KL_div(unlearned_arr, oracle_arr, min_val=clip_min, max_val=clip_max)
        results_list.append(KL_div)
    return np.stack(results_list)


def load_klom(oracle_margins, margins):
    """run.py:142, the benchmark's one call: `kl_from_margins(oracle_margins, margins)`."""
    return kl_from_margins(oracle_margins, margins)


def get_margin(logits, labels):
    """eval.py:42-60 on a batch of logits (the model call dropped); scipy's logsumexp stands
    for torch's, both the max-shifted form."""
    bindex = np.arange(logits.shape[0])
    logits_correct = logits[bindex, labels]
    cloned_logits = logits.copy()
    cloned_logits[bindex, labels] = -np.inf
    return logits_correct - scipy.special.logsumexp(cloned_logits, axis=-1)
