"""DNSSEC validation against a signed private internet (tests/lib/signed.py).

One signed world (built once per run, signatures made at build time) with:
a secure chain root -> test. -> secure.test. (NSEC) and nsec3.test. (NSEC3),
an insecure delegation (insecure.test., no DS), a tampered signature
(bogus.test.), expired signatures (expired.test.), a DS naming an
unsupported algorithm (unsupported.test., RFC 8624), and an NSEC3 opt-out
zone with an unsigned child.  Every case is asked with `dig +dnssec` and
checked for rcode, AD and the Extended DNS Error.
"""

import os
import re
import socket
import time

import daemon as daemonlib
import privnet
import signed
from privnet import net as _world_net


def net(rest):
    """The signed world's addresses: NET.200+x.y.  It lives for the whole
    session (started once, stopped at exit), so it keeps clear of the default
    world (NET.0-9.y) and of the worlds other tests start and stop for
    themselves (NET.100-159.y)."""
    a, b = rest.split(".", 1)
    return _world_net("%d.%s" % (200 + int(a), b))



def _spec():
    w = privnet.WorldSpec()
    w.zone(".", {"a.root-servers.": net("0.1")}, neg_ttl=600)
    w.zone("test.", {"ns1.nic.test.": net("1.1")})
    w.zone("secure.test.", {"ns1.secure.test.": net("2.1")}, records="""
www       3600 A 192.0.2.1
*.wild    3600 A 192.0.2.2
text      3600 TXT "only text"
alias     3600 CNAME www.secure.test.
out       3600 CNAME www.insecure.test.
big       3600 TXT "%s" "%s"
short     2    A 192.0.2.12
dn        3600 DNAME nsec3.test.
""" % ("a" * 200, "b" * 200))
    w.zone("nsec3.test.", {"ns1.nsec3.test.": net("3.1")}, records="""
www       3600 A 192.0.2.3
*.wild    3600 A 192.0.2.4
towild    3600 CNAME anything.wild.secure.test.
""")
    w.zone("insecure.test.", {"ns1.insecure.test.": net("4.1")}, records="www 3600 A 192.0.2.5\n")
    w.zone("bogus.test.", {"ns1.bogus.test.": net("5.1")}, records="""
www       3600 A 192.0.2.6
ok        3600 A 192.0.2.7
""")
    w.zone("expired.test.", {"ns1.expired.test.": net("6.1")}, records="www 3600 A 192.0.2.8\n")
    w.zone("unsupported.test.", {"ns1.unsupported.test.": net("7.1")},
           records="www 3600 A 192.0.2.9\n")
    w.zone("optout.test.", {"ns1.optout.test.": net("8.1")}, records="www 3600 A 192.0.2.10\n")
    w.zone("unsigned.optout.test.", {"ns1.unsigned.optout.test.": net("9.1")},
           records="www 3600 A 192.0.2.11\n")
    signing = {
        ".": signed.Sign(),
        "test.": signed.Sign(),
        "secure.test.": signed.Sign(),
        "nsec3.test.": signed.Sign(nsec3=True, salt="ab12"),
        "bogus.test.": signed.Sign(tamper={"www": ("192.0.2.6", "192.0.2.66")}),
        "expired.test.": signed.Sign(expired=True),
        "unsupported.test.": signed.Sign(ds_alg=253),
        "optout.test.": signed.Sign(nsec3=True, optout=True),
    }
    return w, signing


def _world(ctx):
    """The signed world, built and started once per run."""
    return signed.session_world(ctx, "signed_world", _spec, "gatehouse-signed-")


def _daemon(ctx, **dnssec):
    ctx.require_gatehouse("tests Gatehouse's validator")
    w = _world(ctx)
    cfg = {"dnssec": dict({"enabled": True, "trust-anchor-file": [w.anchor_file()]}, **dnssec)}
    return ctx.daemon(config=cfg, world=w)


def _q(d, name, qtype="A", cd=False):
    extra = ["+dnssec"] + (["+cd"] if cd else [])
    return d.dig(name, qtype, extra=extra)


def _secure(a, what):
    assert a.rcode in ("NOERROR", "NXDOMAIN"), "%s: %s\n%s" % (what, a.rcode, a.text)
    assert "ad" in a.flags, "%s: AD not set\n%s" % (what, a.text)


