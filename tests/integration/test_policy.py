"""Filtering policy against the real daemon: segments, categories, actions.

Each test builds its own configuration: a blocklist index compiled with
`gatehousectl -c CONF blocklists compile` from the small lists in
tests/data/policy/ (one per format: plain domains, hosts, adblock, RPZ),
policies and segments, and a daemon started on it.  Segments are told apart
by the client's source address on loopback (dig -b): each source below is in
its own /24 of GATEHOUSE_PRIVNET.  Names that must resolve live in a private
world of this module (policy_world(), servers on NET.100.1-3): pt.test with
a wildcard, google.com, www.google.co.uk, youtube.com, icloud.com, the
Firefox canary in net., _dns.resolver.arpa.

Every test asserts on what a client sees (rcode, records, TTLs, the EDE
option) or on gatehousectl's output; none measures speed.
"""

import datetime
import os
import re
import socket
import struct
import subprocess
import threading
import time
import zoneinfo

import daemon as daemonlib
import privnet
from daemon import make_query, parse_message
from privnet import net

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTS = os.path.join(ROOT_DIR, "tests", "data", "policy")

# Client source addresses, one /24 per segment (never servers: nothing binds them).
SRC = {
    "staff": net("150.10"),
    "pupil": net("151.10"),
    "open": net("152.10"),
    "extra1": net("153.10"),
    "extra2": net("154.10"),
    "extra3": net("155.10"),
    "nowhere": net("159.10"),  # in no segment
}

WILD = "192.0.2.10"  # every otherwise unnamed pt.test name (zone wildcard)

CATEGORIES = {
    "adult": ["adult.txt"],
    "gambling": ["gambling.hosts"],
    "social_networks": ["social.adblock"],
    "malware": ["malware.rpz"],
    "statutory": ["statutory.txt"],
    "games": ["games.txt"],
}


# --- the world, the index, the daemon -------------------------------------------------


def policy_world():
    """Root NET.100.1, TLDs NET.100.2, leaf zones NET.100.3."""
    root, tld, leaf = net("100.1"), net("100.2"), net("100.3")
    w = privnet.WorldSpec()
    w.zone(".", {"a.root-servers.": root})
    for z in ("test.", "com.", "uk.", "co.uk."):
        w.zone(z, {"ns.nic.%s" % z: tld})
    w.zone("net.", {"ns.nic.net.": tld}, records="use-application-dns 3600 A 192.0.2.130\n")
    w.zone("arpa.", {"ns.nic.arpa.": tld}, records="_dns.resolver 3600 A 192.0.2.140\n")
    w.zone("pt.test.", {"ns.pt.test.": leaf}, records="""
*            3600 A %s
*            3600 AAAA 2001:db8::10
news         3600 A 192.0.2.11
alias        3600 CNAME alias-target.pt.test.
start        3600 CNAME x.evil.pt.test.
x.evil       3600 CNAME end.pt.test.
*.evil       3600 A %s
end          3600 A 192.0.2.12
""" % (WILD, WILD))
    w.zone("google.com.", {"ns.google.com.": leaf}, records="""
@               3600 A 192.0.2.102
www             3600 A 192.0.2.100
forcesafesearch 3600 A 192.0.2.101
""")
    w.zone("google.co.uk.", {"ns.google.co.uk.": leaf}, records="""
@    3600 A 192.0.2.111
www  3600 A 192.0.2.110
""")
    w.zone("youtube.com.", {"ns.youtube.com.": leaf}, records="""
www              3600 A 192.0.2.120
restrict         3600 A 192.0.2.121
restrictmoderate 3600 A 192.0.2.122
""")
    w.zone("icloud.com.", {"ns.icloud.com.": leaf}, records="""
mask     3600 A 192.0.2.150
mask-h2  3600 A 192.0.2.151
""")
    return w


def categories(extra=None):
    cats = {c: [os.path.join(LISTS, f) for f in files] for c, files in CATEGORIES.items()}
    cats.update(extra or {})
    return cats


def seg(name, policy, src=None):
    net24 = (src or SRC[name]).rsplit(".", 1)[0] + ".0/24"
    return {"name": name, "networks": [net24], "policy": policy}


def new_world(ctx, spec):
    """ctx.new_world, but in a short temp dir of its own: NSD's control
    socket path must fit in sun_path (108 bytes), and the per-test tmpdir
    of a long test name does not."""
    if os.geteuid() != 0:
        ctx.skip("needs root (the private internet binds port 53)")
    w = privnet.World(spec)
    ctx.worlds.append(w)
    return w.start()


def ctl_binary(ctx):
    return os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "gatehousectl")


