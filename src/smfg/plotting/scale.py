"""Figures of scale: the cost against N, and the mean-field check."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from smfg.plotting.style import METRIC_AXES, VARIANT_STYLE, label_colours, new_figure


def plot_scaling(env: pd.DataFrame, training: pd.DataFrame) -> Figure:
    """Cost against N, log-log: household-steps per second of the environment step, seconds
    per SMFRL epoch (one line per follower batch: 'joint', the original's, solid; 'sampled'
    dashed) and peak memory, with the original code's figures as black markers.

    ``env`` and ``training`` as :func:`smfg.perf.scaling.time_env` and
    :func:`~smfg.perf.scaling.time_training` return them.
    """
    fig, axes = new_figure(1, 3, width=4.2, height=3.6)
    ax_rate, ax_epoch, ax_mem = axes[0]
    colours = label_colours([*env.variant, "SMFRL epoch"])
    for v, g in env.groupby("variant", sort=False):
        g = g.sort_values("n_households")
        style = dict(marker="o", color=colours[v], linestyle=VARIANT_STYLE.get(v, "-"))
        ax_rate.plot(g.n_households, g.household_steps_per_s, **style, label=f"smfg, {v}")
        ax_mem.plot(g.n_households, g.peak_rss_mb, **style, label=f"env step, {v}")
    orig = env.drop_duplicates("n_households").dropna(subset=["original_household_steps_per_s"])
    if len(orig):
        ax_rate.plot(
            orig.n_households,
            orig.original_household_steps_per_s,
            "kx",
            markersize=8,
            linestyle=":",
            label="original simulator",
        )
    ax_rate.set_title("Environment step", fontsize="medium")
    ax_rate.set_ylabel("household-steps per second")
    if len(training):
        t = training.sort_values("n_households")
        if "follower_batch" not in t:
            t = t.assign(follower_batch="sampled")
        c = colours["SMFRL epoch"]
        for batch, g in t.groupby("follower_batch", sort=False):
            style = dict(color=c, linestyle="-" if batch == "joint" else "--")
            x = g.n_households
            ax_epoch.plot(x, g.epoch_s, marker="o", **style, label=f"smfg, {batch} batch")
            ax_mem.plot(
                x, g.peak_rss_mb, marker="s", **style, label=f"SMFRL training, {batch} batch"
            )
        o = t.dropna(subset=["original_epoch_s_low"])
        if len(o):
            mid = (o.original_epoch_s_low + o.original_epoch_s_high) / 2
            half = (o.original_epoch_s_high - o.original_epoch_s_low) / 2
            ax_epoch.errorbar(
                o.n_households,
                mid,
                yerr=half,
                fmt="kx",
                markersize=8,
                capsize=4,
                label="original code",
            )
        ax_epoch.set_title(f"SMFRL epoch ({t.profile.iloc[0]} profile)", fontsize="medium")
    ax_epoch.set_ylabel("seconds per epoch")
    ax_mem.set_title("Peak memory of the process", fontsize="medium")
    ax_mem.set_ylabel("peak resident memory, MB")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("households N")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    return fig


def plot_mean_field(
    check: pd.DataFrame,
    metrics: tuple[str, ...] = (
        "per_capita_gdp",
        "mean_utility",
        "income_gini",
        "wealth_gini",
        "years",
    ),
) -> Figure:
    """The mean-field check: one panel per metric, its mean and 95% interval across seeds
    against N (log axis), one line per policy pair.

    ``check`` as :func:`smfg.paper.mean_field.mean_field_check` returns it.
    """
    labels = [
        f"{g} / {h} households" for g, h in zip(check.government, check.households, strict=True)
    ]
    check = check.assign(label=labels)
    colours = label_colours(check.label)
    axis = {**METRIC_AXES, "mean_utility": "mean utility per household"}
    fig, axes = new_figure(1, len(metrics), width=3.4, height=3.2)
    for j, m in enumerate(metrics):
        ax = axes[0, j]
        sub = check[check.metric == m]
        for k, (lab, g) in enumerate(sub.groupby("label", sort=False)):
            g = g.sort_values("n_households")
            x = g.n_households.to_numpy() * (1.0 + 0.06 * (k - 1))  # dodge the error bars
            lo = (g["mean"] - g.ci_low).clip(lower=0).fillna(0).to_numpy()
            hi = (g.ci_high - g["mean"]).clip(lower=0).fillna(0).to_numpy()
            ax.errorbar(
                x, g["mean"], yerr=[lo, hi], marker="o", capsize=3, color=colours[lab], label=lab
            )
        ax.set_xscale("log")
        ax.set_title(axis.get(m, m), fontsize="medium")
        ax.set_xlabel("households N")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=max(len(names), 1))
    return fig
