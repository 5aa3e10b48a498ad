"""Resolver behaviour against the real daemon and the default private world.

Each test_* gets ctx (see tests/run: Context): ctx.world is the running
default world (tests/lib/privnet.py), ctx.daemon(config=...) a started
gatehoused with the test config (random 127.x.y.z address and port,
root hints of the world, query-loopback true, timeout 200ms, log off).
Counting uses NSD's own statistics (nsd-control) and, as root, the passive
tap on lo that records the qname of every query to 127.53/16.
"""

import os
import random
import socket
import struct
import time

import privnet
from daemon import make_query, parse_message
from privnet import GOOD, ROOT, TLD_TEST, SLOW, FORWARD

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ok(a, what=""):
    assert a.rcode == "NOERROR", "%s: rcode %s, want NOERROR\n%s" % (what, a.rcode, a.text)
    return a


def addrs(a, rtype="A"):
    return sorted(a.rdatas(rtype))


def raw_ok(reply, what):
    assert reply is not None, "%s: no reply" % what
    return parse_message(reply)


def still_answers(d):
    a = ok(d.dig("www.good.test", "A"), "daemon still answering")
    assert addrs(a) == ["192.0.2.1"], a.text
    assert d.running(), d.status()


# --- answers ---------------------------------------------------------------


def test_a_aaaa_mx_udp_and_tcp(ctx):
    d = ctx.daemon()
    for tcp in (False, True):
        how = "TCP" if tcp else "UDP"
        a = ok(d.dig("www.good.test", "A", tcp=tcp), how + " A")
        assert addrs(a) == ["192.0.2.1"], "%s A: %s" % (how, a.answer)
        assert "ra" in a.flags, "%s: RA not set: %s" % (how, a.flags)
        assert "aa" not in a.flags, "%s: AA set by a recursive resolver" % how
        assert "qr" in a.flags and "rd" in a.flags, a.flags
        a = ok(d.dig("www.good.test", "AAAA", tcp=tcp), how + " AAAA")
        assert addrs(a, "AAAA") == ["2001:db8::1"], a.answer
        a = ok(d.dig("good.test", "MX", tcp=tcp), how + " MX")
        assert a.rdatas("MX") == ["10 mail.good.test."], a.answer


def test_ttl_counts_down(ctx):
    d = ctx.daemon()
    first = ok(d.dig("other.good.test", "A")).answer
    assert first and first[0].ttl <= 3600, first
    time.sleep(2.2)
    second = ok(d.dig("other.good.test", "A")).answer
    assert second, "second answer empty"
    t1, t2 = first[0].ttl, second[0].ttl
    assert t2 < t1, "TTL did not count down: %d then %d" % (t1, t2)
    assert t1 - t2 <= 5, "TTL fell too far in 2 s: %d then %d" % (t1, t2)


def test_cached_answer_needs_no_upstream_query(ctx):
    w = ctx.world
    d = ctx.daemon()
    ok(d.dig("mail.good.test", "A"))
    before = w.settle()
    t0 = _mark(w)
    for tcp in (False, True):
        a = ok(d.dig("mail.good.test", "A", tcp=tcp))
        assert addrs(a) == ["192.0.2.25"], a.answer
    after = w.settle()
    assert after == before, "a cached name caused %d queries upstream%s" % (
        after - before, _seen(w, t0))


def _mark(w):
    return w.tap.mark() if w.tap else 0


def _seen(w, start):
    if not w.tap:
        return ""
    return ":\n" + "\n".join("  %s %s %s %s" % r[1:5] for r in w.tap.queries(start=start)[:30])


def test_short_ttl_is_refetched_after_expiry(ctx):
    w = ctx.world
    d = ctx.daemon()
    ok(d.dig("short.good.test", "A"))
    c1 = w.settle(GOOD)
    time.sleep(3.0)  # TTL is 2 s
    a = ok(d.dig("short.good.test", "A"))
    assert addrs(a) == ["192.0.2.3"], a.answer
    c2 = w.settle(GOOD)
    assert c2 > c1, "expired name was not fetched again (good.test servers: %d -> %d)" % (c1, c2)


