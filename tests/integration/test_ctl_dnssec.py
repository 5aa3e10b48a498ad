"""gatehousectl check NAME: the resolution part, with DNSSEC (delv-like).

gatehousectl resolves the name itself, with the config's root hints and
dnssec settings, against a signed private internet of its own (NSD,
tests/lib/signed.py): a root and test. signed with NSEC, secure.test. (NSEC)
and nsec3.test. (NSEC3), an unsigned delegation insecure.test. with an
unsigned child deep.insecure.test., a tampered signature (bogus.test.),
expired signatures (expired.test.) and a DS naming an unsupported algorithm
(unsupported.test.).  Each test reads what `check` prints: the steps of the
chain with their statuses, the answer and the DNSSEC verdict.

The world lives at NET.170-179.x (clear of the default world NET.0-9, the
per-test worlds NET.100-159 and test_dnssec's NET.200+), is built once per
run and stopped at exit.  Every config sets dnssec.* explicitly and uses the
world's own root and anchor: nothing here depends on the default world's
root being signed or on dnssec.enabled's default.  Nothing is sent outside
127.0.0.0/8; every gatehousectl run has a timeout.
"""

import os
import re
import socket
import subprocess
import time

import daemon as daemonlib
import privnet
import signed
from privnet import net as _world_net

CTL_TIMEOUT = 60


def net(rest):
    a, b = rest.split(".", 1)
    return _world_net("%d.%s" % (170 + int(a), b))


def _spec():
    w = privnet.WorldSpec()
    w.zone(".", {"a.root-servers.": net("0.1")}, neg_ttl=600)
    w.zone("test.", {"ns1.nic.test.": net("1.1")})
    w.zone("secure.test.", {"ns1.secure.test.": net("2.1")}, records="""
www       3600 A 192.0.2.1
alias     3600 CNAME www.secure.test.
out       3600 CNAME www.insecure.test.
text      3600 TXT "only text"
mail      3600 MX 10 www.secure.test.
""")
    w.zone("nsec3.test.", {"ns1.nsec3.test.": net("3.1")}, records="www 3600 A 192.0.2.3\n")
    w.zone("insecure.test.", {"ns1.insecure.test.": net("4.1")}, records="""
www       3600 A 192.0.2.5
tosecure  3600 CNAME nope.secure.test.
""")
    w.zone("deep.insecure.test.", {"ns1.deep.insecure.test.": net("4.2")},
           records="www 3600 A 192.0.2.12\n")
    w.zone("bogus.test.", {"ns1.bogus.test.": net("5.1")}, records="""
www       3600 A 192.0.2.6
ok        3600 A 192.0.2.7
""")
    w.zone("expired.test.", {"ns1.expired.test.": net("6.1")}, records="www 3600 A 192.0.2.8\n")
    w.zone("unsupported.test.", {"ns1.unsupported.test.": net("7.1")},
           records="www 3600 A 192.0.2.9\n")
    signing = {
        ".": signed.Sign(),
        "test.": signed.Sign(),
        "secure.test.": signed.Sign(),
        "nsec3.test.": signed.Sign(nsec3=True, salt="cd34"),
        "bogus.test.": signed.Sign(tamper={"www": ("192.0.2.6", "192.0.2.66")}),
        "expired.test.": signed.Sign(expired=True),
        "unsupported.test.": signed.Sign(ds_alg=253),
    }
    return w, signing


def _world(ctx):
    """The signed world, built and started once per run."""
    ctx.require_gatehouse("tests gatehousectl")
    return signed.session_world(ctx, "ctl_signed_world", _spec, "gatehouse-ctlsigned-")


def _ctl_binary(ctx):
    return os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "gatehousectl")


def _config(ctx, w, dnssec=None, extra=None):
    """A config file for gatehousectl (no daemon started): the world's root
    hints, its anchor, dnssec.* as given (a None value drops a key)."""
    on = {"enabled": True, "trust-anchor-file": [w.anchor_file()]}
    cfg = daemonlib.merge({"dnssec": daemonlib.merge(on, dnssec)}, extra)
    d = ctx.daemon(config=cfg, world=w, start=False)
    return d.write_config()


