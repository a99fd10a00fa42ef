"""Running a CAVI example config: two sets of providers side by side (``nnef cavi``).

The ``run`` providers (float32) and the ``reference`` providers (float64)
each solve the example of the config (``examples``); ``run_example`` returns
the posterior means and variances of mu and tau of both with their
differences, and for normal_gamma the closed-form fixed point too, with the
sweeps, ELBO, extrapolated iterates and time of each run. A network
provider whose model directory is missing is trained first (unless
``train=False``: then it is an error naming the command that trains it):
mlp_et on quadrature data over the box of the exact-provider iterates
(``networks.train_network``). A network answers inside its training domain,
its fallback (the config's ``fallback``, exact by default) outside it.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from nnef_dists.errors import ConfigError, ModelDirError
from nnef_dists.inference import examples as ex
from nnef_dists.inference import providers
from nnef_dists.inference.cavi import cavi
from nnef_dists.inference.config import CaviConfig, ProviderConfig, load_cavi_config
from nnef_dists.inference.networks import covering_box, train_network
from nnef_dists.models import load_model
from nnef_dists.models.directory import CONFIG_FILE


def build_problem(config: CaviConfig) -> ex.Problem:
    """The example of the config, with its data simulated or given."""
    data = config.data
    values = (
        np.asarray(data.values, np.float64)
        if data.values is not None
        else ex.simulate_data(data.num_points, data.mu, data.tau, data.seed)
    )
    mu, tau = config.prior.mu, config.prior.tau
    if config.example == "normal_gamma":
        return ex.normal_gamma(values, mu.mean, mu.sd, tau.shape, tau.rate)
    return ex.polynomial_prior(values, mu.coefficients, tau.shape, tau.rate)


def build_provider(spec: ProviderConfig, family, where: str, source: str) -> providers.Provider:
    """The provider of a config entry; a missing or mismatched model directory is a ConfigError."""
    if spec.kind == "exact":
        return providers.exact(family)
    if spec.kind == "mc":
        return providers.mc(family, spec.sampling)
    directory = Path(spec.model)
    if not (directory / CONFIG_FILE).exists():
        raise ConfigError(
            f"{source}: {where}.model: no trained model at {directory}; train it with "
            f"`nnef cavi --config {source}` (without --no-train)"
        )
    try:
        model = load_model(directory)
    except ModelDirError as err:
        raise ConfigError(f"{source}: {where}.model: {err}") from None
    if model.family is not None and model.family.name != family.name:
        raise ConfigError(
            f"{source}: {where}.model: {directory} was trained on {model.family.name}, "
            f"this provider needs {family.name}"
        )
    fallback = {None: "exact", "none": None}.get(spec.fallback, spec.fallback)
    return providers.network(model, fallback=fallback)


def run_cavi(problem: ex.Problem, px, py, solver, seed: int, float64: bool) -> dict:
    """CAVI on the problem: the result (NumPy), seconds with and without compilation."""
    dtype = np.float64 if float64 else np.float32
    args = [np.asarray(a, dtype) for a in (problem.eta_x0, problem.eta_y0)]
    model = type(problem.model)(*(np.asarray(a, dtype) for a in problem.model))
    key = jax.random.key(seed)
    times = []
    with jax.enable_x64(float64):
        for _ in range(2):  # the first call compiles
            start = time.perf_counter()
            res = cavi(model, px, py, *args, solver.tol, solver.max_iter, solver.damping, key=key)
            res = jax.tree.map(np.asarray, jax.block_until_ready(res))
            times.append(time.perf_counter() - start)
    return {
        "result": res,
        "seconds_first": times[0],
        "seconds": times[1],
        "dtype": np.dtype(dtype).name,
    }


def train_missing(config: CaviConfig, problem: ex.Problem, source: str) -> None:
    """Train every missing network of ``run`` and ``reference`` on the exact iterates' box."""
    families = {"x": problem.family_x, "y": problem.family_y}
    exact = {name: providers.exact(family) for name, family in families.items()}
    trace = None
    for where in ("run", "reference"):
        for name, family in families.items():
            spec = getattr(getattr(config, where), name)
            if spec.kind != "network" or (Path(spec.model) / CONFIG_FILE).exists():
                continue
            if trace is None:
                trace = run_cavi(problem, exact["x"], exact["y"], config.solver, 0, True)
                trace = trace["result"].trace
            # Row 0 of x is never used by the iterates (x is updated first).
            etas = getattr(trace, f"eta_{name}")[1 if name == "x" else 0 :]
            lo, hi = covering_box(family, etas)
            print(f"training {spec.model} ({family.name}, eta in [{lo}, {hi}]) ...", flush=True)
            print(train_network(family, lo, hi, spec.model), flush=True)


