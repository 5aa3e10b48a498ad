"""signed - DNSSEC-signed private worlds (ldns-keygen + ldns-signzone from ldnsutils).

privnet.World signs zones with this module: prepare() before the zone files
are written, sign_files() after.  Every world signs at least its root (the
default, World(sign_root=True)), so the resolver under test validates with
dnssec.trust-anchor-file = World.anchor_file() instead of the IANA root.  A
SignedWorld is a World that signs more zones than the root.

Each signed zone gets a key (one ECDSA P-256 key with the SEP flag, used as
a combined signing key), and its DS goes into the parent's records; after
the files are written, each signed zone file is replaced by the output of
ldns-signzone.  The root's DS is written to anchor_file(), for
dnssec.trust-anchor-file.

Per-zone options (signing={zone: Sign(...)}):
  nsec3 / optout / iterations / salt  - NSEC3 (RFC 5155) instead of NSEC;
  expired                             - signatures that ended in 2020;
  tamper={"www": ("192.0.2.1", "192.0.2.66")} - after signing, change the
      rdata of a record so its RRSIG no longer verifies;
  ds_alg=253                          - the DS in the parent names this
      algorithm instead of the key's (RFC 8624: unsupported -> insecure).
A zone not in `signing` is unsigned, and its parent has no DS for it (an
insecure delegation, proven by the parent's NSEC/NSEC3).

Signatures are made at world build time, valid from an hour ago for 30
days (except `expired`), so tests never depend on fixtures going stale.
"""

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import time

import privnet

KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"


def available():
    return os.access(KEYGEN, os.X_OK) and os.access(SIGNZONE, os.X_OK)


class Sign:
    def __init__(self, nsec3=False, optout=False, iterations=0, salt="-", expired=False,
                 tamper=None, ds_alg=None, alg="ECDSAP256SHA256"):
        self.nsec3, self.optout, self.iterations, self.salt = nsec3, optout, iterations, salt
        self.expired, self.tamper, self.ds_alg, self.alg = expired, tamper or {}, ds_alg, alg
        self.key = None  # base name of the key files
        self.ds = None   # "zone. IN DS ..." line


def _run(args, cwd, timeout=60):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise privnet.PrivnetError("%s failed: %s%s" % (" ".join(args), out.stdout, out.stderr))
    return out.stdout


def _stamp(t):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def prepare(spec, signing, keydir):
    """Makes a key for each zone in signing ({fqdn: Sign}) and adds its DS
    to the parent's records in spec.  Keys first (a zone's key does not
    depend on its content), so each DS can join its parent's records before
    the files are written."""
    if not available():
        raise privnet.PrivnetError(
            "signing the private world needs ldns-keygen and ldns-signzone (ldnsutils: "
            "tools/install-deps --test); privnet.World(sign_root=False) for an unsigned one")
    os.makedirs(keydir, exist_ok=True)
    names = list(spec.zones)
    for zone, s in sorted(signing.items()):
        if zone not in spec.zones:
            raise privnet.PrivnetError("signing %s: no such zone in the world" % zone)
        s.key = _run([KEYGEN, "-a", s.alg, "-k", zone], keydir).strip().splitlines()[-1]
        with open(os.path.join(keydir, s.key + ".ds")) as f:
            ds = f.read().split()
        # owner IN DS tag alg digesttype digest
        if s.ds_alg is not None:
            ds[4] = str(s.ds_alg)
        s.ds = " ".join(ds)
        parent = privnet.parent_zone(zone, names)
        if zone != "." and parent is not None:
            spec.zones[parent].records += "\n%s 3600 %s\n" % (ds[0], " ".join(ds[1:]))


def sign_files(zonedir, signing, keydir):
    """Replaces each signed zone's file in zonedir by its signed form."""
    now = int(time.time())
    for zone, s in signing.items():
        path = os.path.join(zonedir, privnet.zone_file_name(zone))
        if s.expired:
            inception, expiration = "20190101000000", "20200101000000"
        else:
            inception, expiration = _stamp(now - 3600), _stamp(now + 30 * 86400)
        args = [SIGNZONE, "-i", inception, "-e", expiration, "-f", path + ".signed"]
        if s.nsec3:
            args += ["-n", "-t", str(s.iterations)]
            if s.salt and s.salt != "-":
                args += ["-s", s.salt]
            if s.optout:
                args.append("-p")
        args += [path, os.path.join(keydir, s.key)]
        _run(args, zonedir)
        with open(path + ".signed") as f:
            text = f.read()
        for label, (old, new) in s.tamper.items():
            owner = privnet.fqdn(label + "." + zone if zone != "." else label)
            pat = re.compile(r"^(%s\s+\d+\s+IN\s+A\s+)%s$" % (re.escape(owner), re.escape(old)),
                             re.M | re.I)
            text, n = pat.subn(r"\g<1>" + new, text)
            if n != 1:
                raise privnet.PrivnetError("tamper: no A %s for %s" % (old, owner))
        with open(path, "w") as f:
            f.write(text)


def write_anchor(path, root):
    """Writes the root's DS (root: its Sign) to path, for dnssec.trust-anchor-file."""
    with open(path, "w") as f:
        f.write("; test root anchor\n%s\n" % root.ds)
    return path


class SignedWorld(privnet.World):
    """A world signing the zones in signing ({zone: Sign}), root included."""

    def __init__(self, spec, signing, tmpdir):
        super().__init__(spec, tmpdir=tmpdir, signing=signing)


def session_world(ctx, key, build_spec, prefix):
    """A SignedWorld built from build_spec() (returns (spec, signing)) and
    started once per test run, kept on the runner's session under key (the
    runner loads test modules again for the ASan pass).  Built anew if the
    runner stopped it between passes; a world that failed to start fails
    every later test with a clear message rather than being retried."""
    if not available():
        ctx.skip("ldnsutils (ldns-keygen, ldns-signzone) not installed")
    ctx.require_root()
    state = ctx.session.__dict__.setdefault(key, {})
    if "w" in state and state["w"] is None:
        raise AssertionError("the signed world failed to start (see the first test)")
    w = state.get("w")
    if w is not None and not all(s.running() for s in w.servers.values()):
        w.stop()
        w = None
    if w is None:
        spec, signing = build_spec()
        base = tempfile.mkdtemp(prefix=prefix)
        w = SignedWorld(spec, signing, base)
        state["w"] = w
        # Registered after privnet's own handler, so it runs first: the
        # servers stop before their directory goes.
        atexit.register(lambda: (w.stop(), shutil.rmtree(base, ignore_errors=True)))
        try:
            w.start()
        except Exception:
            w.stop()
            state["w"] = None
            raise
    return w
