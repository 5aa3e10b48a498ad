"""peer - Unbound as a reference resolver over the private internet.

Used to prove that a privnet world is resolvable and that the integration
tests' expectations are right (tests/run --peer runs the suite against it),
and by bench/ to compare Gatehouse with Unbound on the same world.

unbound_config() writes the config: iterator only (no validation) unless
given a trust anchor (then "validator iterator" with that anchor, for
bench/dnssec), root hints from privnet, do-not-query-localhost: no (the world
lives on 127.53/16), "test." taken out of Unbound's built-in RFC 6761 local
zones, forward zones as given.  Unbound is started in the foreground (-d) as
its own process group and stopped with SIGTERM then SIGKILL.  It does not
touch /etc/unbound.
"""

import os
import shutil
import socket
import subprocess
import time

import privnet
from daemon import Client, free_address
from privnet import stop_group, tail

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


def unbound_config(addr, port, workdir, root_hints, forward=None, qname_minimisation=True,
                   threads=1, serve_stale=False, extra="", trust_anchor=None):
    """Unbound config text.  forward: list of {"zone": Z, "servers": ["A@P"]}.
    trust_anchor: a trust-anchor-file (DS or DNSKEY records, e.g.
    signed.SignedWorld.anchor_file()) turns validation on; None (the default)
    leaves Unbound an iterator only."""
    lines = [
        "server:",
        "  interface: %s@%d" % (addr, port),
        "  port: %d" % port,
        "  do-ip6: no",
        "  do-not-query-localhost: no",
        '  username: ""',
        '  chroot: ""',
        '  directory: "%s"' % workdir,
        '  pidfile: "%s/unbound.pid"' % workdir,
        '  logfile: ""',
        "  use-syslog: no",
        "  log-time-ascii: yes",
        "  verbosity: 1",
        "  num-threads: %d" % threads,
        '  module-config: "%s"' % ("validator iterator" if trust_anchor else "iterator"),
        '  root-hints: "%s"' % root_hints,
        "  access-control: 127.0.0.0/8 allow",
        "  qname-minimisation: %s" % ("yes" if qname_minimisation else "no"),
        "  serve-expired: %s" % ("yes" if serve_stale else "no"),
        "  harden-referral-path: no",
        "  prefetch: no",
        "  hide-version: yes",
        "  hide-identity: yes",
        "  outgoing-interface: 127.0.0.1",
        # RFC 6761 names Unbound answers locally by default; the world uses them.
        '  local-zone: "test." nodefault',
        '  local-zone: "invalid." nodefault',
    ]
    if trust_anchor:
        lines.append('  trust-anchor-file: "%s"' % trust_anchor)
    lines += [
        "remote-control:",
        "  control-enable: no",
    ]
    for fz in forward or []:
        lines += ["forward-zone:", '  name: "%s"' % fz["zone"]]
        lines += ["  forward-addr: %s" % s for s in fz["servers"]]
    return "\n".join(lines) + "\n" + extra


class Unbound(Client):
    """An Unbound process; query it with the Client helpers (dig, send_udp)."""

    def __init__(self, workdir, root_hints, addr=None, port=None, **kw):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        if addr is None:
            addr, port = free_address()
        self.addr, self.port = addr, port
        self.conf = os.path.join(workdir, "unbound.conf")
        self.logfile = os.path.join(workdir, "unbound.log")
        with open(self.conf, "w") as f:
            f.write(unbound_config(addr, port, workdir, root_hints, **kw))
        self.proc = None

    def start(self, timeout=10.0):
        log = open(self.logfile, "ab")
        try:
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited %s:\n%s" % (self.proc.returncode,
                                                                tail(self.logfile)))
            # localhost. is answered locally: no traffic to the world.
            if privnet.udp_probe(self.addr, self.port, "localhost.", 1, 0.2) is not None:
                return self
            time.sleep(0.05)
        self.close()
        raise RuntimeError("unbound did not answer within %.0f s:\n%s" % (
            timeout, tail(self.logfile)))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        rc = stop_group(self.proc, 5)
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return tail(self.logfile, n)

    def sanitizer_report(self):
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
