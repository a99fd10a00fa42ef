"""Matrix products in full float32 wherever the package computes (numerics.MATMUL_PRECISION).

JAX's default precision lets a GPU use TensorFloat-32 (and a TPU bfloat16) for
float32 products; on an H200 that left trained networks several times less
accurate than on a CPU. The precision is fixed when a function is traced, so
these tests read it from the traced programs (jaxprs) on any platform: every
dot_general of a loaded model's functions, of the training loop's loss and of
the sampler must carry Precision.HIGHEST. Each test also checks that the same
computation traced without the package's setting carries JAX's default, so
that the check can fail.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists import runtime
from nnef_dists.families import get_family
from nnef_dists.models import Normalization, build_model, load_model, model_record
from nnef_dists.models.directory import write_model
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.sampling import SamplingConfig
from nnef_dists.sampling.mcmc import eta_keys, mcmc_batch
from nnef_dists.training import parse_train_config, trainer
from nnef_dists.training.config import LoopConfig
from nnef_dists.training.loop import fit_module


@pytest.fixture(autouse=True)
def jax_default_precision():
    """Each test starts from JAX's default (an earlier test's ``nnef`` command may have
    set the global option in this process) and leaves the option as it found it."""
    before = jax.config.jax_default_matmul_precision
    jax.config.update("jax_default_matmul_precision", None)
    yield
    jax.config.update("jax_default_matmul_precision", before)


def dot_precisions(jaxpr) -> list:
    """The precision of every dot_general in a (closed) jaxpr, sub-jaxprs included."""
    found = []
    for eqn in jaxpr.jaxpr.eqns if hasattr(jaxpr, "jaxpr") else jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(eqn.params["precision"])
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                if hasattr(sub, "eqns") or hasattr(sub, "jaxpr"):
                    found.extend(dot_precisions(sub))
    return found


def all_highest(precisions) -> bool:
    return bool(precisions) and all(
        p is not None and all(q == jax.lax.Precision.HIGHEST for q in p) for p in precisions
    )


@pytest.mark.parametrize("name", ["mlp_et", "potential_et", "glow_et"])
def test_a_loaded_model_computes_its_products_in_full_float32(tmp_path, name):
    config = parse_train_config({"model": name, "data": "x.pkl"})
    model = build_model(config, 2, Normalization.identity(2))
    train_eta = np.random.default_rng(0).normal(size=(40, 2))
    write_model(tmp_path, model, model_record(model, config, None, ["a", "b"], train_eta))
    loaded = load_model(tmp_path)
    eta = jnp.asarray(train_eta[:5], jnp.float32)
    for method in loaded.provides:
        traced = jax.make_jaxpr(getattr(loaded, method))(eta)
        assert all_highest(dot_precisions(traced)), method
    bare = jax.make_jaxpr(jax.vmap(model.mu_T))(eta)  # the module itself: JAX's default
    assert dot_precisions(bare) and not all_highest(dot_precisions(bare))


def test_the_training_loop_traces_its_loss_in_full_float32():
    seen = []

    def loss(module, rows, _key):
        seen.append(jax.config.jax_default_matmul_precision)
        return jnp.mean((module(rows[0]) - rows[1]) ** 2)

    x = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]
    config = LoopConfig(epochs=1, lr=0.01, batch_size=16, patience=1)
    fit_module(nnx.Linear(1, 1, rngs=nnx.Rngs(0)), loss, (x, x), (x, x), config, progress=False)
    assert seen and set(seen) == {"highest"}
    assert jax.config.jax_default_matmul_precision is None  # restored afterwards


def test_the_sampler_computes_its_products_in_full_float32():
    """multivariate_normal_tril's log density has x^T Lambda x: products in every step."""
    family = get_family("multivariate_normal_tril", d=2)
    config = SamplingConfig(num_samples=10, num_warmup=10, num_chains=2, chunk_size=2)
    eta = jnp.asarray(family.reparam_eta(np.zeros((2, family.eta_dim))), jnp.float32)
    keys = eta_keys(jax.random.key(0), jnp.arange(2))
    traced = jax.make_jaxpr(mcmc_batch, static_argnums=(0, 1))(family, config, keys, eta)
    assert all_highest(dot_precisions(traced))
    unwrapped = jax.make_jaxpr(mcmc_batch.__wrapped__, static_argnums=(0, 1))
    assert not all_highest(dot_precisions(unwrapped(family, config, keys, eta)))


def test_the_polish_after_the_loop_runs_in_full_float32(monkeypatch):
    """trainer.fit: the L-BFGS polish (outside the loop) under the same setting."""
    seen = []

    def polish(*args, **kwargs):
        seen.append(jax.config.jax_default_matmul_precision)
        return 0.0

    monkeypatch.setattr(trainer, "polish", polish)
    rng = np.random.default_rng(0)
    eta = rng.normal(size=(64, 2)).astype(np.float32)
    rows = {"eta": eta, "mu_T": eta, "cov_TT": np.tile(np.eye(2), (64, 1, 1)), "ess": eta * 0 + 1e3}
    config = parse_train_config(
        {"model": "mlp_et", "data": "x.pkl", "epochs": 1, "hidden_sizes": [8], "polish_steps": 2}
    )
    model = build_model(config, 2, Normalization.from_data(eta, eta))
    split = {name: value[:32] for name, value in rows.items()}
    trainer.fit(model, split, split, config, progress=False)
    assert seen == ["highest"]


def test_the_evaluation_runs_in_full_float32(monkeypatch):
    evaluation = importlib.import_module("nnef_dists.training.evaluate")  # the module
    seen = []

    def stop(fn, eta):
        seen.append(jax.config.jax_default_matmul_precision)
        raise StopIteration

    monkeypatch.setattr(evaluation, "_batched", stop)

    class Model:
        record = {"architecture": {"seed": 0}}
        mu_T = None  # never called: _batched stops first

    rows = np.zeros((20, 2))
    data = {"eta": rows, "mu_T": rows, "cov_TT": np.zeros((20, 2, 2)), "ess": rows + 1}
    with pytest.raises(StopIteration):
        evaluation.evaluate(Model(), data)
    assert seen == ["highest"]


def test_commands_set_full_float32_unless_a_precision_is_chosen():
    runtime.use_full_precision_matmuls()
    assert jax.config.jax_default_matmul_precision == "highest"
    jax.config.update("jax_default_matmul_precision", "tensorfloat32")  # the user's choice
    runtime.use_full_precision_matmuls()
    assert jax.config.jax_default_matmul_precision == "tensorfloat32"


def test_a_precision_the_user_chose_is_kept():
    @full_precision_matmuls
    def product(a):
        return a @ a

    with jax.default_matmul_precision("tensorfloat32"):
        precisions = dot_precisions(jax.make_jaxpr(product)(jnp.ones((3, 3))))
    assert precisions and not all_highest(precisions)


def test_the_setting_holds_only_while_the_function_runs():
    @full_precision_matmuls
    def product(a):
        return a @ a

    a = jnp.ones((3, 3))
    assert all_highest(dot_precisions(jax.make_jaxpr(product)(a)))
    assert dot_precisions(jax.make_jaxpr(lambda a: a @ a)(a)) == [None]