def ctl(ctx, conf, *args):
    env = dict(os.environ)
    if ctx.sanitizer:
        env.update(daemonlib.ASAN_ENV)
    try:
        p = subprocess.run([_ctl_binary(ctx), "-c", conf] + list(args), capture_output=True,
                           text=True, timeout=CTL_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("gatehousectl %s did not exit within %d s" % (" ".join(args),
                                                                          CTL_TIMEOUT))
    for pat in daemonlib.SANITIZER_PATTERNS:
        assert not pat.search(p.stderr), "sanitizer report:\n" + p.stderr
    return p.returncode, p.stdout, p.stderr


def check(ctx, conf, name, *args, rc=0):
    code, out, err = ctl(ctx, conf, "check", name, *args)
    assert code == rc, "check %s %s: exit %d, want %d\n%s%s" % (name, " ".join(args), code, rc,
                                                              out, err)
    return out


def step(out, owner, rtype):
    """The step line for (owner, type): (status, rest), or fail."""
    m = re.search(r"^  %s %s\s+(secure|insecure|bogus|not validated|not checked)\s*(.*)$"
                  % (re.escape(owner), re.escape(rtype)), out, re.M)
    assert m, "no step line for %s %s in:\n%s" % (owner, rtype, out)
    return m.group(1), m.group(2)


def expect_step(out, owner, rtype, status, *fragments):
    """The step line of (owner, type) has status and says each fragment."""
    got, rest = step(out, owner, rtype)
    assert got == status, "%s %s: %s, want %s\n%s" % (owner, rtype, got, status, out)
    for f in fragments:
        assert f in rest, "%s %s: %r not in %r\n%s" % (owner, rtype, f, rest, out)


def expect_end(out, answer, dnssec):
    """The answer and DNSSEC lines (exact, or a prefix when ending in ...)."""
    for what, got, want in (("answer", answer_line(out), answer),
                            ("DNSSEC", dnssec_line(out), dnssec)):
        ok = got.startswith(want[:-3]) if want.endswith("...") else got == want
        assert ok, "%s: %r, want %r\n%s" % (what, got, want, out)


def dnssec_line(out):
    m = re.search(r"^  DNSSEC: (.*)$", out, re.M)
    assert m, "no DNSSEC line in:\n" + out
    return m.group(1)


def answer_line(out):
    m = re.search(r"^  answer: (.*)$", out, re.M)
    assert m, "no answer line in:\n" + out
    return m.group(1)


# --- secure ------------------------------------------------------------------


def test_ctl_check_secure_answer(ctx):
    w = _world(ctx)
    conf = _config(ctx, w)
    out = check(ctx, conf, "www.secure.test")
    assert re.search(r"^resolution of www\.secure\.test A \(from the root, validating\):$", out,
                     re.M), out
    expect_step(out, "www.secure.test", "A", "secure", "(keys of secure.test)")
    expect_end(out, "NOERROR, 1 address: 192.0.2.1", "secure")
    # Trailing dot and upper case make no difference; another type.
    out = check(ctx, conf, "Mail.Secure.Test.", "--type", "mx")
    expect_step(out, "mail.secure.test", "MX", "secure", "(keys of secure.test)")
    expect_end(out, "NOERROR, 1 record: 10 www.secure.test.", "secure")


def test_ctl_check_secure_cname_within_zone(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "alias.secure.test")
    assert step(out, "alias.secure.test", "CNAME")[0] == "secure", out
    assert step(out, "www.secure.test", "A")[0] == "secure", out
    lines = [l for l in out.splitlines() if re.match(r"  \S+ (A|CNAME) ", l)]
    assert len(lines) == 2 and "CNAME" in lines[0], "the CNAME comes first:\n" + out
    assert dnssec_line(out) == "secure", out


# --- insecure ----------------------------------------------------------------


def test_ctl_check_insecure_delegation(ctx):
    w = _world(ctx)
    conf = _config(ctx, w)
    out = check(ctx, conf, "www.insecure.test")
    expect_step(out, "www.insecure.test", "A", "insecure",
                "(chain of trust ends at insecure.test: unsigned delegation, no DS in test)")
    expect_end(out, "NOERROR, 1 address: 192.0.2.5", "insecure")
    # A zone below the insecure one: the chain still ended at insecure.test.
    out = check(ctx, conf, "www.deep.insecure.test")
    expect_step(out, "www.deep.insecure.test", "A", "insecure",
                "chain of trust ends at insecure.test:")
    expect_end(out, "NOERROR, 1 address: 192.0.2.12", "insecure")


def test_ctl_check_unsupported_ds_algorithm(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "www.unsupported.test")
    expect_step(out, "www.unsupported.test", "A", "insecure",
                "chain of trust ends at unsupported.test:", "RFC 8624")
    assert dnssec_line(out) == "insecure", out


def test_ctl_check_cname_secure_to_insecure(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "out.secure.test")
    expect_step(out, "out.secure.test", "CNAME", "secure", "(keys of secure.test)")
    expect_step(out, "www.insecure.test", "A", "insecure", "chain of trust ends at insecure.test")
    expect_end(out, "NOERROR, 1 address: 192.0.2.5", "insecure")


def test_ctl_check_cname_insecure_to_secure_nxdomain(ctx):
    """An insecure CNAME into a signed zone whose denial proves NXDOMAIN:
    two steps; the whole answer is insecure; the denial is judged with the
    signed zone's keys (never blamed on its DS)."""
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "tosecure.insecure.test")
    expect_step(out, "tosecure.insecure.test", "CNAME", "insecure",
                "chain of trust ends at insecure.test")
    m = re.search(r"^  nope\.secure\.test\s+no such name: (.*)$", out, re.M)
    assert m and "keys of secure.test" in m.group(1), out
    assert "RFC 8624" not in m.group(1), out
    expect_end(out, "NXDOMAIN (no such name)", "insecure")


