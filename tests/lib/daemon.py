"""daemon - run gatehoused under test and talk to it.

Daemon starts BUILD/gatehoused -c CONF -f -v with a YAML config written to a
temp file, bound to a random free port on a random 127.x.y.z address, and
waits (at most 10 s) for the stderr line containing the word "ready"; if the
binary is missing, exits, or never says ready, it raises DaemonError with the
log.  Queries go through dig (UDP or +tcp) or kdig and come back parsed
(rcode, flags, sections with TTLs, EDNS, EDE); raw bytes can be sent over UDP
or TCP for malformed-packet tests and the replies parsed by parse_message().

What it does not do: judge answers (the tests do), or send anything to an
address outside 127.0.0.0/8.  Every wait is bounded; close() always ends the
process (SIGTERM, then SIGKILL of the process group).
"""

import atexit
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import privnet
from privnet import TYPE_NAMES, read_name, stop_group, tail

DIG = shutil.which("dig") or "/usr/bin/dig"
KDIG = shutil.which("kdig") or "/usr/bin/kdig"

SANITIZER_PATTERNS = [re.compile(p) for p in (
    r"ERROR: AddressSanitizer", r"ERROR: LeakSanitizer", r"SUMMARY: AddressSanitizer",
    r"SUMMARY: UndefinedBehaviorSanitizer", r"runtime error: ", r"ERROR: ThreadSanitizer")]
ASAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


class DaemonError(AssertionError):
    """Raised (as an assertion failure) when the daemon cannot be used."""


class QueryTimeout(AssertionError):
    pass


# ---------------------------------------------------------------------------
# Addresses and YAML


