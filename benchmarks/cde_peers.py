"""``nnef cde`` beside its peers, on the same CSV files, splits and flow sizes.

Peers:

- smolcde: the compiled C command line (MAF), built here from its source
  (``--smolcde-src``) with ``cc -O3 -ffast-math -march=native``; skipped with
  a note when the source or a C compiler is missing. It has no log-density
  command, so its test NLL is computed here in NumPy from the saved weights
  (``SmolcdeMAF``, checked against the training NLL the tool prints).
- flowjax (the ``bench`` extra): ``masked_autoregressive_flow`` trained by
  ``fit_to_data`` in this process on features and params standardised with
  the training rows' statistics (what a flowjax user does by hand), with the
  same validation share and patience as nnef; its NLL is converted to raw units.

nnef and smolcde run as commands on the CSV files (``train``, then ``infer
--mode stats``), each timed whole: start-up, compilation, reading and writing.
Samples per second are those of the ``infer`` command (test rows x draws /
seconds) and, for nnef and flowjax, of the compiled sampler in this process
(second call; ``sample/s warm``). Per-epoch time: the training loop's seconds
over its epochs (smolcde: the whole command).

Cases (every tool gets the same epochs, lr, batch, blocks and width):

1. digits: scikit-learn's 8x8 digits as raw pixel CSVs (counts 0-16, constant
   columns included); params: the one-hot class plus N(0, 0.05^2) noise; a
   random 80/20 split. smolcde's tutorial settings: 500 epochs, lr 2e-4,
   width 128, 6 blocks, batch 64. Accuracy: argmax of the posterior mean
   (200 draws per test image).
2. lorenz: the Lorenz-63 spectra of ``benchmarks/cde.py`` (65 log-power
   features -> sigma, rho, beta; 800 runs to train, 200 held out), 500 epochs.
3. mixture: p(y | x) = 0.5 N(m(x), s(x)^2 I) + 0.5 N(-m(x), s(x)^2 I), y in R^2,
   m(x) = (2 x0, sin 3 x1), s(x) = 0.2 + 0.2 |x0|, x uniform on [-1, 1]^2; the
   CSV holds x0, 1000 x1 and a constant column (scales a user brings). Its
   true test NLL is exact.

    python benchmarks/cde_peers.py [--cases digits,lorenz,mixture] [--seeds 0,1,2]
        [--smolcde-src DIR] [--feature-noise default,0,0.8] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from cde import lorenz_data  # benchmarks/cde.py, beside this script
from nnef_dists.flows import ConditionalDensityEstimator

STATS_DRAWS = 200
#: Compiled sampling is timed as the fastest of this many calls (a single call of a
#: few tenths of a second varied by up to 1.5x on the shared machine).
WARM_REPEATS = 5


@dataclass
class Case:
    """One benchmark case: raw CSV-ready arrays, flow settings and what to score."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    settings: dict  # epochs, lr, hidden, blocks, batch
    labels: np.ndarray | None = None  # digits: the test classes
    true_nll: float | None = None


@dataclass
class Result:
    tool: str
    nll: float = float("nan")
    accuracy: float | None = None
    train_s: float = float("nan")
    epoch_ms: float = float("nan")
    epochs: int = 0
    cli_rate: float = float("nan")
    warm_rate: float = float("nan")
    parameters: int = 0
    notes: list = field(default_factory=list)


# -- cases --------------------------------------------------------------------------------


def split(n, seed, test_share=0.2):
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(test_share * n)
    return order[n_test:], order[:n_test]


def digits_case(quick):
    from sklearn.datasets import load_digits

    pixels, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    params = np.eye(10)[labels] + 0.05 * rng.standard_normal((len(labels), 10))
    train, test = split(len(labels), 0)
    settings = dict(epochs=50 if quick else 500, lr=2e-4, hidden=128, blocks=6, batch=64)
    return Case(
        "digits",
        pixels[train],
        params[train],
        pixels[test],
        params[test],
        settings,
        labels=labels[test],
    )


def lorenz_case(quick):
    features, theta = lorenz_data(runs=1000)
    settings = dict(epochs=50 if quick else 500, lr=1e-3, hidden=64, blocks=5, batch=32)
    return Case("lorenz", features[:800], theta[:800], features[800:], theta[800:], settings)


def mixture_log_prob(y, x):
    """Exact log p(y | x) of the mixture case: y (N, 2), x (N, 2) -> (N,)."""
    m = np.stack([2 * x[:, 0], np.sin(3 * x[:, 1])], axis=1)
    s = 0.2 + 0.2 * np.abs(x[:, 0])
    log_norm = -np.log(2 * np.pi * s**2)
    a = log_norm - 0.5 * np.sum((y - m) ** 2, 1) / s**2
    b = log_norm - 0.5 * np.sum((y + m) ** 2, 1) / s**2
    return np.logaddexp(a, b) + np.log(0.5)


