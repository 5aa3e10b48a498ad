"""Deployment: systemd units, `make install`, the daemon run the way the unit
runs it, sd_notify, the control socket (gatehousectl status/reload/flush),
the metrics endpoint, the documented school configuration and the daily
report script.

Traffic stays on 127.0.0.0/8 or inside a network namespace the test makes.
Tests that need root, systemd-analyze, setpriv or `ip netns` skip cleanly
without them.  Every process started here is stopped, and every user,
namespace and directory made here removed, also on failure.
"""

import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import daemon as daemonlib
from privnet import stop_group

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = ["gatehoused.service", "gatehouse-blocklists-update.service",
         "gatehouse-blocklists-update.timer", "gatehouse-logs-purge.service",
         "gatehouse-logs-purge.timer", "gatehouse-daily-report.service",
         "gatehouse-daily-report-mail.service", "gatehouse-daily-report.timer"]
# Units that run our own code in the full sandbox; the mail unit cannot
# (setuid/setgid mailers), see its comments.
HARDENED = [u for u in UNITS if u.endswith(".service") and "mail" not in u]


# --- helpers ---------------------------------------------------------------


def ctl_path(ctx):
    return os.path.join(os.path.dirname(os.path.abspath(ctx.binary)), "gatehousectl")


def ctl(ctx, conf, *args, timeout=40, user=None):
    """Runs gatehousectl -c conf ARGS; returns (rc, stdout, stderr)."""
    path = ctl_path(ctx)
    if not os.path.isfile(path):
        raise AssertionError("%s is missing (make)" % path)
    argv = [path, "-c", conf] + list(args)
    if user:
        pw = pwd.getpwnam(user)
        argv = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                "--init-groups"] + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def status(ctx, d, conf=None):
    """gatehousectl status --json of daemon d, as a dict."""
    rc, out, err = ctl(ctx, conf or d.conf, "status", "--json")
    assert rc == 0, "status --json: rc %d\n%s%s" % (rc, out, err)
    return json.loads(out)


def make_install(ctx, destdir, **vars_):
    """`make install` of the already built binaries (ctx.binary's build dir)
    into destdir; `-o all` so nothing is rebuilt under the test."""
    build = os.path.relpath(os.path.dirname(os.path.abspath(ctx.binary)), ROOT_DIR)
    argv = ["make", "-s", "-C", ROOT_DIR, "-o", "all", "install", "BUILD=%s" % build,
            "DESTDIR=%s" % destdir] + ["%s=%s" % kv for kv in vars_.items()]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "make install failed:\n%s%s" % (p.stdout, p.stderr)


def short_dir(mode=0o755):
    """A directory under /tmp that other users can traverse (ctx.tmpdir is
    0700 root, and the daemon may run as gatehouse)."""
    d = tempfile.mkdtemp(prefix="ghd-", dir="/tmp")
    os.chmod(d, mode)
    return d


def wait_for(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def launch(d, argv_prefix=(), env_extra=None, shell_pid_env=None):
    """Starts Daemon d (config already set) like Daemon.start, but under
    argv_prefix and with extra environment.  shell_pid_env names a variable
    to set to the daemon's own pid (via sh's $$ and exec)."""
    d._check_binary()
    d.write_config()
    env = d.env()
    env.update(env_extra or {})
    argv = list(argv_prefix) + [d.binary, "-c", d.conf, "-f", "-v"]
    if shell_pid_env:
        argv = ["sh", "-c", 'export %s=$$; exec "$@"' % shell_pid_env, "sh"] + argv
    log = open(d.logfile, "ab")
    try:
        d.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  env=env, cwd=d.dir, start_new_session=True)
    finally:
        log.close()
    daemonlib._LIVE.add(d)
    ok = wait_for(lambda: re.search(r"\bready\b", d.log()) or d.proc.poll() is not None, 15,
                  "gatehoused to say ready")
    if d.proc.poll() is not None:
        raise AssertionError("gatehoused exited with %s:\n%s" % (d.proc.returncode,
                                                                  d.log_tail()))
    return ok


