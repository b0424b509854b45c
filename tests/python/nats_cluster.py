# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A local three-server NATS JetStream cluster for the tests
(test_jetstream.py) and the benchmark (tests/bench/bench_jetstream.py):
free ports from the kernel, one cluster, temporary store directories, the
HTTP monitoring endpoint for stream state. Needs only the standard library
and a nats-server binary. Also one single server with TLS and
authorization settings, and the throwaway certificates and NATS credentials
for it (openssl)."""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def spawn(root, name):
    """nats-server -c <root>/<name>.conf, its output in <root>/<name>.log."""
    with open(os.path.join(root, f"{name}.log"), "a") as log:
        return subprocess.Popen([NATS_SERVER, "-c", os.path.join(root, f"{name}.conf")],
                                stdout=log, stderr=subprocess.STDOUT)


class Cluster:
    """Three nats-server processes with JetStream, one cluster."""

    def __init__(self, root):
        self.root = root
        ports = free_ports(9)
        self.client = ports[0:3]
        self.route = ports[3:6]
        self.http = ports[6:9]
        self.procs = [None] * 3
        for i in range(3):
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.route)
            conf = os.path.join(root, f"n{i}.conf")
            with open(conf, "w") as f:
                f.write(f"""server_name: n{i}
listen: 127.0.0.1:{self.client[i]}
http: 127.0.0.1:{self.http[i]}
jetstream {{ store_dir: "{root}/store-n{i}" }}
cluster {{ name: smtest, listen: 127.0.0.1:{self.route[i]}, routes: [{routes}] }}
""")
            self.start(i)

    @property
    def servers(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client)

    def start(self, i):
        self.procs[i] = spawn(self.root, f"n{i}")

    def kill(self, i):
        if self.procs[i] and self.procs[i].poll() is None:
            self.procs[i].kill()
            self.procs[i].wait()

    def stop(self):
        for i in range(3):
            if self.procs[i] and self.procs[i].poll() is None:
                self.procs[i].terminate()
        for i in range(3):
            if self.procs[i]:
                try:
                    self.procs[i].wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.procs[i].kill()
                    self.procs[i].wait()

    def jsz(self, i, query=""):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http[i]}/jsz{query}",
                                    timeout=2) as r:
            return json.load(r)

    def wait_ready(self, timeout=30):
        """Until every running server knows the JetStream meta leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                leaders = {self.jsz(i).get("meta_cluster", {}).get("leader")
                           for i in range(3) if self.procs[i].poll() is None}
                if len(leaders) == 1 and None not in leaders and "" not in leaders:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("the NATS cluster elected no JetStream meta leader in "
                             f"{timeout} s; logs in {self.root}")

    def stream_state(self, name):
        """(messages, leader server index) of stream @name."""
        for i in range(3):
            if self.procs[i].poll() is not None:
                continue
            info = self.jsz(i, "?streams=true")
            for account in info.get("account_details", []):
                for st in account.get("stream_detail", []):
                    if st["name"] == name:
                        leader = st.get("cluster", {}).get("leader", "")
                        idx = int(leader[1:]) if leader.startswith("n") else None
                        return st["state"]["messages"], idx
        return None, None

    def request(self, subject, payload, timeout=5):
        """One NATS request over the plain text protocol; the reply payload."""
        port = next(self.client[i] for i in range(3) if self.procs[i].poll() is None)
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            f = s.makefile("rb")
            f.readline()                                    # INFO
            data = payload.encode()
            s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\n'
                      b"SUB _INBOX.smtest 1\r\n" +
                      f"PUB {subject} _INBOX.smtest {len(data)}\r\n".encode() +
                      data + b"\r\nPING\r\n")
            while True:
                line = f.readline()
                if not line:
                    raise AssertionError(f"no reply to {subject}")
                if line.startswith(b"MSG"):
                    size = int(line.split()[-1])
                    return f.read(size + 2)[:size].decode()


