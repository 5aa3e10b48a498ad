"""Guest access and dispensations through the real daemon and gatehousectl.

A visitor segment requires a grant: until the head teacher grants a device,
it gets the block page (with an Extended DNS Error saying why), NXDOMAIN for
captive-portal probes, and normal answers only for the school's own names.
A grant opens the segment's policy for that device until it ends or is
revoked; the daemon sees changes within a second, with no reload.  An
exemption opens one category for one client, in its window only, and the
query log names the grant that let each query through.

Clients are told apart by source address (dig -b): staff 127.63.10.0/24,
pupils 127.63.20.0/24, visitors 127.63.30.0/24.
"""

import csv
import io
import os
import shutil
import subprocess
import tempfile
import time

import daemon as daemonlib

STAFF, PUPIL, PUPIL2, VISITOR, VISITOR2 = (
    "127.63.10.5", "127.63.20.5", "127.63.20.6", "127.63.30.5", "127.63.30.6")
BLOCK_PAGE = "192.0.2.80"
GRANT_SEEN_WITHIN = 1.5  # seconds: "within a second", plus the query itself


def _ctl_path(ctx):
    return os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "gatehousectl")


def ctl(ctx, d, *args, check=True):
    """gatehousectl -c CONF ARGS."""
    cmd = [_ctl_path(ctx), "-c", d.conf] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("gatehousectl %s failed (%d): %s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def school(ctx, extra_policy=None, categories=None, admin_group=None):
    """A daemon with staff, pupil and visitor segments."""
    pupil = {"block": ["extremism"] if categories else []}
    if extra_policy:
        pupil.update(extra_policy)
    config = {
        "grants": {"block-address": BLOCK_PAGE, "unauthorised-allow": ["*.example"]},
        "segments": [
            {"name": "staff", "networks": ["127.63.10.0/24"], "policy": "staff"},
            {"name": "pupil", "networks": ["127.63.20.0/24"], "policy": "pupil"},
            {"name": "visitor", "networks": ["127.63.30.0/24"], "policy": "visitor",
             "guest-access": "grant-required"},
        ],
        "policies": {"staff": {"block": []}, "pupil": pupil, "visitor": {"block": []}},
    }
    if admin_group:
        config["grants"]["admin-group"] = admin_group
    if categories:
        config["blocklists"] = {"categories": categories}
        config["log"] = {"enabled": True, "safeguarding-categories": list(categories)}
    d = ctx.daemon(config=config, start=False)
    if categories:  # the index goes to its default place, STATE_DIR/blocklists.mdb
        d.write_config()
        ctl(ctx, d, "blocklists", "compile")
    return d.start()


def a_of(d, name, source):
    a = d.dig(name, "A", source=source)
    return a, [rr.rdata for rr in a.answer if rr.rtype == "A"]


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def test_ungranted_visitor_is_sinkholed(ctx):
    ctx.require_gatehouse()
    d = school(ctx)
    a, addrs = a_of(d, "www.good.test", VISITOR)
    assert a.rcode == "NOERROR" and addrs == [BLOCK_PAGE], a
    assert any("guest access not granted" in e for e in a.ede), a.ede
    a, _ = a_of(d, "captive.apple.com", VISITOR)
    assert a.rcode == "NXDOMAIN", "captive probe: %r" % a
    # the school's own names (grants.unauthorised-allow) resolve
    a, addrs = a_of(d, "www.target.example", VISITOR)
    assert addrs == ["192.0.2.50"], a
    # other segments are not grant-required
    a, addrs = a_of(d, "www.good.test", STAFF)
    assert addrs == ["192.0.2.1"], a


def test_grant_opens_then_revoke_closes_within_a_second(ctx):
    ctx.require_gatehouse()
    d = school(ctx)
    assert a_of(d, "www.good.test", VISITOR)[1] == [BLOCK_PAGE]
    out = ctl(ctx, d, "grant", "guest", "--client", VISITOR, "--for", "1h",
              "--by", "J. Smith, Head Teacher", "--reason", "Fire safety inspection").stdout
    t0 = time.monotonic()
    assert wait_for(lambda: a_of(d, "www.good.test", VISITOR)[1] == ["192.0.2.1"],
                    GRANT_SEEN_WITHIN), "grant not in force within %.1fs" % GRANT_SEEN_WITHIN
    seen = time.monotonic() - t0
    # only that device
    assert a_of(d, "www.good.test", VISITOR2)[1] == [BLOCK_PAGE]
    listing = ctl(ctx, d, "grants").stdout
    assert VISITOR in listing and "Fire safety inspection" in listing, listing
    gid = out.split()[1].rstrip(":")
    assert gid.isdigit(), out
    ctl(ctx, d, "revoke", gid, "--by", "J. Smith", "--reason", "visit over")
    assert wait_for(lambda: a_of(d, "www.good.test", VISITOR)[1] == [BLOCK_PAGE],
                    GRANT_SEEN_WITHIN), "revoke not in force within %.1fs" % GRANT_SEEN_WITHIN
    # revoked grants stay listed for the audit
    past = ctl(ctx, d, "grants", "--all").stdout
    assert "revoked" in past and "visit over" in past, past
    assert seen < GRANT_SEEN_WITHIN


def test_short_grant_expires(ctx):
    ctx.require_gatehouse()
    d = school(ctx)
    ctl(ctx, d, "grant", "guest", "--client", VISITOR, "--for", "3s", "--by", "Head",
        "--reason", "a short visit")
    assert wait_for(lambda: a_of(d, "www.good.test", VISITOR)[1] == ["192.0.2.1"],
                    GRANT_SEEN_WITHIN)
    assert wait_for(lambda: a_of(d, "www.good.test", VISITOR)[1] == [BLOCK_PAGE], 5.0), \
        "an expired grant still let the device through"


def test_whole_segment_grant(ctx):
    ctx.require_gatehouse()
    d = school(ctx)
    ctl(ctx, d, "grant", "guest", "--segment", "visitor", "--for", "2h", "--by", "Head",
        "--reason", "Parents' evening")
    for src in (VISITOR, VISITOR2):
        assert wait_for(lambda: a_of(d, "www.good.test", src)[1] == ["192.0.2.1"],
                        GRANT_SEEN_WITHIN), src


def _lists(ctx, name, names=("www.good.test",)):
    path = os.path.join(ctx.tmpdir, name)
    with open(path, "w") as f:
        f.write("# test list\n" + "".join(n + "\n" for n in names))
    return path


def test_exemption_opens_category_for_one_client_and_is_logged(ctx):
    ctx.require_gatehouse()
    d = school(ctx, categories={"extremism": [_lists(ctx, "extremism.txt")]})
    a = d.dig("www.good.test", "A", source=PUPIL)
    assert a.rcode == "NXDOMAIN" and any("extremism" in e for e in a.ede), a
    out = ctl(ctx, d, "grant", "exemption", "--client", PUPIL, "--allow-category", "extremism",
              "--for", "1h", "--by", "A. Teacher", "--reason", "PSHE lesson on radicalisation").stdout
    gid = out.split()[1].rstrip(":")
    assert wait_for(lambda: a_of(d, "www.good.test", PUPIL)[1] == ["192.0.2.1"],
                    GRANT_SEEN_WITHIN), "exemption not in force"
    # another pupil is still blocked
    assert d.dig("www.good.test", "A", source=PUPIL2).rcode == "NXDOMAIN"
    time.sleep(0.6)  # the log writer commits at least every 250 ms
    rows = list(csv.DictReader(io.StringIO(
        ctl(ctx, d, "logs", "--client", PUPIL, "--format", "csv").stdout)))
    answered = [r for r in rows if r["verdict"] == "answered" and r["name"] == "www.good.test."]
    assert answered and all(r["grant"] == gid for r in answered), rows


def test_exemption_covers_cname_targets(ctx):
    """A chain is blocked when a target is in a blocked category; a client
    exempted from that category gets the whole chain, from the cache and
    from a fresh resolution alike, and others are still blocked."""
    ctx.require_gatehouse()
    d = school(ctx, categories={"extremism": [_lists(ctx, "extremism.txt", ["final.good.test"])]})
    a = d.dig("c1.good.test", "A", source=PUPIL)
    assert a.rcode == "NXDOMAIN" and any("extremism" in e for e in a.ede), a.text
    ctl(ctx, d, "grant", "exemption", "--client", PUPIL, "--allow-category", "extremism",
        "--for", "1h", "--by", "A. Teacher", "--reason", "PSHE lesson")
    # c1 is now in the cache: the hit path checks the chain.
    assert wait_for(lambda: a_of(d, "c1.good.test", PUPIL)[1] == ["192.0.2.9"],
                    GRANT_SEEN_WITHIN), "exemption not applied to a cached chain"
    # c3 was never asked: the chain is checked as the resolution ends.
    a, addrs = a_of(d, "c3.good.test", PUPIL)
    assert addrs == ["192.0.2.9"], a.text
    for name in ("c1.good.test", "c3.good.test"):
        a = d.dig(name, "A", source=PUPIL2)
        assert a.rcode == "NXDOMAIN" and any("extremism" in e for e in a.ede), a.text


def test_exemption_in_the_future_is_not_in_force(ctx):
    ctx.require_gatehouse()
    d = school(ctx, categories={"extremism": [_lists(ctx, "extremism.txt")]})
    start = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() + 2 * 3600))
    ctl(ctx, d, "grant", "exemption", "--client", PUPIL, "--allow-category", "extremism",
        "--for", "1h", "--from", start, "--by", "A. Teacher", "--reason", "tomorrow's lesson")
    time.sleep(GRANT_SEEN_WITHIN)
    assert d.dig("www.good.test", "A", source=PUPIL).rcode == "NXDOMAIN"


