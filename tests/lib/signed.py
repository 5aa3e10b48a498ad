"""signed - DNSSEC-signed private worlds (ldns-keygen + ldns-signzone from ldnsutils).

A SignedWorld is a privnet.World whose zones may be signed.  Before the zone
files are written, each signed zone gets a key (one ECDSA P-256 key with
the SEP flag, used as a combined signing key), and its DS goes into the
parent's records; after they are written, each signed zone file is replaced
by the output of ldns-signzone.  The root's DS is written to
anchor_file(), for dnssec.trust-anchor-file.

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

import os
import re
import shutil
import subprocess
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


class SignedWorld(privnet.World):
    def __init__(self, spec, signing, tmpdir):
        os.makedirs(tmpdir, exist_ok=True)
        self.signing = {privnet.fqdn(z): s for z, s in signing.items()}
        self.keydir = os.path.join(tmpdir, "keys")
        os.makedirs(self.keydir, exist_ok=True)
        names = list(spec.zones)
        # Keys first (a zone's key does not depend on its content), so each
        # DS can join its parent's records before the files are written.
        for zone, s in sorted(self.signing.items()):
            s.key = _run([KEYGEN, "-a", s.alg, "-k", zone], self.keydir).strip().splitlines()[-1]
            with open(os.path.join(self.keydir, s.key + ".ds")) as f:
                ds = f.read().split()
            # owner IN DS tag alg digesttype digest
            if s.ds_alg is not None:
                ds[4] = str(s.ds_alg)
            s.ds = " ".join(ds)
            parent = privnet.parent_zone(zone, names)
            if zone != "." and parent is not None:
                spec.zones[parent].records += "\n%s 3600 %s\n" % (ds[0], " ".join(ds[1:]))
        super().__init__(spec, tmpdir=tmpdir)
        now = int(time.time())
        for zone, s in self.signing.items():
            path = os.path.join(self.dir, privnet.zone_file_name(zone))
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
            args += [path, os.path.join(self.keydir, s.key)]
            _run(args, self.dir)
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

    def anchor_file(self):
        """The root anchor (DS) for dnssec.trust-anchor-file."""
        path = os.path.join(self.dir, "root-anchor.ds")
        with open(path, "w") as f:
            f.write("; test root anchor\n%s\n" % self.signing["."].ds)
        return path
