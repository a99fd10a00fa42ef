#!/usr/bin/env bash
# The README's GPU figures in one short run on a machine with one GPU (about 9 minutes):
#
# 1. generation (benchmarks/generate.py) of 1,048,576 gamma eta in chunks of 262,144
#    against the bare leapfrog loop;
# 2. the default-training table (benchmarks/models.py) for the cases in CASES, side by
#    side (one process each, sharing the GPU: training times are upper bounds; with
#    one case, alone), on the data under artifacts/bench/data when there (the CPU
#    table's: carry that folder), else generated there; each stopped after
#    MODELS_SECONDS, its rows so far kept.
#
# Logs go to $OUT (default artifacts/gpu). Wheels of packages the machine lacks may lie
# in .whl/ (installed into /tmp/site first). Everything runs from the source tree.
#
#     OUT=artifacts/gpu [CASES=gamma-quadrature,gamma-hmc] [MODELS=mlp_et,...] \
#         [MODELS_SECONDS=300] bash benchmarks/gpu.sh
set -u
OUT=${OUT:-artifacts/gpu}
CASES=${CASES:-gamma-quadrature,gamma-hmc}
MODELS=${MODELS:-mlp_et,glu_et,quadratic_et,potential_et,geometric_flow_et,glow_et}
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
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    $PY -c "import jax, flax, optax, blackjax; print('jax', jax.__version__, 'flax',
flax.__version__, 'optax', optax.__version__, 'blackjax', blackjax.__version__, jax.devices())"
    timeout 150 $PY benchmarks/generate.py --families gamma --num-points 1048576 \
        --chunk-size 262144
} 2>&1 | tee "$OUT/generate.log"

for case in ${CASES//,/ }; do
    XLA_PYTHON_CLIENT_MEM_FRACTION=0.15 timeout "${MODELS_SECONDS:-300}" \
        $PY benchmarks/models.py --cases "$case" --models "$MODELS" >"$OUT/models_$case.log" 2>&1 &
done
wait
tail -n 12 "$OUT"/models_*.log
