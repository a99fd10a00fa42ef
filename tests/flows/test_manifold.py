"""Flows on manifolds (flows/manifold.py, spaces.py, charts.py, sphere.py, gaussianization.py,
planar.py), parametrised over the layer registry of every block kind: inverses round-trip,
log-determinants equal slogdet(jax.jacobian) in the chart (and the charts keep the
manifold's volume), densities integrate to 1 by quadrature, samples lie on the manifold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.flows import FlowConfig
from nnef_dists.flows.charts import IntervalChart, SimplexChart, SphereChart
from nnef_dists.flows.manifold import BLOCK_LAYERS, parse_layers
from nnef_dists.flows.spaces import euclidean_columns, on_manifold, parse_manifold
from nnef_dists.flows.sphere import wrap
from tests.flows.conftest import check_bijection, perturb

CONTEXT = 2
CONFIG = FlowConfig(hidden=16, bins=5, bound=2.0, components=4)
#: (block kind, dimension, letter, layer index): every registered layer; S^2 at both parities
LAYER_CASES = [
    (kind, n, letter, index)
    for kind, (layers, _) in BLOCK_LAYERS.items()
    if kind in "es"
    for n in ((1, 2) if kind == "s" else (3,))
    for letter in layers
    for index in ((0, 1) if (kind, n) == ("s", 2) else (0,))
]


def _layer(kind, n, letter, index, seed=0, scale=0.3):
    build = BLOCK_LAYERS[kind][0][letter]
    layer = build(n, CONTEXT, CONFIG, np.arange(n)[::-1], index, nnx.Rngs(seed))
    return perturb(layer, jax.random.key(seed + 1), scale)


def _chart_points(kind, n, count, seed):
    """Points of the layer's coordinates: R^n, or sphere angles (t in (-1, 1), phi)."""
    key = jax.random.key(seed)
    if kind == "e":
        return 2.0 * jax.random.normal(key, (count, n))
    u = jax.random.uniform(key, (count, n), minval=-0.95, maxval=0.95)
    return u * jnp.array([1.0, jnp.pi][2 - n :])


def _difference(a, b, kind):
    """a - b, angles (the last coordinate of sphere coordinates) taken mod 2 pi."""
    d = a - b
    return d.at[..., -1].set(wrap(d[..., -1])) if kind == "s" else d


@pytest.mark.parametrize(("kind", "n", "letter", "index"), LAYER_CASES)
def test_layer_inverse_and_logdet_in_chart(kind, n, letter, index):
    with jax.enable_x64(True):
        layer = _layer(kind, n, letter, index)
        x = _chart_points(kind, n, 6, seed=1)
        c = jax.random.normal(jax.random.key(2), (6, CONTEXT))

        check_bijection(layer, x, c, 1e-10, lambda a, b: _difference(a, b, kind))


@pytest.mark.parametrize(("kind", "n", "letter", "index"), LAYER_CASES)
def test_layer_inverse_in_float32(kind, n, letter, index):
    """1e-5 in float32, on layers perturbed as a trained one is (|dx/dz| up to 70 here): a
    round trip cannot beat eps |z| |dx/dz|, and at scale 0.3 some points reach 1e5."""
    layer = _layer(kind, n, letter, index, scale=0.1)
    x = _chart_points(kind, n, 64, seed=3)
    c = jax.random.normal(jax.random.key(4), (64, CONTEXT))
    back = jax.jit(lambda x, c: layer.inverse(layer.forward(x, c)[0], c))(x, c)
    assert back.dtype == jnp.float32
    np.testing.assert_allclose(_difference(back, x, kind), 0.0, atol=1e-5)


def _flow(manifold, layers="", seed=0, scale=0.3):
    """A perturbed ManifoldFlow given CONTEXT features."""
    config = FlowConfig(flow="manifold", manifold=manifold, layers=layers, hidden=16, bins=5)
    dim = sum(b.ambient for b in parse_manifold(manifold))
    flow = perturb(config.build(dim, CONTEXT, seed), jax.random.key(seed + 7), scale)
    context = jax.random.normal(jax.random.key(seed + 8), (1, CONTEXT))
    flow.standardise_charts(flow.sample_rows(jax.random.key(seed + 9), context, 64)[0])
    return flow