def ctl(ctx, d, *args, timeout=60):
    """gatehousectl -c <the daemon's config> ARGS; returns (rc, stdout+stderr)."""
    env = dict(os.environ)
    if ctx.sanitizer:
        env.update(daemonlib.ASAN_ENV)
    try:
        out = subprocess.run([ctl_binary(ctx), "-c", d.conf] + list(args), capture_output=True,
                             text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("gatehousectl %s did not exit within %d s" % (" ".join(args), timeout))
    return out.returncode, out.stdout + out.stderr


def compile_index(ctx, d):
    rc, out = ctl(ctx, d, "blocklists", "compile")
    assert rc == 0, "blocklists compile exited %d:\n%s" % (rc, out)
    assert re.search(r"compiled \d+ names", out), out
    return out


def policy_daemon(ctx, policies, segments, world=None, cats=None, extra=None, start=True):
    """A daemon with these policies and segments over a freshly compiled index."""
    ctx.require_gatehouse("tests Gatehouse filtering policy")
    cfg = {"blocklists": {"categories": cats or categories()},
           "policies": policies, "segments": segments}
    d = ctx.daemon(config=daemonlib.merge(cfg, extra), world=world, start=False)
    d.write_config()
    d.compile_report = compile_index(ctx, d)
    if start:
        d.start()
    return d


def q(d, who, name, qtype="A", **kw):
    return d.dig(name, qtype, source=SRC.get(who, who), **kw)


def ede_codes(a):
    out = []
    for e in a.ede:
        m = re.match(r"(\d+)", e)
        if m:
            out.append(int(m.group(1)))
    return out


def answered(a, want=None, what=""):
    assert a.rcode == "NOERROR", "%s: rcode %s, want NOERROR\n%s" % (what, a.rcode, a.text)
    got = sorted(a.rdatas("A"))
    assert got, "%s: no A record\n%s" % (what, a.text)
    if want is not None:
        assert got == sorted(want if isinstance(want, list) else [want]), \
            "%s: A %s, want %s\n%s" % (what, got, want, a.text)
    assert not ede_codes(a) or not set(ede_codes(a)) & {15, 17}, \
        "%s: answered but with a block EDE %s" % (what, a.ede)
    return a


def blocked(a, rcode="NXDOMAIN", ede=17, what="", text=None):
    """A synthesized block answer: the rcode, no records for NXDOMAIN/NODATA,
    the EDE code, and (optionally) words its text must contain."""
    assert a.rcode == rcode, "%s: rcode %s, want %s (blocked)\n%s" % (what, a.rcode, rcode,
                                                                     a.text)
    codes = ede_codes(a)
    assert ede in codes, "%s: EDE %s, want %d\n%s" % (what, a.ede, ede, a.text)
    for word in ([text] if isinstance(text, str) else (text or [])):
        assert any(word in e for e in a.ede), "%s: EDE text %s lacks %r" % (what, a.ede, word)
    return a


def nodata(a, ede=17, what="", text=None):
    blocked(a, "NOERROR", ede, what, text)
    assert not a.answer, "%s: NODATA block with answers %s" % (what, a.answer)
    return a


# --- lists, categories and segments ------------------------------------------------------


def test_compiled_formats_block_per_segment(ctx):
    """A name from each list format, and a name below it, is blocked for the
    segment whose policy blocks its category and answered for another."""
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {
        "strict": {"block": ["adult", "gambling", "social_networks", "malware"]},
        "open": {"safe-search": "off"},
    }, [seg("pupil", "strict"), seg("open", "open")], world=w)
    rep = d.compile_report
    for f in ("adult.txt", "gambling.hosts", "social.adblock", "malware.rpz"):
        assert f in rep, "compile report does not name %s:\n%s" % (f, rep)
    cases = [  # name, category, the format that listed it
        ("adult.pt.test", "adult", "plain"), ("www.adult.pt.test", "adult", "plain, below"),
        ("wild.pt.test", "adult", "*. apex"), ("a.b.wild.pt.test", "adult", "*. below"),
        ("both.pt.test", None, "plain+hosts"),
        ("casino.pt.test", "gambling", "hosts"), ("m.bet.pt.test", "gambling", "hosts, below"),
        ("social.pt.test", "social_networks", "adblock"),
        ("x.chat.pt.test", "social_networks", "adblock $important, below"),
        ("malware.pt.test", "malware", "rpz"), ("deep.y.evil.pt.test", "malware", "rpz *."),
        ("dropped.pt.test", "malware", "rpz absolute owner, rpz-drop"),
    ]
    for name, cat, how in cases:
        what = "%s (%s) from pupil" % (name, how)
        blocked(q(d, "pupil", name), "NXDOMAIN", 17, what, text=cat)
        answered(q(d, "open", name), WILD, "%s (%s) from open" % (name, how))
    # Not listed: answered for both.  An adblock @@ exception is unsupported,
    # so the parent's rule still covers it.
    for who in ("pupil", "open"):
        answered(q(d, who, "news.pt.test"), "192.0.2.11", "unlisted name from " + who)
        answered(q(d, who, "localhost.pt.test"), WILD, "hosts 'localhost' not listed")
    blocked(q(d, "pupil", "ok.social.pt.test"), "NXDOMAIN", 17, "@@ exception (unsupported)")
    # Upper case, trailing dot and CRLF in the list; upper case in the query.
    blocked(q(d, "pupil", "BOTH.Pt.Test."), "NXDOMAIN", 17, "mixed-case query")


