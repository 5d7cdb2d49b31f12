#!/usr/bin/env bash
# tests/lib/libcurl.sh - builds the libcurl that etcd-medic links, from
# Debian 12's own curl source package (apt-get source: Debian's patches,
# security fixes included), configured for what etcd-medic asks of it:
# HTTP/1.1 and HTTP/2 (etcd's gRPC, for snapshots), HTTPS over GnuTLS,
# proxies, SigV4; nothing else.  Static,
# into PREFIX (default: .deps/curl in this repository).
#
# Why not Debian's libcurl package: it links libssh2, LDAP, RTMP, Kerberos
# and OpenSSL, and curl_global_init initialises OpenSSL twice over (its own
# TLS and libssh2's); loaded and initialised, those libraries alone are
# 9 MiB of resident memory, more than the sidecar's 8 MiB goal.  GnuTLS is
# in the process anyway (libmicrohttpd links it), so this libcurl adds
# about 0.4 MiB with nghttp2.  README, "Memory", has the figures.
#
# Idempotent and quiet: nothing happens when PREFIX holds a build made by
# this very script (its checksum is the stamp).  A newer Debian source is
# picked up by removing PREFIX.  Needs the packages of `deps.sh build`.
#
# usage: tests/lib/libcurl.sh [PREFIX]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${1:-$top/.deps/curl}
stamp=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

if [[ -f $prefix/lib/libcurl.a && -f $prefix/.stamp ]] &&
	[[ $(cat "$prefix/.stamp") == "$stamp" ]]; then
	exit 0
fi

mkdir -p "$(dirname "$prefix")"
work=$(mktemp -d "$(dirname "$prefix")/libcurl-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log
echo "libcurl.sh: building libcurl from Debian's curl source into $prefix" >&2

# The source comes from the mirrors this machine's apt already uses, read
# as deb-src entries into a private apt state: the machine's own apt
# configuration and lists are not touched, and no root is needed.
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial"
: >"$work/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[[ -f $f ]] && sed -n 's/^deb \(.*\)/deb-src \1/p' "$f" >>"$work/sources.list"
done
for f in /etc/apt/sources.list.d/*.sources; do
	[[ -f $f ]] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$work/parts/${f##*/}"
done
apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list"
     -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists"
     -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1")
if ((EUID != 0)); then
	apt+=(-o "APT::Sandbox::User=$(id -un)")
fi

fail() {
	echo "libcurl.sh: $1 failed; its output:" >&2
	tail -n 40 "$log" >&2
	exit 1
}
"${apt[@]}" update >"$log" 2>&1 || fail "apt-get update (deb-src)"
(cd "$work" && "${apt[@]}" source --download-only curl) >>"$log" 2>&1 ||
	fail "apt-get source curl"
dpkg-source -x "$work"/curl_*.dsc "$work/src" >>"$log" 2>&1 ||
	fail "dpkg-source -x"

# Every protocol and feature etcd-medic does not use is off, so that the
# library pulls in nothing beyond GnuTLS, nettle and nghttp2.  Kept: HTTP
# (1.1, and 2 for gRPC), HTTPS, proxies (https_proxy for an S3 store), HTTP auth with AWS SigV4, IPv6,
# the threaded resolver, verbose error messages.
cd "$work/src"
CFLAGS="$(dpkg-buildflags --get CFLAGS)" \
CPPFLAGS="$(dpkg-buildflags --get CPPFLAGS)" \
./configure --prefix="$prefix" --disable-shared --enable-static --with-pic \
	--with-gnutls --without-openssl \
	--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path \
	--disable-ftp --disable-file --disable-ldap --disable-ldaps \
	--disable-rtsp --disable-dict --disable-telnet --disable-tftp \
	--disable-pop3 --disable-imap --disable-smb --disable-smtp \
	--disable-gopher --disable-mqtt --disable-websockets \
	--disable-manual --disable-ntlm --disable-ntlm-wb --disable-tls-srp \
	--disable-cookies --disable-netrc --disable-hsts --disable-alt-svc \
	--disable-doh --disable-mime --disable-progress-meter \
	--disable-get-easy-options --disable-headers-api \
	--without-libssh2 --without-libssh --without-librtmp --without-libgsasl \
	--without-gssapi --without-libidn2 --without-libpsl --with-nghttp2 \
	--without-brotli --without-zstd --without-zlib \
	--enable-threaded-resolver >>"$log" 2>&1 || fail "configure"
make -j"$(nproc)" -C lib >>"$log" 2>&1 || fail "make"

rm -rf "$prefix/lib" "$prefix/include"
make -C lib install >>"$log" 2>&1 || fail "make install (lib)"
make -C include install >>"$log" 2>&1 || fail "make install (include)"
sed -n 's/^Version: *//p' "$work"/curl_*.dsc >"$prefix/debian-version"
echo "$stamp" >"$prefix/.stamp"
