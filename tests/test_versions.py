"""nnef_dists.versions: --version and data files from a source tree that pip did not install."""

import numpy

from nnef_dists.versions import NOT_INSTALLED, installed_version


def test_versions_of_installed_and_missing_packages():
    assert installed_version("numpy") == numpy.__version__
    assert installed_version("no-such-package-for-nnef-tests") == NOT_INSTALLED