def test_block_actions_and_ttl(ctx):
    """nxdomain, nodata, null and a block page, each with its policy's TTL;
    a per-category action overrides the policy's default."""
    ctx.require_gatehouse()
    w = ctx.world
    pols = {
        "nx": {"block": ["adult", "gambling"], "action": {"default": "nxdomain", "ttl": "30s"}},
        "nd": {"block": ["adult"], "action": {"default": "nodata", "ttl": "45s"}},
        "nul": {"block": ["adult"], "action": {"default": "null", "ttl": "1m"}},
        "page": {"block": ["adult", "gambling", "malware"],
                 "action": {"default": "192.0.2.80 2001:db8::80", "ttl": "5m",
                            "categories": {"gambling": "nodata", "malware": "192.0.2.81"}}},
    }
    d = policy_daemon(ctx, pols, [seg("staff", "nx"), seg("pupil", "nd"), seg("open", "nul"),
                                  seg("extra1", "page")], world=w)
    for qt in ("A", "AAAA", "TXT"):
        a = blocked(q(d, "staff", "adult.pt.test", qt), "NXDOMAIN", 17, "nxdomain " + qt)
        assert not a.answer, a.text
        for rr in a.authority:  # a negative TTL, if any, must not exceed the policy's
            assert rr.ttl <= 30, "nxdomain %s: authority TTL %d > 30\n%s" % (qt, rr.ttl, a.text)
        a = nodata(q(d, "pupil", "adult.pt.test", qt), 17, "nodata " + qt)
        for rr in a.authority:
            assert rr.ttl <= 45, "nodata %s: authority TTL %d > 45\n%s" % (qt, rr.ttl, a.text)
    a = blocked(q(d, "open", "adult.pt.test", "A"), "NOERROR", 17, "null A")
    assert [(r.rtype, r.rdata, r.ttl) for r in a.answer] == [("A", "0.0.0.0", 60)], a.text
    a = blocked(q(d, "open", "adult.pt.test", "AAAA"), "NOERROR", 17, "null AAAA")
    assert [(r.rtype, r.rdata, r.ttl) for r in a.answer] == [("AAAA", "::", 60)], a.text
    nodata(q(d, "open", "adult.pt.test", "MX"), 17, "null MX")
    a = blocked(q(d, "extra1", "www.adult.pt.test", "A"), "NOERROR", 17, "page A")
    assert [(r.name, r.rtype, r.rdata, r.ttl) for r in a.answer] == \
        [("www.adult.pt.test.", "A", "192.0.2.80", 300)], a.text
    a = blocked(q(d, "extra1", "www.adult.pt.test", "AAAA"), "NOERROR", 17, "page AAAA")
    assert [(r.rtype, r.rdata, r.ttl) for r in a.answer] == [("AAAA", "2001:db8::80", 300)], \
        a.text
    nodata(q(d, "extra1", "casino.pt.test", "A"), 17, "page policy, gambling: nodata")
    a = blocked(q(d, "extra1", "malware.pt.test", "A"), "NOERROR", 17, "malware: own page")
    assert a.rdatas("A") == ["192.0.2.81"], a.text
    # A second ask is the same (nothing cached under the block's name).
    a = blocked(q(d, "open", "adult.pt.test", "A"), "NOERROR", 17, "null A again")
    assert a.rdatas("A") == ["0.0.0.0"] and 0 < a.answer[0].ttl <= 60, a.text
    # Over TCP too.
    a = blocked(q(d, "extra1", "adult.pt.test", "A", tcp=True), "NOERROR", 17, "page A, TCP")
    assert a.rdatas("A") == ["192.0.2.80"], a.text


def test_ede_codes_and_text(ctx):
    """17 Filtered (category, schedule) and 15 Blocked (deny, bypass,
    statutory); the text names the category or rule and the policy."""
    ctx.require_gatehouse()
    d = policy_daemon(ctx, {
        "pupil": {"block": ["adult", "gambling"], "deny": ["denied.pt.test"],
                  "schedules": [{"during": "always", "block": ["games"]}]},
    }, [seg("pupil", "pupil")], world=ctx.world,
        extra={"schedules": {"always": {"windows": ["mon-sun 00:00-24:00"]}}})
    a = blocked(q(d, "pupil", "adult.pt.test"), "NXDOMAIN", 17, "category",
                text=["adult", "pupil"])
    assert 15 not in ede_codes(a), a.ede
    blocked(q(d, "pupil", "casino.pt.test"), "NXDOMAIN", 17, "category", text="gambling")
    # In two categories: the EDE names one of them.
    a = blocked(q(d, "pupil", "both.pt.test"), "NXDOMAIN", 17, "two categories")
    assert any("adult" in e or "gambling" in e for e in a.ede), a.ede
    blocked(q(d, "pupil", "games.pt.test"), "NXDOMAIN", 17, "schedule", text=["games", "always"])
    blocked(q(d, "pupil", "denied.pt.test"), "NXDOMAIN", 15, "deny", text="denied.pt.test")
    blocked(q(d, "pupil", "use-application-dns.net"), "NXDOMAIN", 15, "bypass")
    blocked(q(d, "pupil", "iwf.pt.test"), "NXDOMAIN", 15, "statutory", text="statutory")