def mixture_case(quick, n=5000):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (n, 2))
    m = np.stack([2 * x[:, 0], np.sin(3 * x[:, 1])], axis=1)
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    y = sign * m + (0.2 + 0.2 * np.abs(x[:, :1])) * rng.standard_normal((n, 2))
    raw = np.column_stack([x[:, 0], 1000 * x[:, 1], np.full(n, 7.0)])
    train, test = split(n, 3)
    settings = dict(epochs=30 if quick else 200, lr=1e-3, hidden=64, blocks=5, batch=64)
    true_nll = -float(np.mean(mixture_log_prob(y[test], x[test])))
    return Case("mixture", raw[train], y[train], raw[test], y[test], settings, true_nll=true_nll)


CASES = {"digits": digits_case, "lorenz": lorenz_case, "mixture": mixture_case}


# -- helpers ------------------------------------------------------------------------------


def write_csvs(case, folder):
    paths = {}
    for name in ("x_train", "y_train", "x_test"):
        paths[name] = folder / f"{case.name}_{name}.csv"
        np.savetxt(paths[name], getattr(case, name), fmt="%.7g", delimiter=",")
    return paths


def timed(command):
    """Seconds a command takes; its output on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def warm_rate(sample, draws, repeats=WARM_REPEATS):
    """draws per second of the fastest of ``repeats`` calls sample(i), i = 1, 2, ..."""
    seconds = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        sample(i)
        seconds.append(time.perf_counter() - start)
    return draws / min(seconds)


def posterior_means(stats_csv, rows, dim):
    """The 'mean' rows of an ``infer --mode stats`` CSV (either tool): (rows, dim)."""
    table = np.genfromtxt(stats_csv, delimiter=",", dtype=str, skip_header=1)
    means = table[table[:, 1] == "mean"]
    out = np.empty((rows, dim))
    out[means[:, 0].astype(int)] = means[:, 2:].astype(float)
    return out


def score(result, case, means):
    if case.labels is not None:
        result.accuracy = float(np.mean(means.argmax(1) == case.labels))


# -- the tools ----------------------------------------------------------------------------


def run_nnef(case, paths, folder, seed, noise="default"):
    """nnef cde train and infer, timed whole; noise: a --feature-noise, or "default" (none
    given: "auto")."""
    s = case.settings
    result = Result("nnef" if noise == "default" else f"nnef --feature-noise {noise}")
    model = folder / f"{case.name}_nnef_{seed}_{noise}"
    cli = [sys.executable, "-m", "nnef_dists.cli", "cde"]
    result.train_s, _ = timed(
        cli
        + ["train", "--features", paths["x_train"], "--params", paths["y_train"]]
        + ["--out", model, "--flow", "maf", "--hidden", str(s["hidden"])]
        + ["--blocks", str(s["blocks"]), "--epochs", str(s["epochs"]), "--lr", str(s["lr"])]
        + ["--batch", str(s["batch"]), "--seed", str(seed), "--force", "--quiet"]
        + (["--feature-noise", noise] if noise != "default" else [])
    )
    stats = folder / f"{case.name}_nnef_stats.csv"
    seconds, _ = timed(
        cli
        + ["infer", "--model", model, "--features", paths["x_test"], "--out", stats]
        + ["--mode", "stats", "--samples", str(STATS_DRAWS), "--force", "--quiet"]
    )
    result.cli_rate = len(case.x_test) * STATS_DRAWS / seconds
    score(result, case, posterior_means(stats, len(case.x_test), case.y_test.shape[1]))
    history = json.loads((model / "history.json").read_text())
    result.epochs = history["epochs_run"]
    result.epoch_ms = 1e3 * history["seconds"] / result.epochs
    est = ConditionalDensityEstimator.load(model)
    result.nll = -float(np.mean(est.log_prob(case.y_test, case.x_test)))
    result.parameters = sum(p.size for p in jax.tree.leaves(nnx.state(est.flow_module, nnx.Param)))
    est.sample(jax.random.key(0), case.x_test, STATS_DRAWS)  # compile
    draws = len(case.x_test) * STATS_DRAWS
    result.warm_rate = warm_rate(
        lambda i: est.sample(jax.random.key(i), case.x_test, STATS_DRAWS), draws
    )
    return result


class SmolcdeMAF:
    """log p(params | features) of a smolcde model file (format MAF1), in NumPy.

    Each of the n layers permutes u, runs a one-hidden-layer MADE
    h = tanh(u W1y*M1 + c W1c + b1), (mu, alpha) = h (W2*M2) + c W2c + b2
    with alpha clipped to [-7, 7], and maps u -> (u - mu) exp(-alpha); the
    base is N(0, I).
    """

    def __init__(self, path):
        raw = Path(path).read_bytes()
        if raw[:4] != b"MAF1":
            raise ValueError(f"{path} is not a smolcde model file")
        n, d, c, h = (int(v) for v in np.frombuffer(raw, np.uint16, 4, 4))
        self.offset, self.raw, self.dim = 12, raw, d
        take = self._take
        m1, m2 = take(np.float32, n, h, d), take(np.float32, n, d, h)
        self.perm = take(np.uint16, n, d).astype(int)
        take(np.uint16, n, d)  # the inverse permutations
        self.w1 = take(np.float32, n, h, d) * m1
        self.w1c = take(np.float32, n, h, c)
        self.b1 = take(np.float32, n, h)
        self.w2 = take(np.float32, n, 2 * d, h) * np.tile(m2, (1, 2, 1))
        self.w2c = take(np.float32, n, 2 * d, c)
        self.b2 = take(np.float32, n, 2 * d)
        if self.offset != len(raw):
            raise ValueError(f"{path}: {len(raw) - self.offset} bytes left over")

    def _take(self, dtype, *shape):
        count = int(np.prod(shape))
        out = np.frombuffer(self.raw, dtype, count, self.offset).reshape(shape)
        self.offset += count * np.dtype(dtype).itemsize
        return out.astype(np.float64) if dtype == np.float32 else out

    def log_prob(self, params, features):
        """(N, D), (N, C) -> (N,)."""
        u, log_det = np.asarray(params, np.float64), 0.0
        for k in range(len(self.perm)):
            u = u[:, self.perm[k]]
            h = np.tanh(u @ self.w1[k].T + features @ self.w1c[k].T + self.b1[k])
            out = h @ self.w2[k].T + features @ self.w2c[k].T + self.b2[k]
            mu, alpha = out[:, : self.dim], np.clip(out[:, self.dim :], -7, 7)
            u = (u - mu) * np.exp(-alpha)
            log_det = log_det - alpha.sum(1)
        return -0.5 * np.sum(u**2, 1) - 0.5 * self.dim * np.log(2 * np.pi) + log_det


def build_smolcde(source, folder):
    """The smolcde binary, or None with the reason."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if source is None:
        return None, "smolcde skipped: no --smolcde-src"
    source = source.resolve()
    if not (source / "main.c").exists():
        return None, f"smolcde skipped: no source at {source}"
    if compiler is None:
        return None, "smolcde skipped: no C compiler"
    binary = folder / "smolcde"
    flags = ["-O3", "-ffast-math", "-march=native", "-std=gnu99"]
    timed([compiler, *flags, "-o", binary, source / "main.c", source / "maf.c", "-lm"])
    return binary, None


