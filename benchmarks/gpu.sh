#!/usr/bin/env bash
# The README's GPU figures in one short run on a machine with one GPU (about 9 minutes):
#
# 1. generation (benchmarks/generate.py) of gamma eta: 262,144 eta in chunks of 65,536,
#    then 32,768 eta at the default chunk size (4096 on a GPU), each against the bare
#    leapfrog loop;
# 2. the default-training table (benchmarks/models.py), its five cases side by side
#    (one process each, sharing the GPU: training times are upper bounds), on the data
#    under artifacts/bench/data when there (the CPU table's), else generated there.
#
# Logs go to $OUT (default artifacts/gpu). Wheels of packages the machine lacks may lie
# in .whl/ (installed into /tmp/site first).
#
#     OUT=artifacts/gpu bash benchmarks/gpu.sh
set -u
OUT=${OUT:-artifacts/gpu}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src:$PWD/benchmarks PYTHONUNBUFFERED=1
export NNEF_JAX_CACHE_DIR=/tmp/nnef_jax_cache
PY=${PY:-python3}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    $PY -c "import jax, flax, optax, blackjax; print('jax', jax.__version__, 'flax',
flax.__version__, 'optax', optax.__version__, 'blackjax', blackjax.__version__, jax.devices())"
    timeout 170 $PY benchmarks/generate.py --families gamma --num-points 262144 --chunk-size 65536
    timeout 80 $PY benchmarks/generate.py --families gamma --num-points 32768
} 2>&1 | tee "$OUT/generate.log"

MODELS=${MODELS:-mlp_et,glu_et,quadratic_et,potential_et,geometric_flow_et,glow_et}
for case in gamma-hmc laplace_product-hmc mvn_tril_d2-hmc polynomial_p4-quadrature \
    gamma-quadrature; do
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.15 timeout "${MODELS_SECONDS:-300}" \
        $PY benchmarks/models.py --cases "$case" --models "$MODELS" >"$OUT/models_$case.log" 2>&1 &
done
wait
tail -n 4 "$OUT"/models_*.log
