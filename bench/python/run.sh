#!/usr/bin/env bash
# Runs pyload (the insert and select workloads of cmd/cassload through the
# Python library async-cassandra) in a virtualenv of its own, made on first
# use in bench/python/.venv with Python 3.12 or newer:
#
#   bench/python/run.sh -w insert,select -c 1,64,512 -n 30000 [-json]
#   bench/python/run.sh --setup          # only make the virtualenv
#
# The interpreter: $PYTHON if set, else pyenv's newest 3.12 (then 3.13 and
# later), else python3.12, python3.13 or python3 from PATH if new enough.
# cassandra-driver comes as a wheel with compiled extensions where one fits
# the machine; if that install fails (no wheel, and no compiler or libev
# headers to build one), the driver is built again without its extensions,
# as pure Python. PYLOAD_PURE=1 asks for pure Python from the start (in
# .venv-pure, beside the other). pyload's report says which one ran.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
if [[ "${PYLOAD_PURE:-}" == 1 ]]; then
	venv="$here/.venv-pure"
fi

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; }

find_python() {
	if [[ -n "${PYTHON:-}" ]]; then
		new_enough "$PYTHON" || { echo "run.sh: PYTHON=$PYTHON is not Python 3.12 or newer" >&2; return 1; }
		echo "$PYTHON"
		return
	fi
	local root
	root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
	local v pat p
	# Prefer 3.12 (what the original targets), newest patch first, then later minors.
	for pat in '3.12.*' '3.1[3-9].*'; do
		for v in $(ls -d "$root"/versions/$pat 2>/dev/null | sort -V -r); do
			if [[ -x "$v/bin/python" ]] && new_enough "$v/bin/python"; then
				echo "$v/bin/python"
				return
			fi
		done
	done
	for p in python3.12 python3.13 python3; do
		if command -v "$p" >/dev/null && new_enough "$p"; then
			command -v "$p"
			return
		fi
	done
	echo "run.sh: no Python 3.12 or newer found (set PYTHON, or install 3.12 with pyenv)" >&2
	return 1
}

# install_pure_driver builds the pinned cassandra-driver from its source
# without the C extensions (murmur3, libev, Cython). Since 3.30 the build
# takes these switches from the package's pyproject.toml only; earlier
# releases read CASS_DRIVER_NO_EXTENSIONS, which is set as well. Without
# libev the driver's only event loop on Python 3.12 and later is asyncore,
# which left the standard library in 3.12: pyasyncore brings it back.
install_pure_driver() {
	local tmp spec src
	tmp="$(mktemp -d)"
	spec="$(grep -E '^cassandra-driver==' "$here/requirements.txt")"
	"$venv/bin/python" -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "$spec" >&2
	tar -xzf "$tmp"/cassandra_driver-*.tar.gz -C "$tmp"
	src="$(ls -d "$tmp"/cassandra_driver-*/)"
	sed -i -E 's/^(build-[a-z0-9]+-extensions?) = true/\1 = false/' "$src/pyproject.toml"
	CASS_DRIVER_NO_EXTENSIONS=1 "$venv/bin/python" -m pip install --quiet "$src" pyasyncore==1.0.5 >&2
	rm -rf "$tmp"
}

setup() {
	local stamp="$venv/.requirements"
	if [[ -x "$venv/bin/python" ]] && cmp -s "$here/requirements.txt" "$stamp"; then
		return
	fi
	local py
	py="$(find_python)"
	echo "run.sh: making $venv with $("$py" --version 2>&1)" >&2
	rm -rf "$venv"
	"$py" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
	if [[ "${PYLOAD_PURE:-}" == 1 ]]; then
		install_pure_driver
	elif ! "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" >&2; then
		echo "run.sh: installing cassandra-driver again, as pure Python" >&2
		install_pure_driver
	fi
	"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" >&2
	cp "$here/requirements.txt" "$stamp"
}

setup
if [[ "${1:-}" == "--setup" ]]; then
	exit 0
fi
exec "$venv/bin/python" "$here/pyload.py" "$@"
