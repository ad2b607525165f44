"""``tabloader train``: read, split, fit, report, and optionally compare, save and plot.

Imported lazily by :func:`tabloader.cli.main` (torch and the trainers load here, not for
``--help``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tabloader.cli._args import (
    MODELS,
    TASK_MODELS,
    RuntimeFailure,
    UsageError,
    check_device,
    check_flag,
    check_plot,
    column_list,
    column_ref,
    csv_kwargs,
    estimator_params,
    loader_options,
)
from tabloader.cli._evaluate import compare_with_sklearn, evaluate, raw_targets
from tabloader.cli._output import fmt, format_table, isatty, kv_table, save_figure, write_json
from tabloader.cli._paths import check_outputs, writing

__all__ = ["cmd_train", "data_spec"]


def cmd_train(args: argparse.Namespace) -> int:
    """``tabloader train``; data-parallel when launched by torchrun (rank 0 reports).

    The flags and the output paths are checked first, before torch loads.
    """
    task = _check(args)
    import torch.distributed as dist

    from tabloader.trainers import init_distributed, shutdown_distributed

    owned = not (dist.is_available() and dist.is_initialized()) and init_distributed()
    try:
        return _train(args, task)
    finally:
        if owned:
            shutdown_distributed()


def _check(args: argparse.Namespace) -> str | None:
    """The flag checks that argparse cannot do, before any data is read (the outputs
    too: nothing is trained to be lost at the end); returns the task given by ``--task``
    or implied by ``--model`` (None: to be inferred)."""
    check_flag(
        0.0 <= args.val_fraction < 1.0, "--val-fraction", "a number in [0, 1)", args.val_fraction
    )
    check_plot(args.plot)
    loader_options(args)
    check_outputs([("--out", args.out), ("--plot", args.plot)], [("DATA", args.data)])
    check_device(args.device)
    if args.model is None:
        return args.task
    task = MODELS[args.model][1]
    if args.task is not None and args.task != task:
        raise UsageError(
            f"--model {args.model} learns a {task} target, but --task is {args.task}; "
            f"for --task {args.task} use --model {TASK_MODELS[args.task]} (or leave --model out)"
        )
    return task


def task_note(args: argparse.Namespace, ds: Any) -> str:
    """Where the task came from, its classes, and the flag that overrides it."""
    if args.task is not None:
        source = "--task"
    elif args.model is not None:
        source = f"--model {args.model}"
    else:
        others = [t for t in TASK_MODELS if t != ds.task]
        source = "inferred from the target; if wrong, pass " + " or ".join(
            f"--task {t}" for t in others
        )
    text = f"{ds.task} ({source})"
    if ds.classes_ is not None:
        shown = ", ".join(str(c) for c in list(ds.classes_)[:10])
        more = ", ..." if len(ds.classes_) > 10 else ""
        text += f"; {len(ds.classes_)} classes: {shown}{more}"
    return text


def _read_and_split(args: argparse.Namespace, task: str | None) -> tuple[Any, Any, Any]:
    """The whole dataset, its training part and its validation part (or None)."""
    from tabloader.datasets import read_dataset, split

    ds = read_dataset(
        args.data,
        target=column_ref(args.target),
        features=column_list(args.features),
        categorical=column_list(args.categorical) or [],
        task=task,
        missing=args.missing,
        **csv_kwargs(args),
    )
    if args.val_fraction == 0:
        return ds, ds, None
    train_ds, val_ds = split(
        ds,
        [1.0 - args.val_fraction, args.val_fraction],
        seed=args.seed,
        stratify=ds.task != "regression",
    )
    return ds, train_ds, val_ds


def _fit(
    args: argparse.Namespace, cls_name: str, train_ds: Any, val_ds: Any, show_bar: bool
) -> tuple[Any, float]:
    """Fit the trainer on ``train_ds`` (through worker processes with ``--num-workers``).

    The held-out ``val_ds`` (or None) is the trainer's validation set: its loss per epoch
    goes into ``history_`` (the ``--plot`` curve), watched by the stopping rule.
    """
    from tabloader import trainers

    est = getattr(trainers, cls_name)(**estimator_params(args), verbose=show_bar)
    fit_on: Any = train_ds
    workers = loader_options(args)
    if workers:
        from tabloader.loaders import make_loader

        fit_on = make_loader(
            train_ds,
            batch_size=trainers.resolve_batch_size(est.batch_size, len(train_ds)),
            shuffle=True,
            seed=args.seed,
            remainder="uneven",  # under torchrun: every row once per epoch
            **workers,
        )
    t0 = time.perf_counter()
    try:
        est.fit(fit_on, X_val=val_ds)
    except (ConnectionError, EOFError) as exc:
        if not workers:
            raise
        # the channel to a worker broke mid-batch: the worker died
        raise RuntimeFailure(
            f"lost a DataLoader worker process ({type(exc).__name__}: {exc}); it was killed, "
            "or ran out of memory"
        ) from exc
    return est, time.perf_counter() - t0


def _train(args: argparse.Namespace, task_given: str | None) -> int:
    from tabloader.trainers import is_main_process

    ds, train_ds, val_ds = _read_and_split(args, task_given)
    task = ds.task
    model = args.model or TASK_MODELS[task]
    cls_name = MODELS[model][0]
    main = is_main_process()  # under torchrun: only rank 0 prints and writes
    show_bar = main and not args.quiet and not args.json and isatty(sys.stderr)
    est, fit_seconds = _fit(args, cls_name, train_ds, val_ds, show_bar)
    if not main:
        return 0
    result = _results(args, est, ds, train_ds, val_ds, task)
    result.update(model=model, task=task, task_note=task_note(args, ds), fit_seconds=fit_seconds)
    if ds.classes_ is not None:
        result["class_labels"] = list(ds.classes_)
    if ds.n_dropped_:
        result["dropped_rows"] = ds.n_dropped_
    comparison = None
    if args.compare_sklearn:
        comparison = compare_with_sklearn(est, train_ds, val_ds, task)
        result["sklearn"] = comparison
    if args.out:
        with writing(f"--out {args.out}"):
            est.save(args.out, metadata={"data": data_spec(ds, args)})
        result["model_file"] = args.out
    if args.plot:
        _plot(est, args.plot, comparison)
        result["plot"] = args.plot
    if args.json:
        write_json(result)
    else:
        _print_train(result, comparison)
    return 0


def _results(
    args: argparse.Namespace, est: Any, ds: Any, train_ds: Any, val_ds: Any, task: str
) -> dict[str, Any]:
    """The sizes of the run and the fitted model's losses and metrics."""
    result: dict[str, Any] = {
        "model": args.model,
        "data": args.data,
        "rows": len(ds),
        "train_rows": len(train_ds),
        "val_rows": 0 if val_ds is None else len(val_ds),
        "features": ds.n_features,
        "classes": None if ds.classes_ is None else len(ds.classes_),
        "epochs": int(est.n_iter_),
    }
    result.update(evaluate(est, train_ds.features, raw_targets(train_ds), task, "train"))
    if val_ds is not None:
        result.update(evaluate(est, val_ds.features, raw_targets(val_ds), task, "val"))
    return result