def _insecure(a, what, rcode="NOERROR"):
    assert a.rcode == rcode, "%s: %s, want %s\n%s" % (what, a.rcode, rcode, a.text)
    assert "ad" not in a.flags, "%s: AD set on insecure data\n%s" % (what, a.text)


def _bogus(a, what, ede):
    assert a.rcode == "SERVFAIL", "%s: %s, want SERVFAIL\n%s" % (what, a.rcode, a.text)
    assert any(e.startswith("%d " % ede) or e.startswith("%d(" % ede) or e == str(ede)
               for e in a.ede), "%s: want EDE %d, got %s\n%s" % (what, ede, a.ede, a.text)


def _worker_passes_cd():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(root, "resolver", "worker.c")) as f:
            return "iter_set_cd" in f.read()
    except OSError:
        return False


# --- secure ------------------------------------------------------------------


def test_secure_answer_has_ad(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.secure.test")
    _secure(a, "www.secure.test A")
    assert a.rdatas("A") == ["192.0.2.1"], a.text
    # Again, from the cache: still secure.
    _secure(_q(d, "www.secure.test"), "cached www.secure.test A")


def test_secure_nsec_nxdomain_and_nodata(ctx):
    d = _daemon(ctx)
    a = _q(d, "nope.secure.test")
    assert a.rcode == "NXDOMAIN", a.text
    _secure(a, "NSEC NXDOMAIN")
    a = _q(d, "text.secure.test", "A")
    assert a.rcode == "NOERROR" and not a.answer, a.text
    _secure(a, "NSEC NODATA")


def test_secure_nsec3(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.nsec3.test")
    _secure(a, "NSEC3 zone answer")
    a = _q(d, "nope.nsec3.test")
    assert a.rcode == "NXDOMAIN", a.text
    _secure(a, "NSEC3 NXDOMAIN")
    a = _q(d, "www.nsec3.test", "TXT")
    assert a.rcode == "NOERROR" and not a.answer, a.text
    _secure(a, "NSEC3 NODATA")


def test_secure_wildcard(ctx):
    d = _daemon(ctx)
    a = _q(d, "anything.wild.secure.test")
    _secure(a, "NSEC wildcard")
    assert a.rdatas("A") == ["192.0.2.2"], a.text
    a = _q(d, "x.wild.nsec3.test")
    _secure(a, "NSEC3 wildcard")
    assert a.rdatas("A") == ["192.0.2.4"], a.text


def test_secure_cname(ctx):
    d = _daemon(ctx)
    a = _q(d, "alias.secure.test")
    _secure(a, "CNAME within a secure zone")
    assert a.rdatas("A") == ["192.0.2.1"], a.text


# --- insecure ----------------------------------------------------------------


def test_insecure_delegation(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.insecure.test")
    _insecure(a, "no DS at test.")
    assert a.rdatas("A") == ["192.0.2.5"], a.text
    _insecure(_q(d, "nope.insecure.test"), "insecure NXDOMAIN", "NXDOMAIN")


def test_cname_from_secure_to_insecure_is_insecure(ctx):
    d = _daemon(ctx)
    a = _q(d, "out.secure.test")
    _insecure(a, "secure CNAME to an insecure zone")
    assert a.rdatas("A") == ["192.0.2.5"], a.text


def test_unsupported_ds_algorithm_is_insecure(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.unsupported.test")
    _insecure(a, "DS algorithm 253 (RFC 8624: insecure, not bogus)")
    assert a.rdatas("A") == ["192.0.2.9"], a.text


def test_nsec3_optout_unsigned_child(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.unsigned.optout.test")
    _insecure(a, "child under an opt-out span")
    assert a.rdatas("A") == ["192.0.2.11"], a.text
    _secure(_q(d, "www.optout.test"), "signed data in the opt-out zone")


def test_negative_trust_anchor(ctx):
    d = _daemon(ctx, **{"negative-trust-anchors": ["bogus.test"]})
    a = _q(d, "www.bogus.test")
    _insecure(a, "under a negative trust anchor")
    assert a.rdatas("A") == ["192.0.2.66"], a.text
    _secure(_q(d, "www.secure.test"), "outside the NTA")


# --- bogus -------------------------------------------------------------------


def test_tampered_signature_is_bogus(ctx):
    d = _daemon(ctx)
    _bogus(_q(d, "www.bogus.test"), "tampered A", 6)
    # The untouched record of the same zone is fine.
    _secure(_q(d, "ok.bogus.test"), "untampered A in the same zone")
    # Still SERVFAIL the second time (nothing bogus was cached as good).
    _bogus(_q(d, "www.bogus.test"), "tampered A again", 6)


def test_expired_signature(ctx):
    d = _daemon(ctx)
    _bogus(_q(d, "www.expired.test"), "expired RRSIG", 7)


def test_cd_returns_unchecked_data(ctx):
    if not _worker_passes_cd():
        ctx.skip("worker.c does not pass the client's CD to iter_set_cd yet (lead's patch)")
    d = _daemon(ctx)
    a = _q(d, "www.bogus.test", cd=True)
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.66"], a.text
    assert "ad" not in a.flags, a.text
    _bogus(_q(d, "www.bogus.test"), "without CD", 6)


# --- what DO clients get (RFC 4035 section 3.2.1) ----------------------------


def _plain(d, name, qtype="A", **kw):
    """Without DO (dig's default EDNS query has DO clear)."""
    return d.dig(name, qtype, **kw)


def _sigs(a, covered, section="answer"):
    """The RRSIGs of a section that cover type `covered`."""
    return [rr for rr in getattr(a, section)
            if rr.rtype == "RRSIG" and rr.rdata.split()[0] == covered]


def _no_dnssec_records(a, what):
    for sec in ("answer", "authority", "additional"):
        bad = [rr for rr in getattr(a, sec) if rr.rtype in ("RRSIG", "NSEC", "NSEC3")]
        assert not bad, "%s: DNSSEC records without DO in %s: %s\n%s" % (what, sec, bad, a.text)


def _signed_positive(a, what, rtype="A"):
    _secure(a, what)
    assert a.rdatas(rtype), "%s: no %s\n%s" % (what, rtype, a.text)
    assert _sigs(a, rtype), "%s: no RRSIG over the %s set\n%s" % (what, rtype, a.text)


def _signed_denial(a, what, rcode, denial):
    _secure(a, what)
    assert a.rcode == rcode, "%s: %s, want %s\n%s" % (what, a.rcode, rcode, a.text)
    assert not a.answer, a.text
    assert "SOA" in a.types("authority"), "%s: no SOA\n%s" % (what, a.text)
    assert _sigs(a, "SOA", "authority"), "%s: no RRSIG over the SOA\n%s" % (what, a.text)
    assert denial in a.types("authority"), "%s: no %s\n%s" % (what, denial, a.text)
    assert _sigs(a, denial, "authority"), "%s: no RRSIG over the %s\n%s" % (what, denial, a.text)
    # Every denial record comes with a signature over it (one per owner).
    owners = {rr.name for rr in a.authority if rr.rtype == denial}
    signed = {rr.name for rr in _sigs(a, denial, "authority")}
    assert owners == signed, "%s: unsigned %s: %s\n%s" % (what, denial, owners - signed, a.text)


def test_do_positive_answer_has_rrsigs(ctx):
    d = _daemon(ctx)
    for when in ("miss", "cache"):
        _signed_positive(_q(d, "www.secure.test"), "www.secure.test A DO (%s)" % when)
    for when in ("miss", "cache"):
        _signed_positive(_q(d, "www.nsec3.test"), "www.nsec3.test A DO (%s)" % when)
    # A CNAME chain: both RRsets carry their signatures.
    for when in ("miss", "cache"):
        a = _q(d, "alias.secure.test")
        _signed_positive(a, "alias.secure.test DO (%s)" % when)
        assert _sigs(a, "CNAME"), a.text
    a = _plain(d, "www.secure.test")
    assert a.rdatas("A") == ["192.0.2.1"], a.text
    _no_dnssec_records(a, "www.secure.test without DO")


def test_do_wildcard_answer_has_proof(ctx):
    """RFC 4035 3.1.3.3: a wildcard expansion comes with the NSEC/NSEC3
    showing no closer name exists."""
    d = _daemon(ctx)
    for name, denial in (("anything.wild.secure.test", "NSEC"), ("x.wild.nsec3.test", "NSEC3")):
        for when in ("miss", "cache"):
            a = _q(d, name)
            _signed_positive(a, "%s DO (%s)" % (name, when))
            assert denial in a.types("authority"), a.text
            assert _sigs(a, denial, "authority"), a.text
        _no_dnssec_records(_plain(d, name), name + " without DO")


def test_do_negative_answers_carry_denial(ctx):
    d = _daemon(ctx)
    cases = (("nope.secure.test", "A", "NXDOMAIN", "NSEC"),
             ("text.secure.test", "A", "NOERROR", "NSEC"),
             ("nope.nsec3.test", "A", "NXDOMAIN", "NSEC3"),
             ("www.nsec3.test", "TXT", "NOERROR", "NSEC3"))
    for name, qtype, rcode, denial in cases:
        for when in ("miss", "cache"):
            _signed_denial(_q(d, name, qtype), "%s %s DO (%s)" % (name, qtype, when), rcode,
                           denial)
        a = _plain(d, name, qtype)
        assert a.rcode == rcode and a.types("authority") == ["SOA"], a.text
        _no_dnssec_records(a, "%s %s without DO" % (name, qtype))


def test_do_and_plain_interleaved(ctx):
    """The same question from DO and non-DO clients, alternating, on a
    miss and then from the cache: each gets its own form."""
    d = _daemon(ctx)
    for name, qtype in (("www.secure.test", "A"), ("nope.secure.test", "A"),
                        ("www.nsec3.test", "TXT")):
        for i in range(3):
            do = _q(d, name, qtype)
            plain = _plain(d, name, qtype, extra=["+noadflag"])
            what = "%s %s round %d" % (name, qtype, i)
            _secure(do, what + " DO")
            assert _sigs(do, qtype) or _sigs(do, "SOA", "authority"), what + "\n" + do.text
            _no_dnssec_records(plain, what + " plain")
            assert "ad" not in plain.flags, plain.text  # RFC 6840 5.8: asked with neither DO nor AD
            assert plain.rcode == do.rcode, (plain.text, do.text)
    # Plain first this time, then DO.
    plain = _plain(d, "ok.bogus.test")
    _no_dnssec_records(plain, "ok.bogus.test plain first")
    _signed_positive(_q(d, "ok.bogus.test"), "ok.bogus.test DO after plain")


def test_do_insecure_answer_has_no_ad_and_no_sigs(ctx):
    d = _daemon(ctx)
    for when in ("miss", "cache"):
        a = _q(d, "www.insecure.test")
        _insecure(a, "insecure DO (%s)" % when)
        assert a.rdatas("A") == ["192.0.2.5"] and not _sigs(a, "A"), a.text


def test_do_bogus_stays_servfail(ctx):
    d = _daemon(ctx)
    for when in ("miss", "again"):
        a = _q(d, "www.bogus.test")
        _bogus(a, "bogus DO (%s)" % when, 6)
        assert not a.answer and not a.authority, a.text


def test_do_cd_returns_unchecked_data_with_rrsigs(ctx):
    d = _daemon(ctx)
    a = _q(d, "www.bogus.test", cd=True)
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.66"], a.text
    assert _sigs(a, "A"), "CD+DO: the (bad) RRSIG must come along\n%s" % a.text
    assert "ad" not in a.flags, a.text
    # Secure data asked with CD, from the cache the second time.
    for when in ("miss", "cache"):
        a = _q(d, "www.secure.test", cd=True)
        assert a.rdatas("A") == ["192.0.2.1"] and _sigs(a, "A"), a.text
    a = d.dig("www.bogus.test", "A", extra=["+cd"])
    assert a.rcode == "NOERROR", a.text
    _no_dnssec_records(a, "CD without DO")


def test_do_truncation_over_udp(ctx):
    """RRSIGs make the DO answer bigger than 512 octets where the plain one
    fits: over UDP with a 512-octet buffer the DO client gets TC (RFC 2181
    section 9) and the whole signed answer over TCP; the plain client is
    not truncated."""
    d = _daemon(ctx)
    for when in ("miss", "cache"):
        a = d.dig("big.secure.test", "TXT", bufsize=512, extra=["+dnssec"])
        assert "tc" in a.flags, "DO over UDP/512 (%s): want TC\n%s" % (when, a.text)
        assert not a.answer, a.text
        p = d.dig("big.secure.test", "TXT", bufsize=512)
        assert "tc" not in p.flags and len(p.rdatas("TXT")) == 1, p.text
        _no_dnssec_records(p, "big TXT plain")
    a = d.dig("big.secure.test", "TXT", tcp=True, extra=["+dnssec"])
    _signed_positive(a, "big TXT DO over TCP", "TXT")
    a = d.dig("big.secure.test", "TXT", bufsize=1232, extra=["+dnssec"])
    assert "tc" not in a.flags, a.text
    _signed_positive(a, "big TXT DO over UDP/1232", "TXT")


def test_validation_off_answers_bogus_data(ctx):
    ctx.require_gatehouse()
    w = _world(ctx)
    d = ctx.daemon(config={"dnssec": {"enabled": False}}, world=w)
    a = d.dig("www.bogus.test", "A", extra=["+dnssec"])
    assert a.rcode == "NOERROR" and "ad" not in a.flags, a.text


# --- the NSEC cache: RFC 8198 and cached "no DS" proofs (RFC 4035 4.7) -------


def _quiet_count(w):
    """Queries every server of the signed world has answered, once still."""
    return w.settle()


def _metric(d, mport, name):
    """One value from the daemon's Prometheus endpoint."""
    s = socket.create_connection((d.addr, mport), timeout=5)
    try:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        buf = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    m = re.search(r"^gatehouse_%s (\d+)$" % name, buf.decode("latin-1"), re.M)
    assert m, "no metric %s in:\n%s" % (name, buf.decode("latin-1")[:2000])
    return int(m.group(1))


def test_aggressive_nsec_nxdomain_needs_no_query(ctx):
    ctx.require_gatehouse("tests Gatehouse's NSEC cache")
    w = _world(ctx)
    _, mport = daemonlib.free_address()
    d = ctx.daemon(config={"dnssec": {"enabled": True, "trust-anchor-file": [w.anchor_file()]}},
                   world=w, start=False)
    d.config = daemonlib.merge(d.config, {"server": {"metrics": ["%s@%d" % (d.addr, mport)]}})
    d.start()
    first = _q(d, "nope1.secure.test")
    assert first.rcode == "NXDOMAIN", first.text
    _secure(first, "NXDOMAIN from the server")
    before = _quiet_count(w)
    # nope2 and np fall in the same NSEC span (ns1 -> out) as nope1, and the
    # apex NSEC already proved there is no *.secure.test.
    for name in ("nope2.secure.test", "np.secure.test", "deeper.nope3.secure.test"):
        a = _q(d, name)
        assert a.rcode == "NXDOMAIN", "%s: %s\n%s" % (name, a.rcode, a.text)
        _secure(a, "%s from the NSEC cache" % name)
        nsecs = [rr for rr in a.authority if rr.rtype == "NSEC"]
        sigs = [rr for rr in a.authority if rr.rtype == "RRSIG"]
        soa = [rr for rr in a.authority if rr.rtype == "SOA"]
        assert nsecs and sigs and soa, "%s: the proof, its RRSIGs and the SOA\n%s" % (name, a.text)
        assert all(rr.ttl <= 3600 for rr in soa + nsecs), a.text
    after = _quiet_count(w)
    assert after == before, "names the NSEC cache proves absent caused %d queries upstream" % (
        after - before)
    assert _metric(d, mport, "nsec_cache_answers_total") == 3
    assert _metric(d, mport, "nsec_cache_records") >= 2
    # Not proven by what is cached, so asked: names that exist, and names a
    # wildcard matches.
    a = _q(d, "www.secure.test")
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.1"], a.text
    a = _q(d, "zzz.wild.secure.test")
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.2"], a.text
    _secure(a, "wildcard answer after NXDOMAINs were cached")


def test_aggressive_nsec_nodata_needs_no_query(ctx):
    d = _daemon(ctx)
    w = _world(ctx)
    a = _q(d, "text.secure.test", "A")
    assert a.rcode == "NOERROR" and not a.answer, a.text
    before = _quiet_count(w)
    for qtype in ("AAAA", "MX", "SRV"):
        a = _q(d, "text.secure.test", qtype)
        assert a.rcode == "NOERROR" and not a.answer, "%s: %s" % (qtype, a.text)
        _secure(a, "NODATA %s from the NSEC cache" % qtype)
    assert _quiet_count(w) == before, "types the cached NSEC denies were asked upstream"
    # The type the NSEC lists is asked and answered.
    a = _q(d, "text.secure.test", "TXT")
    assert a.rcode == "NOERROR" and a.rdatas("TXT") == ['"only text"'], a.text
    _secure(a, "TXT after NODATA for other types")


def _nsec3_owners(w, zone):
    with open(os.path.join(w.dir, privnet.zone_file_name(zone))) as f:
        return {line.split()[0].lower() for line in f
                if len(line.split()) > 3 and line.split()[3] == "NSEC3"}


def test_aggressive_nsec3_nxdomain_needs_no_query(ctx):
    d = _daemon(ctx)
    w = _world(ctx)
    owners = _nsec3_owners(w, "nsec3.test.")
    assert len(owners) >= 4, owners
    # Learn every span of the chain through NXDOMAIN answers (bounded).
    seen = set()
    for i in range(300):
        if seen >= owners:
            break
        a = _q(d, "learn%d.nsec3.test" % i)
        assert a.rcode == "NXDOMAIN", a.text
        _secure(a, "NSEC3 NXDOMAIN")
        seen |= {rr.name.lower() for rr in a.authority if rr.rtype == "NSEC3"}
    assert seen >= owners, "300 NXDOMAIN answers showed only %d of %d NSEC3 records" % (
        len(seen & owners), len(owners))
    before = _quiet_count(w)
    for i in range(10):
        name = "new%d.sub.nsec3.test" % i
        a = _q(d, name)
        assert a.rcode == "NXDOMAIN", "%s: %s\n%s" % (name, a.rcode, a.text)
        _secure(a, "%s from the NSEC3 cache" % name)
        assert len([rr for rr in a.authority if rr.rtype == "NSEC3"]) >= 2, a.text
    after = _quiet_count(w)
    assert after == before, "names the NSEC3 cache proves absent caused %d queries" % (
        after - before)
    a = _q(d, "x.wild.nsec3.test")
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.4"], a.text


def test_optout_span_is_not_used_aggressively(ctx):
    d = _daemon(ctx)
    w = _world(ctx)
    a = _q(d, "nope.optout.test")
    assert a.rcode == "NXDOMAIN" and "ad" not in a.flags, a.text
    before = _quiet_count(w)
    # An opt-out span may hide an unsigned delegation: it proves nothing.
    a = _q(d, "nope2.optout.test")
    assert a.rcode == "NXDOMAIN", a.text
    assert _quiet_count(w) > before, "an opt-out NSEC3 span was used to deny a name"


def test_no_ds_proof_is_cached(ctx):
    d = _daemon(ctx)
    w = _world(ctx)
    _insecure(_q(d, "www.insecure.test"), "insecure delegation")
    tld = w.settle(addrs=net("1.1"))
    # More names under the unsigned child: its NS set is cached, and the
    # parent's proof that it has no DS is kept, so test.'s server is not
    # asked again (RFC 4035 section 4.7).
    _insecure(_q(d, "nope.insecure.test"), "insecure NXDOMAIN", "NXDOMAIN")
    _insecure(_q(d, "www.insecure.test", "TXT"), "insecure NODATA")
    _insecure(_q(d, "a.b.insecure.test"), "insecure deep NXDOMAIN", "NXDOMAIN")
    assert w.settle(addrs=net("1.1")) == tld, "the DS of insecure.test. was asked again"
    # And the proof never denies names inside the unsigned child.
    a = _q(d, "www.insecure.test")
    assert a.rdatas("A") == ["192.0.2.5"], a.text


# --- policy comes after validation: a sinkholed name is never bogus ----------


def test_blocked_name_is_never_bogus(ctx):
    ctx.require_gatehouse("tests Gatehouse's policy with validation")
    w = _world(ctx)
    src = _world_net("151.10")
    d = ctx.daemon(config={
        "dnssec": {"enabled": True, "trust-anchor-file": [w.anchor_file()]},
        "policies": {"pupil": {"deny": ["*.bogus.test", "www.secure.test"]}},
        "segments": [{"name": "pupil", "networks": [src.rsplit(".", 1)[0] + ".0/24"],
                      "policy": "pupil"}],
    }, world=w)

    def ask(name):
        return d.dig(name, "A", source=src, extra=["+dnssec"])

    # The tampered name is denied: the block answer, not SERVFAIL, no AD,
    # no RRSIGs (it was never resolved).
    a = ask("www.bogus.test")
    assert a.rcode == "NXDOMAIN", "blocked bogus name: %s\n%s" % (a.rcode, a.text)
    assert "ad" not in a.flags and any(e.startswith("15") for e in a.ede), a.text
    assert not [rr for rr in a.authority + a.answer if rr.rtype == "RRSIG"], a.text
    # A secure CNAME into a denied name: blocked at the target, not bogus.
    a = ask("alias.secure.test")
    assert a.rcode == "NXDOMAIN" and "ad" not in a.flags, a.text
    assert any(e.startswith("15") for e in a.ede), a.text
    # Names the policy lets through are still validated.
    _bogus(ask("www.expired.test"), "permitted, expired", 7)
    _secure(ask("www.nsec3.test"), "permitted, secure")


def test_do_client_gets_stale_answer_with_rrsigs(ctx):
    """RFC 8767 with DNSSEC: when every server is down, a DO client gets the
    expired answer in its own form, RRSIGs included."""
    d = _daemon(ctx)
    w = _world(ctx)
    a = _q(d, "short.secure.test")
    _secure(a, "short-lived secure answer")
    assert a.rdatas("A") == ["192.0.2.12"], a.text
    plain = d.dig("short.secure.test", "A")
    assert plain.rdatas("A") == ["192.0.2.12"], plain.text
    w.stop_authoritative()  # the next test to use the world starts it anew
    time.sleep(3.5)  # TTL 2 s
    a = d.dig("short.secure.test", "A", extra=["+dnssec"], timeout=5)
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.12"], a.text
    assert a.answer[0].ttl == 30, "stale TTL %d, want 30 (RFC 8767)" % a.answer[0].ttl
    assert [rr for rr in a.answer if rr.rtype == "RRSIG"], "stale DO answer without RRSIGs\n" + a.text
    a = d.dig("short.secure.test", "A", timeout=5)
    assert a.rdatas("A") == ["192.0.2.12"], a.text
    assert not [rr for rr in a.answer if rr.rtype == "RRSIG"], a.text


def test_do_wildcard_answer_from_rrset_cache_keeps_its_proof(ctx):
    """A wildcard expansion reached later through a CNAME from another zone
    comes from the RRset cache: a DO client still gets the NSEC proof that
    no closer name exists (RFC 4035 3.1.3.3), from the NSEC cache."""
    d = _daemon(ctx)
    a = _q(d, "anything.wild.secure.test")
    _secure(a, "wildcard answer")
    a = _q(d, "towild.nsec3.test")
    _secure(a, "CNAME into a cached wildcard expansion")
    assert a.rdatas("A") == ["192.0.2.2"], a.text
    proof = [rr for rr in a.authority if rr.rtype == "NSEC" and rr.name.endswith("secure.test.")]
    sigs = [rr for rr in a.authority if rr.rtype == "RRSIG" and rr.rdata.startswith("NSEC ")]
    assert proof and sigs, "wildcard expansion from the cache without its proof\n" + a.text


def test_secure_dname_across_zones(ctx):
    """A signed DNAME (RFC 6672) into another signed zone: the DNAME is
    validated, the synthesised CNAME needs no signature (5.3.1), the target
    is validated with its own zone's keys; a DNAME into nothing is a secure
    NXDOMAIN of the target zone."""
    d = _daemon(ctx)
    a = _q(d, "www.dn.secure.test")
    _secure(a, "DNAME secure.test -> nsec3.test")
    assert a.rdatas("A") == ["192.0.2.3"], a.text
    assert a.rdatas("DNAME") == ["nsec3.test."], a.text
    a = _q(d, "nope.dn.secure.test")
    assert a.rcode == "NXDOMAIN", a.text
    _secure(a, "DNAME to a name that does not exist")


def test_ds_comes_with_the_referral(ctx):
    """RFC 4035 3.1.4: a signed parent's referral carries the child's DS (or
    the proof there is none); the validator uses it instead of asking for
    the DS again.  NSD's counters count DS queries."""
    d = _daemon(ctx)
    w = _world(ctx)
    before = w.settle()
    ds_before = w.queries(key="num.type.DS")
    _secure(_q(d, "www.secure.test"), "cold secure name")
    _secure(_q(d, "www.nsec3.test"), "cold secure name, NSEC3 zone")
    # test.'s keys are trusted now: the proof in its referral that
    # insecure.test has no DS is checked as it comes.
    _insecure(_q(d, "www.insecure.test"), "cold name under an unsigned delegation")
    assert w.settle() > before, "nothing was asked upstream"
    assert w.queries(key="num.type.DS") == ds_before, "DS asked for although the referrals had it"