def _midpoints(count, lo=0.0, hi=1.0):
    """count midpoints of [lo, hi] and the cell width."""
    h = (hi - lo) / count
    return lo + h * (np.arange(count) + 0.5), h


def _graded(count):
    """A midpoint rule in w mapped by u = (1 - cos(pi w)) / 2: points of (0, 1) that crowd
    near both ends, and their weights du = pi sin(pi w) / 2 dw."""
    w, h = _midpoints(count)
    return (1 - np.cos(np.pi * w)) / 2, h * np.pi * np.sin(np.pi * w) / 2


def _grid(*axes):
    """The product grid of midpoint rules: coordinates (N,) per axis, and the cell volume."""
    mesh = np.meshgrid(*(a for a, _ in axes), indexing="ij")
    return [m.ravel() for m in mesh], np.prod([h for _, h in axes])


def _quadrature(manifold):
    """Points (N, D) on the manifold and their volume elements (N,) of a midpoint rule."""
    if manifold == "s1":
        (phi,), h = _grid(_midpoints(4096, -np.pi, np.pi))
        return np.stack([np.cos(phi), np.sin(phi)], -1), np.full(len(phi), h)
    if manifold == "s2":  # area dt dphi
        (t, phi), h = _grid(_midpoints(400, -1, 1), _midpoints(400, -np.pi, np.pi))
        r = np.sqrt(1 - t**2)
        return np.stack([r * np.cos(phi), r * np.sin(phi), t], -1), np.full(len(t), h)
    if manifold in ("i2", "x2"):
        u, du = _graded(500)
        (u, v), (du, dv) = (np.meshgrid(a, a, indexing="ij") for a in (u, du))
        u, v, volume = u.ravel(), v.ravel(), (du * dv).ravel()
        if manifold == "i2":
            return np.stack([u, v], -1), volume
        # (u, v) -> (u, (1 - u) v, (1 - u)(1 - v)), Jacobian 1 - u
        return np.stack([u, (1 - u) * v, (1 - u) * (1 - v)], -1), volume * (1 - u)
    if manifold == "e2":
        (u, v), h = _grid(_midpoints(600, -12, 12), _midpoints(600, -12, 12))
        return np.stack([u, v], -1), np.full(len(u), h)
    if manifold == "s1+i1":
        (phi, t), h = _grid(_midpoints(600, -np.pi, np.pi), _midpoints(600))
        return np.stack([np.cos(phi), np.sin(phi), t], -1), np.full(len(t), h)
    raise ValueError(manifold)


@pytest.mark.parametrize(
    ("manifold", "layers"),
    [("s1", "nn"), ("s2", "nn"), ("i2", "na"), ("x2", "gn"), ("e2", "gp"), ("s1+i1", "n+n")],
)
def test_density_integrates_to_one(manifold, layers):
    """Quadrature of exp(log p(x | c)) over the manifold (midpoint rules; area dt dphi on S^2,
    the simplex through (u, v) -> (u, (1 - u) v, (1 - u)(1 - v)))."""
    with jax.enable_x64(True):
        flow = _flow(manifold, layers, scale=0.1)  # at 0.3 peaks need finer grids
        points, volume = _quadrature(manifold)
        context = jnp.array([0.7, -1.2])
        log_p = jax.jit(flow.log_prob)(jnp.asarray(points), context)
        np.testing.assert_allclose(np.sum(np.exp(log_p) * volume), 1.0, atol=1e-4)


