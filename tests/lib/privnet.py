"""privnet - a private internet of real NSD servers on 127.53.0.0/16 (or GATEHOUSE_PRIVNET).

A world is described in Python (zones, their nameservers and records) and
built into a temporary directory: one zone file per zone, NS records and glue
added to the parents automatically, one nsd process per server address, each
bound to ADDR@53 with its own config, pid file, log and control socket.  The
resolver under test is given root_hints_file() and finds everything else by
iterating, exactly as on the real internet.

DNSSEC: the root zone is signed by default (tests/lib/signed.py), the zones
below it are not, and anchor_file() is the root's DS for the resolver's
dnssec.trust-anchor-file; World(sign_root=False) builds an unsigned world,
signed.SignedWorld signs more zones.

What it does not do: IPv6 transport (AAAA records are data only), or any
traffic outside 127.0.0.0/8.

Servers can be of three kinds:
  - "nsd": a real NSD process serving the zones that list its address;
  - "drop": a Python socket on ADDR@53 (UDP and TCP) that reads every query
    and never answers - a real server that has gone silent;
  - "delay": a Python UDP relay that forwards each query to a hidden NSD after
    a delay (for in-flight tests: it widens the window two queries share).
A zone may also list "lame" addresses: the server runs but does not load the
zone, so NSD answers REFUSED for it.

Counting: NSD's statistics are read with nsd-control over a unix socket in
the temp dir ("stats_noreset": num.queries and num.type.*; verified with NSD
4.6.1).  The Python servers count what they receive.  When run as root, a
passive AF_PACKET tap on "lo" also records (server, qname, qtype) of every
query sent to 127.53.0.0/16, because NSD does not log query names.

Every loop here is bounded in count and time; stop() ends every process
(process groups) and thread, and is registered with atexit.
"""

import atexit
import os
import re
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

# The /16 the default world lives in.  One test run uses one; a second run
# at the same time (another engineer, a benchmark) sets GATEHOUSE_PRIVNET to
# another 127.N so the two never share an address.
NET = os.environ.get("GATEHOUSE_PRIVNET", "127.53")
if not re.fullmatch(r"127\.(\d{1,3})", NET) or int(NET.split(".")[1]) > 255 or NET == "127.0":
    raise ValueError("GATEHOUSE_PRIVNET must be 127.N with N in 1..255, not %r" % NET)
NET_OCTET = int(NET.split(".")[1])


def net(rest):
    """An address of the default world: net("3.1") is 127.53.3.1."""
    return "%s.%s" % (NET, rest)


NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NSD_CONTROL = shutil.which("nsd-control") or "/usr/sbin/nsd-control"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33, "DNAME": 39, "OPT": 41, "DS": 43, "DNSKEY": 48, "AXFR": 252,
         "ANY": 255, "CAA": 257}
TYPE_NAMES = {v: k for k, v in TYPES.items()}


class PrivnetError(Exception):
    pass


def fqdn(name):
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


def is_subdomain(name, zone):
    name, zone = fqdn(name), fqdn(zone)
    return zone == "." or name == zone or name.endswith("." + zone)


def parent_zone(name, zones):
    """Deepest zone in zones strictly above name (zones: iterable of fqdn)."""
    best = None
    for z in zones:
        if z != fqdn(name) and is_subdomain(name, z):
            if best is None or len(z) > len(best):
                best = z
    return best


def enclosing_zone(name, zones):
    best = None
    for z in zones:
        if is_subdomain(name, z):
            if best is None or len(z) > len(best):
                best = z
    return best


# ---------------------------------------------------------------------------
# Describing a world


