#!/bin/sh
# A local certificate authority and a server certificate signed by it, for trying compose.yaml on
# one machine: ./deploy/tls/make-local-ca.sh [DIR] [HOST ...]   (defaults: this folder, localhost)
# It writes DIR/ca.crt + ca.key (kept and reused on later runs) and DIR/yihao.crt + yihao.key for
# the HOSTs (and 127.0.0.1, ::1). Trust ca.crt in the browser or system (docs/compose.md), never in
# production: anyone holding ca.key can impersonate any site to a machine that trusts it.
set -eu
dir=${1:-$(dirname "$0")}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- localhost
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=Yihao local CA ($(hostname))" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
fi

san="IP:127.0.0.1,IP:::1"
for host in "$@"; do san="DNS:$host,$san"; done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
  -keyout "$dir/yihao.key" -out "$dir/yihao.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" > "$dir/yihao.ext"
openssl x509 -req -in "$dir/yihao.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 397 -extfile "$dir/yihao.ext" -out "$dir/yihao.crt" 2>/dev/null
rm -f "$dir/yihao.csr" "$dir/yihao.ext" "$dir/ca.srl"
# Certificates are public; both keys stay readable by their owner only (nginx's master reads its key as root).
chmod 644 "$dir/ca.crt" "$dir/yihao.crt"
echo "$dir/yihao.crt for $* (signed by $dir/ca.crt)"
