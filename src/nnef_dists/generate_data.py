"""``python -m nnef_dists.generate_data --config C [...]``: an alias of ``nnef generate``."""

from nnef_dists.cli import alias

main = alias("generate")
if __name__ == "__main__":
    raise SystemExit(main())