def test_bad_grants_grant_nothing(ctx):
    ctx.require_gatehouse()
    d = school(ctx, categories={"extremism": [_lists(ctx, "extremism.txt")]})
    bad = [
        (["guest", "--client", "127.63.99.9", "--segment", "visitor", "--for", "1h"], "segment"),
        (["guest", "--client", VISITOR, "--for", "13h"], "12h"),
        (["guest", "--client", VISITOR], "--for"),
        (["exemption", "--client", PUPIL, "--allow-category", "no_such", "--for", "1h"],
         "no_such"),
        (["exemption", "--client", PUPIL, "--allow-category", "statutory", "--for", "1h"],
         "statutory"),
        (["guest", "--mac", "zz:zz", "--for", "1h"], "MAC"),
    ]
    for args, word in bad:
        full = ["grant"] + args
        if "--by" not in args:
            full += ["--by", "Head", "--reason", "test"]
        p = ctl(ctx, d, *full, check=False)
        assert p.returncode != 0, "accepted: %s" % " ".join(full)
        assert word.lower() in (p.stderr + p.stdout).lower(), (word, p.stderr)
    p = ctl(ctx, d, "grant", "guest", "--client", VISITOR, "--for", "1h", "--by", "Head",
            check=False)
    assert p.returncode != 0 and "reason" in p.stderr.lower(), p.stderr
    listing = ctl(ctx, d, "grants", "--all").stdout
    assert VISITOR not in listing and PUPIL not in listing, listing