def test_nxdomain_with_soa(ctx):
    d = ctx.daemon()
    for name in ("nope.good.test", "a.b.nx.good.test"):
        a = d.dig(name, "A")
        assert a.rcode == "NXDOMAIN", "%s: %s" % (name, a.text)
        assert not a.answer, a.answer
        soa = [rr for rr in a.authority if rr.rtype == "SOA"]
        assert soa and soa[0].name == "good.test.", "%s: no SOA of good.test: %s" % (
            name, a.authority)
        assert soa[0].ttl <= 300, "negative TTL above the SOA minimum: %s" % soa[0]


def test_nodata_with_soa(ctx):
    d = ctx.daemon()
    a = ok(d.dig("nodata.good.test", "A"))
    assert not a.answer, "NODATA with answers: %s" % a.answer
    assert [rr.name for rr in a.authority if rr.rtype == "SOA"] == ["good.test."], a.authority
    a = ok(d.dig("nodata.good.test", "TXT"))
    assert a.rdatas("TXT") == ['"only text here"'], a.answer


def test_cname_chain_across_zones(ctx):
    d = ctx.daemon()
    a = ok(d.dig("c1.good.test", "A"))
    chain = [(rr.name, rr.rdata) for rr in a.answer if rr.rtype == "CNAME"]
    want = [("c1.good.test.", "c2.example."), ("c2.example.", "c3.good.test."),
            ("c3.good.test.", "c4.example."), ("c4.example.", "c5.good.test."),
            ("c5.good.test.", "final.good.test.")]
    assert chain == want, "CNAME chain %s, want %s" % (chain, want)
    final = [(rr.name, rr.rdata) for rr in a.answer if rr.rtype == "A"]
    assert final == [("final.good.test.", "192.0.2.9")], a.answer


def test_dname(ctx):
    d = ctx.daemon()
    a = ok(d.dig("www.old.good.test", "A"))
    got = {(rr.name, rr.rtype, rr.rdata) for rr in a.answer}
    for rr in [("old.good.test.", "DNAME", "target.example."),
               ("www.old.good.test.", "CNAME", "www.target.example."),
               ("www.target.example.", "A", "192.0.2.50")]:
        assert rr in got, "missing %s in %s" % (rr, a.answer)


def test_glueless_delegation(ctx):
    d = ctx.daemon()
    a = ok(d.dig("www.glueless.test", "A"))
    assert addrs(a) == ["192.0.2.41"], a.answer


def test_lame_delegation_still_resolves(ctx):
    d = ctx.daemon()
    for qtype, want in (("A", ["192.0.2.51"]),):
        a = ok(d.dig("www.lame.test", qtype))
        assert addrs(a) == want, a.answer
    a = ok(d.dig("lame.test", "SOA"))
    assert a.types() == ["SOA"], a.answer


def test_silent_server_and_good_server(ctx):
    d = ctx.daemon()
    t0 = time.monotonic()
    a = ok(d.dig("www.dead.test", "A", timeout=6))
    took = time.monotonic() - t0
    assert addrs(a) == ["192.0.2.61"], a.answer
    # Gatehouse (resolver.timeout 200ms) must move on quickly; Unbound, run as
    # a peer, sometimes probes the silent server for several seconds.
    if not ctx.peer:
        assert took < 3.0, "took %.1f s with one silent server (timeout 200ms)" % took


def test_big_txt_over_tcp_and_tc_over_udp(ctx):
    w = ctx.world
    d = ctx.daemon()
    t0 = _mark(w)
    a = ok(d.dig("big.good.test", "TXT", tcp=True))
    assert len(a.answer) == 1, a.answer
    txt = a.answer[0].rdata
    for i in range(16):
        assert "chunk%02d-" % i in txt, "TXT incomplete: chunk%02d missing" % i
    if w.tap:
        tcp = [r for r in w.tap.queries(GOOD, "big.good.test", start=t0) if r[4] == "tcp"]
        assert tcp, "the resolver never retried over TCP after TC" + _seen(w, t0)
    a = ok(d.dig("big.good.test", "TXT", bufsize=512))
    assert "tc" in a.flags, "answer > 512 over UDP without TC: %s" % a.flags
    a = d.dig("big.good.test", "TXT", edns=False)
    assert "tc" in a.flags, "answer > 512 without EDNS and no TC: %s" % a.flags


