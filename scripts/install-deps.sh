#!/usr/bin/env bash
# Installs what eostrace needs on Debian 12 (with Swift 6 and Python 3 already present):
# system libraries from Debian and Python packages from PyPI. Installs only what is missing.
set -euo pipefail

APT_PACKAGES=(pkg-config libhdf5-dev hdf5-tools libopenblas-dev liblapacke-dev zlib1g-dev
              dataset-fashion-mnist chromium strace
              slurm-wlm munge)   # slurm-wlm, munge: the single-node Slurm of the sweep tests (scripts/slurm-up.sh)
PIP_PACKAGES=(numpy scipy h5py xarray h5netcdf pytest pillow matplotlib)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
pymissing=()
for p in "${PIP_PACKAGES[@]}"; do
    mod=$p; [ "$p" = "pillow" ] && mod=PIL
    "$PY" -c "import $mod" 2>/dev/null || pymissing+=("$p")
done
if [ ${#pymissing[@]} -gt 0 ]; then
    echo "install-deps: pip install ${pymissing[*]}"
    "$PY" -m pip install -q "${pymissing[@]}"
fi
# The repository's Python package (python/, `import eostrace`) with its JAX extra (CPU wheels).
"$PY" -c "import jax" 2>/dev/null || { echo "install-deps: pip install jax"; "$PY" -m pip install -q "jax[cpu]"; }
"$PY" -c "import wheel" 2>/dev/null || { echo "install-deps: pip install wheel"; "$PY" -m pip install -q wheel; }
"$PY" -m pip install -q --no-build-isolation ./python && echo "install-deps: pip install ./python"
echo "install-deps: all present"