class Zone:
    """One zone.  ns: {ns_name: address}; records: zone-file lines relative to
    the origin ($ORIGIN is the zone, $TTL 3600).  lame: addresses listed in
    the delegation whose server does not load the zone.  delegate=False keeps
    the zone out of its parent (e.g. a zone reached only by forwarding)."""

    def __init__(self, name, ns, records="", lame=(), delegate=True, neg_ttl=300):
        self.name = fqdn(name)
        self.ns = {fqdn(k): v for k, v in ns.items()}
        self.records = records
        self.lame = set(lame)
        self.delegate = delegate
        self.neg_ttl = neg_ttl
        self.extra = []  # lines added by the builder (delegations, glue)


class WorldSpec:
    """A set of zones plus server kinds.  drop: addresses served by a silent
    Python server.  delay: {public_addr: (hidden_nsd_addr, seconds)}."""

    def __init__(self):
        self.zones = {}
        self.drop = set()
        self.delay = {}

    def zone(self, name, ns, records="", **kw):
        z = Zone(name, ns, records, **kw)
        self.zones[z.name] = z
        return z

    def addresses(self):
        out = set()
        for z in self.zones.values():
            out.update(z.ns.values())
        return out

    def root_servers(self):
        return self.zones["."].ns


def default_world():
    """The standard world the integration tests use: root (2 servers), test.
    and example. (2 each), good.test with the interesting names, glueless,
    lame, dead-server, slow and forward zones.  Addresses are the constants
    below (ROOT, GOOD, ...)."""
    w = WorldSpec()
    w.zone(".", {"a.root-servers.": net("0.1"), "b.root-servers.": net("0.2")}, neg_ttl=600)
    w.zone("test.", {"ns1.nic.test.": net("1.1"), "ns2.nic.test.": net("1.2")})
    w.zone("example.", {"ns1.nic.example.": net("2.1"), "ns2.nic.example.": net("2.2")},
           records="""
c2          3600 CNAME c3.good.test.
c4          3600 CNAME c5.good.test.
www.target  3600 A 192.0.2.50
""")
    big = " ".join('"%s"' % (("chunk%02d-" % i) + "x" * 90) for i in range(16))
    w.zone("good.test.", {"ns1.good.test.": net("3.1"), "ns2.good.test.": net("3.2")},
           records="""
@           3600 MX 10 mail.good.test.
www         3600 A 192.0.2.1
www         3600 AAAA 2001:db8::1
www         3600 MX 10 mail.good.test.
www         3600 TXT "hello from good.test"
mail        3600 A 192.0.2.25
other       3600 A 192.0.2.2
short       2 A 192.0.2.3
stale       2 A 192.0.2.4
nodata      3600 TXT "only text here"
deep.a.b.c.d 3600 A 192.0.2.7
c1          3600 CNAME c2.example.
c3          3600 CNAME c4.example.
c5          3600 CNAME final.good.test.
final       3600 A 192.0.2.9
old         3600 DNAME target.example.
big         3600 TXT %s
""" % big)
    # Glueless: the NS name lives in example., so the resolver must resolve it.
    w.zone("glueless.test.", {"ns.glueless-host.example.": net("4.1")},
           records="www 3600 A 192.0.2.41\n")
    # Lame: net("5.1") runs NSD without this zone (answers REFUSED).
    w.zone("lame.test.", {"ns1.lame.test.": net("5.1"), "ns2.lame.test.": net("5.2")},
           records="www 3600 A 192.0.2.51\n", lame={net("5.1")})
    # One server that never answers, one good one.
    w.zone("dead.test.", {"ns1.dead.test.": net("6.1"), "ns2.dead.test.": net("6.2")},
           records="www 3600 A 192.0.2.61\n")
    w.drop.add(net("6.1"))
    # Slow: a relay that answers after 300 ms (widens in-flight windows).
    w.zone("slow.test.", {"ns1.slow.test.": net("7.1")},
           records="www 3600 A 192.0.2.71\none 3600 A 192.0.2.72\ntwo 3600 A 192.0.2.73\n")
    w.delay[net("7.1")] = (net("7.2"), 0.3)
    # Reached only through resolver.forward-zones.
    w.zone("forward.lan.", {"ns.forward.lan.": net("9.1")},
           records="www 3600 A 192.0.2.91\n", delegate=False)
    return w