def test_forward_zone(ctx):
    w = ctx.world
    d = ctx.daemon()
    before = w.queries(FORWARD)
    t0 = _mark(w)
    a = ok(d.dig("www.forward.lan", "A"))
    assert addrs(a) == ["192.0.2.91"], a.answer
    assert w.settle(FORWARD) > before, "forwarder saw no query"
    if w.tap:
        leaked = [r for r in w.tap.queries(start=t0) if r[1] != FORWARD and "lan" in r[2]]
        assert not leaked, "forward.lan was iterated too: %s" % leaked


# --- serve-stale -------------------------------------------------------------


def test_serve_stale(ctx):
    w = ctx.world
    d = ctx.daemon(config={"cache": {"serve-stale": True}})
    a = ok(d.dig("stale.good.test", "A"))
    assert addrs(a) == ["192.0.2.4"], a.answer
    w.stop_authoritative()  # the session restarts them after the test
    time.sleep(3.5)  # TTL 2 s
    a = ok(d.dig("stale.good.test", "A", timeout=5), "stale answer")
    assert addrs(a) == ["192.0.2.4"], a.answer
    assert a.answer[0].ttl == 30, "stale TTL %d, want 30 (RFC 8767)" % a.answer[0].ttl


def test_serve_stale_off_gives_servfail(ctx):
    # Gatehouse gives up after resolver.deadline (10 s by default); Unbound
    # keeps retrying dead servers for far longer than a test should wait.
    ctx.require_gatehouse("SERVFAIL within resolver.deadline")
    w = ctx.world
    d = ctx.daemon(config={"cache": {"serve-stale": False}})
    ok(d.dig("stale.good.test", "A"))
    w.stop_authoritative()
    time.sleep(3.5)
    a = d.dig("stale.good.test", "A", timeout=15)
    assert a.rcode == "SERVFAIL" and not a.answer, "expired answer served: %s" % a.text


# --- DNSSEC, on by default -----------------------------------------------------


def test_validation_on_by_default(ctx):
    """The test config says nothing of dnssec.enabled, only the world's root
    anchor: the root's keys validate (AD), each TLD is a proven insecure
    delegation (answers without AD), and with the built-in IANA anchor
    instead the private root's keys match nothing (SERVFAIL)."""
    ctx.require_gatehouse("Unbound runs as an iterator only")
    w = ctx.world
    assert w.anchor_file(), "the default world's root is not signed"
    d = ctx.daemon()
    a = ok(d.dig(".", "DNSKEY", extra=["+dnssec"]), "root DNSKEY")
    assert a.rdatas("DNSKEY") and "ad" in a.flags, "root keys not validated:\n" + a.text
    a = ok(d.dig("www.good.test", "A", extra=["+dnssec"]), "insecure answer")
    assert addrs(a) == ["192.0.2.1"] and "ad" not in a.flags, a.text
    a = d.dig("nope.test", "A", extra=["+dnssec"])
    assert a.rcode == "NXDOMAIN" and "ad" not in a.flags, a.text
    d.close()
    d = ctx.daemon(config={"dnssec": None})  # the built-in default: IANA anchor
    a = d.dig("www.good.test", "A", extra=["+dnssec"])
    assert a.rcode == "SERVFAIL" and not a.answer, "validated with the IANA anchor:\n" + a.text
    assert a.ede, "SERVFAIL without an Extended DNS Error saying why:\n" + a.text


# --- access control and malformed input ---------------------------------------


def test_refused_outside_client_networks(ctx):
    ctx.require_gatehouse("client-networks")
    d = ctx.daemon(config={"server": {"client-networks": ["127.9.9.9/32"]}})
    a = d.dig("www.good.test", "A", source="127.0.0.1")
    assert a.rcode == "REFUSED", "client outside client-networks got %s" % a.rcode
    assert not a.answer, a.answer
    a = ok(d.dig("www.good.test", "A", source="127.9.9.9"), "client inside")
    assert addrs(a) == ["192.0.2.1"], a.answer


