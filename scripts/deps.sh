#!/usr/bin/env bash
# deps.sh - make sure the Debian packages the test suite needs are installed.
#
#   scripts/deps.sh check     list what is missing (exit 1 if anything is)
#   scripts/deps.sh install   install what is missing: with apt-get as root, with
#                             sudo when it needs no password; otherwise print the
#                             one-line install command and exit 1
#
# This is the one list of the suite's system packages: scripts/test.sh runs
# `install` before it starts anything, and .ci/run runs scripts/test.sh.
set -euo pipefail

PROG=${0##*/}
# The interpreter the interop tests run (Debian's, which has python3-redis).
PYTHON=${REDISCLIENT_PYTHON:-/usr/bin/python3}

# missing prints the Debian packages whose programs are not installed.
missing() {
	command -v redis-server >/dev/null || echo redis-server
	command -v redis-cli >/dev/null || echo redis-tools
	command -v redis-sentinel >/dev/null || echo redis-sentinel
	command -v systemd-analyze >/dev/null || echo systemd
	"$PYTHON" -c 'import redis' >/dev/null 2>&1 || echo python3-redis
	command -v openssl >/dev/null || echo openssl
	command -v ss >/dev/null || echo iproute2
	command -v ps >/dev/null || echo procps
}

# apt_install runs apt-get update and install, prefixed by $1 ("" or "sudo -n").
apt_install() {
	local prefix=$1
	shift
	echo "$PROG: installing $*" >&2
	$prefix env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$prefix env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

main() {
	local cmd=${1:-}
	local pkgs
	mapfile -t pkgs < <(missing)
	case $cmd in
	check)
		((${#pkgs[@]} == 0)) || {
			echo "${pkgs[*]}"
			exit 1
		}
		;;
	install)
		((${#pkgs[@]} == 0)) && return 0
		if [[ $(id -u) == 0 ]]; then
			apt_install "" "${pkgs[@]}"
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			apt_install "sudo -n" "${pkgs[@]}"
		else
			cat >&2 <<-MSG
				$PROG: the test suite needs these Debian packages: ${pkgs[*]}
				$PROG: not root and no password-free sudo, so install them first with:
				sudo apt-get install -y ${pkgs[*]}
			MSG
			exit 1
		fi
		local still
		still=$(missing | tr '\n' ' ')
		[[ -z $still ]] || {
			echo "$PROG: still missing after install: $still" >&2
			exit 1
		}
		;;
	*)
		echo "usage: $PROG check|install" >&2
		exit 2
		;;
	esac
}

main "$@"