def summarize(problem: ex.Problem, eta_x, eta_y) -> dict:
    """Posterior mean and variance of mu and tau of q = (family_x(eta_x), family_y(eta_y))."""
    mx, vx = ex.summary(problem.family_x, eta_x, ex.X_INDEX[problem.family_x.name])
    my, vy = ex.summary(problem.family_y, eta_y, ex.X_INDEX[problem.family_y.name])
    return {"E[mu]": mx, "Var[mu]": vx, "E[tau]": my, "Var[tau]": vy}


def report(config, problem, names, runs, closed_form) -> str:
    """The side-by-side table of the two runs (and the closed form)."""
    data = problem.data
    lines = [
        f"{problem.name}: N = {data.size} observations (mean {data.mean():.4g}, "
        f"sd {data.std():.4g})",
        *(f"{label:>9}: x {px.name}, y {py.name}" for label, (px, py) in names.items()),
        "",
    ]
    columns = ["run", "reference", "difference"] + (["closed form"] if closed_form else [])
    lines.append(f"{'':>22}" + "".join(f"{c:>15}" for c in columns))
    summaries = [summarize(problem, r["result"].eta_x, r["result"].eta_y) for r in runs]
    for key in summaries[0]:
        values = [s[key] for s in summaries]
        values.append(values[0] - values[1])
        if closed_form:
            values.append(closed_form[key])
        lines.append(f"{key:>22}" + "".join(f"{v:15.7g}" for v in values))
    results = [r["result"] for r in runs]
    rows = {
        "ELBO": [float(r.elbo + problem.const) for r in results],
        "sweeps": [int(r.num_iter) for r in results],
        "converged": [bool(r.converged) for r in results],
        "diverged": [bool(r.diverged) for r in results],
        "out of domain (x, y)": [tuple(int(n) for n in r.out_of_range) for r in results],
        "fallbacks (x, y)": [tuple(int(n) for n in r.fallbacks) for r in results],
        "seconds (compiled)": [r["seconds"] for r in runs],
        "seconds (1st call)": [r["seconds_first"] for r in runs],
    }
    for key, values in rows.items():
        cells = [f"{v:15.6g}" if isinstance(v, float) else f"{v!s:>15}" for v in values]
        lines.append(f"{key:>22}" + "".join(cells))
    lines.append(
        f"(run in {runs[0]['dtype']}, reference in {runs[1]['dtype']}; tol {config.solver.tol:g}, "
        f"max_iter {config.solver.max_iter}; ELBO NaN without both log-partitions)"
    )
    return "\n".join(lines)


def run_example(config_path, train: bool = True) -> dict:
    """Run a CAVI config: dict(problem, names, runs, summaries, closed_form, report).

    ``summaries`` holds the posterior summaries of the run and of the
    reference; ``report`` is the printed table. Raises ConfigError.
    """
    config = load_cavi_config(config_path)
    problem = build_problem(config)
    if train:
        train_missing(config, problem, config_path)
    families = {"x": problem.family_x, "y": problem.family_y}
    names, runs = {}, []
    for where in ("run", "reference"):
        specs = getattr(config, where)
        pair = [
            build_provider(getattr(specs, n), f, f"{where}.{n}", config_path)
            for n, f in families.items()
        ]
        names[where] = pair
        runs.append(run_cavi(problem, *pair, config.solver, config.seed, where == "reference"))
    closed_form = None
    if problem.name == "normal_gamma":
        mu, tau = config.prior.mu, config.prior.tau
        eta = ex.normal_gamma_fixed_point(problem.data, mu.mean, mu.sd, tau.shape, tau.rate)
        closed_form = summarize(problem, *eta)
    return {
        "problem": problem,
        "runs": runs,
        "summaries": [summarize(problem, r["result"].eta_x, r["result"].eta_y) for r in runs],
        "closed_form": closed_form,
        "report": report(config, problem, names, runs, closed_form),
    }