def test_non_admin_is_refused(ctx):
    ctx.require_gatehouse()
    ctx.require_root()
    # Debian's "adm" group exists and nobody is not in it
    d = school(ctx, admin_group="adm")
    # nobody must be able to read the config, and the files loading it reads
    # (the private world's trust anchor), to get as far as the group check
    shared = tempfile.mkdtemp(prefix="gh-grants-")
    try:
        os.chmod(shared, 0o755)
        cfg = d.config
        anchors = []
        for i, path in enumerate(cfg.get("dnssec", {}).get("trust-anchor-file", [])):
            anchors.append(os.path.join(shared, "anchor%d.ds" % i))
            shutil.copy(path, anchors[-1])
            os.chmod(anchors[-1], 0o644)
        if anchors:
            cfg = daemonlib.merge(cfg, {"dnssec": {"trust-anchor-file": anchors}})
        conf = os.path.join(shared, "gatehouse.yaml")
        with open(conf, "w") as f:
            f.write(daemonlib.to_yaml(cfg) + "\n")
        os.chmod(conf, 0o644)
        cmd = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
               _ctl_path(ctx), "-c", conf, "grant", "guest", "--client", VISITOR, "--for", "1h",
               "--by", "Someone", "--reason", "no right"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert p.returncode != 0, p.stdout
    assert "not in the" in p.stderr and "group" in p.stderr, p.stderr
    assert a_of(d, "www.good.test", VISITOR)[1] == [BLOCK_PAGE]
