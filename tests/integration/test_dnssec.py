"""DNSSEC validation against a signed private internet (tests/lib/signed.py).

One signed world (built once per run, signatures made at build time) with:
a secure chain root -> test. -> secure.test. (NSEC) and nsec3.test. (NSEC3),
an insecure delegation (insecure.test., no DS), a tampered signature
(bogus.test.), expired signatures (expired.test.), a DS naming an
unsupported algorithm (unsupported.test., RFC 8624), and an NSEC3 opt-out
zone with an unsigned child.  Every case is asked with `dig +dnssec` and
checked for rcode, AD and the Extended DNS Error.
"""

import atexit
import os
import shutil
import tempfile

import privnet
import signed
from privnet import net as _world_net


def net(rest):
    """The signed world's addresses: NET.100+x.y, clear of the default world
    (NET.0-9.y), which runs alongside in the same test session."""
    a, b = rest.split(".", 1)
    return _world_net("%d.%s" % (100 + int(a), b))



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
""")
    w.zone("nsec3.test.", {"ns1.nsec3.test.": net("3.1")}, records="""
www       3600 A 192.0.2.3
*.wild    3600 A 192.0.2.4
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
    """The signed world, built and started once per run (kept on the
    session: the runner imports this module again for the ASan pass)."""
    if not signed.available():
        ctx.skip("ldnsutils (ldns-keygen, ldns-signzone) not installed")
    ctx.require_root()
    _WORLD = ctx.session.__dict__.setdefault("signed_world", {})
    if "w" in _WORLD and _WORLD["w"] is None:
        raise AssertionError("the signed world failed to start (see the first test)")
    w = _WORLD.get("w")
    if w is not None and not all(s.running() for s in w.servers.values()):
        w.stop()  # the runner stops live worlds between passes: build anew
        w = None
    if w is None:
        spec, signing = _spec()
        base = tempfile.mkdtemp(prefix="gatehouse-signed-")
        w = signed.SignedWorld(spec, signing, base)
        _WORLD["w"] = w
        # Registered after privnet's own handler, so it runs first: the
        # servers stop before their directory goes.
        atexit.register(lambda: (w.stop(), shutil.rmtree(base, ignore_errors=True)))
        try:
            w.start()
        except Exception:
            w.stop()
            _WORLD["w"] = None
            raise
    return w


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


def test_validation_off_answers_bogus_data(ctx):
    ctx.require_gatehouse()
    w = _world(ctx)
    d = ctx.daemon(config={"dnssec": {"enabled": False}}, world=w)
    a = d.dig("www.bogus.test", "A", extra=["+dnssec"])
    assert a.rcode == "NOERROR" and "ad" not in a.flags, a.text