# The addresses of well-known servers in default_world(), for tests.
ROOT = [net("0.1"), net("0.2")]
TLD_TEST = [net("1.1"), net("1.2")]
TLD_EXAMPLE = [net("2.1"), net("2.2")]
GOOD = [net("3.1"), net("3.2")]
GLUELESS = [net("4.1")]
LAME_BAD, LAME_GOOD = net("5.1"), net("5.2")
DEAD_DROP, DEAD_GOOD = net("6.1"), net("6.2")
SLOW = net("7.1")
FORWARD = net("9.1")


# ---------------------------------------------------------------------------
# Building zone files


def build_zones(spec):
    """Returns {zone: text} with SOA, apex NS, delegations and glue."""
    names = list(spec.zones)
    extra = {z: [] for z in names}
    for z in spec.zones.values():
        if z.name != "." and z.delegate:
            parent = parent_zone(z.name, names)
            if parent is None:
                raise PrivnetError("zone %s has no parent zone in the world" % z.name)
            for nsname in sorted(z.ns):
                extra[parent].append("%s 3600 IN NS %s" % (z.name, nsname))
                # Glue only when the NS name is at or below the child zone.
                if is_subdomain(nsname, z.name):
                    extra[parent].append("%s 3600 IN A %s" % (nsname, z.ns[nsname]))
    # Authoritative address records for every NS name, in the zone holding it.
    for z in spec.zones.values():
        for nsname, addr in z.ns.items():
            home = enclosing_zone(nsname, names)
            if home is None:
                continue
            line = "%s 3600 IN A %s" % (nsname, addr)
            if line not in extra[home]:
                extra[home].append(line)
    out = {}
    for z in spec.zones.values():
        first_ns = sorted(z.ns)[0]
        lines = ["$ORIGIN %s" % z.name, "$TTL 3600",
                 "@ 3600 IN SOA %s hostmaster.%s 1 3600 600 86400 %d" % (
                     first_ns, z.name if z.name != "." else "", z.neg_ttl)]
        lines += ["@ 3600 IN NS %s" % n for n in sorted(z.ns)]
        lines += sorted(set(extra[z.name]))
        lines.append(z.records)
        out[z.name] = "\n".join(lines) + "\n"
    return out


def zone_file_name(zone):
    return "root.zone" if zone == "." else zone.rstrip(".") + ".zone"


# ---------------------------------------------------------------------------
# Servers