def free_address(avoid=(os.environ.get("GATEHOUSE_PRIVNET", "127.53") + ".",)):
    """A random 127.x.y.z (never 127.53/16 or 127.0.0.1) and a port free there
    for both UDP and TCP.  Bounded: 50 tries."""
    for _ in range(50):
        x = random.choice([v for v in range(60, 250) if v != 53])
        addr = "127.%d.%d.%d" % (x, random.randint(0, 255), random.randint(1, 254))
        if any(addr.startswith(a) for a in avoid):
            continue
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind((addr, 0))
            port = u.getsockname()[1]
            t.bind((addr, port))
            return addr, port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise DaemonError("no free address/port found on 127/8")


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars (enough for configs)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 1))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 1).splitlines()
                sub[0] = pad + "- " + sub[0].lstrip()
                out.extend(sub)
            else:
                out.append("%s- %s" % (pad, _yaml_scalar(item)))
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def merge(base, over):
    """Deep-merge over into a copy of base; a None value deletes the key."""
    out = dict(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def base_config(addr, port, state_dir, root_hints=None, forward=None, trust_anchor=None):
    """The config the integration tests start from.  Validation is on, as by
    default; trust_anchor (privnet.World.anchor_file(): the private root's
    DS) replaces the built-in IANA root anchor.  A test that wants it off
    says dnssec: {enabled: false}."""
    cfg = {
        "server": {"listen": ["%s@%d" % (addr, port)], "threads": 2, "state-dir": state_dir},
        "resolver": {"query-loopback": True, "timeout": "200ms", "qname-minimisation": True},
        "cache": {"serve-stale": True},
        "log": {"enabled": False},
    }
    if root_hints:
        cfg["resolver"]["root-hints"] = root_hints
    if forward:
        cfg["resolver"]["forward-zones"] = forward
    if trust_anchor:
        cfg["dnssec"] = {"trust-anchor-file": [trust_anchor]}
    return cfg


# ---------------------------------------------------------------------------
# Parsed answers


class RR:
    def __init__(self, name, ttl, rclass, rtype, rdata):
        self.name, self.ttl, self.rclass, self.rtype, self.rdata = name, ttl, rclass, rtype, rdata

    def __repr__(self):
        return "%s %d %s %s %s" % (self.name, self.ttl, self.rclass, self.rtype, self.rdata)


class Answer:
    """A reply as dig/kdig printed it.  rcode: "NOERROR"...; flags: set of
    lower-case header flags; answer/authority/additional: lists of RR;
    edns: None or {"version", "udp", "flags"}; ede: list of strings."""

    def __init__(self, text):
        self.text = text
        self.rcode = None
        self.flags = set()
        self.answer, self.authority, self.additional = [], [], []
        self.edns = None
        self.ede = []
        self._parse(text)

    def _parse(self, text):
        section = None
        for line in text.splitlines():
            s = line.strip()
            m = re.search(r"status: ([A-Z0-9]+)", s)
            if m and self.rcode is None:
                self.rcode = m.group(1)
            m = re.match(r";; [Ff]lags: ([a-z ]*);", s)
            if m and not self.flags:
                self.flags = set(m.group(1).split())
            m = re.search(r"EDNS: version: (\d+), flags:([a-z ]*); udp: (\d+)", s)
            if m:
                self.edns = {"version": int(m.group(1)), "flags": set(m.group(2).split()),
                             "udp": int(m.group(3))}
            m = re.search(r"Version: (\d+); flags:([a-z ]*); UDP size: (\d+)", s)  # kdig
            if m:
                self.edns = {"version": int(m.group(1)), "flags": set(m.group(2).split()),
                             "udp": int(m.group(3))}
            m = re.match(r";;? ?EDE: (.*)", s)
            if m:
                self.ede.append(m.group(1))
            m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", s)
            if m:
                section = m.group(1).lower()
                continue
            if not s:
                section = None
                continue
            if s.startswith(";") or section is None:
                continue
            parts = s.split(None, 4)
            if len(parts) < 4 or not parts[1].isdigit():
                continue
            rdata = parts[4] if len(parts) > 4 else ""
            getattr(self, section).append(RR(parts[0].lower(), int(parts[1]), parts[2],
                                             parts[3], rdata))

    def types(self, section="answer"):
        return [rr.rtype for rr in getattr(self, section)]

    def rdatas(self, rtype=None, section="answer"):
        return [rr.rdata for rr in getattr(self, section) if rtype is None or rr.rtype == rtype]

    def __repr__(self):
        return "<Answer %s flags=%s an=%s ns=%s>" % (self.rcode, sorted(self.flags),
                                                    self.answer, self.authority)


class Message:
    """A reply parsed from wire bytes (for raw tests)."""

    RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
              5: "REFUSED", 16: "BADVERS"}

    def __init__(self, data):
        if len(data) < 12:
            raise ValueError("reply shorter than a header (%d bytes)" % len(data))
        self.data = data
        self.id, fl, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        self.qr = bool(fl & 0x8000)
        self.opcode = (fl >> 11) & 0xF
        self.aa, self.tc = bool(fl & 0x0400), bool(fl & 0x0200)
        self.rd, self.ra = bool(fl & 0x0100), bool(fl & 0x0080)
        rc = fl & 0xF
        self.counts = (qd, an, ns, ar)
        self.question, self.answer, self.authority, self.additional = [], [], [], []
        self.opt = None
        self.rcode_num = rc
        self.rcode = self.RCODES.get(rc, str(rc))
        # The header is enough for most checks; a reply echoing a malformed
        # question still has a usable rcode, so parse errors are kept, not raised.
        self.parse_error = None
        try:
            self._parse_sections(data, qd, an, ns, ar)
        except (ValueError, struct.error, IndexError) as e:
            self.parse_error = str(e)
        if self.opt:
            self.rcode_num = rc | (self.opt["ext_rcode"] << 4)
            self.rcode = self.RCODES.get(self.rcode_num, str(self.rcode_num))

    def _parse_sections(self, data, qd, an, ns, ar):
        off = 12
        for _ in range(qd):
            name, off = read_name(data, off)
            t, c = struct.unpack("!HH", data[off:off + 4])
            off += 4
            self.question.append((name, t, c))
        for sec, n in ((self.answer, an), (self.authority, ns), (self.additional, ar)):
            for _ in range(n):
                name, off = read_name(data, off)
                t, c, ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
                off += 10
                rdata = data[off:off + rdlen]
                off += rdlen
                if t == 41:
                    self.opt = {"udp": c, "ext_rcode": ttl >> 24, "version": (ttl >> 16) & 0xFF,
                                "do": bool(ttl & 0x8000), "rdata": rdata}
                    continue
                sec.append((name, TYPE_NAMES.get(t, str(t)), ttl, rdata))

    def __repr__(self):
        return "<Message %s qr=%s tc=%s an=%s>" % (self.rcode, self.qr, self.tc, self.answer)