def _header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def test_truncated_header_and_garbage(ctx):
    d = ctx.daemon()
    for n in (0, 1, 5, 11):
        r = d.send_udp(os.urandom(2) + b"\x01\x00"[: max(0, n - 2)] + b"\x00" * max(0, n - 4),
                       timeout=0.3)
        if r is not None:
            assert parse_message(r).rcode == "FORMERR", "reply to %d bytes: %r" % (n, r)
    rng = random.Random(1234)
    for i in range(200):
        pkt = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600)))
        d.send_udp(pkt, timeout=0.01)
    # TCP: a length that promises more than is sent, then hang up.
    s = socket.create_connection((d.addr, d.port), timeout=2)
    s.sendall(b"\x01\x00" + b"\x12\x34\x01")
    s.close()
    time.sleep(0.3)
    still_answers(d)


def test_bad_label_is_formerr(ctx):
    d = ctx.daemon()
    cases = {
        "label type 0x40": _header(0x1111) + b"\x41abc\x00\x00\x01\x00\x01",
        "label past end": _header(0x2222) + b"\x3fabc",
        "pointer loop": _header(0x3333) + b"\xc0\x0c\x00\x01\x00\x01",
        "no question tail": _header(0x4444) + b"\x03www\x00",
    }
    for what, pkt in cases.items():
        m = raw_ok(d.send_udp(pkt), what)
        assert m.rcode == "FORMERR", "%s: rcode %s" % (what, m.rcode)
        assert m.qr, what
    still_answers(d)


def test_two_questions_is_formerr(ctx):
    d = ctx.daemon()
    q = privnet.encode_name("www.good.test") + struct.pack("!HH", 1, 1)
    m = raw_ok(d.send_udp(_header(0x5555, qd=2) + q + q), "QDCOUNT=2")
    assert m.rcode == "FORMERR", "QDCOUNT=2 gave %s" % m.rcode
    assert m.id == 0x5555


def test_response_packets_are_not_answered(ctx):
    d = ctx.daemon()
    pkt = bytearray(make_query("www.good.test", "A", qid=0x6666))
    pkt[2] |= 0x80  # QR: a response, not a query
    assert d.send_udp(bytes(pkt), timeout=0.5) is None, "answered a response (reflection)"
    still_answers(d)


def test_class_ch_refused(ctx):
    d = ctx.daemon()
    m = raw_ok(d.send_udp(make_query("version.bind", "TXT", qclass=3)), "CH TXT")
    assert m.rcode == "REFUSED", "class CH gave %s" % m.rcode
    assert not m.answer, m.answer


def test_axfr_refused(ctx):
    d = ctx.daemon()
    m = raw_ok(d.send_tcp(make_query("good.test", "AXFR", edns=None)), "AXFR over TCP")
    assert m.rcode == "REFUSED", "AXFR over TCP gave %s" % m.rcode
    m = raw_ok(d.send_udp(make_query("good.test", "AXFR", edns=None)), "AXFR over UDP")
    assert m.rcode in ("REFUSED", "FORMERR"), "AXFR over UDP gave %s" % m.rcode
    still_answers(d)


def test_any_minimal(ctx):
    d = ctx.daemon()
    ok(d.dig("www.good.test", "TXT"))  # put a second type in the cache
    ok(d.dig("www.good.test", "A"))
    a = ok(d.dig("www.good.test", "ANY"), "ANY")
    types = set(a.types())
    assert a.answer, "ANY: empty answer"
    assert types <= {"A", "AAAA", "MX", "TXT", "HINFO"}, types
    assert len(types) == 1, "ANY returned %s: RFC 8482 wants one RRset or HINFO" % sorted(types)
    if types == {"HINFO"}:
        assert len(a.answer) == 1, a.answer


# --- EDNS --------------------------------------------------------------------


def test_edns_opt_and_buffer(ctx):
    d = ctx.daemon()
    a = ok(d.dig("www.good.test", "A", bufsize=4096))
    assert a.edns is not None, "no OPT in the answer to an EDNS query"
    assert a.edns["udp"] == 1232, "OPT says udp %d, want the server's 1232" % a.edns["udp"]
    m = raw_ok(d.send_udp(make_query("www.good.test", "A", edns=None)), "no-EDNS query")
    assert m.rcode == "NOERROR" and m.opt is None, "OPT in the answer to a non-EDNS query"