def run_smolcde(binary, case, paths, folder, seed):
    s, result = case.settings, Result("smolcde (C)")
    model = folder / f"{case.name}_smolcde.maf"
    result.train_s, log = timed(
        [binary, "train", "--features", paths["x_train"], "--params", paths["y_train"]]
        + ["--out", model, "--hidden", str(s["hidden"]), "--blocks", str(s["blocks"])]
        + ["--epochs", str(s["epochs"]), "--lr", str(s["lr"]), "--batch", str(s["batch"])]
        + ["--seed", str(42 + seed)]
    )
    result.epochs = s["epochs"]
    result.epoch_ms = 1e3 * result.train_s / result.epochs
    stats = folder / f"{case.name}_smolcde_stats.csv"
    seconds, _ = timed(
        [binary, "infer", "--model", model, "--features", paths["x_test"], "--out", stats]
        + ["--mode", "stats", "--samples", str(STATS_DRAWS)]
    )
    result.cli_rate = len(case.x_test) * STATS_DRAWS / seconds
    score(result, case, posterior_means(stats, len(case.x_test), case.y_test.shape[1]))
    maf = SmolcdeMAF(model)
    result.nll = -float(np.mean(maf.log_prob(case.y_test, case.x_test)))
    result.parameters = sum(a.size for a in (maf.w1, maf.w1c, maf.b1, maf.w2, maf.w2c, maf.b2))
    printed = re.findall(r"Avg NLL = (-?[0-9.]+)", log)
    train_nll = -float(np.mean(maf.log_prob(case.y_train, case.x_train)))
    result.notes.append(
        f"smolcde {case.name}: training NLL {train_nll:.3f} from its weights here, "
        f"{float(printed[-1]):.3f} printed by the tool over its last epoch"
    )
    return result


