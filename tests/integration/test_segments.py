"""Segments over real 802.1Q VLANs, in network namespaces.

Two namespaces, gh-seg-srv-PID and gh-seg-cli-PID, joined by a veth pair
(eth0 on both sides, made inside the namespaces: nothing is added to the
host's own namespace), with VLAN sub-interfaces eth0.10 (staff), eth0.20
(pupil) and eth0.30 (visitor) on both sides: 10.99.V.1 on the server,
10.99.V.2 on the client, and an untagged 10.99.40.0/24 on eth0 itself that
no segment covers.  gatehoused runs in the server namespace
(`ip netns exec NS gatehoused -c CONF -f`); dig runs in the client one.

The daemon has no upstream here: each segment's policy blocks `adult` with
its own block-page address (staff 192.0.2.10, pupil 192.0.2.20, visitor
192.0.2.30), so the address in the answer says which segment the daemon
chose; pupil also blocks gambling, staff has no bypass protection, and a
query matching no segment is REFUSED.  dig rejects a reply from another
address than the one it asked, and a raw socket check looks at the reply's
source explicitly.

Skips cleanly when not root, or when `ip link add ... type vlan` is not
supported.  Namespaces are deleted at the end, also on failure.
"""

import os
import re
import subprocess
import time

import daemon as daemonlib
from privnet import tail

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LISTS = os.path.join(ROOT_DIR, "tests", "data", "policy")
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"

VLANS = {"staff": 10, "pupil": 20, "visitor": 30}
PAGE = {"staff": "192.0.2.10", "pupil": "192.0.2.20", "visitor": "192.0.2.30"}


def srv_addr(seg):
    return "10.99.%d.1" % VLANS[seg]


def cli_addr(seg):
    return "10.99.%d.2" % VLANS[seg]


def run(args, timeout=10, check=True):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError("`%s` failed (%d): %s" % (" ".join(args), p.returncode,
                                                       (p.stderr or p.stdout).strip()))
    return p


