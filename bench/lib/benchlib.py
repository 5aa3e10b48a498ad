"""benchlib - what the bench/ scripts share (bench/compare, bench/dnssec).

The benchmark world (privnet: roots, five TLDs, ZONES second-level zones with
six A names each and known addresses), the resolvers under test (gatehoused
and Unbound started with the same settings, pinned), CPU and memory from
/proc, the load tools (bench/lib/latency, dnsperf) with timeouts, the warm-up
check, the cache-hit runs (queries per resolver CPU-second), cold runs in
fresh processes, and the machine-load and reporting helpers.

What it does not do: send anything outside 127.0.0.0/8 (latency refuses
other destinations; the resolvers' addresses come from the scripts, which
check them), or stop anything it did not start.  Every tool it runs has a
timeout; the scripts set the overall hard limit (SIGALRM: on_alarm).
"""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))  # bench/lib
BENCH = os.path.dirname(HERE)
TOP = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))

import privnet  # noqa: E402
import peer  # noqa: E402
from daemon import Daemon, merge, parse_message  # noqa: E402

DNSPERF = shutil.which("dnsperf") or "/usr/bin/dnsperf"
TASKSET = shutil.which("taskset") or "/usr/bin/taskset"
TLDS = ["com", "net", "org", "uk", "io"]
HOSTS = ["@", "www", "mail", "api", "cdn", "static"]


class BenchError(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The world


def host_ip(i, j):
    n = i * 8 + j  # 198.18.0.0/15, the benchmarking range (RFC 2544)
    return "198.%d.%d.%d" % (18 + (n >> 16), (n >> 8) & 255, n & 255)


def build_world(base, nzones, nservers):
    """(WorldSpec, [(qname, expected_ip)])."""
    w = privnet.WorldSpec()
    w.zone(".", {"a.root-servers.": base + ".0.1", "b.root-servers.": base + ".0.2"}, neg_ttl=600)
    for t in TLDS:
        w.zone(t, {"a.nic.%s." % t: base + ".1.1", "b.nic.%s." % t: base + ".1.2"})
    srv = ["%s.2.%d" % (base, k + 1) for k in range(nservers)]
    # Shared hosting: 1 zone in 5 is served by nsK.dnshost.net (out of
    # bailiwick, so the resolver gets the address from net. glue or the
    # dnshost.net zone), the rest by their own ns1/ns2 with glue.
    w.zone("dnshost.net", {"ns1.dnshost.net.": srv[0], "ns2.dnshost.net.": srv[1 % nservers]})
    names = []
    for i in range(nzones):
        zone = "site%04d.%s." % (i, TLDS[i % len(TLDS)])
        a, b = i % nservers, (i + 1) % nservers
        if i % 5 == 4:
            ns = {"ns%d.dnshost.net." % (a + 1): srv[a], "ns%d.dnshost.net." % (b + 1): srv[b]}
        else:
            ns = {"ns1." + zone: srv[a], "ns2." + zone: srv[b]}
        recs = ["@ 3600 MX 10 mail"]
        for j, h in enumerate(HOSTS):
            ip = host_ip(i, j)
            recs.append("%s 3600 A %s" % (h, ip))
            names.append((zone if h == "@" else "%s.%s" % (h, zone), ip))
        w.zone(zone, ns, records="\n".join(recs) + "\n")
    return w, names


# ---------------------------------------------------------------------------
# Processes: CPU, memory, pinning


def proc_stat(pid):
    """(comm, fields after comm) from /proc/PID/stat, or None if it is gone.
    fields[2] is the process group, fields[11] + fields[12] utime + stime in
    clock ticks (proc(5))."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()


def all_proc_stats():
    """{pid: (comm, fields)} of every process."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = proc_stat(p)
            if st is not None:
                out[int(p)] = st
    return out


def group_pids(leader):
    out = [pid for pid, (_, fields) in all_proc_stats().items() if int(fields[2]) == leader]
    return out or [leader]


def cpu_seconds(leader):
    """utime+stime of every process in the group (each includes all its threads)."""
    total = 0
    for pid in group_pids(leader):
        st = proc_stat(pid)
        if st is not None:
            total += int(st[1][11]) + int(st[1][12])
    return total / os.sysconf("SC_CLK_TCK")


def memory(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def affinity_of_tasks(pid):
    cpus = set()
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        cpus.add(line.split(":", 1)[1].strip())
        except OSError:
            pass
    return sorted(cpus)


class pinned:
    """Runs a block with this process pinned to cpus, so that children started
    inside inherit it (every thread they create inherits it too)."""

    def __init__(self, cpus):
        self.cpus = set(cpus)

    def __enter__(self):
        self.old = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.cpus)

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.old)