def test_edns_badvers(ctx):
    d = ctx.daemon()
    q = bytearray(make_query("www.good.test", "A"))
    q[-5] = 1  # OPT TTL bytes: extended rcode, version (= 1), DO+Z
    m = raw_ok(d.send_udp(bytes(q)), "EDNS version 1")
    assert m.rcode_num == 16, "EDNS version 1 gave %s, want BADVERS (RFC 6891 6.1.3)" % m.rcode


# --- configuration and signals -------------------------------------------------


def test_reload_with_broken_config_keeps_running(ctx):
    ctx.require_gatehouse("SIGHUP reload")
    d = ctx.daemon()
    ok(d.dig("www.good.test", "A"))
    mark = len(d.log())
    d.write_config("server:\n  listen: [unclosed\n  threads: two\n")
    d.hup()
    assert d.wait_log(r"%s:\d+" % d.conf.replace(".", r"\."), timeout=5, start=mark), \
        "no error naming %s after a bad reload:\n%s" % (d.conf, d.log()[mark:][-2000:])
    still_answers(d)
    a = ok(d.dig("www.glueless.test", "A"), "new resolution after failed reload")
    assert addrs(a) == ["192.0.2.41"], a.answer


def test_reload_good_config_applies(ctx):
    ctx.require_gatehouse("SIGHUP reload")
    d = ctx.daemon()
    ok(d.dig("www.good.test", "A", source="127.0.0.1"))
    cfg = dict(d.config)
    cfg["server"] = dict(cfg["server"], **{"client-networks": ["127.9.9.9/32"]})
    d.write_config(cfg)
    d.hup()
    rcode = None
    for _ in range(30):
        rcode = d.dig("www.good.test", "A", source="127.0.0.1").rcode
        if rcode == "REFUSED":
            break
        time.sleep(0.1)
    assert rcode == "REFUSED", "client-networks change not applied by SIGHUP (got %s)" % rcode
    assert d.running(), d.status()


GOOD_CONFIG = """server:
  listen: ["127.0.0.1@5399"]
  threads: 1
resolver:
  qname-minimisation: true
cache:
  serve-stale: true
log:
  enabled: false
"""


def test_check_config(ctx):
    ctx.require_gatehouse("--check-config")
    d = ctx.daemon(start=False, raw_config="")
    good = os.path.join(ctx.tmpdir, "good.yaml")
    with open(good, "w") as f:
        f.write(GOOD_CONFIG)
    rc, out = d.check_config(good)
    assert rc == 0, "good config rejected (%d): %s" % (rc, out)
    cases = [
        # (text, line, col): an unknown key is reported where the key starts.
        ("server:\n  threads: 1\n  bogus-key: 3\n", 3, 3),
        ("server:\n  threads: 1\nresolver:\n  no-such-thing: true\n", 4, 3),
        ("server:\n  threads: 1000\n", 2, None),
        ("server:\n  listen: [\"127.0.0.1@5399\"\n", None, None),
    ]
    for i, (text, line, col) in enumerate(cases):
        path = os.path.join(ctx.tmpdir, "bad%d.yaml" % i)
        with open(path, "w") as f:
            f.write(text)
        rc, out = d.check_config(path)
        assert rc != 0, "bad config %d accepted:\n%s" % (i, text)
        if line is None:
            prefix = path + ":"
        elif col is None:
            prefix = "%s:%d:" % (path, line)
        else:
            prefix = "%s:%d:%d: " % (path, line, col)
        assert any(l.startswith(prefix) for l in out.splitlines()), \
            "bad config %d: no line starting %r in:\n%s" % (i, prefix, out)


def test_version(ctx):
    ctx.require_gatehouse("--version")
    from daemon import run_binary
    rc, out = run_binary(ctx.binary, ["--version"])
    with open(os.path.join(ROOT_DIR, "VERSION")) as f:
        version = f.read().strip()
    assert rc == 0, "--version exited %d: %s" % (rc, out)
    assert version in out, "--version output %r lacks %s" % (out, version)