class NsdServer:
    kind = "nsd"

    def __init__(self, addr, zones, base):
        self.addr = addr
        self.zones = zones
        self.dir = os.path.join(base, "srv-" + addr)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "nsd.conf")
        self.log = os.path.join(self.dir, "nsd.log")
        self.ctl = os.path.join(self.dir, "nsd.ctl")
        self.proc = None
        self.base_counts = {}  # counts carried over from earlier runs
        self._write_conf(base)

    def _write_conf(self, base):
        d = self.dir
        lines = ["server:",
                 "  ip-address: %s@53" % self.addr,
                 '  username: ""',
                 '  chroot: ""',
                 '  zonesdir: "%s"' % base,
                 '  database: ""',
                 '  zonelistfile: "%s/zone.list"' % d,
                 '  xfrdfile: "%s/xfrd.state"' % d,
                 '  pidfile: "%s/nsd.pid"' % d,
                 '  logfile: "%s"' % self.log,
                 "  verbosity: 2",
                 "  server-count: 1",
                 "  tcp-count: 64",
                 "  hide-version: yes",
                 "  reuseport: no",
                 "  do-ip6: no",
                 "remote-control:",
                 "  control-enable: yes",
                 '  control-interface: "%s"' % self.ctl]
        for z in self.zones:
            lines += ["zone:", '  name: "%s"' % z, '  zonefile: "%s"' % zone_file_name(z)]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        if self.running():
            return
        for stale in ("nsd.pid", "nsd.ctl"):
            try:
                os.unlink(os.path.join(self.dir, stale))
            except FileNotFoundError:
                pass
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([NSD, "-d", "-c", self.conf], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def wait_ready(self, deadline):
        """Ready when it answers a UDP query for its first zone's SOA (or, with
        no zones, any reply)."""
        qname = self.zones[0] if self.zones else "."
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrivnetError("nsd %s exited with %s:\n%s" % (
                    self.addr, self.proc.returncode, tail(self.log)))
            if udp_probe(self.addr, 53, qname, 6, 0.2) is not None:
                return
            time.sleep(0.05)
        raise PrivnetError("nsd %s did not answer within the deadline:\n%s" % (
            self.addr, tail(self.log)))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        try:
            # Keep its counts across a restart; but a server whose counts
            # cannot be read must still be stopped (a leftover nsd holds its
            # address and breaks the next run).
            if self.running():
                for k, v in self.counts().items():
                    self.base_counts[k] = self.base_counts.get(k, 0) + v
        except Exception:
            pass
        finally:
            stop_group(self.proc, 5)
            self.proc = None

    def counts(self):
        """{'num.queries': N, 'num.type.A': N, ...} since this run started."""
        if not self.running():
            return {}
        try:
            out = subprocess.run([NSD_CONTROL, "-c", self.conf, "stats_noreset"],
                                 capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise PrivnetError("nsd-control stats timed out for %s" % self.addr)
        if out.returncode != 0:
            raise PrivnetError("nsd-control stats failed for %s: %s" % (
                self.addr, out.stderr.strip() or out.stdout.strip()))
        res = {}
        for line in out.stdout.splitlines():
            k, _, v = line.partition("=")
            if k.startswith("num."):
                try:
                    res[k] = int(v)
                except ValueError:
                    pass
        return res

    def total_counts(self):
        c = dict(self.base_counts)
        for k, v in self.counts().items():
            c[k] = c.get(k, 0) + v
        return c

    def log_tail(self, n=30):
        boring = ("control c", "nsd starting", "nsd started", "read with success",
                  "signal received", "shutting down")
        lines = [l for l in tail(self.log, 10 * n).splitlines()
                 if not any(b in l for b in boring)]
        return "\n".join(lines[-n:])


class PyServer:
    """A Python server on ADDR@53: mode "drop" reads and never answers; mode
    "delay" relays UDP to a hidden server after a delay (TCP connections are
    accepted, read and dropped in both modes)."""

    MAX_CONNS = 64
    MAX_PENDING = 64
    MAX_LIFETIME = 3600.0

    def __init__(self, addr, mode, upstream=None, delay=0.0, logdir=None):
        self.kind = mode
        self.addr = addr
        self.mode = mode
        self.upstream = upstream
        self.delay = delay
        self.n = 0
        self.types = {}
        self.lock = threading.Lock()
        self.thread = None
        self.stop_ev = threading.Event()
        self.pending = threading.BoundedSemaphore(self.MAX_PENDING)
        self.log = os.path.join(logdir, "py-%s.log" % addr) if logdir else None
        self.base_counts = {}

    def start(self):
        if self.running():
            return
        self.stop_ev.clear()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((self.addr, 53))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((self.addr, 53))
        self.tcp.listen(16)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="py-" + self.addr)
        self.thread.start()

    def wait_ready(self, deadline):
        return

    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def _note(self, data):
        q = parse_question(data)
        with self.lock:
            self.n += 1
            if q:
                self.types[q[1]] = self.types.get(q[1], 0) + 1
        if self.log:
            with open(self.log, "a") as f:
                f.write("%.3f %s %s\n" % (time.time(), self.mode,
                                          "%s %s" % (q[0], TYPE_NAMES.get(q[1], q[1])) if q else "?"))

    def _relay(self, data, client):
        try:
            time.sleep(self.delay)
            if self.stop_ev.is_set():
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.settimeout(2.0)
                s.sendto(data, (self.upstream, 53))
                reply, _ = s.recvfrom(65535)
            finally:
                s.close()
            if not self.stop_ev.is_set():
                self.udp.sendto(reply, client)
        except OSError:
            pass
        finally:
            self.pending.release()

    def _loop(self):
        import select
        conns = {}  # socket -> accept time
        born = time.monotonic()
        try:
            while not self.stop_ev.is_set() and time.monotonic() - born < self.MAX_LIFETIME:
                r, _, _ = select.select([self.udp, self.tcp] + list(conns), [], [], 0.1)
                for s in r:
                    if s is self.udp:
                        data, client = self.udp.recvfrom(65535)
                        self._note(data)
                        if self.mode == "delay" and self.pending.acquire(blocking=False):
                            threading.Thread(target=self._relay, args=(data, client),
                                             daemon=True).start()
                    elif s is self.tcp:
                        c, _ = self.tcp.accept()
                        if len(conns) >= self.MAX_CONNS:
                            c.close()
                        else:
                            conns[c] = time.monotonic()
                    else:
                        try:
                            data = s.recv(65535)
                        except OSError:
                            data = b""
                        if data:
                            if len(data) > 2:
                                self._note(data[2:])
                        else:
                            conns.pop(s, None)
                            s.close()
                now = time.monotonic()
                for c, t in list(conns.items()):
                    if now - t > 10:
                        conns.pop(c)
                        c.close()
        finally:
            for c in conns:
                c.close()
            self.udp.close()
            self.tcp.close()

    def stop(self):
        if self.thread is None:
            return
        c = self.counts()
        for k, v in c.items():
            self.base_counts[k] = self.base_counts.get(k, 0) + v
        with self.lock:
            self.n = 0
            self.types = {}
        self.stop_ev.set()
        self.thread.join(5)
        self.thread = None

    def counts(self):
        with self.lock:
            c = {"num.queries": self.n}
            for t, n in self.types.items():
                c["num.type.%s" % TYPE_NAMES.get(t, "TYPE%d" % t)] = n
        return c

    def total_counts(self):
        c = dict(self.base_counts)
        for k, v in self.counts().items():
            c[k] = c.get(k, 0) + v
        return c

    def log_tail(self, n=30):
        return tail(self.log, n) if self.log else ""


# ---------------------------------------------------------------------------
# Passive tap: who asked which server for what (root only)


class Tap:
    """Records every DNS query to NET.0.0/16:53 seen on "lo" as
    (time, server, qname, qtype, proto).  Passive: it sends nothing."""

    MAX_RECORDS = 200000

    def __init__(self):
        self.records = []
        self.error = None
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        try:  # root may exceed net.core.rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.filtered = self._attach_filter()
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._loop, daemon=True, name="tap")
        self.thread.start()

    def _attach_filter(self):
        """Classic BPF: keep only IPv4 packets to NET.0.0/16 as received
        (PACKET_HOST), first 2048 bytes.  Everything else on lo (other
        tests, benchmarks) never reaches this socket, so it cannot overflow."""
        import ctypes
        prog = [
            (0x20, 0, 0, 0xFFFFF004),  # ld  pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
            (0x15, 0, 6, 0),           # jeq PACKET_HOST, else drop
            (0x28, 0, 0, 12),          # ldh ethertype
            (0x15, 0, 4, 0x0800),      # jeq IPv4, else drop
            (0x20, 0, 0, 30),          # ld  destination address
            (0x54, 0, 0, 0xFFFF0000),  # and /16
            (0x15, 0, 1, 0x7F000000 | NET_OCTET << 16),  # jeq NET.0.0, else drop
            (0x06, 0, 0, 2048),        # accept 2048 bytes
            (0x06, 0, 0, 0),           # drop
        ]
        code = b"".join(struct.pack("HBBI", *ins) for ins in prog)
        self._bpf = ctypes.create_string_buffer(code, len(code))
        fprog = struct.pack("HL", len(prog), ctypes.addressof(self._bpf))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
            return True
        except OSError:
            return False

    def _loop(self):
        born = time.monotonic()
        errors = 0
        while not self.stop_ev.is_set() and time.monotonic() - born < 7200 and errors < 100:
            try:
                pkt, addr = self.sock.recvfrom(65600)
            except socket.timeout:
                continue
            except OSError as e:
                errors += 1
                self.error = "recvfrom: %s" % e
                continue
            if addr[2] != socket.PACKET_HOST:  # lo shows each packet twice
                continue
            try:
                rec = self._parse(pkt)
            except Exception as e:  # a packet we cannot read is not a reason to stop
                self.error = "parse: %r" % e
                continue
            if rec:
                with self.lock:
                    if len(self.records) < self.MAX_RECORDS:
                        self.records.append(rec)

    @staticmethod
    def _parse(pkt):
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            return None
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[0] >> 4 != 4 or ip[16] != 127 or ip[17] != NET_OCTET:
            return None
        dst = socket.inet_ntoa(ip[16:20])
        proto = ip[9]
        l4 = ip[ihl:]
        if proto == 17 and len(l4) >= 8:
            if struct.unpack("!H", l4[2:4])[0] != 53:
                return None
            dns, p = l4[8:], "udp"
        elif proto == 6 and len(l4) >= 20:
            if struct.unpack("!H", l4[2:4])[0] != 53:
                return None
            off = (l4[12] >> 4) * 4
            payload = l4[off:]
            if len(payload) < 14:
                return None
            dns, p = payload[2:], "tcp"
        else:
            return None
        if len(dns) < 12 or dns[2] & 0x80:  # responses are not queries
            return None
        q = parse_question(dns)
        if not q:
            return None
        return (time.time(), dst, q[0], TYPE_NAMES.get(q[1], str(q[1])), p)

    MARK_ADDR = net("255.254")  # nothing listens there; the tap still sees it

    def sync(self, timeout=2.0):
        """Wait until every packet sent before this call has been read: send a
        marker query to an unused NET address and wait to see it."""
        token = "sync-%d-%d.tap.invalid." % (os.getpid(), random.getrandbits(48))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(make_query(token, "A"), (self.MARK_ADDR, 53))
        except OSError:
            pass
        finally:
            s.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if any(r[2] == token for r in self.records[-200:]):
                    return True
            if not self.thread.is_alive():
                break
            time.sleep(0.01)
        raise PrivnetError("packet tap lost sync (thread %s, %d records, last error %s)" % (
            "alive" if self.thread.is_alive() else "dead", len(self.records), self.error))

    def mark(self):
        """An index for queries(start=...): everything seen so far is before it."""
        self.sync()
        with self.lock:
            return len(self.records)

    def queries(self, server=None, qname=None, qtype=None, start=0):
        """Queries seen since mark() returned start (synced first)."""
        self.sync()
        with self.lock:
            recs = self.records[start:]
        out = []
        for r in recs:
            if r[1] == self.MARK_ADDR:
                continue
            if server is not None and (r[1] != server if isinstance(server, str)
                                       else r[1] not in server):
                continue
            if qname is not None and r[2] != fqdn(qname):
                continue
            if qtype is not None and r[3] != qtype:
                continue
            out.append(r)
        return out

    def close(self):
        self.stop_ev.set()
        self.thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------