# ---------------------------------------------------------------------------
# Resolvers


class Resolver:
    """gatehoused or Unbound, started with the same settings.

    kind: "gatehouse" or "unbound"; key: where its results go (default kind);
    name: what the log calls it.  gatehouse_cfg is merged into gatehoused's
    config (daemon.merge), unbound_kw goes to peer.Unbound (e.g.
    trust_anchor).  args needs gatehoused, cache_size, cache_size_mb,
    max_per_client and qlog."""

    def __init__(self, kind, args, workdir, hints, addr, port, threads, cpus, key=None,
                 name=None, gatehouse_cfg=None, unbound_kw=None):
        self.kind, self.args, self.hints = kind, args, hints
        self.key = key or kind
        self.name = name or ("gatehoused" if kind == "gatehouse" else "unbound")
        self.gatehouse_cfg, self.unbound_kw = gatehouse_cfg, unbound_kw or {}
        self.dir = os.path.join(workdir, "%s-t%d-%d" % (self.key, threads,
                                                        int(time.time() * 1000)))
        self.addr, self.port, self.threads, self.cpus = addr, port, threads, cpus
        self.obj = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        if self.kind == "gatehouse":
            cfg = {
                "server": {"listen": ["%s@%d" % (self.addr, self.port)],
                           "threads": self.threads,
                           "state-dir": os.path.join(self.dir, "state"),
                           "client-networks": ["127.0.0.0/8"]},
                "resolver": {"root-hints": self.hints, "query-loopback": True,
                             "qname-minimisation": True,
                             "max-per-client": self.args.max_per_client},
                "cache": {"size": self.args.cache_size, "prefetch": False},
                "log": {"enabled": bool(self.args.qlog)},
            }
            if self.args.qlog:
                cfg["log"]["path"] = os.path.join(self.dir, "querylog")
            cfg = merge(cfg, self.gatehouse_cfg)
            self.obj = Daemon(self.args.gatehoused, self.dir, cfg, addr=self.addr, port=self.port)
            with pinned(self.cpus):
                self.obj.start(timeout=20.0, args=("-f", "-v"))  # "ready" is a notice
        else:
            half = self.args.cache_size_mb // 2
            # so-rcvbuf: the same 4 MB that gatehoused's listener asks for
            # (with the 208 KB default a burst of 200 queries overflows it).
            extra = ("server:\n  msg-cache-size: %dm\n  rrset-cache-size: %dm\n"
                     "  so-rcvbuf: 4m\n" % (half, half))
            self.obj = peer.Unbound(self.dir, self.hints, addr=self.addr, port=self.port,
                                    threads=self.threads, extra=extra, **self.unbound_kw)
            with pinned(self.cpus):
                self.obj.start(timeout=20.0)
        self.pid = self.obj.proc.pid
        aff = affinity_of_tasks(self.pid)
        want = ",".join(str(c) for c in sorted(self.cpus))
        if any(a not in (want, "-".join((want.split(",")[0], want.split(",")[-1]))) for a in aff):
            raise BenchError("%s threads are not pinned to %s: %s" % (self.name, want, aff))
        return self

    def alive(self):
        return self.obj is not None and self.obj.running()

    def check_alive(self, when):
        if not self.alive():
            rc = self.obj.proc.poll() if self.obj and self.obj.proc else None
            raise BenchError("%s died %s (exit %s); log tail:\n%s" % (
                self.name, when, rc, self.log_tail()))

    def log_tail(self, n=40):
        return self.obj.log_tail(n) if self.obj else ""

    def stop(self):
        if self.obj is not None:
            try:
                self.obj.close()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                log("stopping %s: %s" % (self.name, e))
            self.obj = None


