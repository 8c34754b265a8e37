"""Per-sample selection and weights of the baselines (pure numpy, one array per episode).

The binary (RECAP-style) and continuous indicators are labels, made by
`dexpie_learning.labels` and read from the label store; here are only the weights.

Every function takes per-episode arrays (one sample per control tick t) and returns one
(T,) float array of loss weights per episode; 0 removes a sample. The policy's loss is the
weighted mean over a batch (dexpie_policy.chunk_dataset), so only relative weights matter.

Who counts as human: every tick of a demonstration episode, and the ticks of rollouts whose
source is SOURCE_HUMAN (`Episode.intervention`). Safety-hold ticks are neither: the
controller's reflex is no action anyone chose, so HG-DAgger drops them and IWR counts them
with the policy's samples (the policy was in charge when the hold fired).
"""
from __future__ import annotations

import numpy as np


def human_masks(interventions: list[np.ndarray], is_demo: list[bool]) -> list[np.ndarray]:
    """(T,) bool per episode: human-operated ticks (all of a demo, interventions of a rollout)."""
    if len(interventions) != len(is_demo):
        raise ValueError(f"{len(interventions)} intervention arrays for {len(is_demo)} episodes")
    return [np.ones(len(m), bool) if demo else np.asarray(m, bool)
            for m, demo in zip(interventions, is_demo)]


def hg_dagger_weights(interventions: list[np.ndarray], is_demo: list[bool]) -> list[np.ndarray]:
    """HG-DAgger (Kelly et al. 2019): aggregate the demonstrations with the expert's
    intervention segments only; the policy's own ticks are not imitated. Weights 1/0."""
    return [m.astype(np.float64) for m in human_masks(interventions, is_demo)]


def hg_dagger_success_weights(interventions: list[np.ndarray], is_demo: list[bool],
                              successes: list[bool | None]) -> list[np.ndarray]:
    """HG-DAgger as the DexPIE paper's baseline reads it: the demonstrations and the
    intervention segments of the rollouts that ended in success (a correction in an episode
    that failed anyway is not imitated). Weights 1/0."""
    return [w * float(demo or success is True) for w, demo, success in
            zip(hg_dagger_weights(interventions, is_demo), is_demo, successes)]


def iwr_weights(interventions: list[np.ndarray], is_demo: list[bool],
                human_to_policy_weight_ratio: float = 1.0) -> list[np.ndarray]:
    """Intervention-weighted regression (Mandlekar et al. 2020, "Human-in-the-Loop Imitation
    Learning using Remote Teleoperation", arXiv:2012.06733): all samples are imitated, and the
    human samples are re-weighted so that, in total, they weigh as much as the non-human
    samples (the paper balances the two sets; it implements this by drawing half of every
    batch from each). Here: constant per-class weights w_h, w_p with
    w_h * N_h = ratio * w_p * N_p, normalised to a mean of 1 over all samples. Demonstration
    ticks count as human (they are human-operated, as in the human-effort accounting).
    With no human or no policy samples every weight is 1 (nothing to balance)."""
    if human_to_policy_weight_ratio <= 0:
        raise ValueError(f"human_to_policy_weight_ratio must be > 0, got "
                         f"{human_to_policy_weight_ratio}")
    masks = human_masks(interventions, is_demo)
    total = sum(len(m) for m in masks)
    human = sum(int(m.sum()) for m in masks)
    policy = total - human
    if human == 0 or policy == 0:
        return [np.ones(len(m)) for m in masks]
    r = human_to_policy_weight_ratio
    # total weight = w_h N_h + w_p N_p = N (mean 1) and w_h N_h = r w_p N_p.
    w_policy = total / ((1.0 + r) * policy)
    w_human = r * total / ((1.0 + r) * human)
    return [np.where(m, w_human, w_policy) for m in masks]


def filtered_bc_weights(lengths: list[int], success: list[bool]) -> list[np.ndarray]:
    """Filtered BC: every sample of a successful episode, none of a failed one."""
    if len(lengths) != len(success):
        raise ValueError(f"{len(lengths)} lengths for {len(success)} outcomes")
    return [np.full(n, 1.0 if ok else 0.0) for n, ok in zip(lengths, success)]


def awr_weights(advantages: list[np.ndarray], temperature: float, max_weight: float
                ) -> list[np.ndarray]:
    """Advantage-weighted regression (Peng et al. 2019): w = min(exp(A / temperature),
    max_weight), then divided by the mean weight over all samples (mean 1). Clipping is done
    in log space so large advantages never overflow. NaN advantages (unlabelled) -> weight 0."""
    if temperature <= 0 or max_weight <= 0:
        raise ValueError(f"temperature and max_weight must be > 0, got {temperature}, "
                         f"{max_weight}")
    raw = []
    for a in advantages:
        a = np.asarray(a, dtype=np.float64)
        w = np.exp(np.minimum(a / temperature, np.log(max_weight)))
        raw.append(np.where(np.isnan(a), 0.0, w))
    total = sum(w.sum() for w in raw)
    count = sum(len(w) for w in raw)
    if total <= 0:
        raise ValueError("no sample has a finite advantage")
    return [w * (count / total) for w in raw]
