#!/usr/bin/env bash
# tls-certs.sh - make a private CA, a Redis server certificate and a client
# certificate with openssl, for the TLS setup in deploy/README.md ("TLS").
#
#   deploy/tls-certs.sh [--days N] DIR [NAME...]
#
# Writes into DIR (created with mode 0700):
#   ca.crt ca.key          the private CA (kept and reused when DIR has one,
#                          so running the script again renews the server and
#                          client certificates under the same CA)
#   server.crt server.key  the server's certificate, valid for every NAME
#                          (host names and IP addresses; default: localhost
#                          127.0.0.1 ::1), signed by the CA
#   client.crt client.key  a client certificate (CN redisclient) for mutual
#                          TLS (tls-auth-clients yes), signed by the CA
# Keys are ECDSA P-256, mode 0600; certificates are valid for N days
# (default 825; the CA for 10 years). Needs openssl (Debian: openssl).
set -euo pipefail

PROG=${0##*/}
DAYS=825
CA_DAYS=3650

usage() {
	sed -n '2,17s/^# \{0,1\}//p' "$0"
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 2
}

while (($# > 0)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--days)
		(($# >= 2)) || die "--days needs a number"
		[[ $2 =~ ^[1-9][0-9]*$ ]] || die "--days $2: want a positive number of days"
		DAYS=$2
		shift 2
		;;
	--)
		shift
		break
		;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
(($# >= 1)) || die "missing DIR (see --help)"
DIR=$1
shift
(($# > 0)) || set -- localhost 127.0.0.1 ::1
command -v openssl >/dev/null 2>&1 || {
	printf '%s: error: openssl not found (Debian: apt-get install openssl)\n' "$PROG" >&2
	exit 1
}

# subjectAltName entries: IP:... for addresses, DNS:... for names.
san=
for name in "$@"; do
	if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then
		san+="${san:+,}IP:$name"
	else
		[[ $name =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "'$name' is neither a host name nor an IP address"
		san+="${san:+,}DNS:$name"
	fi
done

umask 077
mkdir -p "$DIR"
chmod 0700 "$DIR"
cd "$DIR"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

if [[ -s ca.crt && -s ca.key ]]; then
	printf '%s: reusing the CA in %s\n' "$PROG" "$PWD" >&2
else
	openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.crt -days "$CA_DAYS" \
		-subj "/CN=redisclient private CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		die "openssl could not make the CA"
	}
fi

# sign NAME CN EXTENSIONS: a key NAME.key and a certificate NAME.crt for CN.
sign() {
	local name=$1 cn=$2 ext=$3
	printf '%s\n' "$ext" >"$tmp/$name.ext"
	openssl req -new "${newkey[@]}" -keyout "$name.key" -out "$tmp/$name.csr" \
		-subj "/CN=$cn" 2>"$tmp/err" &&
		openssl x509 -req -in "$tmp/$name.csr" -CA ca.crt -CAkey ca.key \
			-set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" \
			-extfile "$tmp/$name.ext" -out "$name.crt" 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		die "openssl could not make $name.crt"
	}
}

sign server "$1" "subjectAltName=$san
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth"
sign client redisclient "keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
chmod 0600 ./*.key
chmod 0644 ./*.crt

printf '%s: wrote ca.crt, server.crt (%s), client.crt and their keys to %s\n' "$PROG" "$san" "$PWD" >&2