class Netns:
    """The two namespaces and the VLANs between them."""

    def __init__(self, mode="vlan"):
        pid = os.getpid()
        self.srv = "gh-seg-srv-%d" % pid
        self.cli = "gh-seg-cli-%d" % pid
        self.mode = mode
        self.made = []

    def sh(self, ns, *args, check=True):
        return run([IP, "-n", ns] + list(args), check=check)

    def up(self):
        for ns in (self.srv, self.cli):
            run([IP, "netns", "del", ns], check=False)  # a leftover of a killed run
            run([IP, "netns", "add", ns])
            self.made.append(ns)
            self.sh(ns, "link", "set", "lo", "up")
        self.sh(self.srv, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", self.cli)
        for ns, host in ((self.srv, 1), (self.cli, 2)):
            self.sh(ns, "link", "set", "eth0", "up")
            self.sh(ns, "addr", "add", "10.99.40.%d/24" % host, "dev", "eth0")
            for seg, vid in VLANS.items():
                dev = "eth0.%d" % vid
                if self.mode == "vlan":
                    self.sh(ns, "link", "add", "link", "eth0", "name", dev, "type", "vlan",
                            "id", str(vid))
                elif ns == self.srv:  # one veth pair per segment, named like the VLANs
                    self.sh(ns, "link", "add", dev, "type", "veth", "peer", "name", dev,
                            "netns", self.cli)
                self.sh(ns, "addr", "add", "10.99.%d.%d/24" % (vid, host), "dev", dev)
                self.sh(ns, "link", "set", dev, "up")
            # The cross-VLAN query (source on one VLAN, sent over another)
            # needs loose reverse-path filtering.
            for key in ("all", "default", "eth0", "eth0.10", "eth0.20", "eth0.30"):
                run([IP, "netns", "exec", ns, "sysctl", "-qw",
                     "net.ipv4.conf.%s.rp_filter=0" % key], check=False)
        # IPv4 addresses are usable at once (no DAD); the queries show the links work.
        return self

    def down(self):
        for ns in reversed(self.made):
            run([IP, "netns", "del", ns], check=False)
        self.made = []


def vlan_supported(ctx, vlans=True):
    """Skip unless root and the kernel makes veth (and VLAN) devices."""
    ctx.require_gatehouse("runs gatehoused in a namespace")
    if os.geteuid() != 0:
        ctx.skip("needs root (network namespaces)")
    if run([IP, "-V"], check=False).returncode != 0:
        ctx.skip("no ip(8)")
    ns = "gh-seg-probe-%d" % os.getpid()
    try:
        if run([IP, "netns", "add", ns], check=False).returncode != 0:
            ctx.skip("cannot create a network namespace")
        p = run([IP, "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                check=False)
        if p.returncode != 0:
            ctx.skip("ip link add ... type veth unsupported: %s" % p.stderr.strip())
        if not vlans:
            return
        p = run([IP, "-n", ns, "link", "add", "link", "v0", "name", "v0.10", "type", "vlan",
                 "id", "10"], check=False)
        if p.returncode != 0:
            ctx.skip("ip link add ... type vlan unsupported: %s" % p.stderr.strip())
    finally:
        run([IP, "netns", "del", ns], check=False)


class NsDaemon(daemonlib.Daemon):
    """gatehoused started with `ip netns exec NS`."""

    def __init__(self, ctx, ns, n):
        wd = os.path.join(ctx.tmpdir, "nsdaemon%d" % n)
        super().__init__(ctx.binary, wd, sanitizer=ctx.sanitizer, addr="10.99.10.1", port=53)
        self.ns = ns

    def start(self, timeout=10.0, args=("-f", "-v")):
        self._check_binary()
        self.write_config()
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen([IP, "netns", "exec", self.ns, self.binary, "-c",
                                          self.conf] + list(args),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=self.env(), cwd=self.dir, start_new_session=True)
        daemonlib._LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r"\bready\b", self.log()):
                return self
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise daemonlib.DaemonError("gatehoused exited with %s:\n%s" % (
                    self.returncode, self.log_tail()))
            time.sleep(0.05)
        self.close()
        raise daemonlib.DaemonError("gatehoused not ready:\n" + self.log_tail())


def start_daemon(ctx, net, listen, segments, n):
    d = NsDaemon(ctx, net.srv, n)
    hints = os.path.join(d.dir, "root.hints")
    with open(hints, "w") as f:  # unreachable on purpose: nothing here needs upstream
        f.write(". 3600000 IN NS a.root.\na.root. 3600000 IN A 10.99.250.1\n")
    pol = {}
    for seg in VLANS:
        pol[seg] = {"block": ["adult"] + (["gambling"] if seg == "pupil" else []),
                    "action": {"default": PAGE[seg], "ttl": "1m"},
                    "bypass-protection": seg != "staff"}
    cfg = {
        "server": {"listen": listen, "threads": 2, "state-dir": d.state_dir},
        "resolver": {"root-hints": hints, "timeout": "100ms", "deadline": "1s"},
        "log": {"enabled": False},
        "blocklists": {"categories": {
            "adult": [os.path.join(LISTS, "adult.txt")],
            "gambling": [os.path.join(LISTS, "gambling.hosts")]}},
        "policies": pol,
        "segments": segments,
    }
    d.config = cfg
    ctx.daemons.append(d)
    d.write_config()
    ctl = os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "gatehousectl")
    env = dict(os.environ)
    if ctx.sanitizer:
        env.update(daemonlib.ASAN_ENV)
    p = subprocess.run([ctl, "-c", d.conf, "blocklists", "compile"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return d.start()


def dig(net, server, name, qtype="A", source=None, tcp=False):
    args = [IP, "netns", "exec", net.cli, daemonlib.DIG, "@" + server, "-p", "53", name, qtype,
            "+time=2", "+tries=1", "+retry=0", "+nocookie"]
    if source:
        args += ["-b", source]
    if tcp:
        args.append("+tcp")
    p = run(args, timeout=10, check=False)
    a = daemonlib.Answer(p.stdout)
    assert a.rcode is not None, "no answer from %s for %s (source %s, %s): %s %s" % (
        server, name, source, "TCP" if tcp else "UDP", p.stdout[-400:], p.stderr[-300:])
    assert "unexpected source" not in p.stdout + p.stderr, p.stdout
    return a


RAW = r"""
import socket, struct, sys, os
server, src = sys.argv[1], sys.argv[2]
q = os.urandom(2) + struct.pack("!HHHHH", 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in "adult.pt.test".split(".")) + b"\0"
q += struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.settimeout(2)
s.sendto(q, (server, 53))
data, peer = s.recvfrom(4096)
print(peer[0], peer[1], "match" if data[:2] == q[:2] else "wrong-id")
"""


def raw_reply_source(net, server, src):
    p = run([IP, "netns", "exec", net.cli, "python3", "-c", RAW, server, src], check=False,
            timeout=10)
    assert p.returncode == 0, "no raw reply from %s: %s" % (server, p.stderr[-300:])
    return p.stdout.split()


def page_of(a):
    return a.rdatas("A")


def expect_segment(net, server, seg, source=None, what="", tcp=False):
    """adult.pt.test answered with seg's block page; segment-specific extras."""
    a = dig(net, server, "adult.pt.test", source=source, tcp=tcp)
    assert a.rcode == "NOERROR" and page_of(a) == [PAGE[seg]], \
        "%s: want segment %s (page %s), got %s %s\n%s" % (what, seg, PAGE[seg], a.rcode,
                                                          page_of(a), a.text)
    a = dig(net, server, "casino.pt.test", source=source, tcp=tcp)
    if seg == "pupil":
        assert page_of(a) == [PAGE["pupil"]], "%s: gambling not blocked for pupil\n%s" % (
            what, a.text)
    else:
        assert page_of(a) != [PAGE["pupil"]] and not any("Filtered" in e for e in a.ede), \
            "%s: gambling blocked for %s\n%s" % (what, seg, a.text)
    a = dig(net, server, "use-application-dns.net", source=source, tcp=tcp)
    if seg == "staff":
        assert not any(e.startswith("15") for e in a.ede), \
            "%s: bypass protection for staff\n%s" % (what, a.text)
    else:
        assert a.rcode == "NXDOMAIN" and any(e.startswith("15") for e in a.ede), \
            "%s: no bypass protection for %s\n%s" % (what, seg, a.text)


def refused(net, server, source=None, what=""):
    for tcp in (False, True):
        a = dig(net, server, "adult.pt.test", source=source, tcp=tcp)
        assert a.rcode == "REFUSED" and not a.answer, "%s (%s): %s\n%s" % (
            what, "TCP" if tcp else "UDP", a.rcode, a.text)


def _with_vlans(ctx, body, mode="vlan"):
    vlan_supported(ctx, mode == "vlan")
    net = Netns(mode)
    try:
        net.up()
        body(net)
    finally:
        for d in ctx.daemons:
            d.close()
        net.down()
        assert not os.path.exists("/run/netns/" + net.srv), "namespace left behind"


VLAN_LISTEN = ["%s@53" % srv_addr(s) for s in VLANS]


def _segments(kind):
    out = []
    for seg, vid in VLANS.items():
        s = {"name": seg, "policy": seg}
        if kind == "interfaces":
            s["interfaces"] = ["eth0.%d" % vid]
        elif kind == "local":
            s["local-addresses"] = [srv_addr(seg)]
        else:
            s["networks"] = ["10.99.%d.0/24" % vid]
        out.append(s)
    return out


def _check_each_vlan(net, what, tcp_problems):
    """UDP must be right at once; TCP problems are collected (and asserted
    at the end of the test) so that one does not hide the other checks."""
    for seg in VLANS:
        for tcp in (False, True):
            w = "%s: %s over VLAN %d (%s)" % (what, seg, VLANS[seg], "TCP" if tcp else "UDP")
            try:
                expect_segment(net, srv_addr(seg), seg, source=cli_addr(seg), tcp=tcp, what=w)
            except AssertionError as e:
                if not tcp:
                    raise
                tcp_problems.append(str(e).splitlines()[0])
        peer = raw_reply_source(net, srv_addr(seg), cli_addr(seg))
        assert peer[0] == srv_addr(seg) and peer[1] == "53" and peer[2] == "match", \
            "%s: reply to %s came from %s" % (what, srv_addr(seg), peer)


def test_segments_by_interface(ctx):
    def body(net):
        start_daemon(ctx, net, VLAN_LISTEN, _segments("interfaces"), 1)
        _check_each_vlan(net, "by interface", tcp)
        # Sent to the staff address over VLAN 10 from a pupil source: the
        # interface (eth0.10) decides, so staff.
        expect_segment(net, srv_addr("staff"), "staff", source=cli_addr("pupil"),
                       what="by interface, pupil source over eth0.10")
    tcp = []
    _with_vlans(ctx, body)
    assert not tcp, "TCP queries got another segment's answer than UDP:\n" + "\n".join(tcp)


def test_segments_by_local_address(ctx):
    def body(net):
        start_daemon(ctx, net, VLAN_LISTEN, _segments("local"), 1)
        _check_each_vlan(net, "by local address", tcp)
        expect_segment(net, srv_addr("visitor"), "visitor", source=cli_addr("staff"),
                       what="by local address, staff source to the visitor address")
    tcp = []
    _with_vlans(ctx, body)
    assert not tcp, "TCP queries got another segment's answer than UDP:\n" + "\n".join(tcp)


def test_segments_by_source_network(ctx):
    def body(net):
        start_daemon(ctx, net, VLAN_LISTEN, _segments("networks"), 1)
        _check_each_vlan(net, "by network", tcp)
        # Over VLAN 10 to the staff address, but from the pupil network.
        expect_segment(net, srv_addr("staff"), "pupil", source=cli_addr("pupil"),
                       what="by network, pupil source over eth0.10")
        # The untagged network is in no segment.
        ip = run([IP, "-n", net.cli, "addr", "show", "dev", "eth0"]).stdout
        assert "10.99.40.2" in ip, ip
        refused(net, srv_addr("staff"), source="10.99.40.2", what="untagged source")
    tcp = []
    _with_vlans(ctx, body)
    assert not tcp, "TCP queries got another segment's answer than UDP:\n" + "\n".join(tcp)


def test_segments_wildcard_listener(ctx):
    """listen 0.0.0.0@53: interface and local address come from packet
    info, and each answer leaves from the address it was sent to."""
    def body(net):
        segs = _segments("interfaces")
        segs[2] = {"name": "visitor", "policy": "visitor", "local-addresses": [srv_addr("visitor")]}
        start_daemon(ctx, net, ["0.0.0.0@53"], segs, 1)
        _check_each_vlan(net, "wildcard", tcp)
        expect_segment(net, srv_addr("staff"), "staff", source=cli_addr("visitor"),
                       what="wildcard, visitor source over eth0.10")
        # Untagged eth0, to an address no segment names: REFUSED.
        refused(net, "10.99.40.1", source="10.99.40.2", what="wildcard, untagged eth0")
        peer = raw_reply_source(net, "10.99.40.1", "10.99.40.2")
        assert peer[0] == "10.99.40.1", "REFUSED came from %s" % peer
    tcp = []
    _with_vlans(ctx, body)
    assert not tcp, "TCP queries got another segment's answer than UDP:\n" + "\n".join(tcp)


def test_segments_per_interface_veth(ctx):
    """The same four configurations where the kernel has no 802.1Q: one veth
    pair per segment, named eth0.10/eth0.20/eth0.30 (untagged, but distinct
    interfaces and addresses, which is all the daemon sees)."""
    def body(net):
        n = 0
        for kind, listen in (("interfaces", VLAN_LISTEN), ("local", VLAN_LISTEN),
                             ("networks", VLAN_LISTEN), ("interfaces", ["0.0.0.0@53"])):
            n += 1
            d = start_daemon(ctx, net, listen, _segments(kind), n)
            what = "veth, by %s, listen %s" % (kind, listen[0])
            _check_each_vlan(net, what, tcp)
            if kind == "networks":
                expect_segment(net, srv_addr("staff"), "pupil", source=cli_addr("pupil"),
                               what=what + ", pupil source to the staff address")
            else:
                expect_segment(net, srv_addr("staff"), "staff", source=cli_addr("pupil"),
                               what=what + ", pupil source to the staff address")
            if listen[0].startswith("0.0.0.0"):
                refused(net, "10.99.40.1", source="10.99.40.2", what=what + ", eth0")
                peer = raw_reply_source(net, "10.99.40.1", "10.99.40.2")
                assert peer[0] == "10.99.40.1", "REFUSED came from %s" % peer
            d.close()
            assert d.returncode == 0, "%s: exit %s\n%s" % (what, d.returncode, d.log_tail())
    tcp = []
    _with_vlans(ctx, body, mode="veth")
    assert not tcp, "TCP queries got another segment's answer than UDP:\n" + "\n".join(tcp)