def test_samples_lie_on_the_manifold_and_map_to_normal():
    """Draws of a joint flow lie on every block's manifold, and ``to_normal`` takes them to
    N(0, I) (Kolmogorov-Smirnov per coordinate): sampling, the autoregressive conditioning
    across blocks and the bases' normal maps agree."""
    from scipy.stats import kstest

    flow = _flow("e1+s2+i2+x2+s1", "g+n+p+a+n", scale=0.2)
    context = jnp.array([[0.3, -0.5]])
    x = np.asarray(jax.jit(flow.sample_rows, static_argnums=2)(jax.random.key(0), context, 2000))
    x = x[0]
    assert x.shape == (2000, 1 + 3 + 2 + 3 + 2)
    np.testing.assert_allclose(np.linalg.norm(x[:, 1:4], axis=1), 1.0, atol=1e-6)
    assert np.all((x[:, 4:6] > 0) & (x[:, 4:6] < 1))
    assert np.all(x[:, 6:9] > 0)
    np.testing.assert_allclose(x[:, 6:9].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(x[:, 9:11], axis=1), 1.0, atol=1e-6)
    u = np.asarray(jax.jit(flow.to_normal)(x, context))
    assert u.shape == (2000, 1 + 2 + 2 + 2 + 1)
    for column in u.T:
        assert kstest(column, "norm").pvalue > 1e-3


@pytest.mark.parametrize("letter", ["g", "p"])
def test_inverse_is_differentiable(letter):
    """The bisection-and-Newton inverse has the implicit-function gradient: its Jacobian in
    the context equals central finite differences (float64)."""
    with jax.enable_x64(True):
        layer = _layer("e", 3, letter, 0)
        z = jnp.array([0.4, -1.3, 2.1])
        c = jnp.array([0.2, -0.7])
        inverse = jax.jit(lambda c: layer.inverse(z, c))
        eps = 1e-6
        numeric = np.stack(
            [(inverse(c + eps * e) - inverse(c - eps * e)) / (2 * eps) for e in np.eye(2)], -1
        )
        np.testing.assert_allclose(jax.jacobian(inverse)(c), numeric, rtol=1e-6, atol=1e-8)