def run_tool(cmd, timeout, what):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BenchError("%s did not finish within %d s: %s" % (what, timeout, " ".join(cmd)))
    if out.returncode != 0:
        raise BenchError("%s failed (exit %d): %s\n%s%s" % (
            what, out.returncode, " ".join(cmd), out.stdout[-2000:], out.stderr[-2000:]))
    return out.stdout


def build_latency(outdir):
    src = os.path.join(HERE, "latency.c")
    exe = os.path.join(outdir, "latency")
    cc = shutil.which("cc") or "/usr/bin/cc"
    run_tool([cc, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-o", exe, src], 60,
             "building latency.c")
    return exe


def latency_tool(exe, r, path, cpus="0", rate=None, conc=None, duration=10, timeout_ms=2000,
                 maxq=None, flags=()):
    """flags: "-A" (AD in the queries), "-D" (DO)."""
    cmd = [TASKSET, "-c", cpus, exe, "-s", r.addr, "-p", str(r.port), "-f", path,
           "-d", "%g" % duration, "-t", str(timeout_ms)] + list(flags)
    cmd += ["-r", str(rate)] if rate else ["-c", str(conc)]
    if maxq:
        cmd += ["-n", str(maxq)]
    out = run_tool(cmd, duration + timeout_ms / 1000 + 30, "latency generator")
    return json.loads(out.strip().splitlines()[-1])


def dnsperf(r, path, duration, clients, outstanding, flags=()):
    """flags: e.g. "-D" (DO set in every query)."""
    cmd = [TASKSET, "-c", "0", DNSPERF, "-s", r.addr, "-p", str(r.port), "-d", path,
           "-c", str(clients), "-q", str(outstanding), "-l", str(duration), "-t", "2"]
    cmd += list(flags)
    out = run_tool(cmd, duration + 60, "dnsperf")
    res = {}
    pats = {"sent": r"Queries sent:\s+(\d+)", "completed": r"Queries completed:\s+(\d+)",
            "lost": r"Queries lost:\s+(\d+)", "runtime": r"Run time \(s\):\s+([\d.]+)",
            "qps": r"Queries per second:\s+([\d.]+)",
            "avg_latency_s": r"Average Latency \(s\):\s+([\d.]+)"}
    for k, p in pats.items():
        m = re.search(p, out)
        if not m:
            raise BenchError("cannot parse dnsperf output (%s):\n%s" % (k, out[-2000:]))
        res[k] = float(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = dict((a, int(b)) for a, b in re.findall(r"([A-Z]+) (\d+)", m.group(1))) \
        if m else {}
    return res


# ---------------------------------------------------------------------------
# Warm-up and correctness


def ask(r, query, tries=3, timeout=3.0):
    """One query (wire bytes) to resolver r over UDP, up to tries times (a
    cold name may take a few upstream round trips): the reply, or None."""
    for _ in range(tries):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(query, (r.addr, r.port))
            return s.recvfrom(65535)[0]
        except OSError:
            pass
        finally:
            s.close()
    return None


def sample_check(r, names, n=30, seed=7):
    bad = []
    for qname, ip in random.Random(seed).sample(names, min(n, len(names))):
        reply = ask(r, privnet.make_query(qname, "A"))
        if reply is None:
            bad.append("%s: no answer in 3 tries of 3 s" % qname)
            continue
        m = parse_message(reply)
        got = [socket.inet_ntoa(rd) for (_, t, _, rd) in m.answer if t == "A" and len(rd) == 4]
        if m.rcode != "NOERROR" or ip not in got:
            bad.append("%s: %s %s (want %s)" % (qname, m.rcode, got, ip))
    if bad:
        raise BenchError("%s answers wrongly:\n  %s\nlog tail:\n%s" % (
            r.name, "\n  ".join(bad[:10]), r.log_tail()))


def udp_errors():
    """Kernel UDP counters (all sockets on the machine): InErrors, RcvbufErrors."""
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    d = dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))
    return {k: d.get(k, 0) for k in ("InErrors", "RcvbufErrors", "SndbufErrors")}


