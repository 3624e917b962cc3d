# Sourced by the scripts that run on the GPU machine: sets `root` (the
# checkout), `logs` ($OUT, else .gpu/logs; created) and `bin` (build-gpu/bin),
# and builds the runtime there first if it is not built yet (exits if that
# fails).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
logs="${OUT:-$root/.gpu/logs}"
mkdir -p "$logs"
bin="$root/build-gpu/bin"
bash "$root/scripts/gpu/build-runtime.sh" --if-missing "$logs/build.log" || exit 1