def test_sigterm_exits_zero(ctx):
    ctx.require_gatehouse("exit code")
    d = ctx.daemon()
    ok(d.dig("www.good.test", "A"))
    d.term()
    rc = d.wait(10)
    assert rc is not None, "still running 10 s after SIGTERM"
    assert rc == 0, "exit code %s after SIGTERM:\n%s" % (rc, d.log_tail())


# --- QNAME minimisation and in-flight join --------------------------------------


def test_qname_minimisation(ctx):
    w = ctx.world
    if not w.tap:
        ctx.skip("needs the packet tap (root) to see query names")
    name = "deep.a.b.c.d.good.test."
    t0 = _mark(w)
    d = ctx.daemon(config={"resolver": {"qname-minimisation": True}})
    a = ok(d.dig(name, "A"))
    assert addrs(a) == ["192.0.2.7"], a.answer
    w.settle()
    root_q = {r[2] for r in w.tap.queries(ROOT, start=t0)}
    tld_q = {r[2] for r in w.tap.queries(TLD_TEST, start=t0)}
    assert root_q, "root saw no query at all"
    assert all(q.count(".") <= 1 for q in root_q), "root saw %s" % sorted(root_q)
    assert all(q.count(".") <= 2 for q in tld_q), "test. servers saw %s" % sorted(tld_q)
    d.close()
    # And without minimisation the full name does go to the root: the tap works.
    t1 = _mark(w)
    d2 = ctx.daemon(config={"resolver": {"qname-minimisation": False}})
    ok(d2.dig(name, "A"))
    w.settle()
    root_q = {r[2] for r in w.tap.queries(ROOT, start=t1)}
    assert name in root_q, "with minimisation off the root saw only %s" % sorted(root_q)


def test_identical_upstream_queries_are_joined(ctx):
    """A burst of different cold names: each resolution would prime the
    root, ask for its DNSKEY and walk down test. by itself; the same
    upstream query in flight is sent once and its reply answers all of
    them.  Counted at the root servers (NSD's statistics)."""
    ctx.require_gatehouse("joins identical upstream queries")
    w = ctx.world
    d = ctx.daemon(config={"server": {"threads": 1}})
    roots = list(ROOT)
    w.settle()
    before = w.queries(roots)
    n = 40
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        for i in range(n):
            s.sendto(make_query("burst%d.good.test" % i, "A", qid=0x6000 + i), (d.addr, d.port))
        got = set()
        for _ in range(n):
            m = parse_message(s.recvfrom(65535)[0])
            assert m.rcode == "NXDOMAIN", m
            got.add(m.id)
        assert got == {0x6000 + i for i in range(n)}, sorted(got)
    finally:
        s.close()
    asked = w.settle(roots) - before
    # Priming, the root's DNSKEY, test.'s referral (and the minimised
    # steps): a handful, once per root server at most, not once per name.
    assert asked <= 12, "%d cold names asked the root servers %d times" % (n, asked)


def test_inflight_join(ctx):
    w = ctx.world
    d = ctx.daemon(config={"server": {"threads": 1}, "resolver": {"timeout": "1500ms"}})
    ok(d.dig("www.slow.test", "A", timeout=5))  # the delegation is now cached
    w.settle()
    before = w.queries(SLOW)
    t0 = _mark(w)
    socks = []
    try:
        for i in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(4)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendto(make_query("one.slow.test", "A", qid=0x7000 + i), (d.addr, d.port))
        for i, s in enumerate(socks):
            m = parse_message(s.recvfrom(65535)[0])
            assert m.rcode == "NOERROR" and m.answer, "query %d: %s" % (i, m)
            assert m.id == 0x7000 + i
    finally:
        for s in socks:
            s.close()
    w.settle()
    if w.tap:
        n = len(w.tap.queries(SLOW, "one.slow.test", start=t0))
    else:
        n = w.queries(SLOW) - before
    assert n == 1, "two concurrent queries caused %d upstream queries%s" % (n, _seen(w, t0))
