"""The trainer of glow_et: ``nnef train --model glow_et [...]``."""

from nnef_dists.cli import model_alias

main = model_alias(__spec__.name)
if __name__ == "__main__":
    raise SystemExit(main())
