#!/bin/sh
# bench/blocklist_scale.sh - compile every real list in ../shared/data plus
# generated names up to TOTAL (default 4,000,000) and measure the index.
# Not a test: needs ../shared/data, ~1.5 GB RAM and a minute.
#   bench/blocklist_scale.sh [TOTAL]
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
TOTAL=${1:-4000000}
W=$(mktemp -d /tmp/gatehouse-blbench.XXXXXX)
trap 'rm -rf "$W"' EXIT

cc -std=gnu11 -O2 -g -D_GNU_SOURCE -Iresolver -o "$W/bench" bench/blocklist_scale.c \
    resolver/blocklist.c resolver/listparse.c $(pkg-config --cflags --libs lmdb libidn2) -lpthread

ARGS=""
# UT1 block lists (DEFAULT_TYPE=black; allow-lists left out).
for c in agressif arjel astrology bitcoin chat cryptojacking dangerous_material dating ddos doh \
         drogue dynamic-dns fakenews filehosting gambling games hacking lingerie malware \
         manga marketingware mixed_adult phishing publicite redirector remote-control \
         residential-proxies sect shortener social_networks stalkerware tricheur vpn warez; do
    f="$DATA/ut1/$c.domains.xz"
    [ -f "$f" ] || continue
    xzcat "$f" > "$W/ut1_$c.txt"
    ARGS="$ARGS $(echo "$c" | tr - _)=$W/ut1_$c.txt"
done
for f in "$DATA"/adult/*.xz "$DATA"/bypass/hagezi_*onlydomains*.xz "$DATA"/bypass/dibdot_doh-domains*.xz; do
    b=$(basename "$f" .xz)
    xzcat "$f" > "$W/$b"
    case "$b" in
        *nsfw*) cat=adult ;; *dyndns*) cat=dynamic_dns ;; *vpn*) cat=vpn_proxy ;;
        *nosafesearch*) cat=no_safesearch ;; *) cat=doh ;;
    esac
    ARGS="$ARGS $cat=$W/$b"
done
ARGS="$ARGS doh=blocklists/builtin/doh.txt vpn_proxy=blocklists/builtin/vpn_proxy.txt"
# Real distinct names so far, then synthetic ones (random 2-3 label names
# under common TLDs) to reach TOTAL.
REAL=$(cat "$W"/*.txt "$W"/hagezi_* "$W"/dibdot_* 2>/dev/null | grep -v '^#' | sort -u | wc -l)
GEN=$((TOTAL > REAL ? TOTAL - REAL : 0))
echo "real list lines (distinct): $REAL; generating $GEN names"
python3 - "$GEN" > "$W/generated.txt" <<'PY'
import random, sys
random.seed(7)
n = int(sys.argv[1]); tlds = ["com", "net", "org", "io", "co.uk", "de", "ru", "xyz", "info", "fr"]
a = "abcdefghijklmnopqrstuvwxyz0123456789"
out = sys.stdout
for i in range(n):
    l = "".join(random.choice(a) for _ in range(random.randint(6, 14)))
    if i % 4 == 0:
        l = "".join(random.choice(a) for _ in range(random.randint(3, 8))) + "." + l
    out.write("%s%d.%s\n" % (l, i % 97, random.choice(tlds)))
PY
# Hits are probed from the first source: put gambling first.
set -- $ARGS
FIRST=""
REST=""
for a in "$@"; do case "$a" in gambling=*) FIRST="$a" ;; *) REST="$REST $a" ;; esac; done
"$W/bench" "$W/index.mdb" $FIRST $REST synthetic="$W/generated.txt"