def test_ctl_check_negative_trust_anchor(ctx):
    w = _world(ctx)
    conf = _config(ctx, w, dnssec={"negative-trust-anchors": ["bogus.test"]})
    out = check(ctx, conf, "www.bogus.test")
    expect_step(out, "www.bogus.test", "A", "insecure", "negative trust anchor")
    expect_end(out, "NOERROR, 1 address: 192.0.2.66", "insecure")
    # Outside the NTA, still secure.
    assert dnssec_line(check(ctx, conf, "www.secure.test")) == "secure"


def test_ctl_check_forward_zone(ctx):
    """A forward zone other than the root: forwarded, and not validated
    (iterator.c: insecure), which check says in so many words."""
    w = _world(ctx)
    server = net("2.1")
    conf = _config(ctx, w, extra={"resolver": {"forward-zones": [
        {"zone": "secure.test.", "servers": ["%s@53" % server]}]}})
    out = check(ctx, conf, "www.secure.test")
    assert ("resolution of www.secure.test A (forwarded to %s for forward zone secure.test, "
            "validating):" % server) in out, out
    expect_step(out, "www.secure.test", "A", "insecure", "forward zone secure.test")
    expect_end(out, "NOERROR, 1 address: 192.0.2.1", "insecure")


# --- bogus -------------------------------------------------------------------


def test_ctl_check_tampered_signature_is_bogus(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "www.bogus.test")
    expect_step(out, "www.bogus.test", "A", "bogus", "(at bogus.test:")
    expect_end(out, "SERVFAIL", "bogus (EDE 6 DNSSEC Bogus...")
    # The untouched record of the same zone is fine.
    assert dnssec_line(check(ctx, _config(ctx, w), "ok.bogus.test")) == "secure"


def test_ctl_check_expired_signature(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "www.expired.test")
    expect_step(out, "www.expired.test", "A", "bogus", "(at expired.test:")
    expect_end(out, "SERVFAIL", "bogus (EDE 7 Signature Expired...")


# --- denial of existence -----------------------------------------------------


def test_ctl_check_nxdomain_secure_denial(ctx):
    w = _world(ctx)
    conf = _config(ctx, w)
    for name, kind, zone in (("nope.secure.test", "NSEC", "secure.test"),
                             ("nope.nsec3.test", "NSEC3", "nsec3.test")):
        out = check(ctx, conf, name)
        m = re.search(r"^  %s\s+no such name: secure denial \((\S+), keys of (\S+?)\)"
                      % re.escape(name), out, re.M)
        assert m, "no denial step for %s:\n%s" % (name, out)
        assert (m.group(1), m.group(2)) == (kind, zone), out
        assert answer_line(out) == "NXDOMAIN (no such name)", out
        assert dnssec_line(out) == "secure", out
    # NODATA: the name exists, the type does not.
    out = check(ctx, conf, "text.secure.test", "--type", "AAAA")
    assert re.search(r"^  text\.secure\.test\s+no AAAA records \(NODATA\): secure denial "
                     r"\(NSEC, keys of secure\.test\)", out, re.M), out
    assert answer_line(out) == "NOERROR, no AAAA records (NODATA)", out


def test_ctl_check_insecure_nxdomain(ctx):
    w = _world(ctx)
    out = check(ctx, _config(ctx, w), "nope.insecure.test")
    assert re.search(r"^  nope\.insecure\.test\s+no such name: insecure \(chain of trust ends "
                     r"at insecure\.test", out, re.M), out
    assert dnssec_line(out) == "insecure", out


# --- off, options and errors -------------------------------------------------


def test_ctl_check_validation_off(ctx):
    w = _world(ctx)
    conf = _config(ctx, w, dnssec={"enabled": False, "trust-anchor-file": None})
    out = check(ctx, conf, "www.bogus.test")
    assert "(from the root, not validating)" in out, out
    expect_step(out, "www.bogus.test", "A", "not validated")
    expect_end(out, "NOERROR, 1 address: 192.0.2.66", "off (dnssec.enabled: false)")