def test_allow_beats_deny_beats_category(ctx):
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {
        "pupil": {"block": ["adult", "gambling"],
                  "allow": ["allowed-adult.pt.test", "contested.pt.test", "www.adult.pt.test",
                            "*.ok.wild.pt.test"],
                  "deny": ["contested.pt.test", "casino.pt.test", "*.denied.pt.test",
                           "exact-deny.pt.test"]},
    }, [seg("pupil", "pupil")], world=w)
    # allow > category
    answered(q(d, "pupil", "allowed-adult.pt.test"), WILD, "allowed, in adult")
    # allow > deny
    answered(q(d, "pupil", "contested.pt.test"), WILD, "in allow and deny")
    # deny > category: 15 (deny) not 17 (category)
    a = blocked(q(d, "pupil", "casino.pt.test"), "NXDOMAIN", 15, "denied and in gambling",
                text="casino.pt.test")
    assert 17 not in ede_codes(a), a.ede
    # *. entries: the name and everything below; exact entries: the name only.
    blocked(q(d, "pupil", "denied.pt.test"), "NXDOMAIN", 15, "*.denied apex")
    blocked(q(d, "pupil", "a.b.denied.pt.test"), "NXDOMAIN", 15, "*.denied below")
    answered(q(d, "pupil", "notdenied.pt.test"), WILD, "label boundary")
    blocked(q(d, "pupil", "exact-deny.pt.test"), "NXDOMAIN", 15, "exact deny")
    answered(q(d, "pupil", "sub.exact-deny.pt.test"), WILD, "below an exact deny")
    answered(q(d, "pupil", "x.ok.wild.pt.test"), WILD, "*. allow below a *. category entry")
    answered(q(d, "pupil", "ok.wild.pt.test"), WILD, "*. allow apex")
    blocked(q(d, "pupil", "other.wild.pt.test"), "NXDOMAIN", 17, "*.wild still blocked")
    answered(q(d, "pupil", "www.adult.pt.test"), WILD, "exact allow")
    blocked(q(d, "pupil", "x.www.adult.pt.test"), "NXDOMAIN", 17, "below an exact allow")
    blocked(q(d, "pupil", "adult.pt.test"), "NXDOMAIN", 17, "parent of an exact allow")


def test_cname_chain_through_blocked_name(ctx):
    """A chain through a blocked name is blocked for the segment that blocks
    it, from the resolution and from the cache, and answered for a segment
    that allows it from the same cache."""
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {"strict": {"block": ["adult", "malware"]},
                            "open": {"safe-search": "off"}},
                      [seg("pupil", "strict"), seg("open", "open")], world=w)
    # Miss first from the blocking segment: the chain is checked on delivery.
    a = blocked(q(d, "pupil", "alias.pt.test"), "NXDOMAIN", 17, "alias -> adult, miss",
                text=["adult", "alias-target.pt.test"])
    assert not a.answer, a.text
    a = answered(q(d, "open", "alias.pt.test"), WILD, "alias from open")
    assert ("CNAME", "alias-target.pt.test.") in [(r.rtype, r.rdata) for r in a.answer], a.text
    # Through a blocked middle: start -> x.evil (malware) -> end.
    a = answered(q(d, "open", "start.pt.test"), "192.0.2.12", "chain from open, miss")
    names = [r.name for r in a.answer]
    assert "x.evil.pt.test." in names, a.text
    before = w.settle()
    blocked(q(d, "pupil", "start.pt.test"), "NXDOMAIN", 17, "chain via x.evil, cached",
            text=["malware", "x.evil.pt.test"])
    blocked(q(d, "pupil", "alias.pt.test"), "NXDOMAIN", 17, "alias -> adult, cached")
    answered(q(d, "open", "start.pt.test"), "192.0.2.12", "chain from open, cached")
    answered(q(d, "open", "alias.pt.test"), WILD, "alias from open, cached")
    after = w.settle()
    assert after == before, "cached chains caused %d upstream queries" % (after - before)
    # The blocked target itself, asked directly.
    blocked(q(d, "pupil", "x.evil.pt.test"), "NXDOMAIN", 17, "blocked middle, directly")


def test_bypass_names(ctx):
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {"prot": {"block": ["adult"]},
                            "noprot": {"block": ["adult"], "bypass-protection": False}},
                      [seg("pupil", "prot"), seg("staff", "noprot")], world=w)
    want = {"use-application-dns.net": "192.0.2.130", "mask.icloud.com": "192.0.2.150",
            "mask-h2.icloud.com": "192.0.2.151"}
    for name, addr in want.items():
        for qt in ("A", "AAAA", "HTTPS"):
            blocked(q(d, "pupil", name, qt), "NXDOMAIN", 15, "%s %s, protected" % (name, qt))
        answered(q(d, "staff", name), addr, name + ", no protection")
    for qt in ("SVCB", "A"):
        nodata(q(d, "pupil", "_dns.resolver.arpa", qt), 15, "_dns.resolver.arpa " + qt)
    answered(q(d, "staff", "_dns.resolver.arpa"), "192.0.2.140", "_dns.resolver.arpa, no prot")
    # Only the exact names: a name below the canary is not the canary.
    a = q(d, "pupil", "x.use-application-dns.net")
    assert a.rcode == "NXDOMAIN" and 15 not in ede_codes(a), a.text  # the world's NXDOMAIN
    answered(q(d, "staff", "mask.icloud.com"), "192.0.2.150", "again, no protection")