def http_get(addr, port, request, timeout=5.0):
    """Sends raw request bytes; returns (status code or None, headers text,
    body bytes)."""
    s = socket.create_connection((addr, port), timeout=timeout)
    try:
        s.sendall(request)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.0 (\d{3}) ", head)
    return (int(m.group(1)) if m else None), head.decode("latin-1"), body


def unix_connect(s, path):
    """connect(2) to a unix socket at any path length: past sun_path's 108
    bytes, through the directory's descriptor (as control.c does)."""
    if len(path.encode()) < 108:
        s.connect(path)
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        s.connect("/proc/self/fd/%d/%s" % (fd, os.path.basename(path)))
    finally:
        os.close(fd)


def control_raw(path, data, timeout=8.0, shut=True):
    """Sends raw bytes to the control socket; returns what comes back before
    the daemon closes (bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        unix_connect(s, path)
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def control_socket_of(d):
    return os.path.join(d.state_dir, "control.sock")


# --- systemd units and make install ------------------------------------------


def test_units_verify(ctx):
    """systemd-analyze verify on every unit, installed by `make install` so
    that ExecStart= paths and the Documentation= man pages resolve."""
    if not shutil.which("systemd-analyze"):
        ctx.skip("no systemd-analyze")
    base = os.path.join(ctx.tmpdir, "v")
    make_install(ctx, "", PREFIX=base + "/usr", SYSCONFDIR=base + "/etc",
                 SYSTEMD_UNITDIR=base + "/units", SYSUSERSDIR=base + "/sysusers",
                 TMPFILESDIR=base + "/tmpfiles")
    units = [os.path.join(base, "units", u) for u in UNITS]
    for u in units:
        assert os.path.isfile(u), "not installed: %s" % u
    text = open(os.path.join(base, "units", "gatehoused.service")).read()
    assert "ExecStart=%s/usr/sbin/gatehoused " % base in text, "ExecStart not rewritten"
    env = dict(os.environ, MANPATH=os.path.join(base, "usr", "share", "man"))
    p = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 0 and not p.stderr.strip(), \
        "systemd-analyze verify (rc %d):\n%s%s" % (p.returncode, p.stdout, p.stderr)


def security_score(unit_path):
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", unit_path],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", p.stdout + p.stderr)
    assert m, "no score from systemd-analyze security:\n%s%s" % (p.stdout, p.stderr)
    return float(m.group(1))


def test_units_security_score(ctx):
    """gatehoused.service (and each timer's service in the full sandbox)
    rates 2.0 or better in `systemd-analyze security --offline=true`."""
    if not shutil.which("systemd-analyze"):
        ctx.skip("no systemd-analyze")
    scores = {u: security_score(os.path.join(ROOT_DIR, "systemd", u)) for u in HARDENED}
    bad = {u: s for u, s in scores.items() if s > 2.0}
    assert not bad, "exposure above 2.0: %s (all: %s)" % (bad, scores)
    assert scores["gatehoused.service"] <= 2.0, scores


def test_make_install_tree(ctx):
    """`make install DESTDIR=...` lays out the expected tree; PREFIX changes
    the paths the units run."""
    dest = os.path.join(ctx.tmpdir, "root")
    make_install(ctx, dest, PREFIX="/usr")
    want = ["usr/sbin/gatehoused", "usr/bin/gatehousectl",
            "usr/libexec/gatehouse/gatehouse-daily-report",
            "etc/gatehouse/gatehouse.yaml.example", "etc/default/gatehouse",
            "usr/share/gatehouse/blocklists/catalogue.yaml",
            "usr/share/gatehouse/blocklists/builtin/doh.txt",
            "usr/share/gatehouse/blocklists/builtin/vpn_proxy.txt",
            "usr/share/man/man8/gatehoused.8", "usr/share/man/man8/gatehousectl.8",
            "usr/share/man/man5/gatehouse.yaml.5",
            "usr/lib/sysusers.d/gatehouse.conf", "usr/lib/tmpfiles.d/gatehouse.conf",
            "usr/share/doc/gatehouse/installing.md", "usr/share/doc/gatehouse/configuration.md",
            "usr/share/doc/gatehouse/limits.md"]
    want += ["lib/systemd/system/" + u for u in UNITS]
    missing = [w for w in want if not os.path.isfile(os.path.join(dest, w))]
    assert not missing, "not installed: %s" % missing
    for exe in ("usr/sbin/gatehoused", "usr/bin/gatehousectl",
                "usr/libexec/gatehouse/gatehouse-daily-report"):
        assert os.access(os.path.join(dest, exe), os.X_OK), exe + " not executable"
    unit = open(os.path.join(dest, "lib/systemd/system/gatehoused.service")).read()
    assert "ExecStart=/usr/sbin/gatehoused -c /etc/gatehouse/gatehouse.yaml -f" in unit
    # the installed daemon runs
    p = subprocess.run([os.path.join(dest, "usr/sbin/gatehoused"), "--version"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "gatehoused" in p.stdout, p.stdout + p.stderr

    # PREFIX=/usr/local: units and the report script follow
    dest2 = os.path.join(ctx.tmpdir, "root2")
    make_install(ctx, dest2, PREFIX="/usr/local", SYSTEMD_UNITDIR="/etc/systemd/system")
    unit = open(os.path.join(dest2, "etc/systemd/system/gatehoused.service")).read()
    assert "ExecStart=/usr/local/sbin/gatehoused " in unit, unit
    upd = open(os.path.join(dest2, "etc/systemd/system/gatehouse-blocklists-update.service")).read()
    assert "ExecStart=/usr/local/bin/gatehousectl " in upd
    rep = open(os.path.join(dest2, "etc/systemd/system/gatehouse-daily-report.service")).read()
    assert "ExecStart=/usr/local/libexec/gatehouse/gatehouse-daily-report" in rep
    script = open(os.path.join(dest2, "usr/local/libexec/gatehouse/gatehouse-daily-report")).read()
    assert "/usr/local/bin/gatehousectl" in script

    # the sysusers snippet makes the user and group in an empty root
    if shutil.which("systemd-sysusers") and os.geteuid() == 0:
        sroot = os.path.join(ctx.tmpdir, "sysroot")
        os.makedirs(os.path.join(sroot, "etc"))
        p = subprocess.run(["systemd-sysusers", "--root=" + sroot,
                            os.path.join(dest, "usr/lib/sysusers.d/gatehouse.conf")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        passwd = open(os.path.join(sroot, "etc/passwd")).read()
        group = open(os.path.join(sroot, "etc/group")).read()
        assert re.search(r"^gatehouse:x:\d+:\d+:", passwd, re.M), passwd
        assert re.search(r"^gatehouse:x:\d+:", group, re.M), group


# --- the daemon as the unit runs it -------------------------------------------


class NetnsUser:
    """A network namespace with lo up and (if missing) the gatehouse system
    user, both removed by close()."""

    def __init__(self):
        self.ns = None
        self.made_user = False

    def open(self):
        self.ns = "ghdeploy%d" % random.randint(10000, 99999)
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=10,
                       capture_output=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True,
                       timeout=10, capture_output=True)
        try:
            pwd.getpwnam("gatehouse")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                            "--shell", "/usr/sbin/nologin", "gatehouse"], check=True,
                           timeout=30, capture_output=True)
            self.made_user = True
        return self

    def run(self, argv, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns] + argv, **kw)

    def close(self):
        if self.ns:
            subprocess.run(["ip", "netns", "del", self.ns], timeout=10, capture_output=True)
        if self.made_user:
            subprocess.run(["userdel", "gatehouse"], timeout=30, capture_output=True)
            subprocess.run(["groupdel", "gatehouse"], timeout=30, capture_output=True)


def test_port53_as_gatehouse_in_netns(ctx):
    """Started like the unit starts it (the gatehouse user, only
    CAP_NET_BIND_SERVICE) inside a fresh network namespace, the daemon binds
    port 53 and answers what needs no upstream; its control socket belongs
    to the gatehouse group and refuses others."""
    ctx.require_root()
    for tool in ("ip", "setpriv", "useradd", "userdel", "dig"):
        if not shutil.which(tool):
            ctx.skip("no %s" % tool)
    ctx.require_gatehouse()
    env = NetnsUser()
    top = short_dir()
    try:
        try:
            env.open()
        except (subprocess.CalledProcessError, OSError) as e:
            ctx.skip("cannot make a network namespace or user: %s" % e)
        pw = pwd.getpwnam("gatehouse")
        state = os.path.join(top, "state")
        os.makedirs(state)
        os.chown(state, pw.pw_uid, pw.pw_gid)
        os.chmod(state, 0o750)
        d = daemonlib.Daemon(ctx.binary, os.path.join(top, "d"), sanitizer=ctx.sanitizer,
                             addr="127.0.0.1", port=53)
        os.chmod(d.dir, 0o777)  # the log file is written by the launcher (root)
        d.config = {"server": {"listen": ["127.0.0.1@53"], "threads": 2, "state-dir": state},
                    "log": {"enabled": False}}
        ctx.daemons.append(d)
        caps = "-all,+net_bind_service"
        launch(d, ["ip", "netns", "exec", env.ns, "setpriv", "--reuid=gatehouse",
                   "--regid=gatehouse", "--init-groups", "--inh-caps=" + caps,
                   "--ambient-caps=" + caps, "--bounding-set=" + caps])
        st = open("/proc/%d/status" % d.proc.pid).read()
        uid = re.search(r"^Uid:\s+(\d+)", st, re.M).group(1)
        capeff = int(re.search(r"^CapEff:\s+([0-9a-f]+)", st, re.M).group(1), 16)
        capbnd = int(re.search(r"^CapBnd:\s+([0-9a-f]+)", st, re.M).group(1), 16)
        assert int(uid) == pw.pw_uid, "runs as uid %s, not gatehouse" % uid
        assert capeff == 1 << 10 and capbnd == 1 << 10, \
            "capabilities eff=%x bnd=%x, want only CAP_NET_BIND_SERVICE" % (capeff, capbnd)

        def dig(*args):
            p = env.run(["dig", "@127.0.0.1", "-p", "53", "+time=2", "+tries=1"] + list(args),
                        capture_output=True, text=True, timeout=15)
            return daemonlib.Answer(p.stdout)

        a = dig("example.org", "ANY")  # RFC 8482: answered without any upstream
        assert a.rcode == "NOERROR" and a.types() == ["HINFO"], a.text
        assert "RFC8482" in a.text, a.text
        a = dig("-c", "CH", "version.bind", "TXT")
        assert a.rcode in ("REFUSED", "NOTIMP"), a.text
        sock = os.path.join(state, "control.sock")
        sst = os.stat(sock)
        assert oct(sst.st_mode & 0o777) == "0o660", oct(sst.st_mode)
        assert sst.st_uid == pw.pw_uid and sst.st_gid == pw.pw_gid
        rc, out, err = ctl(ctx, d.conf, "status", user="gatehouse")
        assert rc == 0, "status as gatehouse: %d\n%s%s" % (rc, out, err)
        # dig may ask twice on REFUSED; at least the two questions arrived
        q = int(re.search(r"^queries: (\d+)$", out, re.M).group(1))
        refused = int(re.search(r"^refused: (\d+)$", out, re.M).group(1))
        assert q >= 2 and refused >= 1, out
        rc, out, err = ctl(ctx, d.conf, "status", user="nobody")
        assert rc == 4, "status as nobody: rc %d\n%s%s" % (rc, out, err)
        assert "permission denied" in err and "gatehouse" in err, err
    finally:
        for dd in list(ctx.daemons):
            if dd.proc is not None and dd.proc.poll() is None and dd.dir.startswith(top):
                dd.close()
        env.close()
        shutil.rmtree(top, ignore_errors=True)


def test_sd_notify_ready_status_watchdog(ctx):
    """READY=1 once answering, STATUS= with the counters, WATCHDOG=1 at half
    of WATCHDOG_USEC, RELOADING=1 around a control-socket reload."""
    ctx.require_gatehouse()
    top = short_dir(0o700)
    nsock = os.path.join(top, "notify")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        rx.bind(nsock)
        rx.settimeout(0.2)
        msgs = []

        def drain(until, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msgs.append(rx.recv(4096).decode())
                except socket.timeout:
                    pass
                if until(msgs):
                    return True
            return False

        d = ctx.daemon(start=False)
        launch(d, env_extra={"NOTIFY_SOCKET": nsock, "WATCHDOG_USEC": "1000000"},
               shell_pid_env="WATCHDOG_PID")
        assert drain(lambda m: any("READY=1" in x for x in m), 5), "no READY=1: %s" % msgs
        ready = next(x for x in msgs if "READY=1" in x)
        assert "STATUS=answering on %s@%d" % (d.addr, d.port) in ready, ready
        # pings at 500 ms: several within 2.5 s
        t0 = len(msgs)
        drain(lambda m: False, 2.5)
        pings = sum(1 for x in msgs[t0:] if "WATCHDOG=1" in x)
        assert 3 <= pings <= 8, "WATCHDOG=1 %d times in 2.5 s: %s" % (pings, msgs[t0:])
        d.dig("example.org", "ANY")
        assert drain(lambda m: any(re.search(r"STATUS=\d+ queries, \d+ blocked", x) and
                                   "STATUS=0 queries" not in x for x in m), 7), \
            "no STATUS= summary with queries: %s" % msgs
        t0 = len(msgs)
        rc, out, err = ctl(ctx, d.conf, "reload")
        assert rc == 0, err
        assert drain(lambda m: any("READY=1" in x for x in m[t0:]), 3), msgs[t0:]
        assert any("RELOADING=1" in x for x in msgs[t0:]), msgs[t0:]
    finally:
        rx.close()
        shutil.rmtree(top, ignore_errors=True)

    # without WATCHDOG_USEC: no pings at all
    top = short_dir(0o700)
    nsock = os.path.join(top, "notify")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        rx.bind(nsock)
        rx.settimeout(0.2)
        d = ctx.daemon(start=False)
        launch(d, env_extra={"NOTIFY_SOCKET": nsock})
        got = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                got.append(rx.recv(4096).decode())
            except socket.timeout:
                pass
        assert any("READY=1" in x for x in got), got
        assert not any("WATCHDOG=1" in x for x in got), got
    finally:
        rx.close()
        shutil.rmtree(top, ignore_errors=True)


# --- gatehousectl status, reload, flush ------------------------------------


def test_ctl_status_counts_grow(ctx):
    ctx.require_gatehouse()
    d = ctx.daemon()
    rc, out, err = ctl(ctx, d.conf, "status")
    assert rc == 0, "status: %d %s%s" % (rc, out, err)
    assert out.startswith("gatehoused is running\n"), out
    for key in ("uptime:", "queries:", "blocked:", "cache hit rate:", "query log:",
                "blocklist index:", "grants:"):
        assert key in out, "%s missing from status:\n%s" % (key, out)
    before = status(ctx, d)
    for _ in range(3):
        a = d.dig("www.good.test", "A")
        assert a.rcode == "NOERROR", a.text
    after = status(ctx, d)
    assert after["queries"] - before["queries"] == 3, (before, after)
    assert after["answered"] - before["answered"] == 3, (before, after)
    assert after["cache_hits"] - before["cache_hits"] >= 2, (before, after)
    assert after["cache_entries"] > before["cache_entries"], (before, after)
    assert after["pid"] == d.proc.pid
    rc, out, _ = ctl(ctx, d.conf, "status")
    m = re.search(r"^queries: (\d+)$", out, re.M)
    assert m and int(m.group(1)) >= 3, out


def test_ctl_not_running(ctx):
    """No socket, or a stale one: "not running", exit 3.  A stale socket is
    replaced by the next daemon; a live one is not taken over."""
    ctx.require_gatehouse()
    top = short_dir(0o700)
    try:
        conf = os.path.join(top, "c.yaml")
        sock = os.path.join(top, "ctl.sock")
        with open(conf, "w") as f:
            f.write("server:\n  state-dir: %s\n  control-socket: %s\n" % (top, sock))
        rc, out, err = ctl(ctx, conf, "status")
        assert rc == 3 and "not running" in out, (rc, out, err)
        rc, out, err = ctl(ctx, conf, "reload")
        assert rc == 3, (rc, out, err)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sock)
        s.close()  # left behind, as by a daemon that was killed
        rc, out, err = ctl(ctx, conf, "status")
        assert rc == 3 and "nobody answering" in out, (rc, out, err)

        d = ctx.daemon(config={"server": {"control-socket": sock}})
        rc, out, err = ctl(ctx, d.conf, "status")
        assert rc == 0, "daemon did not replace the stale socket: %s%s\n%s" % (
            out, err, d.log_tail())
        # a second daemon on the same socket refuses to start
        d2 = ctx.daemon(config={"server": {"control-socket": sock}}, start=False)
        try:
            d2.start(timeout=5)
            started = True
        except AssertionError as e:
            started = False
            assert "another gatehoused" in str(e), str(e)
        assert not started, "a second daemon took over a live control socket"
        rc, out, err = ctl(ctx, d.conf, "status")
        assert rc == 0, "first daemon lost its socket: %s%s" % (out, err)
        d.close()
        assert not os.path.exists(sock), "socket left behind after a clean stop"
        rc, out, err = ctl(ctx, conf, "status")
        assert rc == 3, (rc, out, err)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_ctl_reload_broken_config_keeps_running(ctx):
    ctx.require_gatehouse()
    d = ctx.daemon()
    good = open(d.conf).read()
    # gatehousectl reads its own copy (the same socket): it must not trip
    # over the broken file the daemon is about to be asked to load.
    gc = os.path.join(d.dir, "ctl.yaml")
    with open(gc, "w") as f:
        f.write(good)
    with open(d.conf, "w") as f:
        f.write(good + "\nbogus-section:\n  x: 1\n")
    rc, out, err = ctl(ctx, gc, "reload")
    assert rc == 1, "reload of a broken config: rc %d\n%s%s" % (rc, out, err)
    assert "reload failed" in err and "previous configuration" in err, err
    assert "bogus-section" in err or "gatehoused.yaml:" in err, err
    a = d.dig("www.good.test", "A")
    assert a.rcode == "NOERROR" and a.rdatas("A") == ["192.0.2.1"], a.text
    assert d.running()
    assert status(ctx, d, gc)["generation"] == 1
    with open(d.conf, "w") as f:
        f.write(good)
    rc, out, err = ctl(ctx, gc, "reload")
    assert rc == 0 and "generation 2" in out, (rc, out, err)
    assert status(ctx, d, gc)["generation"] == 2


def test_ctl_flush_makes_next_query_a_miss(ctx):
    ctx.require_gatehouse()
    d = ctx.daemon()
    assert d.dig("www.good.test", "A").rcode == "NOERROR"
    s0 = status(ctx, d)
    assert d.dig("www.good.test", "A").rcode == "NOERROR"
    s1 = status(ctx, d)
    assert s1["cache_hits"] == s0["cache_hits"] + 1, (s0, s1)
    rc, out, err = ctl(ctx, d.conf, "flush", "WWW.Good.Test.")
    assert rc == 0 and re.search(r"flushed [1-9]\d* entr", out), (rc, out, err)
    assert d.dig("www.good.test", "A").rcode == "NOERROR"
    s2 = status(ctx, d)
    assert s2["cache_misses"] == s1["cache_misses"] + 1, (s1, s2)
    assert s2["cache_hits"] == s1["cache_hits"], (s1, s2)
    # subtree: the parent flushed with --subtree takes the child with it
    assert d.dig("www.good.test", "A").rcode == "NOERROR"
    rc, out, err = ctl(ctx, d.conf, "flush", "good.test", "--subtree")
    assert rc == 0, (rc, out, err)
    s3 = status(ctx, d)
    assert d.dig("www.good.test", "A").rcode == "NOERROR"
    s4 = status(ctx, d)
    assert s4["cache_misses"] == s3["cache_misses"] + 1, (s3, s4)
    # a bad name is refused before it reaches the daemon
    rc, out, err = ctl(ctx, d.conf, "flush", "bad..name")
    assert rc == 2 and "not a domain name" in err, (rc, out, err)


# --- metrics and hostile clients -------------------------------------------


def test_metrics_endpoint(ctx):
    ctx.require_gatehouse()
    _, mport = daemonlib.free_address()
    d = ctx.daemon(start=False)
    d.config = daemonlib.merge(d.config, {"server": {"metrics": ["%s@%d" % (d.addr, mport)]}})
    d.start()
    for _ in range(2):
        assert d.dig("www.good.test", "A").rcode == "NOERROR"
    code, head, body = http_get(d.addr, mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 200, head
    assert "text/plain; version=0.0.4" in head and "Connection: close" in head, head
    m = re.search(r"Content-Length: (\d+)", head)
    assert m and int(m.group(1)) == len(body), (head, len(body))
    text = body.decode()
    for name, kind in (("queries_total", "counter"), ("blocked_total", "counter"),
                       ("cache_hits_total", "counter"), ("cache_entries", "gauge")):
        assert "# HELP gatehouse_%s " % name in text, name
        assert "# TYPE gatehouse_%s %s\n" % (name, kind) in text, name
    q = int(re.search(r"^gatehouse_queries_total (\d+)$", text, re.M).group(1))
    h = int(re.search(r"^gatehouse_cache_hits_total (\d+)$", text, re.M).group(1))
    assert q == 2 and h >= 1, text
    code, head, body = http_get(d.addr, mport, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert code == 200 and body == b"", (head, body[:100])
    for req, want in ((b"GET / HTTP/1.0\r\n\r\n", 404),
                      (b"GET /metricsx HTTP/1.0\r\n\r\n", 404),
                      (b"POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 405),
                      (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
                      (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", 400),
                      (b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 5000, 431)):
        code, head, _ = http_get(d.addr, mport, req)
        assert code == want, "%r: %s, want %d" % (req[:40], head, want)
    # a silent client is closed at the deadline
    s = socket.create_connection((d.addr, mport), timeout=10)
    t0 = time.monotonic()
    try:
        assert s.recv(10) == b""
    finally:
        s.close()
    assert 3 < time.monotonic() - t0 < 9
    # more clients than allowed at once: the extra ones are closed, and the
    # endpoint works again when they go
    socks = []
    try:
        for _ in range(24):
            socks.append(socket.create_connection((d.addr, mport), timeout=5))
        time.sleep(0.3)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 24 - 16, "only %d of 24 closed over the limit" % closed
    finally:
        for s in socks:
            s.close()
    time.sleep(0.2)
    code, _, _ = http_get(d.addr, mport, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert code == 200
    assert d.running()


def test_control_socket_survives_garbage(ctx):
    ctx.require_gatehouse()
    d = ctx.daemon()
    path = control_socket_of(d)
    # ctx.tmpdir is deep: this path is usually past sun_path's 108 bytes,
    # which the daemon and gatehousectl reach through /proc/self/fd.
    r = control_raw(path, b"status\n")
    assert r.startswith(b"ok\n") and b"queries:" in r, r
    r = control_raw(path, b"status", shut=True)  # no newline, then EOF
    assert r.startswith(b"ok\n"), r
    assert control_raw(path, b"restart\n").startswith(b"error: unknown request")
    assert control_raw(path, b"status\x00\xff\n").startswith(b"error: ")
    assert control_raw(path, b"flush " + b"a" * 300 + b"\n").startswith(b"error: ")
    assert control_raw(path, b"x" * 100000, shut=False) == b"error: request too long\n"
    assert control_raw(path, b"") == b""
    rng = random.Random(5353)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 700)))
        r = control_raw(path, data)
        assert r == b"" or r.startswith(b"ok\n") or r.startswith(b"error: "), r[:80]
    # idle clients over the limit: the extra ones are dropped, the rest time out
    socks = []
    try:
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix_connect(s, path)
            socks.append(s)
        t0 = time.monotonic()
        for s in socks:
            s.settimeout(9)
            try:
                s.recv(10)
            except (socket.timeout, ConnectionResetError):
                pass
        assert time.monotonic() - t0 < 9, "idle clients were not closed"
    finally:
        for s in socks:
            s.close()
    rc, out, err = ctl(ctx, d.conf, "status")
    assert rc == 0, (rc, out, err)
    a = d.dig("www.good.test", "A")
    assert a.rcode == "NOERROR", a.text
    assert d.running()


# --- documented configuration and the report script -----------------------


def test_documented_school_config_loads(ctx):
    """docs/configuration.md's complete example passes --check-config."""
    text = open(os.path.join(ROOT_DIR, "docs", "configuration.md")).read()
    m = re.search(r"<!-- BEGIN school.yaml -->\n```yaml\n(.*?)```\n<!-- END school.yaml -->",
                  text, re.S)
    assert m, "no school.yaml block in docs/configuration.md"
    path = os.path.join(ctx.tmpdir, "school.yaml")
    with open(path, "w") as f:
        f.write(m.group(1))
    rc, out = daemonlib.run_binary(ctx.binary, ["--check-config", "-c", path])
    assert rc == 0 and ": ok" in out, "documented config does not load:\n%s" % out
    for must in ("forward-zones", "guest-access: grant-required", "segments:"):
        assert must in m.group(1), must


def test_daily_report_script(ctx):
    """tools/gatehouse-daily-report writes yesterday's HTML report with the
    real gatehousectl and mails it through a stand-in sendmail; refuses an
    address that would add headers."""
    top = short_dir(0o700)
    try:
        state = os.path.join(top, "state")
        os.makedirs(state)
        conf = os.path.join(top, "c.yaml")
        with open(conf, "w") as f:
            f.write("server:\n  state-dir: %s\n" % state)
        mail = os.path.join(top, "mail")
        sendmail = os.path.join(top, "sendmail")
        with open(sendmail, "w") as f:
            f.write('#!/bin/sh\necho "ARGS: $*" > "%s"\ncat >> "%s"\n' % (mail, mail))
        os.chmod(sendmail, 0o755)
        env = dict(os.environ, GATEHOUSECTL=ctl_path(ctx), GATEHOUSE_CONFIG=conf,
                   GATEHOUSE_REPORT_DIR=os.path.join(state, "reports"), SENDMAIL=sendmail,
                   GATEHOUSE_REPORT_MAILTO="dsl@school.example,head@school.example")
        script = os.path.join(ROOT_DIR, "tools", "gatehouse-daily-report")
        p = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        day = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
        rep = os.path.join(state, "reports", "report-%s.html" % day)
        assert os.path.isfile(rep), os.listdir(os.path.join(state, "reports"))
        html = open(rep).read()
        assert "<html" in html.lower(), html[:200]
        assert oct(os.stat(rep).st_mode & 0o777) == "0o640"
        m = open(mail).read()
        assert m.startswith("ARGS: -oi -- dsl@school.example head@school.example\n"), m[:200]
        assert "Subject: Gatehouse safeguarding report for %s" % day in m
        assert "Content-Type: text/html" in m and html in m
        # no mailer address: written, not mailed, success
        os.unlink(mail)
        env2 = dict(env)
        del env2["GATEHOUSE_REPORT_MAILTO"]
        p = subprocess.run(["sh", script], env=env2, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "not mailing" in p.stdout, p.stdout + p.stderr
        assert not os.path.exists(mail)
        env3 = dict(env, GATEHOUSE_REPORT_MAILTO="a@b.example\nBcc: x@y.example")
        p = subprocess.run(["sh", script, "--mail-only"], env=env3, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1 and not os.path.exists(mail), p.stdout + p.stderr
    finally:
        shutil.rmtree(top, ignore_errors=True)