def run_flowjax(case, seed):
    import equinox as eqx
    import jax.numpy as jnp
    import paramax
    from flowjax.distributions import Normal
    from flowjax.flows import masked_autoregressive_flow
    from flowjax.train import fit_to_data

    s, result = case.settings, Result("flowjax")
    x_mean, x_std = case.x_train.mean(0), case.x_train.std(0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    y_mean, y_std = case.y_train.mean(0), case.y_train.std(0)
    x, y = (case.x_train - x_mean) / x_std, (case.y_train - y_mean) / y_std
    x_test = jnp.asarray((case.x_test - x_mean) / x_std, jnp.float32)
    key, fit_key, sample_key = jax.random.split(jax.random.key(seed), 3)
    flow = masked_autoregressive_flow(
        key,
        base_dist=Normal(jnp.zeros(y.shape[1])),
        cond_dim=x.shape[1],
        flow_layers=s["blocks"],
        nn_width=s["hidden"],
        nn_depth=2,
    )
    start = time.perf_counter()
    flow, losses = fit_to_data(
        fit_key,
        flow,
        (jnp.asarray(y, jnp.float32), jnp.asarray(x, jnp.float32)),
        learning_rate=s["lr"],
        max_epochs=s["epochs"],
        max_patience=20,
        batch_size=s["batch"],
        val_prop=0.2,
        show_progress=False,
    )
    result.train_s = time.perf_counter() - start
    result.epochs = len(losses["train"])
    result.epoch_ms = 1e3 * result.train_s / result.epochs
    y_test = jnp.asarray((case.y_test - y_mean) / y_std, jnp.float32)
    log_q = np.asarray(eqx.filter_jit(flow.log_prob)(y_test, x_test))
    result.nll = -float(np.mean(log_q)) + float(np.sum(np.log(y_std)))
    frozen = lambda leaf: isinstance(leaf, paramax.NonTrainable)  # noqa: E731
    trainable = eqx.partition(flow, eqx.is_inexact_array, is_leaf=frozen)[0]  # as fit_to_data
    result.parameters = sum(a.size for a in jax.tree.leaves(trainable))
    draw = eqx.filter_jit(lambda k: flow.sample(k, (STATS_DRAWS,), condition=x_test))
    means = np.asarray(draw(sample_key)).mean(0) * y_std + y_mean  # compiles
    draws = len(case.x_test) * STATS_DRAWS
    result.warm_rate = warm_rate(
        lambda i: jax.block_until_ready(draw(jax.random.fold_in(sample_key, i))), draws
    )
    score(result, case, means)
    return result


# -- the table ----------------------------------------------------------------------------

HEADER = (
    "| case | seed | tool | test NLL | vs best | accuracy | train s | epochs | ms/epoch "
    "| sample/s (infer) | sample/s (warm) | parameters |"
)


def rows(case, seed, results):
    best = min(r.nll for r in results)
    for r in results:
        reference = f"{r.nll - best:+.3f}"
        if case.true_nll is not None:
            reference += f" (true {case.true_nll:.3f})"
        accuracy = "" if r.accuracy is None else f"{r.accuracy:.2%}"
        yield (
            f"| {case.name} | {seed} | {r.tool} | {r.nll:.3f} | {reference} | {accuracy} "
            f"| {r.train_s:.1f} | {r.epochs} | {r.epoch_ms:.1f} | {_rate(r.cli_rate)} "
            f"| {_rate(r.warm_rate)} | {r.parameters:,} |"
        )


def _rate(value):
    return "-" if np.isnan(value) else f"{value:.3g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument(
        "--smolcde-src", type=Path, help="folder with smolcde's main.c and maf.c (else skipped)"
    )
    parser.add_argument(
        "--feature-noise",
        default="default",
        help="comma-separated values of nnef's --feature-noise (numbers, auto, or default: "
        "the flag not given), one row each",
    )
    parser.add_argument("--quick", action="store_true", help="few epochs: a smoke run")
    args = parser.parse_args()
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        binary, skipped = build_smolcde(args.smolcde_src, folder)
        notes += [skipped] if skipped else []
        try:
            import flowjax  # noqa: F401
        except ImportError:
            notes.append("flowjax skipped: not installed (pip install -e '.[bench]')")
            flowjax = None
        table = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
        for name in args.cases.split(","):
            case = CASES[name](args.quick)
            paths = write_csvs(case, folder)
            for seed in (int(s) for s in args.seeds.split(",")):
                results = [
                    run_nnef(case, paths, folder, seed, noise)
                    for noise in args.feature_noise.split(",")
                ]
                if binary is not None:
                    results.append(run_smolcde(binary, case, paths, folder, seed))
                if flowjax is not None:
                    results.append(run_flowjax(case, seed))
                table += rows(case, seed, results)
                notes += [n for r in results for n in r.notes]
                print("\n".join(table[-len(results) :]), flush=True)
    print("\n" + "\n".join(table))
    print("\n".join(["", *notes]))


if __name__ == "__main__":
    main()