def data_spec(ds: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What ``predict`` and ``evaluate`` need to rebuild the same features from another file:
    the columns, levels, missing policy, fill values and every feature's training mean
    (``--missing mean`` at prediction), the target, the task and the CSV options."""
    source_features: list[str] = []
    for name in ds.feature_names:
        base = name.split("=", 1)[0]
        if not ("=" in name and base in ds.categories_):
            base = name
        if base not in source_features:
            source_features.append(base)
    return {
        "source_features": source_features,
        "categories": {
            k: [v if isinstance(v, (str, int, float, bool)) else str(v) for v in lv]
            for k, lv in ds.categories_.items()
        },
        "fill_values": dict(ds.fill_values_),
        "missing": args.missing,
        "feature_means": dict(
            zip(ds.feature_names, ds.features.double().mean(0).tolist(), strict=True)
        ),
        "target": ds.target_name,
        "task": ds.task,
        "csv": csv_kwargs(args),
    }


# --------------------------------------------------------------------------- text output
_METRICS = ("accuracy", "r2", "rmse")


def _metric_rows(result: dict[str, Any], comparison: dict[str, Any] | None) -> list[dict]:
    """One row per split: tabloader's loss and metrics, scikit-learn's beside them."""
    rows = []
    for split_name in ("train", "val"):
        if f"{split_name}_loss" not in result:
            continue
        row = {"": split_name, "tabloader loss": result[f"{split_name}_loss"]}
        for m in _METRICS:
            if f"{split_name}_{m}" in result:
                row[f"tabloader {m}"] = result[f"{split_name}_{m}"]
        if comparison is not None:
            row["sklearn loss"] = comparison.get(f"{split_name}_loss")
            for m in _METRICS:
                if f"{split_name}_{m}" in comparison:
                    row[f"sklearn {m}"] = comparison[f"{split_name}_{m}"]
            row["loss diff"] = result[f"{split_name}_loss"] - comparison[f"{split_name}_loss"]
        rows.append(row)
    return rows


def _info_pairs(result: dict[str, Any], comparison: dict[str, Any] | None) -> list[tuple]:
    """The run's facts, as (name, value) pairs."""
    info: list[tuple[str, Any]] = [
        ("model", result["model"]),
        ("task", result["task_note"]),
        ("data", result["data"]),
        (
            "rows (train / val)",
            f"{result['rows']:,} ({result['train_rows']:,} / {result['val_rows']:,})",
        ),
        ("features", result["features"]),
    ]
    if result.get("dropped_rows"):
        info.append(("rows dropped (missing values)", result["dropped_rows"]))
    info += [("epochs", result["epochs"]), ("fit seconds", result["fit_seconds"])]
    if comparison is not None:
        info += [
            ("sklearn estimator", comparison["estimator"]),
            ("sklearn fit seconds", comparison["fit_seconds"]),
            (
                "fit time ratio (tabloader / sklearn)",
                result["fit_seconds"] / max(comparison["fit_seconds"], 1e-9),
            ),
            (
                "objective: tabloader / sklearn",
                f"{fmt(comparison['objective_tabloader'])} / {fmt(comparison['objective'])}",
            ),
            ("max |coef difference|", comparison["max_coef_diff"]),
        ]
    if "model_file" in result:
        info.append(("model saved to", result["model_file"]))
    if "plot" in result:
        info.append(("plot", result["plot"]))
    return info


def _print_train(result: dict[str, Any], comparison: dict[str, Any] | None) -> None:
    print(kv_table(_info_pairs(result, comparison)))
    print()
    print(format_table(_metric_rows(result, comparison)))


def _plot(est: Any, path: str, comparison: dict[str, Any] | None) -> None:
    """Training and validation loss per epoch (``history_``) as a PNG, written atomically.

    The validation curve is there when a split was held out (``--val-fraction``): the
    trainer got it as its validation set and recorded its loss every epoch.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = est.history_
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(hist)]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [h.get("train_loss") for h in hist], label="training loss", marker=".")
    if any(h.get("val_loss") is not None for h in hist):
        ax.plot(epochs, [h.get("val_loss") for h in hist], label="validation loss", marker=".")
    if comparison is not None:
        ax.axhline(comparison["objective"], color="k", ls="--", lw=1, label="scikit-learn optimum")
    ax.set_xlabel("epoch")
    ax.set_ylabel("objective (mean loss + L2 term)")
    ax.set_title(f"{type(est).__name__}")
    ax.legend()
    with writing(f"--plot {path}"):
        save_figure(fig, path)