def test_safe_search(ctx):
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {"strict": {"safe-search": "strict"},
                            "moderate": {"safe-search": "moderate"},
                            "off": {"safe-search": "off"}},
                      [seg("pupil", "strict"), seg("staff", "moderate"), seg("open", "off")],
                      world=w)

    def rewritten(a, name, target, addr, what):
        assert a.rcode == "NOERROR", "%s: %s\n%s" % (what, a.rcode, a.text)
        got = [(r.name, r.rtype, r.rdata) for r in a.answer]
        assert got == [(name, "CNAME", target), (target, "A", addr)], \
            "%s: answer %s, want %s CNAME %s, %s A %s" % (what, got, name, target, target, addr)

    for round_ in ("miss", "hit"):
        for who in ("pupil", "staff"):
            for name in ("www.google.co.uk.", "google.com.", "www.google.com."):
                rewritten(q(d, who, name), name, "forcesafesearch.google.com.", "192.0.2.101",
                          "%s %s (%s)" % (who, name, round_))
        rewritten(q(d, "pupil", "www.youtube.com"), "www.youtube.com.",
                  "restrict.youtube.com.", "192.0.2.121", "strict youtube (%s)" % round_)
        rewritten(q(d, "staff", "www.youtube.com"), "www.youtube.com.",
                  "restrictmoderate.youtube.com.", "192.0.2.122", "moderate youtube (%s)" % round_)
        answered(q(d, "open", "www.google.co.uk"), "192.0.2.110", "safe search off")
        answered(q(d, "open", "www.youtube.com"), "192.0.2.120", "safe search off")
        answered(q(d, "open", "google.com"), "192.0.2.102", "safe search off")
    # The enforcement name itself, and names not rewritten.
    answered(q(d, "pupil", "forcesafesearch.google.com"), "192.0.2.101", "target itself")
    answered(q(d, "pupil", "news.pt.test"), "192.0.2.11", "other names untouched")


def test_statutory_always_blocked(ctx):
    """Blocked for a segment with no categories, and even when allowed."""
    w = new_world(ctx, policy_world())
    d = policy_daemon(ctx, {
        "none": {"safe-search": "off"},
        "allows": {"allow": ["iwf.pt.test", "*.pt.test"], "bypass-protection": False,
                   "action": {"default": "192.0.2.80", "ttl": "10s"}},
    }, [seg("staff", "none"), seg("open", "allows")], world=w)
    blocked(q(d, "staff", "iwf.pt.test"), "NXDOMAIN", 15, "no categories", text="statutory")
    blocked(q(d, "staff", "www.iwf.pt.test"), "NXDOMAIN", 15, "below, no categories")
    a = blocked(q(d, "open", "iwf.pt.test"), "NOERROR", 15, "in the allow list",
                text="statutory")
    assert a.rdatas("A") == ["192.0.2.80"], a.text
    answered(q(d, "open", "adult.pt.test"), WILD, "allow list still works for the rest")
    answered(q(d, "staff", "adult.pt.test"), WILD, "no categories")


def test_no_segment_is_refused(ctx):
    ctx.require_gatehouse()
    d = policy_daemon(ctx, {"open": {"safe-search": "off"}}, [seg("open", "open")],
                      world=ctx.world)
    answered(q(d, "open", "www.good.test"), "192.0.2.1", "in a segment")
    # From the daemon's own address, on a port of our choosing: with port 0,
    # dig (SO_REUSEPORT, as root) may be given the daemon's own port and
    # receive its own query.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((d.addr, 0))
    own = "%s#%d" % (d.addr, probe.getsockname()[1])
    probe.close()
    for src in (SRC["nowhere"], "127.0.0.1", own):
        for name in ("www.good.test", "adult.pt.test", "iwf.pt.test", "use-application-dns.net"):
            for tcp in (False, True):
                a = d.dig(name, "A", source=src, tcp=tcp)
                assert a.rcode == "REFUSED", "%s from %s (%s): %s\n%s" % (
                    name, src, "TCP" if tcp else "UDP", a.rcode, a.text)
                assert not a.answer, a.text
    # Raw: no answer records, RA may be set, but never data.
    reply = d.send_udp(make_query("www.good.test", "A"), source=SRC["nowhere"])
    assert reply is not None, "no reply to a query from outside every segment"
    m = parse_message(reply)
    assert m.rcode == "REFUSED" and not m.answer, m