def test_ctl_check_no_resolve_sends_nothing(ctx):
    w = _world(ctx)
    conf = _config(ctx, w, extra={
        "policies": {"open": {"block": []}},
        "segments": [{"name": "lan", "networks": ["10.0.0.0/8"], "policy": "open"}]})
    before = w.settle()
    out = check(ctx, conf, "www.secure.test", "--segment", "lan", "--no-resolve")
    assert re.search(r"verdict:\s+ANSWERED", out), out
    assert "resolution of" not in out, out
    after = w.settle()
    assert after == before, "--no-resolve sent %d queries" % (after - before)
    # Without --no-resolve the same check resolves after the verdict.
    out = check(ctx, conf, "www.secure.test", "--segment", "lan")
    assert out.index("verdict:") < out.index("resolution of www.secure.test A"), out
    assert dnssec_line(out) == "secure", out
    assert w.settle() > after, "check sent no query"


def test_ctl_check_bad_arguments(ctx):
    w = _world(ctx)
    conf = _config(ctx, w)
    before = w.settle()
    for bad in ("NOSUCHTYPE", "TYPE70000", "", "A;rm"):
        code, out, err = ctl(ctx, conf, "check", "www.secure.test", "--type", bad)
        assert code == 2 and "--type" in err and ("'%s'" % bad) in err, (bad, code, out, err)
        assert "resolution of" not in out, out
    code, out, err = ctl(ctx, conf, "check", "www.secure.test", "--type", "ANY")
    assert code == 2 and "--type" in err and "ANY" in err, (code, err)
    code, out, err = ctl(ctx, conf, "check", "bad..name.test")
    assert code == 2 and "not a domain name" in err, (code, err)
    code, out, err = ctl(ctx, conf, "check", "www.secure.test", "--no-resolve")
    assert code == 2 and "--segment or --client" in err, (code, err)
    code, out, err = ctl(ctx, conf, "check", "www.secure.test", "--segment", "a", "--client",
                         "10.0.0.1")
    assert code == 2 and "not both" in err, (code, err)
    assert w.settle() == before, "a usage error sent queries"
    # An unreadable config.
    code, out, err = ctl(ctx, os.path.join(ctx.tmpdir, "missing.yaml"), "check", "x.test")
    assert code == 1 and "cannot open" in err, (code, err)
    # TYPE65 is fine (RFC 3597 form): NODATA from a secure zone.
    out = check(ctx, conf, "www.secure.test", "--type", "TYPE65")
    assert re.search(r"no (TYPE65|HTTPS) records \(NODATA\): secure denial", out), out


def _silent_servers(ctx, addrs):
    """UDP sockets on addrs@53 that read nothing and answer nothing, and
    root hints naming them.  Returns (sockets, hints file)."""
    socks, lines = [], []
    try:
        for i, a in enumerate(addrs):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((a, 53))
            name = "%s.root-servers." % chr(ord("a") + i)
            lines.append(". 3600000 IN NS %s\n%s 3600000 IN A %s" % (name, name, a))
    except Exception:
        for s in socks:
            s.close()
        raise
    hints = os.path.join(ctx.tmpdir, "silent%d.hints" % len(addrs))
    with open(hints, "w") as f:
        f.write("\n".join(lines) + "\n")
    return socks, hints


def _run_silent(ctx, w, addrs, deadline):
    socks, hints = _silent_servers(ctx, addrs)
    try:
        d = ctx.daemon(config={"dnssec": {"enabled": False},
                               "resolver": {"root-hints": hints, "deadline": deadline,
                                            "timeout": "300ms"}},
                       world=w, start=False)
        conf = d.write_config()
        t0 = time.monotonic()
        code, out, err = ctl(ctx, conf, "check", "www.secure.test")
        return code, out, err, time.monotonic() - t0
    finally:
        for s in socks:
            s.close()


def test_ctl_check_no_reply(ctx):
    """The only root server never answers: the iterator gives up (SERVFAIL,
    no reply at all) and check says so, exit 1."""
    w = _world(ctx)
    code, out, err, took = _run_silent(ctx, w, [net("8.1")], "5s")
    assert code == 1, (code, out, err)
    assert "no server replied" in err and "www.secure.test A" in err, err
    assert "answer: SERVFAIL" in out, out
    assert took < 20, "took %.1f s" % took


def test_ctl_check_no_reply_within_deadline(ctx):
    """Eight silent root servers, each tried in turn, take longer than
    resolver.deadline: check stops at the deadline, exit 1, naming it."""
    w = _world(ctx)
    code, out, err, took = _run_silent(ctx, w, [net("8.%d" % i) for i in range(1, 9)], "1s")
    assert code == 1, (code, out, err)
    assert "within resolver.deadline (1000 ms)" in err, err
    assert "answer: none: resolver.deadline (1000 ms) passed first" in out, out
    assert took < 20, "took %.1f s" % took