# The world


_LIVE = set()


def _stop_all_live():
    for w in list(_LIVE):
        try:
            w.stop()
        except Exception:
            pass


atexit.register(_stop_all_live)


class World:
    """A world built from spec (default_world() if None) in tmpdir (a new
    temp dir, removed by stop(), if None).

    Its root zone is signed (NSEC, one key: tests/lib/signed.py) and
    everything below it unsigned, so each delegation from the root is a
    proven insecure one, as on the real internet for an unsigned TLD; the
    resolver under test validates with anchor_file() as its
    dnssec.trust-anchor-file.  sign_root=False builds an unsigned world
    (anchor_file() is None: the resolver must not validate).  signing:
    {zone: signed.Sign} signs those zones instead (signed.SignedWorld)."""

    def __init__(self, spec=None, tmpdir=None, tap=None, sign_root=True, signing=None):
        import signed  # here, not at the top: signed imports this module

        self.spec = spec or default_world()
        self.own_dir = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix="gatehouse-privnet-")
        os.makedirs(self.dir, exist_ok=True)
        self.servers = {}
        self.tap = None
        self.want_tap = (os.geteuid() == 0) if tap is None else tap
        if signing is None:
            signing = {".": signed.Sign()} if sign_root else {}
        self.signing = {fqdn(z): s for z, s in signing.items()}
        self.keydir = keydir = os.path.join(self.dir, "keys")
        if self.signing:
            signed.prepare(self.spec, self.signing, keydir)
        texts = build_zones(self.spec)
        for z, text in texts.items():
            with open(os.path.join(self.dir, zone_file_name(z)), "w") as f:
                f.write(text)
        if self.signing:
            signed.sign_files(self.dir, self.signing, keydir)
        self._anchor = None
        if "." in self.signing:
            self._anchor = signed.write_anchor(os.path.join(self.dir, "root-anchor.ds"),
                                               self.signing["."])
        serves = {}
        for z in self.spec.zones.values():
            for addr in z.ns.values():
                serves.setdefault(addr, [])
                if addr not in z.lame:
                    serves[addr].append(z.name)
        for addr, zones in sorted(serves.items()):
            if addr in self.spec.drop:
                self.servers[addr] = PyServer(addr, "drop", logdir=self.dir)
            elif addr in self.spec.delay:
                hidden, delay = self.spec.delay[addr]
                self.servers[addr] = PyServer(addr, "delay", upstream=hidden, delay=delay,
                                              logdir=self.dir)
                self.servers[hidden] = NsdServer(hidden, zones, self.dir)
            else:
                self.servers[addr] = NsdServer(addr, zones, self.dir)

    # -- lifecycle
    def start(self, timeout=20.0):
        if os.geteuid() != 0:
            raise PrivnetError("the private internet binds port 53: run as root")
        _LIVE.add(self)
        if self.want_tap and self.tap is None:
            try:
                self.tap = Tap()
            except OSError:
                self.tap = None
        for s in self.servers.values():
            s.start()
        deadline = time.monotonic() + timeout
        for s in self.servers.values():
            s.wait_ready(deadline)
        return self

    def start_server(self, addr, timeout=10.0):
        s = self.servers[addr]
        s.start()
        s.wait_ready(time.monotonic() + timeout)

    def stop_server(self, addr):
        self.servers[addr].stop()

    def stop_authoritative(self):
        """Stop every server (NSD and Python) but keep the world's files.
        In parallel: NSD takes a second or two to shut down."""
        threads = [threading.Thread(target=s.stop, daemon=True) for s in self.servers.values()]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))

    def start_all(self, timeout=20.0):
        for s in self.servers.values():
            if not s.running():
                s.start()
        deadline = time.monotonic() + timeout
        for s in self.servers.values():
            s.wait_ready(deadline)

    def stop(self):
        try:
            self.stop_authoritative()
        except Exception:
            pass
        if self.tap:
            self.tap.close()
            self.tap = None
        _LIVE.discard(self)
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- hints, anchor and counts
    def anchor_file(self):
        """The root's DS for dnssec.trust-anchor-file; None when the root is
        not signed."""
        return self._anchor

    def root_hints_file(self, path=None):
        path = path or os.path.join(self.dir, "root.hints")
        lines = []
        for name, addr in sorted(self.spec.root_servers().items()):
            lines.append(".  3600000 IN NS %s" % name)
            lines.append("%s 3600000 IN A %s" % (name, addr))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def counts(self, addrs=None):
        """{addr: {'num.queries': N, ...}} including earlier runs of a server."""
        addrs = self.servers if addrs is None else ([addrs] if isinstance(addrs, str) else addrs)
        return {a: self.servers[a].total_counts() for a in addrs}

    def queries(self, addrs=None, key="num.queries"):
        """Sum of one counter over servers (all by default)."""
        return sum(c.get(key, 0) for c in self.counts(addrs).values())

    def settle(self, addrs=None, quiet=0.4, timeout=5.0):
        """Wait until the query count stays still for `quiet` seconds (bounded);
        returns the count."""
        deadline = time.monotonic() + timeout
        last = self.queries(addrs)
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.queries(addrs)
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                break
        return last

    def logs(self, n=20):
        out = []
        for addr, s in sorted(self.servers.items()):
            t = s.log_tail(n)
            if t.strip():
                out.append("--- %s server %s ---\n%s" % (s.kind, addr, t))
        return "\n".join(out)


