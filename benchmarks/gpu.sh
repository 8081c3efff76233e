#!/usr/bin/env bash
# One command on a GPU machine: install as the README says, run the suite on the GPU, and print every
# benchmark's CUDA row (edit step at 256 / 1024 px, beside the research loop when --research is given;
# generator; inversion; video frames per second; memory per edit step).
#
#   bash benchmarks/gpu.sh [--no-install] [--dry-run] [--research DIR] [--nvidia DIR]
#
#   --no-install    use the existing .venv (or the python on PATH when there is none); install nothing
#   --dry-run       print the commands, run nothing
#   --research DIR  a rosinality/stylegan2-pytorch checkout: the research loop's edit step on the same GPU
#                   (its CUDA ops are compiled on import: needs nvcc and ninja)
#   --nvidia DIR    an NVlabs/stylegan2-ada-pytorch checkout: NVIDIA's projector beside our inversion
#
# Nothing is downloaded but pip packages (the install step). Each step has a time budget (timeout) so
# that the steps together take under 8 minutes on one H100, not counting a cold pip download of torch;
# a step that fails or runs out of time prints why and the next one runs; the exit status is 1 when any
# step failed.
set -u
cd "$(dirname "$0")/.."

install=1
dry=0
research=""
nvidia=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-install) install=0 ;;
        --dry-run) dry=1 ;;
        --research) research="${2:?--research needs a folder}"; shift ;;
        --nvidia) nvidia="${2:?--nvidia needs a folder}"; shift ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

optimize_budget=60 invert_budget=30
[ -n "$research" ] && optimize_budget=180  # + compiling rosinality's CUDA ops and its two sizes
[ -n "$nvidia" ] && invert_budget=90
failed=()
summary=()
start=$SECONDS

stamp() { echo "[$(date -u +%H:%M:%S) UTC, +$((SECONDS - start)) s] $*"; }

# show COMMAND...: the command as one line a shell runs as is (words quoted only where needed)
show() {
    local word line="+"
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then line+=" $word"; else line+=" '${word//\'/\'\\\'\'}'"; fi
    done
    echo "$line"
}

# step NAME BUDGET_S COMMAND...: run COMMAND under a time budget (0: none), report how it went
step() {
    local name=$1 budget=$2 rc began
    shift 2
    local cmd=("$@")
    [ "$budget" -gt 0 ] && cmd=(timeout -k 10 "$budget" "$@")
    echo
    stamp "== $name (budget ${budget} s)"
    show "${cmd[@]}"
    [ "$dry" -eq 1 ] && return 0
    began=$SECONDS
    "${cmd[@]}"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        summary+=("ok      $name ($((SECONDS - began)) s)")
    else
        [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="ran out of its ${budget} s budget" || why="exit status $rc"
        stamp "!! $name failed: $why (see its output above); going on"
        summary+=("FAILED  $name: $why")
        failed+=("$name")
    fi
}

if [ "$install" -eq 1 ]; then
    # the README's set-up line, verbatim
    step "install" 0 bash -c 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]"'
fi
if [ -f .venv/bin/activate ]; then
    echo "+ . .venv/bin/activate"
    # shellcheck disable=SC1091
    . .venv/bin/activate
else
    echo "(no .venv here: using $(command -v python || echo 'python on PATH'))"
fi

step "gpu" 30 python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"
step "selftest on cuda" 30 python -m soundclip_core selftest --device cuda --out-dir "${TMPDIR:-/tmp}/soundclip-selftest-cuda"
step "suite on cuda" 200 python -m pytest -q --device cuda
[ -n "$research" ] || echo "(no --research DIR: the edit step runs without the research loop's row beside it)"
step "edit step (optimize)" "$optimize_budget" python benchmarks/optimize.py --device cuda --sizes 256 1024 \
    --steps 3 --precisions fp32 bf16 fp16 --clip-input area ${research:+--research "$research"}
step "generator" 60 python benchmarks/generator.py --device cuda --archs stylegan2 stylegan3-t --sizes 256 1024 \
    --batches 1 4 --repeat 3 --no-reference
step "inversion" "$invert_budget" python benchmarks/invert.py --device cuda --size 256 --steps 6 --rounds 2 \
    --quality-steps ${nvidia:+--nvidia "$nvidia"}
step "video" 60 python benchmarks/video.py --device cuda --sizes 256 1024 --keyframes 4 --chunk 4 --steps 1 \
    --frames 16 --batch 8
step "memory per edit step" 30 python benchmarks/memory.py

echo
stamp "done"
[ "$dry" -eq 1 ] && exit 0
printf '%s\n' "${summary[@]}"
[ "${#failed[@]}" -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