def test_charts_keep_the_manifold_volume():
    """log |det| of each chart: the interval's and the simplex's equal slogdet of the chart's
    Jacobian in the free coordinates; the sphere's is 0 because the inverse chart's Gram
    determinant det(J^T J) is 1 (area dt dphi on S^2, arc length on S^1)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        interval = IntervalChart(3)
        interval.standardise(rng.beta(0.5, 3.0, (200, 3)))  # a shift and scale far from 0, 1
        x = jnp.array([0.2, 0.5, 0.9])
        y, logdet = interval.forward(x)
        jac = jax.jacobian(lambda v: interval.forward(v)[0])(x)
        np.testing.assert_allclose(logdet, jnp.linalg.slogdet(jac)[1], atol=1e-12)
        np.testing.assert_allclose(interval.inverse(y), x, atol=1e-14)
        simplex = SimplexChart(3)
        simplex.standardise(rng.dirichlet([0.3, 1.0, 2.0, 5.0], 200))
        assert np.abs(np.asarray(simplex.scale[...]) - 1).max() > 1  # not the identity
        free = jnp.array([0.2, 0.3, 0.1])
        full = lambda v: jnp.concatenate([v, 1 - v.sum(keepdims=True)])
        y, logdet = simplex.forward(full(free))
        jac = jax.jacobian(lambda v: simplex.forward(full(v))[0])(free)
        np.testing.assert_allclose(logdet, jnp.linalg.slogdet(jac)[1], atol=1e-12)
        np.testing.assert_allclose(simplex.inverse(y), full(free), atol=1e-14)
        for n, angles in [(1, jnp.array([2.5])), (2, jnp.array([0.3, -2.0]))]:
            chart = SphereChart(n)
            jac = jax.jacobian(chart.inverse)(angles)  # (n + 1, n)
            np.testing.assert_allclose(jnp.linalg.det(jac.T @ jac), 1.0, atol=1e-12)
            x = chart.inverse(angles)
            np.testing.assert_allclose(chart.forward(x)[0], angles, atol=1e-12)
            assert chart.forward(x)[1] == 0


def test_manifold_strings():
    blocks = parse_manifold("e4+s2+e1")
    assert [(b.kind, b.n, b.ambient) for b in blocks] == [("e", 4, 4), ("s", 2, 3), ("e", 1, 1)]
    np.testing.assert_array_equal(euclidean_columns(blocks), [1, 1, 1, 1, 0, 0, 0, 1])
    assert parse_layers("", blocks) == ("nnnn", "nnnn", "nnnn")
    assert parse_layers("gggg+n+a", blocks) == ("gggg", "n", "a")
    for bad, words in [
        ("e0", "'e0' is not a block"),
        ("e4++s2", "'' is not a block"),
        ("q2", "'q2' is not a block"),
        ("s3", r"S\^1 and S\^2"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_manifold(bad)
    with pytest.raises(ValueError, match="2 blocks, the manifold 3"):
        parse_layers("g+n", blocks)
    with pytest.raises(ValueError, match="block s2 cannot take g; its layers are n"):
        parse_layers("g+g+g", blocks)
    with pytest.raises(ValueError, match="settings of flow 'manifold'"):
        FlowConfig(flow="maf", manifold="e2")
    with pytest.raises(ValueError, match="takes 8 columns, not 5"):
        FlowConfig(flow="manifold", manifold="e4+s2+e1").build(5)


def test_points_are_checked_and_projected_onto_the_manifold():
    blocks = parse_manifold("e1+s1+x2")
    x = np.array([[5.0, 0.6, 0.8004, 0.2, 0.3, 0.5002], [-1.0, 0.0, 1.0, 0.1, 0.1, 0.8]])
    y = on_manifold(blocks, x)
    np.testing.assert_allclose(np.linalg.norm(y[:, 1:3], axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(y[:, 3:].sum(1), 1.0, atol=1e-15)
    np.testing.assert_array_equal(y[:, 0], x[:, 0])
    bad = x.copy()
    bad[1, 1:3] = [0.5, 0.5]
    with pytest.raises(ValueError, match=r"columns 2-3 \(block s1\) must be unit vectors.*row 2"):
        on_manifold(blocks, bad)
    bad = x.copy()
    bad[0, 3] = -0.1
    with pytest.raises(ValueError, match=r"columns 4-6 \(block x2\).*row 1"):
        on_manifold(blocks, bad)
    with pytest.raises(ValueError, match="must have 6 columns"):
        on_manifold(blocks, x[:, :5])


@pytest.mark.parametrize(("kind", "n", "letter", "index"), LAYER_CASES)
def test_contexts_broadcast_against_points(kind, n, letter, index):
    """One point under four contexts gives the four points' values: no batch is merged."""
    layer = _layer(kind, n, letter, index, scale=0.1)
    x = _chart_points(kind, n, 1, seed=5)
    c = jax.random.normal(jax.random.key(6), (4, CONTEXT))
    z, logdet = layer.forward(x[0], c)
    z4, logdet4 = layer.forward(jnp.broadcast_to(x, (4, n)), c)
    np.testing.assert_allclose(z, z4, atol=1e-6)
    np.testing.assert_allclose(logdet, logdet4, atol=1e-5)
    np.testing.assert_allclose(layer.inverse(z, c), layer.inverse(z4, c), atol=1e-5)


def test_joint_flow_round_trips_through_every_block():
    """forward then inverse of a four-block flow (float64): the autoregressive conditioning
    across blocks is undone in order, charts included."""
    with jax.enable_x64(True):
        flow = _flow("e1+s2+i1+x2", "gp+n+n+a")
        c = jax.random.normal(jax.random.key(11), (50, CONTEXT))
        x = flow.sample(jax.random.key(12), (50,), c)
        z, _ = flow.forward(x, c)
        assert z.shape == (50, 1 + 2 + 1 + 2)
        np.testing.assert_allclose(flow.inverse(z, c), x, atol=1e-10)