def _local_now(tz):
    return datetime.datetime.now(zoneinfo.ZoneInfo(tz))


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _hhmm(mins):
    return "%02d:%02d" % (mins // 60, mins % 60)


def test_schedule_blocks_only_during_window(ctx):
    """Rules follow schedules in the configured time zone (Asia/Kolkata,
    never London's offset): a window around the current minute blocks, a
    window that ends before it does not; `check --at` agrees."""
    ctx.require_gatehouse()
    tz = "Asia/Kolkata"
    now = _local_now(tz)
    if now.hour == 23 and now.minute >= 50 or now.hour == 0 and now.minute < 10:
        # near midnight: full-day windows keep the test exact
        on = "%s 00:00-24:00" % ",".join(DAYS[(now.weekday() + i) % 7] for i in (0, 1))
        off = "%s 00:00-24:00" % DAYS[(now.weekday() + 3) % 7]
    else:
        m = now.hour * 60 + now.minute
        day = DAYS[now.weekday()]
        on = "%s %s-%s" % (day, _hhmm(max(0, m - 5)), _hhmm(min(1440, m + 10)))
        off = "%s %s-%s" % (day, _hhmm(max(0, m - 400)), _hhmm(max(1, m - 3))) if m >= 4 \
            else "%s 00:00-24:00" % DAYS[(now.weekday() + 3) % 7]
    # The same window shifted into London time must NOT cover now there:
    # if the daemon ignored the time zone, "on" would be off.
    d = policy_daemon(ctx, {
        "pupil": {"schedules": [{"during": "on", "block": ["gambling"]},
                                {"during": "off", "block": ["adult"]},
                                {"outside": "off", "block": ["games"]}]},
    }, [seg("pupil", "pupil")], world=ctx.world,
        extra={"timezone": tz, "schedules": {"on": {"windows": [on]},
                                             "off": {"windows": [off]}}})
    blocked(q(d, "pupil", "casino.pt.test"), "NXDOMAIN", 17, "during 'on' (%s)" % on,
            text=["gambling", "on"])
    blocked(q(d, "pupil", "games.pt.test"), "NXDOMAIN", 17, "outside 'off' (%s)" % off,
            text="games")
    a = q(d, "pupil", "adult.pt.test")
    assert a.rcode != "NXDOMAIN" or not set(ede_codes(a)) & {15, 17}, \
        "adult blocked outside its window %s (now %s %s):\n%s" % (off, tz, now, a.text)
    # check --at: the same verdicts at fixed times, in the configured zone.
    # 2026-11-23 is a Monday.
    d2cfg = dict(d.config)
    d2cfg["schedules"] = {"on": {"windows": ["mon 08:50-12:15"]},
                          "off": {"windows": ["tue 08:50-12:15"]}}
    d.write_config(d2cfg)
    for at, want in (("2026-11-23 08:49", "ANSWERED"), ("2026-11-23 08:50", "BLOCKED"),
                     ("2026-11-23 12:14", "BLOCKED"), ("2026-11-23 12:15", "ANSWERED"),
                     ("2026-11-24 09:00", "ANSWERED")):
        rc, out = ctl(ctx, d, "check", "casino.pt.test", "--segment", "pupil", "--at", at)
        assert rc == 0, out
        m = re.search(r"verdict:\s+(\w+)", out)
        assert m and m.group(1) == want, "casino.pt.test at %s: want %s\n%s" % (at, want, out)
        if want == "BLOCKED":
            assert "schedule" in out and "IST" in out, out


def test_reload_switches_lists_without_losing_queries(ctx):
    """Recompile the index with a newly listed name, SIGHUP, and keep 2,000
    UDP queries going across it: every one is answered; the new name is
    blocked after the reload, and a delisted name is answered."""
    ctx.require_gatehouse()
    late = os.path.join(ctx.tmpdir, "late.txt")
    with open(late, "w") as f:
        f.write("old-listed.pt.test\n")
    cats = categories({"late": [late]})
    d = policy_daemon(ctx, {"pupil": {"block": ["adult", "late"]}},
                      [seg("pupil", "pupil")], world=ctx.world, cats=cats)
    blocked(q(d, "pupil", "old-listed.pt.test"), "NXDOMAIN", 17, "before", text="late")
    a = q(d, "pupil", "www.good.test")
    answered(a, "192.0.2.1", "fills the cache")
    before = q(d, "pupil", "new-listed.good.test")
    assert before.rcode == "NXDOMAIN" and not set(ede_codes(before)) & {15, 17}, before.text

    names = [b"www.good.test", b"adult.pt.test", b"old-listed.pt.test"]
    stats = {"sent": 0, "answered": 0, "bad": [], "lost": []}
    stop = threading.Event()

    def loop():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((SRC["pupil"], 0))
        s.settimeout(1.0)
        deadline = time.monotonic() + 20
        try:
            for i in range(2000):
                if time.monotonic() > deadline:
                    break
                qid = i & 0xFFFF
                s.sendto(make_query(names[i % 3].decode(), "A", qid=qid), (d.addr, d.port))
                stats["sent"] += 1
                while True:
                    try:
                        data = s.recv(4096)
                    except socket.timeout:
                        stats["lost"].append(i)
                        break
                    if struct.unpack("!H", data[:2])[0] != qid:
                        continue  # a late reply to an earlier query
                    m = parse_message(data)
                    if m.rcode not in ("NOERROR", "NXDOMAIN"):
                        stats["bad"].append((i, m.rcode))
                    stats["answered"] += 1
                    break
                time.sleep(0.0008)
        finally:
            s.close()
            stop.set()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    time.sleep(0.6)
    with open(late, "w") as f:
        f.write("new-listed.good.test\n")
    compile_index(ctx, d)
    mark = len(d.log())
    d.hup()
    assert d.wait_log(r"reloaded configuration", 5, start=mark), \
        "no reload line:\n" + d.log_tail()
    t.join(30)
    assert stop.is_set(), "query loop did not finish"
    assert stats["sent"] == 2000, "loop stopped early: %s" % stats["sent"]
    assert not stats["lost"], "%d of %d queries unanswered across the reload (first: %s)" % (
        len(stats["lost"]), stats["sent"], stats["lost"][:10])
    assert not stats["bad"], "bad rcodes across the reload: %s" % stats["bad"][:10]
    assert stats["answered"] == 2000, stats
    blocked(q(d, "pupil", "new-listed.good.test"), "NXDOMAIN", 17, "new name after reload",
            text="late")
    blocked(q(d, "pupil", "x.new-listed.good.test"), "NXDOMAIN", 17, "below the new name")
    a = q(d, "pupil", "old-listed.pt.test")
    assert not set(ede_codes(a)) & {15, 17}, "delisted name still blocked:\n" + a.text
    blocked(q(d, "pupil", "adult.pt.test"), "NXDOMAIN", 17, "unchanged list after reload")
    assert d.running(), d.status()


def test_ctl_check_explains(ctx):
    ctx.require_gatehouse()
    d = policy_daemon(ctx, {
        "pupil": {"block": ["adult", "gambling"], "deny": ["denied.pt.test"],
                  "allow": ["allowed-adult.pt.test"],
                  "action": {"default": "192.0.2.80", "ttl": "5m"},
                  "schedules": [{"during": "lessons", "block": ["games"]}]},
        "staff": {"block": ["malware"], "action": {"default": "nodata", "ttl": "30s"}},
    }, [seg("pupil", "pupil"), seg("staff", "staff")], world=ctx.world,
        extra={"timezone": "Europe/London",
               "schedules": {"lessons": {"windows": ["mon-fri 08:50-12:15"]}}}, start=False)

    def check(name, *args):
        rc, out = ctl(ctx, d, "check", name, *args)
        assert rc == 0, "check %s %s exited %d:\n%s" % (name, " ".join(args), rc, out)
        return out

    adult = os.path.join(LISTS, "adult.txt")
    out = check("www.adult.pt.test", "--segment", "pupil")
    assert re.search(r"verdict:\s+BLOCKED, answered block page 192\.0\.2\.80, TTL 300", out), out
    assert re.search(r"decided by: category, category adult", out), out
    assert "adult.pt.test. is listed in %s line 2" % adult in out, out
    out = check("www.adult.pt.test", "--segment", "staff")
    assert re.search(r"verdict:\s+ANSWERED", out), out
    out = check("casino.pt.test", "--client", SRC["pupil"])
    assert "segment:    pupil" in out and "category gambling" in out, out
    assert "gambling.hosts line 4" in out, out
    out = check("malware.pt.test", "--client", SRC["staff"])
    assert re.search(r"BLOCKED, answered NODATA, TTL 30\b", out), out
    assert "malware.rpz line 5" in out, out
    out = check("denied.pt.test", "--segment", "pupil")
    m = re.search(r'decided by: deny-list, rule "denied.pt.test" at (\S+) line (\d+)', out)
    assert m, out
    with open(m.group(1)) as f:
        line = f.read().splitlines()[int(m.group(2)) - 1]
    assert "denied.pt.test" in line, "config line %s is %r" % (m.group(2), line)
    out = check("allowed-adult.pt.test", "--segment", "pupil")
    assert "ANSWERED" in out and "allow-list" in out, out
    # --at: a Monday in lessons, then a Saturday.
    out = check("games.pt.test", "--client", SRC["pupil"], "--at", "2026-11-23 10:00")
    assert "BLOCKED" in out and "schedule" in out and 'rule "lessons"' in out, out
    assert "2026-11-23 10:00 GMT (Monday)" in out, out
    out = check("games.pt.test", "--client", SRC["pupil"], "--at", "2026-11-28 10:00")
    assert "ANSWERED" in out, out
    out = check("iwf.pt.test", "--segment", "staff")
    assert "BLOCKED" in out and "decided by: statutory" in out and "statutory.txt line 2" in out
    rc, out = ctl(ctx, d, "check", "www.good.test", "--client", SRC["nowhere"])
    assert rc == 0 and "REFUSED" in out, out
    rc, out = ctl(ctx, d, "check", "x.test", "--segment", "nosuch")
    assert rc != 0 and "no segment" in out, out
    rc, out = ctl(ctx, d, "check", "x.test", "--segment", "pupil", "--at", "2026-02-31 10:00")
    assert rc == 2, "impossible date accepted:\n" + out
    # The daemon agrees with check.
    d.start()
    a = blocked(q(d, "pupil", "www.adult.pt.test"), "NOERROR", 17, "daemon agrees")
    assert a.rdatas("A") == ["192.0.2.80"] and a.answer[0].ttl == 300, a.text


def test_query_log_records_blocked(ctx):
    ctx.require_gatehouse()
    d = policy_daemon(ctx, {"pupil": {"block": ["adult", "gambling"], "deny": ["denied.pt.test"]},
                            "open": {"safe-search": "off"}},
                      [seg("pupil", "pupil"), seg("open", "open")], world=ctx.world,
                      extra={"log": {"enabled": True}})
    blocked(q(d, "pupil", "adult.pt.test"), "NXDOMAIN", 17, "adult")
    blocked(q(d, "pupil", "casino.pt.test", "AAAA"), "NXDOMAIN", 17, "gambling")
    blocked(q(d, "pupil", "denied.pt.test"), "NXDOMAIN", 15, "deny")
    answered(q(d, "open", "www.good.test"), "192.0.2.1", "answered")
    rows, out = [], ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rc, out = ctl(ctx, d, "logs", "--blocked", "--format", "csv", "--since", "today",
                      "--reason", "integration test")
        if rc == 0:
            rows = [r for r in out.splitlines() if r.strip()]
            if len(rows) >= 4:
                break
        time.sleep(0.3)
    assert rows and rows[0].startswith("time,"), "no CSV header:\n%s" % out
    hdr = rows[0].split(",")
    recs = [dict(zip(hdr, r.split(","))) for r in rows[1:]]
    by = {r.get("name", "").rstrip("."): r for r in recs}
    assert set(by) == {"adult.pt.test", "casino.pt.test", "denied.pt.test"}, \
        "blocked records %s, want the three blocked names:\n%s" % (sorted(by), out)
    assert by["adult.pt.test"]["category"] == "adult", out
    assert by["casino.pt.test"]["category"] == "gambling", out
    assert by["casino.pt.test"]["type"] == "AAAA", out
    for r in by.values():
        assert r["segment"] == "pupil", out
        assert r["client"] == SRC["pupil"], out
        assert r["verdict"].lower().startswith("block"), out


def test_compiler_reports_malformed_lines(ctx):
    """Bad lines are FILE:LINE: reason, compiling goes on, exit 0, and the
    good names of the same file are in the index."""
    ctx.require_gatehouse()
    bad = os.path.join(LISTS, "malformed.txt")
    d = policy_daemon(ctx, {"p": {"block": ["broken"]}}, [seg("pupil", "p")],
                      world=ctx.world, cats=categories({"broken": [bad]}))
    out = d.compile_report
    for line, why in ((3, "empty label"), (6, "longer than 63"), (7, "after name")):
        rep = [l for l in out.splitlines() if "%s:%d: " % (bad, line) in l]
        assert rep and why in rep[0], "no report of line %d (%s):\n%s" % (line, why, out)
    assert re.search(r"3 bad, 1 addresses skipped", out), out
    for line in (2, 5, 9):
        assert "%s:%d:" % (bad, line) not in out, "good line %d reported bad:\n%s" % (line, out)
    for name in ("good-one.pt.test", "good-two.pt.test", "good-three.pt.test"):
        blocked(q(d, "pupil", name), "NXDOMAIN", 17, name + " from the malformed file",
                text="broken")
    # A file that does not exist is a real error (exit 1), not a silent skip.
    rc, out = ctl(ctx, d, "blocklists", "compile", "--out", os.path.join(ctx.tmpdir, "x.mdb"),
                  "--category", "x=" + os.path.join(ctx.tmpdir, "missing.txt"))
    assert rc == 1, "missing list: exit %d:\n%s" % (rc, out)
    # A binary file and a huge line do not stop it either.
    junk = os.path.join(ctx.tmpdir, "junk.txt")
    with open(junk, "wb") as f:
        f.write(b"ok-a.pt.test\n\x00\xff\xfe garbage\n" + b"x" * 100000 + b"\nok-b.pt.test\n")
    rc, out = ctl(ctx, d, "blocklists", "compile", "--out", os.path.join(ctx.tmpdir, "j.mdb"),
                  "--category", "junk=" + junk)
    assert rc == 0, "junk list: exit %d:\n%s" % (rc, out)
    assert "%s:2:" % junk in out and "%s:3:" % junk in out, out
    for name, want in (("ok-a.pt.test", "junk"), ("ok-b.pt.test", "junk")):
        rc, o = ctl(ctx, d, "blocklists", "lookup", name, "--index",
                    os.path.join(ctx.tmpdir, "j.mdb"))
        assert rc == 0 and want in o, o
