"""The query log through the real daemon: records written by real queries,
found by `gatehousectl logs` filters, the daily report, purge, export,
erase and audit, kill -9 under load, a full map, and a second process
reading while the daemon writes.

Each test's daemon gets server.state-dir in its own tmpdir and log.enabled
true; clients are told apart by binding dig to distinct 127.201.x.y source
addresses (never the private world's /16).  Records older than "now" and
filler for the full-map test are written by build/tests/qlog_fill through
qlog's own API (tests/helpers/qlog_fill.c).
"""

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from daemon import make_query

BLOCKED_NAME = "hurt.selfharm-example.test"
SAFE_CAT = "self_harm"


def _ctl_path(ctx):
    return os.path.join(os.path.dirname(ctx.binary), "gatehousectl")


def ctl(ctx, d, *args, timeout=30, check=True):
    out = subprocess.run([_ctl_path(ctx), "-c", d.conf] + list(args), capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert out.returncode == 0, "gatehousectl %s: exit %d\n%s%s" % (
            " ".join(args), out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    return out


def rows(ctx, d, *args):
    """logs ... --format csv as a list of dicts (newest first)."""
    out = ctl(ctx, d, "logs", "--format", "csv", "--limit", "0", *args)
    return list(csv.DictReader(io.StringIO(out.stdout)))


def wait_rows(ctx, d, want, *args, timeout=8.0):
    """The records matching args, once at least WANT are there (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        r = rows(ctx, d, *args)
        if len(r) >= want or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def log_daemon(ctx, extra=None, start=True):
    """A daemon with the log on, a self_harm category blocking BLOCKED_NAME
    for every client on 127/8 (segment "pupils"), and its index compiled."""
    ctx.require_gatehouse("the query log and gatehousectl")
    lists = os.path.join(ctx.tmpdir, "selfharm.txt")
    with open(lists, "w") as f:
        f.write("selfharm-example.test\n")
    cfg = {
        "log": {"enabled": True, "safeguarding-categories": [SAFE_CAT]},
        "blocklists": {"categories": {SAFE_CAT: [lists]}},
        "policies": {"pupil": {"block": [SAFE_CAT]}},
        "segments": [{"name": "pupils", "networks": ["127.0.0.0/8"], "policy": "pupil"}],
    }
    if extra:
        for k, v in extra.items():
            cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
    d = ctx.daemon(config=cfg, start=False)
    d.write_config()
    ctl(ctx, d, "blocklists", "compile")
    return d.start() if start else d


def test_filters_order_cache_and_formats(ctx):
    d = log_daemon(ctx)
    a, b = "127.201.0.10", "127.201.0.11"
    assert d.dig("www.good.test", "A", source=a).rcode == "NOERROR"
    assert d.dig("www.good.test", "A", source=a).rcode == "NOERROR"  # from the cache
    assert d.dig("mail.good.test", "A", source=a).rcode == "NOERROR"
    assert d.dig("www.good.test", "AAAA", source=b).rcode == "NOERROR"
    blocked = d.dig(BLOCKED_NAME, "A", source=b)
    assert blocked.rcode != "SERVFAIL", blocked.text

    ra = wait_rows(ctx, d, 3, "--client", a)
    assert len(ra) == 3, ra
    times = [r["time"] for r in ra]
    assert times == sorted(times, reverse=True), "not newest first: %s" % times
    assert {r["client"] for r in ra} == {a}
    www = [r for r in ra if r["name"] == "www.good.test."]
    assert len(www) == 2, ra
    # newest first: the repeat (from the cache) comes before the first query
    assert www[0]["cache"] == "yes" and www[1]["cache"] == "no", www
    assert float(www[1]["ms"]) > 0 and float(www[0]["ms"]) < 1000, www
    assert www[1]["answers"] == "192.0.2.1", www
    assert all(r["segment"] == "pupils" for r in ra), ra

    rb = wait_rows(ctx, d, 2, "--client", b)
    assert len(rb) == 2, rb
    assert [r["name"] for r in rows(ctx, d, "--name", "www.good.test")].count(
        "www.good.test.") == 3
    suffix = rows(ctx, d, "--name", "*.good.test", "--since", "1h")
    assert sorted(r["name"] for r in suffix) == sorted(
        ["www.good.test."] * 3 + ["mail.good.test."]), suffix
    bl = rows(ctx, d, "--blocked")
    assert [r["name"] for r in bl] == [BLOCKED_NAME + "."], bl
    assert bl[0]["verdict"] == "blocked" and bl[0]["category"] == SAFE_CAT, bl
    assert [r["name"] for r in rows(ctx, d, "--category", SAFE_CAT)] == [BLOCKED_NAME + "."]
    assert len(rows(ctx, d, "--segment", "pupils")) == 5
    assert rows(ctx, d, "--client", a, "--name", "mail.good.test")[0]["client"] == a
    out = ctl(ctx, d, "logs", "--client", b, "--format", "json")
    js = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(js) == 2 and js[0]["client"] == b, js
    # the daily report: the safeguarding attempt, grouped by client
    today = time.strftime("%Y-%m-%d")
    text = ctl(ctx, d, "report", "daily", "--date", today, "--format", "text").stdout
    assert "%s (segment pupils): 1 attempt" % b in text, text
    assert BLOCKED_NAME in text, text
    html = ctl(ctx, d, "report", "daily", "--date", today, "--format", "html").stdout
    assert b in html and BLOCKED_NAME in html and "<svg" in html, html[:500]


def test_export_erase_audit(ctx):
    d = log_daemon(ctx)
    c = "127.201.1.20"
    for name in ("www.good.test", "mail.good.test", "good.test"):
        assert d.dig(name, "A", source=c).rcode == "NOERROR"
    assert len(wait_rows(ctx, d, 3, "--client", c)) == 3
    out = ctl(ctx, d, "logs", "export", "--client", c)
    exp = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(exp) == 3 and {r["client"] for r in exp} == {c}, out.stdout
    out = ctl(ctx, d, "logs", "erase", "--client", c, "--by", "Ms Head", "--reason", "SAR 42")
    assert "erased 3 records" in out.stdout, out.stdout
    assert rows(ctx, d, "--client", c) == []
    assert [r for r in rows(ctx, d, "--name", "*.good.test") if r["client"] == c] == []
    audit = ctl(ctx, d, "audit").stdout
    assert "erase" in audit and "SAR 42" in audit and "Ms Head" in audit, audit
    assert "export" in audit, audit


def test_purge_old_records(ctx):
    d = log_daemon(ctx, {"log": {"retention": "1d", "retention-flagged": "3d"}})
    fill = os.path.join(os.path.dirname(ctx.binary), "tests", "qlog_fill")
    path = os.path.join(d.state_dir, "querylog")
    assert d.dig("www.good.test", "A", source="127.201.2.1").rcode == "NOERROR"
    for args in (["20", str(2 * 86400), "127.201.2.2", "old.good.test"],
                 ["5", str(2 * 86400), "127.201.2.2", "oldblocked.good.test", "blocked", "1"],
                 ["7", str(5 * 86400), "127.201.2.2", "ancient.good.test", "blocked", "1"]):
        out = subprocess.run([fill, path, "0", "records"] + args, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
    assert len(wait_rows(ctx, d, 32, "--client", "127.201.2.2")) == 32
    out = ctl(ctx, d, "logs", "purge")
    assert "purged 27 records" in out.stdout, out.stdout
    left = rows(ctx, d, "--client", "127.201.2.2")
    assert [r["name"] for r in left] == ["oldblocked.good.test."] * 5, left
    assert len(wait_rows(ctx, d, 1, "--client", "127.201.2.1")) == 1


def _load(d, source, stop, counter, limit=200000):
    """Queries from SOURCE as fast as one socket allows, counting answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.5)
    q = make_query("www.good.test", "A")
    try:
        for _ in range(limit):
            if stop.is_set():
                break
            try:
                s.sendto(q, (d.addr, d.port))
                s.recvfrom(4096)
                counter[0] += 1
            except (socket.timeout, OSError):
                if stop.is_set():
                    break
    finally:
        s.close()


def test_kill9_under_load(ctx):
    d = log_daemon(ctx)
    src = "127.201.3.3"
    stop, counter = threading.Event(), [0]
    t = threading.Thread(target=_load, args=(d, src, stop, counter))
    t.start()
    time.sleep(3.0)
    rate = counter[0] / 3.0
    d.signal(signal.SIGKILL)
    time.sleep(0.3)
    stop.set()
    t.join(10)
    answered = counter[0]
    assert answered > 100, "only %d answers" % answered
    n = len(rows(ctx, d, "--client", src))
    lost = answered - n
    assert n <= answered, (n, answered)
    assert lost <= max(50, rate * 1.0), "lost %d of %d (%.0f/s)" % (lost, answered, rate)
    # no corruption: a restart replays the unindexed tail and goes on
    d.proc = None
    d.start()
    assert len(rows(ctx, d, "--client", src)) == n
    assert d.dig("mail.good.test", "A", source=src).rcode == "NOERROR"
    assert len(wait_rows(ctx, d, n + 1, "--client", src)) == n + 1
    assert len(rows(ctx, d, "--name", "www.good.test")) == n


def test_full_map_keeps_answering(ctx):
    d = log_daemon(ctx, {"log": {"map-size": "16m"}}, start=False)
    fill = os.path.join(os.path.dirname(ctx.binary), "tests", "qlog_fill")
    path = os.path.join(d.state_dir, "querylog")
    out = subprocess.run([fill, path, str(16 << 20), "fill"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and int(out.stdout) > 1000, out.stdout + out.stderr
    d.start()
    for i in range(300):
        a = d.dig("www.good.test", "A", source="127.201.4.%d" % (1 + i % 200))
        assert a.rcode == "NOERROR", a.text
        if "map is full" in d.log():
            break
    deadline = time.monotonic() + 5
    while "map is full" not in d.log() and time.monotonic() < deadline:
        d.dig("www.good.test", "A")
        time.sleep(0.3)
    assert d.log().count("map is full") == 1, d.log_tail()
    for _ in range(20):
        assert d.dig("mail.good.test", "A").rcode == "NOERROR"
    assert d.running(), d.status()


def test_follow_reads_while_daemon_writes(ctx):
    d = log_daemon(ctx)
    src = "127.201.5.5"
    p = subprocess.Popen([_ctl_path(ctx), "-c", d.conf, "logs", "--follow", "--format", "csv",
                          "--client", src], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        time.sleep(0.5)
        for name in ("www.good.test", "mail.good.test", "good.test"):
            assert d.dig(name, "A", source=src).rcode == "NOERROR"
        time.sleep(2.5)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=5)
    got = [r for r in csv.DictReader(io.StringIO(out))]
    assert sorted(r["name"] for r in got) == sorted(
        ["www.good.test.", "mail.good.test.", "good.test."]), out + err
    assert [r["name"] for r in got][0] == "www.good.test.", "follow is oldest first"


def test_device_names_from_dhcp_leases(ctx):
    """With dhcp.leases set, records and the daily report name the device
    (MAC and host name) that held the client's address at the time."""
    leases = os.path.join(ctx.tmpdir, "dnsmasq.leases")
    with open(leases, "w") as f:
        # dnsmasq: EXPIRY MAC ADDR HOST CLIENTID (expiry 0 = infinite)
        f.write("0 aa:bb:cc:00:11:22 127.201.0.20 ipad-year7-jo 01:aa:bb:cc:00:11:22\n")
    d = log_daemon(ctx, extra={"dhcp": {"leases": leases, "format": "dnsmasq"}})
    known, unknown = "127.201.0.20", "127.201.0.21"
    d.dig(BLOCKED_NAME, "A", source=known)
    d.dig("www.good.test", "A", source=unknown)
    rk = wait_rows(ctx, d, 1, "--client", known)
    assert rk and rk[0]["mac"] == "aa:bb:cc:00:11:22" and rk[0]["host"] == "ipad-year7-jo", rk
    ru = wait_rows(ctx, d, 1, "--client", unknown)
    assert ru and ru[0]["mac"] == "" and ru[0]["host"] == "", ru
    table = ctl(ctx, d, "logs", "--client", known).stdout
    assert "ipad-year7-jo aa:bb:cc:00:11:22" in table, table
    today = time.strftime("%Y-%m-%d")
    text = ctl(ctx, d, "report", "daily", "--date", today, "--format", "text").stdout
    assert "127.201.0.20 (ipad-year7-jo aa:bb:cc:00:11:22)" in text, text


def test_geo_options_and_columns_without_geo(ctx):
    """Without geo databases the asn, owner and country columns are there
    (at the end of the CSV, after mac and host) and empty; --asn and
    --country are validated with an error naming the argument; top asns and
    countries work (and count nothing)."""
    d = log_daemon(ctx)
    c = "127.201.6.6"
    assert d.dig("www.good.test", "A", source=c).rcode == "NOERROR"
    r = wait_rows(ctx, d, 1, "--client", c)
    assert len(r) == 1, r
    assert list(r[0])[-5:] == ["mac", "host", "asn", "owner", "country"], list(r[0])
    assert (r[0]["asn"], r[0]["owner"], r[0]["country"]) == ("", "", ""), r
    assert r[0]["answers"] == "192.0.2.1", r  # the columns before are unmoved
    out = ctl(ctx, d, "logs", "--client", c, "--format", "json")
    js = json.loads(out.stdout.splitlines()[0])
    assert list(js)[-3:] == ["asn", "owner", "country"] and js["asn"] == "", js
    table = ctl(ctx, d, "logs", "--client", c).stdout
    assert table.splitlines()[0].split()[-3:] == ["ASN", "OWNER", "COUNTRY"], table
    assert rows(ctx, d, "--asn", "AS9009") == []
    assert rows(ctx, d, "--country", "ro", "--client", c) == []
    for opt, val in (("--asn", "ASX"), ("--asn", "0"), ("--asn", "4294967296"),
                     ("--country", "R0"), ("--country", "ROU")):
        bad = ctl(ctx, d, "logs", opt, val, check=False)
        assert bad.returncode == 2, (opt, val, bad.returncode, bad.stdout)
        assert "bad %s '%s'" % (opt, val) in bad.stderr, bad.stderr
    for kind, title in (("asns", "NETWORK"), ("countries", "COUNTRY")):
        out = ctl(ctx, d, "top", kind)
        lines = out.stdout.splitlines()
        assert len(lines) == 1 and lines[0].split()[0] == title, out.stdout
    bad = ctl(ctx, d, "top", "owners", check=False)
    assert bad.returncode == 2 and "asns or countries" in bad.stderr, bad.stderr
    # the daily report's country section: the blocked query has no address
    assert d.dig(BLOCKED_NAME, "A", source=c).rcode != "SERVFAIL"
    assert len(wait_rows(ctx, d, 2, "--client", c)) == 2
    today = time.strftime("%Y-%m-%d")
    text = ctl(ctx, d, "report", "daily", "--date", today, "--format", "text").stdout
    assert re.search(r"^  \(unknown\)\s+1\s+1$", text, re.M), text