def make_certs(root):
    """A throwaway CA, a server certificate from it for 127.0.0.1 and
    localhost, a client certificate from it, and a second CA that signed
    neither; PEM files in @root, returned by name (ca, server, server_key,
    client, client_key, other_ca)."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=root, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *key, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=sharedmatrix test {ca}")
    with open(os.path.join(root, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "san.ext"]), ("client", [])):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *ext)
    files = {"ca": "ca.pem", "server": "server.pem", "server_key": "server.key",
             "client": "client.pem", "client_key": "client.key", "other_ca": "other-ca.pem"}
    return {k: os.path.join(root, v) for k, v in files.items()}


# ---- NATS credentials without nsc: NKeys and JWTs from openssl's ed25519 -----

def _crc16(data):
    """CRC-16/XMODEM, the checksum of an encoded NKey."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def _nkey_text(raw):
    raw += _crc16(raw).to_bytes(2, "little")
    return base64.b32encode(raw).decode().rstrip("=")


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class _NKey:
    """An ed25519 key pair as NATS writes it: public (O…, A…, U…) and seed (S…)."""
    PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}

    def __init__(self, root, name, kind):
        self.pem = os.path.join(root, f"{name}.ed25519")
        run = lambda *a: subprocess.run(["openssl"] + list(a), check=True,  # noqa: E731
                                        capture_output=True).stdout
        run("genpkey", "-algorithm", "ed25519", "-out", self.pem)
        seed = run("pkey", "-in", self.pem, "-outform", "DER")[-32:]
        pub = run("pkey", "-in", self.pem, "-pubout", "-outform", "DER")[-32:]
        prefix = self.PREFIX[kind]
        self.public = _nkey_text(bytes([prefix]) + pub)
        self.seed = _nkey_text(bytes([18 << 3 | prefix >> 5, (prefix & 31) << 3]) + seed)
        self.run = run

    def jwt(self, subject, name, nats):
        """A JWT about @subject (an _NKey) signed by this key."""
        head = _b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        claims = {"jti": _nkey_text(os.urandom(30)), "iat": int(time.time()),
                  "iss": self.public, "name": name, "sub": subject.public,
                  "nats": dict(nats, version=2)}
        body = f"{head}.{_b64url(json.dumps(claims).encode())}"
        msg = self.pem + ".msg"
        with open(msg, "w") as f:
            f.write(body)
        return f"{body}.{_b64url(self.run('pkeyutl', '-sign', '-inkey', self.pem, '-rawin', '-in', msg))}"


def make_creds(root):
    """An operator, a system account, an account with JetStream and a user of
    it, in @root: returns (the server settings that trust them, the user's
    creds file, the creds file of a user of an account the server does not
    know)."""
    keys = {n: _NKey(root, n, k) for n, k in (("op", "operator"), ("sys", "account"),
                                             ("acc", "account"), ("stranger-acc", "account"),
                                             ("user", "user"), ("stranger", "user"))}
    op = keys["op"]
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
              "wildcards": True, "conn": -1, "leaf": -1}
    js = dict(limits, mem_storage=-1, disk_storage=-1, streams=-1, consumer=-1)
    settings = f"""operator: {op.jwt(op, "op", {"type": "operator",
                                               "system_account": keys["sys"].public})}
system_account: {keys["sys"].public}
resolver: MEMORY
resolver_preload: {{
  {keys["sys"].public}: {op.jwt(keys["sys"], "sys", {"type": "account", "limits": limits})}
  {keys["acc"].public}: {op.jwt(keys["acc"], "acc", {"type": "account", "limits": js})}
}}
"""
    paths = []
    for user, acc in (("user", "acc"), ("stranger", "stranger-acc")):
        jwt = keys[acc].jwt(keys[user], user, {"type": "user", "pub": {}, "sub": {},
                                               "subs": -1, "data": -1, "payload": -1})
        paths.append(os.path.join(root, f"{user}.creds"))
        with open(paths[-1], "w") as f:
            f.write(f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
                    f"-----BEGIN USER NKEY SEED-----\n{keys[user].seed}\n"
                    "------END USER NKEY SEED------\n")
        os.chmod(paths[-1], 0o600)
    return settings, paths[0], paths[1]


class Server:
    """One nats-server with JetStream and @settings (e.g. a tls { } or an
    authorization { } block) added to its configuration, named @name under
    @root. port: its client port."""

    def __init__(self, root, name, settings):
        self.root, self.name = root, name
        self.port, self.http = free_ports(2)
        with open(os.path.join(root, f"{name}.conf"), "w") as f:
            f.write(f"""server_name: {name}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.http}
jetstream {{ store_dir: "{root}/store-{name}" }}
{settings}
""")
        self.proc = spawn(root, name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz",
                                            timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nats-server {name} did not become healthy; log in {root}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