def parse_message(data):
    return Message(data)


make_query = privnet.make_query


# ---------------------------------------------------------------------------
# The daemon

_LIVE = set()
atexit.register(lambda: [d.close() for d in list(_LIVE)])


class Client:
    """Query helpers for any server at self.addr:self.port (the daemon, or
    the Unbound peer)."""

    addr, port = None, None

    def running(self):
        return True

    def status(self):
        return "running" if self.running() else "NOT running"

    # -- queries
    def dig(self, name, qtype="A", tcp=False, bufsize=None, edns=True, rd=True,
            source=None, extra=(), timeout=3, server=None, port=None):
        args = [DIG, "@%s" % (server or self.addr), "-p", str(port or self.port), name, qtype,
                "+time=%d" % timeout, "+tries=1", "+retry=0", "+ignore", "+nocookie"]
        if tcp:
            args.append("+tcp")
        if bufsize is not None:
            args.append("+bufsize=%d" % bufsize)
        if not edns:
            args.append("+noedns")
        if not rd:
            args.append("+norecurse")
        if source:
            args += ["-b", source]
        args += list(extra)
        return self._run_query(args, timeout)

    def kdig(self, name, qtype="A", tcp=False, bufsize=None, edns=True, extra=(), timeout=3):
        args = [KDIG, "@%s" % self.addr, "-p", str(self.port), name, qtype,
                "+time=%d" % timeout, "+retry=0", "+ignore", "+nocookie"]
        if edns:
            args.append("+edns")
        if tcp:
            args.append("+tcp")
        if bufsize is not None:
            args += ["+bufsize=%d" % bufsize]
        args += list(extra)
        return self._run_query(args, timeout)

    def _run_query(self, args, timeout):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            raise QueryTimeout("%s hung" % " ".join(args))
        a = Answer(out.stdout)
        if a.rcode is None:
            raise QueryTimeout("no answer to `%s`: %s%s\n(%s)" % (
                " ".join(args[1:]), out.stdout.strip()[-300:], out.stderr.strip()[-300:],
                self.status()))
        return a

    query = dig

    def send_udp(self, data, timeout=1.0, source=None):
        """Sends raw bytes; returns the reply bytes or None on timeout."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if source:
                s.bind((source, 0))
            s.settimeout(timeout)
            s.sendto(data, (self.addr, self.port))
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None
        finally:
            s.close()

    def send_tcp(self, data, timeout=2.0, frame=True):
        """Sends data (length-prefixed when frame) over a new TCP connection;
        returns the first reply message, or None if the server closed or was
        silent."""
        s = socket.create_connection((self.addr, self.port), timeout=timeout)
        try:
            s.sendall(struct.pack("!H", len(data)) + data if frame else data)
            buf = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                need = 2 if len(buf) < 2 else 2 + struct.unpack("!H", buf[:2])[0]
                if len(buf) >= need and len(buf) >= 2 and need > 2:
                    return buf[2:need]
                try:
                    chunk = s.recv(65535)
                except socket.timeout:
                    return None
                except ConnectionResetError:
                    return None
                if not chunk:
                    return None
                buf += chunk
            return None
        finally:
            s.close()


class Daemon(Client):
    def __init__(self, binary, workdir, config=None, sanitizer=False, addr=None, port=None):
        self.binary = os.path.abspath(binary)  # the daemon runs in workdir
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "gatehoused.yaml")
        self.logfile = os.path.join(workdir, "gatehoused.log")
        self.state_dir = os.path.join(workdir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        if addr is None:
            addr, port = free_address()
        self.addr, self.port = addr, port
        self.config = config
        self.sanitizer = sanitizer
        self.proc = None
        self.returncode = None

    # -- config
    def write_config(self, config=None):
        """Writes config (dict -> YAML, or str as is) to the config file."""
        if config is not None:
            self.config = config
        text = self.config if isinstance(self.config, str) else to_yaml(self.config) + "\n"
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)
        return self.conf

    def env(self):
        env = dict(os.environ)
        if self.sanitizer:
            env.update(ASAN_ENV)
        return env

    def _check_binary(self):
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise DaemonError("daemon binary %s is missing (build it: make)" % self.binary)

    # -- lifecycle
    def start(self, timeout=10.0, args=("-f", "-v")):
        self._check_binary()
        self.write_config()
        log = open(self.logfile, "ab")
        try:
            self.proc = subprocess.Popen([self.binary, "-c", self.conf] + list(args),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=self.env(), cwd=self.dir, start_new_session=True)
        finally:
            log.close()
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        ready = re.compile(r"\bready\b", re.I)
        while time.monotonic() < deadline:
            if ready.search(self.log()):
                return self
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise DaemonError("gatehoused exited with %s before saying ready:\n%s" % (
                    self.returncode, self.log_tail()))
            time.sleep(0.05)
        self.close()
        raise DaemonError("gatehoused did not log 'ready' within %.0f s:\n%s" % (
            timeout, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        if self.running():
            return "daemon running"
        return "daemon NOT running, exit %s" % (self.proc.poll() if self.proc else None)

    def signal(self, sig):
        if not self.running():
            raise DaemonError("gatehoused is not running (exit code %s):\n%s" % (
                self.proc.poll() if self.proc else None, self.log_tail()))
        os.kill(self.proc.pid, sig)

    def hup(self):
        self.signal(signal.SIGHUP)

    def term(self):
        self.signal(signal.SIGTERM)

    def wait(self, timeout=10.0):
        """Exit code, or None if still running after timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def close(self, timeout=10.0):
        """Stops the daemon (SIGTERM, then SIGKILL); returns the exit code.
        SIGTERM first so that LeakSanitizer gets to run at exit."""
        if self.proc is not None and self.returncode is None:
            if self.proc.poll() is None:
                self.returncode = stop_group(self.proc, timeout)
            else:
                self.returncode = self.proc.returncode
                stop_group(self.proc, 1, signal.SIGKILL)  # children, if any
        _LIVE.discard(self)
        return self.returncode

    # -- logs
    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return tail(self.logfile, n)

    def wait_log(self, pattern, timeout=5.0, start=0):
        """Wait until regex pattern appears in the log after offset start."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rx.search(self.log()[start:]):
                return True
            time.sleep(0.05)
        return False

    def sanitizer_report(self):
        text = self.log()
        for p in SANITIZER_PATTERNS:
            m = p.search(text)
            if m:
                start = text.rfind("\n", 0, max(0, m.start() - 200)) + 1
                return text[start:start + 3000]
        return None

    def check_config(self, path, timeout=10):
        """Runs gatehoused --check-config -c PATH; returns (rc, stdout+stderr)."""
        self._check_binary()
        return run_binary(self.binary, ["--check-config", "-c", path], self.env(), timeout)


def run_binary(binary, args, env=None, timeout=10):
    if not os.path.isfile(binary):
        raise DaemonError("daemon binary %s is missing (build it: make)" % binary)
    try:
        out = subprocess.run([binary] + list(args), capture_output=True, text=True,
                             timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DaemonError("%s %s did not exit within %d s" % (binary, " ".join(args), timeout))
    return out.returncode, out.stdout + out.stderr
