#!/usr/bin/env bash
# Installs the Debian packages that `deno task notebooks` needs, when missing: Jupyter's
# nbconvert, nbclient and jupyter-client (for executing notebooks with the Deno kernel and
# exporting HTML) and Chromium (for checking that figures render and for screenshots).
# Idempotent: does nothing when all are installed; runs `apt-get update` only when the package
# lists are empty or an install from them fails. Needs root (or sudo).
set -euo pipefail

packages=(jupyter-nbconvert python3-nbclient python3-nbformat jupyter-client chromium)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "notebooks/setup.sh: all packages present (${packages[*]})"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null; then
  apt=(sudo apt-get)
else
  echo "notebooks/setup.sh: expected root or sudo to install ${missing[*]}, found neither" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "notebooks/setup.sh: installing ${missing[*]}"
if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
  "${apt[@]}" update -q
fi
if ! "${apt[@]}" install -y -q "${missing[@]}"; then
  "${apt[@]}" update -q
  "${apt[@]}" install -y -q "${missing[@]}"
fi
