"""The one standardiser of the package, against NumPy means and standard deviations."""

import numpy as np
import pytest

from nnef_dists.data import Standardizer


def test_round_trip_constant_columns_and_log_det():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(5, 3, 500), np.full(500, 7.0), rng.normal(-2, 0.01, 500)])
    s = Standardizer.fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), [1, 0, 1], atol=1e-4)  # constant column: scale 1
    assert s.scale[1] == 1.0 and s.mean.dtype == np.float32
    np.testing.assert_allclose(s.inverse(z), x, rtol=1e-6, atol=1e-5)
    assert s.log_det == pytest.approx(-np.log(x[:, 0].std()) - np.log(x[:, 2].std()), rel=1e-5)
    again = Standardizer.from_dict(s.to_dict())
    np.testing.assert_array_equal(again.mean, s.mean)
    np.testing.assert_array_equal(again.scale, s.scale)


def test_from_dict_refuses_a_bad_record():
    with pytest.raises(ValueError, match="scale > 0"):
        Standardizer.from_dict({"mean": [0.0, 1.0], "scale": [1.0, 0.0]})
    with pytest.raises(ValueError, match="one length"):
        Standardizer.from_dict({"mean": [0.0], "scale": [1.0, 2.0]})
