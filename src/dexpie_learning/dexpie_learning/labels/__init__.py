"""Advantages, optimality indicators and their storage with the dataset (pure numpy).

Typical use (after `dexpie_learning.critic.cross_fit_values`):

    from dexpie_learning.labels import label_dataset, save_labels, load_labels
    labels = label_dataset(result.values, {e.episode_id: e.intervention for e in episodes},
                           horizon=16, returns=returns, critic_checkpoints=[dir0, dir1])
    save_labels(dataset_dir, "round1", labels)          # <dataset_dir>/labels/round1.*
    plot_label_histograms(labels, out / "labels_hist.png")
    labels = load_labels(dataset_dir, "round1", episode_lengths={e.episode_id: e.num_ticks
                                                                 for e in bags})
    optimality = labels.optimality_of(episode_id)        # (T,) for EpisodeArrays.optimality
    binary = labels.episodes[episode_id].binary_indicator  # RECAP-style baseline

Public API:
    window_lengths(T, H) -> (T,) n_t = min(H, T - t)
    chunk_advantages(values (T,), horizon, max_episode_steps) -> (T,) A_t
    IndicatorParams(q_low, q_high, beta, beta_guarded);  fit_indicator([A_i]) -> params
    human_windows(intervention (T,), horizon) -> (T,) bool
    continuous_indicator(A, intervention, horizon, params, override=True) -> (T,) s_t
    binary_indicator(A, intervention, horizon, params, override=True) -> (T,) {0, 1}
    EpisodeLabels(values, advantages, optimality, binary_indicator, human_window)
    DatasetLabels(episodes, horizon, returns, indicator, critic_checkpoints, extra)
    label_dataset(values, interventions, horizon, returns, critic_checkpoints=(), extra=None,
                  human_override="all", successes=None)   # HUMAN_OVERRIDES: whose human
                                                          # windows are forced to 1
    save_labels(dataset_dir, name, labels) -> path;  label_paths(dataset_dir, name)
    load_labels(dataset_dir, name, episode_ids=None, episode_lengths=None) -> DatasetLabels
    plot_label_histograms(labels, path) -> path
"""
from dexpie_learning.labels.advantage import chunk_advantages, window_lengths
from dexpie_learning.labels.indicator import (HIGH_QUANTILE, LOW_QUANTILE, MIN_BETA,
                                              IndicatorParams, binary_indicator,
                                              continuous_indicator, fit_indicator, human_windows)
from dexpie_learning.labels.labelling import (DEFAULT_HUMAN_OVERRIDE, HUMAN_OVERRIDES,
                                              DatasetLabels, EpisodeLabels, label_dataset)
from dexpie_learning.labels.plots import plot_label_histograms
from dexpie_learning.labels.store import LabelStoreError, label_paths, load_labels, save_labels

__all__ = [
    "DEFAULT_HUMAN_OVERRIDE", "HIGH_QUANTILE", "HUMAN_OVERRIDES", "LOW_QUANTILE", "MIN_BETA", "DatasetLabels", "EpisodeLabels",
    "IndicatorParams", "LabelStoreError", "binary_indicator", "chunk_advantages",
    "continuous_indicator", "fit_indicator", "human_windows", "label_dataset", "label_paths",
    "load_labels", "plot_label_histograms", "save_labels", "window_lengths",
]