def udp_delta(before):
    now = udp_errors()
    return {k: now[k] - before[k] for k in now}


def clean(res, max_timeouts):
    return (res["wrong"] == 0 and res["malformed"] == 0 and res["timeouts"] <= max_timeouts
            and res.get("ad_wrong", 0) == 0
            and res["rcodes"].get("NOERROR", 0) == res["answered"]
            and res["answered"] + res["timeouts"] == res["sent"])


def warm(r, exe, path, names, allow_errors, flags=()):
    """Every name in path (latency's format) through the resolver: the first
    pass fills the cache, the next must be all correct cache hits.  A pass
    with a handful of timeouts (UDP loss on a busy machine, at most 0.1%)
    gets one more pass; any wrong address or AD flag, or rcode other than
    NOERROR, fails.  names: [(qname, ip)] for the sample check."""
    sample_check(r, names)
    passes = []
    for i in range(3):
        u0 = udp_errors()
        res = latency_tool(exe, r, path, conc=200, duration=120, timeout_ms=5000, flags=flags)
        res["udp_errors"] = udp_delta(u0)
        r.check_alive("during warm-up pass %d" % (i + 1))
        passes.append(res)
        log("  %s warm-up pass %d: %d sent, %s, %d timeouts, %d wrong, %.2f s, kernel UDP "
            "errors %s" % (r.name, i + 1, res["sent"], res["rcodes"], res["timeouts"],
                           res["wrong"], res["until_last_answer_s"], res["udp_errors"]))
        if i >= 1 and clean(res, 0):
            break
    last = passes[-1]
    ok = clean(last, max(1, last["sent"] // 1000)) and all(p["wrong"] == 0 for p in passes)
    if not ok:
        msg = ("%s does not answer the warmed query set correctly (last pass: %d sent, "
               "%d answered, rcodes %s, %d timeouts, %d wrong e.g. %s, %d malformed, "
               "%d with the AD flag wrong e.g. %s)\nlog tail:\n%s"
               % (r.name, last["sent"], last["answered"], last["rcodes"],
                  last["timeouts"], last["wrong"], last["wrong_names"],
                  last["malformed"], last.get("ad_wrong", 0), last.get("ad_wrong_names", []),
                  r.log_tail()))
        if not allow_errors:
            raise BenchError(msg)
        log("WARNING (continuing, --allow-errors): " + msg)
    return {"pass%d" % (i + 1): p for i, p in enumerate(passes)}


# ---------------------------------------------------------------------------
# Phases


def phase_throughput(args, resolvers, path, threads, flags=()):
    """Cache hits: dnsperf -c 16 -q 100 over path (dnsperf's format) for
    args.duration s on core 0, args.runs runs of each resolver, the order
    reversed every other run; the median of queries completed per CPU-second
    of the resolver.  flags go to dnsperf (e.g. -D).  Results by r.key."""
    out = {}
    runs = {r.key: [] for r in resolvers}
    for i in range(args.runs):
        order = resolvers if i % 2 == 0 else list(reversed(resolvers))
        for r in order:
            time.sleep(0.5)  # let the previous run's stragglers drain
            c0, u0 = cpu_seconds(r.pid), udp_errors()
            d = dnsperf(r, path, args.duration, 16, 100, flags)
            c1 = cpu_seconds(r.pid)
            d["udp_errors"] = udp_delta(u0)
            r.check_alive("during the cache-hit run")
            d["cpu_s"] = round(c1 - c0, 3)
            d["per_cpu_s"] = d["completed"] / d["cpu_s"] if d["cpu_s"] > 0 else 0.0
            runs[r.key].append(d)
            log("  %s threads=%d run %d: %.0f qps, %.0f per CPU-s (cpu %.2f s), lost %d, %s, "
                "kernel UDP errors %s" % (r.name, threads, i + 1, d["qps"], d["per_cpu_s"],
                                         d["cpu_s"], d["lost"], d["rcodes"], d["udp_errors"]))
    for r in resolvers:
        rs = runs[r.key]
        out[r.key] = {
            "per_cpu_s": statistics.median(x["per_cpu_s"] for x in rs),
            "qps": statistics.median(x["qps"] for x in rs),
            "lost": sum(int(x["lost"]) for x in rs),
            "sent": sum(int(x["sent"]) for x in rs),
            "not_noerror": sum(int(x["completed"]) - x["rcodes"].get("NOERROR", 0) for x in rs),
            "memory_kb": memory(r.pid),
            "runs": rs,
        }
    return out


def cold_runs(specs, exe, nruns, conc, limit, flags=(), upstream=None):
    """Cold resolution: for each (key, make, path, ok_rcode) in specs, nruns
    fresh processes (make() returns a Resolver not yet started), each sent
    every line of path once with conc outstanding, 5 s per-query timeout, no
    retries, limit s at most; the order of specs reversed every other run.
    failed = answers without ok_rcode + wrong addresses + unfinished;
    ad_wrong counts answers whose AD flag was not the one the file expects.
    upstream: a function giving the authoritative servers' counters so far
    ({"num.queries": N, "num.type.DS": N, ...}, summed over the servers);
    with it, each run records what it caused (upstream, from start to the
    last answer).  Per key: medians of seconds, CPU-seconds and each
    upstream counter, the worst run's failures.  flags go to latency
    (e.g. -A)."""
    runs = {key: [] for key, _, _, _ in specs}
    names = {}
    for key, _, path, _ in specs:
        with open(path) as f:
            names[key] = sum(1 for line in f if line.strip())
    for i in range(nruns):
        for key, make, path, ok_rcode in (specs if i % 2 == 0 else list(reversed(specs))):
            r = make()
            try:
                q0 = upstream() if upstream else {}
                r.start()
                c0 = cpu_seconds(r.pid)
                d = latency_tool(exe, r, path, conc=conc, duration=limit, timeout_ms=5000,
                                 flags=flags)
                d["cpu_s"] = round(cpu_seconds(r.pid) - c0, 3)
                if upstream:
                    d["upstream"] = {k: v - q0.get(k, 0) for k, v in upstream().items()}
                r.check_alive("during the cold run")
                d["memory_kb"] = memory(r.pid)
            finally:
                r.stop()
            d["failed"] = d["sent"] - d["rcodes"].get(ok_rcode, 0) + d["wrong"] + d["unfinished"]
            runs[key].append(d)
            log("  %s cold run %d: %d names in %.2f s, %s, %d timeouts, %d wrong, %d AD wrong, "
                "cpu %.2f s%s" % (r.name, i + 1, d["sent"], d["until_last_answer_s"], d["rcodes"],
                                  d["timeouts"], d["wrong"], d.get("ad_wrong", 0), d["cpu_s"],
                                  "; SERVFAIL by EDE code %s, e.g. %s" % (
                                      d["servfail_ede"], d["servfail_examples"][:2])
                                  if d.get("servfail_ede") else ""))
    out = {}
    for key, rs in runs.items():
        out[key] = {"seconds": statistics.median(x["until_last_answer_s"] for x in rs),
                    "failed": max(x["failed"] for x in rs),
                    "timeouts": max(x["timeouts"] for x in rs),
                    "servfail": max(x["rcodes"].get("SERVFAIL", 0) for x in rs),
                    "wrong": max(x["wrong"] for x in rs),
                    "ad_wrong": max(x.get("ad_wrong", 0) for x in rs),
                    "cpu_s": statistics.median(x["cpu_s"] for x in rs),
                    "names": names[key], "runs": rs}
        if upstream:
            out[key]["upstream"] = {k: statistics.median(x["upstream"].get(k, 0) for x in rs)
                                    for k in rs[0]["upstream"]}
    return out


def ratio(a, b):
    return (a / b) if b else float("nan")


def render(hdr, rows):
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    lines = []
    for r in [hdr] + rows:
        lines.append("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i])
                               for i, c in enumerate(r)))
        if r is hdr:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The run: the world, the machine, the hard limit


def stop_world(world):
    """privnet stops the servers (in parallel); then make sure that no NSD
    group this run started is left, whatever privnet did."""
    procs = [s.proc for s in world.servers.values() if getattr(s, "proc", None) is not None]
    world.stop()
    for proc in procs:
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            continue
        privnet.stop_group(proc, 2, signal.SIGKILL)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def busy_others(mine):
    """Processes not started by this script that used CPU in the last second:
    [(pid, comm, percent)], busiest first."""
    def sample():
        return {pid: (comm, int(f[11]) + int(f[12]), int(f[2]))
                for pid, (comm, f) in all_proc_stats().items()}
    a = sample()
    time.sleep(1.0)
    b = sample()
    hz = os.sysconf("SC_CLK_TCK")
    res = []
    for pid, (comm, t, pg) in b.items():
        if pid in a and pg not in mine and pid != os.getpid():
            pct = 100.0 * (t - a[pid][1]) / hz
            if pct >= 5:
                res.append((pid, comm, round(pct)))
    return sorted(res, key=lambda x: -x[2])


def on_alarm(signum, frame):
    raise BenchError("hard time limit reached; stopping everything")


def on_term(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def preflight(script, args, tools):
    """Exits with a message unless this is root (NSD binds port 53), every
    tool and args.gatehoused is there, and the machine has 2 cores."""
    if os.geteuid() != 0:
        sys.exit("%s: run as root (the private internet binds port 53)" % script)
    for tool in tools:
        if not os.access(tool, os.X_OK):
            sys.exit("%s: %s is missing (tools/install-deps --test)" % (script, tool))
    if not os.access(args.gatehoused, os.X_OK):
        sys.exit("%s: %s is missing (run make, or make BUILD=DIR and --build DIR)" % (
            script, args.gatehoused))
    if os.cpu_count() < 2:
        sys.exit("%s: needs 2 cores (load generator on 0, resolver on 1)" % script)


def machine_state():
    return {"loadavg": loadavg(), "busy": busy_others(set())}


def arm(limit):
    """Sets the hard limit (SIGALRM after limit s raises BenchError) and turns
    SIGTERM into KeyboardInterrupt, so the caller's finally blocks stop
    everything; returns the machine's state, warning if it is busy."""
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(limit)
    before = machine_state()
    if before["busy"]:
        log("WARNING: other processes are using CPU; raw QPS, latency and times will suffer "
            "(per-CPU-second figures less so): %s" % before["busy"][:6])
    return before


def finish(args, name, results, meta, ok, before, elapsed, table):
    """Writes results (with meta and the run's facts) to
    args.out/NAME-DATE.json, prints table(results), a warning if the machine
    was busy, and exits (0 if ok)."""
    after = machine_state()
    results["meta"] = dict({
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "elapsed_s": round(elapsed, 1),
        "complete": ok,
        "args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(args).items()},
        "gatehoused_commit": git_head(),  # of this tree; the binary may be another's
        "gatehoused_binary": binary_id(args.gatehoused),
        "machine_before": before,
        "machine_after": after,
        "unbound_version": unbound_version(),
    }, **meta)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "%s-%s.json" % (name, time.strftime("%Y%m%d-%H%M%S")))
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print()
    print(table(results, args))
    print()
    if before["busy"] or after["busy"]:
        print("WARNING: the machine was not quiet (other processes using CPU before/after: "
              "%s / %s);\n         compare ratios from this run, not absolute figures." % (
                  before["busy"][:4], after["busy"][:4]))
    print("results: %s  (%.0f s%s)" % (path, elapsed, "" if ok else ", INCOMPLETE"))
    sys.exit(0 if ok else 1)


def git_head():
    try:
        return subprocess.run(["git", "-C", TOP, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def binary_id(path):
    """What identifies the binary measured: its path, modification time and
    the start of its SHA-256 (it may come from another tree: --build)."""
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return {"path": os.path.abspath(path), "sha256": h.hexdigest()[:16],
                "mtime": time.strftime("%Y-%m-%dT%H:%M:%S",
                                       time.localtime(os.path.getmtime(path)))}
    except OSError as e:
        return {"path": path, "error": str(e)}


def unbound_version():
    try:
        out = subprocess.run([peer.UNBOUND, "-V"], capture_output=True, text=True, timeout=5)
        return out.stdout.splitlines()[0] if out.stdout else None
    except (OSError, subprocess.TimeoutExpired):
        return None