# ---------------------------------------------------------------------------
# Small helpers shared with daemon.py


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-n:])


def stop_group(proc, timeout=5.0, sig=signal.SIGTERM):
    """SIGTERM the process group, wait, then SIGKILL it.  Returns the exit code."""
    if proc is None:
        return None
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        rc = proc.wait(timeout)
        # The leader is gone; give its children (nsd's xfrd and server
        # processes) a moment, then kill what is left of the group.
        for _ in range(40):
            try:
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return rc
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        return rc
    except subprocess.TimeoutExpired:
        pass
    except (ProcessLookupError, PermissionError):
        return proc.returncode
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        return None


def encode_name(name):
    name = fqdn(name)
    out = b""
    if name != ".":
        for label in name[:-1].split("."):
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def make_query(name, qtype="A", qid=None, rd=True, edns=1232, qclass=1):
    qid = os.urandom(2) if qid is None else struct.pack("!H", qid)
    t = TYPES[qtype] if isinstance(qtype, str) else qtype
    flags = 0x0100 if rd else 0
    hdr = qid + struct.pack("!HHHHH", flags, 1, 0, 0, 1 if edns is not None else 0)
    q = encode_name(name) + struct.pack("!HH", t, qclass)
    opt = b""
    if edns is not None:
        opt = b"\x00" + struct.pack("!HHIH", 41, edns, 0, 0)
    return hdr + q + opt


def read_name(msg, off, depth=0):
    """(name, next_offset) with compression; raises ValueError on bad input."""
    labels = []
    jumped_end = None
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("name runs past the end")
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg):
                raise ValueError("truncated pointer")
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            if jumped_end is None:
                jumped_end = off + 2
            if ptr >= off:
                raise ValueError("forward pointer")
            off = ptr
            continue
        if n & 0xC0:
            raise ValueError("bad label type")
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1").lower())
        off += 1 + n
    else:
        raise ValueError("too many labels")
    return (".".join(labels) + "." if labels else "."), (jumped_end or off)


def parse_question(msg):
    try:
        if len(msg) < 12 or struct.unpack("!H", msg[4:6])[0] < 1:
            return None
        name, off = read_name(msg, 12)
        qtype = struct.unpack("!H", msg[off:off + 2])[0]
        return name, qtype
    except (ValueError, struct.error):
        return None


def udp_probe(addr, port, qname, qtype, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(make_query(qname, qtype, rd=False), (addr, port))
        return s.recvfrom(65535)[0]
    except OSError:
        return None
    finally:
        s.close()
