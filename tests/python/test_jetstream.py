#!/usr/bin/env python3
# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetstreamsink / jetstreamsrc against a real three-server NATS JetStream
cluster, with every pipeline a separate gst-launch-1.0 process.

A module fixture starts three `nats-server -js` processes on 127.0.0.1
(free ports, one cluster, temporary store directories), waits for a
JetStream meta leader and always stops them at the end. Streams are
created with three replicas. Each check compares the final matrices with
numpy applying the same update bytes (captured once with filesink) exactly
once, bit for bit (the CPU backend is deterministic): a restarted shard, a
dying server and a replaying producer must lose and duplicate nothing
(docs/scale-out.md has the failure table).

TLS and authorization run against three single servers of their own (the
`secure` fixture: throwaway certificates and NATS credentials made with
openssl, one server with TLS and a user/password, one that verifies client
certificates, one in operator mode that takes creds files).

The module skips without nats-server, numpy, gst-launch-1.0 or the
jetstream elements (a build without libnats-dev); the partition and
replica checks skip while updatepartition / delta snapshots are missing,
the TLS checks without openssl.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from types import SimpleNamespace

import pytest

from checks import expect, note, require_elements, require_gst, require_numpy, skip
from nats_cluster import NATS_SERVER, Cluster, Server, free_ports, make_certs, make_creds

np = require_numpy()
Gst = require_gst()
require_elements(Gst, ("sharedmatrix", "updatetestsrc", "jetstreamsink", "jetstreamsrc"))
GST_LAUNCH = shutil.which("gst-launch-1.0")
if NATS_SERVER is None:
    skip("nats-server not found (Debian: nats-server)")
if GST_LAUNCH is None:
    skip("gst-launch-1.0 not found")

HAVE_PARTITION = Gst.ElementFactory.find("updatepartition") is not None


def have_delta_snapshots():
    factory = Gst.ElementFactory.find("sharedmatrix")
    for tmpl in factory.get_static_pad_templates():
        if tmpl.direction == Gst.PadDirection.SRC and \
                "application/x-matrix-update" in tmpl.get_caps().to_string():
            return True
    return False


ROWS, COLS, BATCH = 2000, 16, 32
SECOND = 1000000000


@pytest.fixture(scope="module")
def cluster():
    root = tempfile.mkdtemp(prefix="sm-nats-")
    c = Cluster(root)
    try:
        c.wait_ready()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def secure():
    """Throwaway certificates and credentials, and three single JetStream
    servers: "auth" with TLS (no client certificates) and a user/password,
    "mtls" with TLS that verifies client certificates, "jwt" in operator mode
    (users by creds file)."""
    if shutil.which("openssl") is None:
        skip("openssl not found (Debian: openssl)")
    root = tempfile.mkdtemp(prefix="sm-nats-tls-")
    certs = make_certs(root)
    jwt_settings, creds, stranger_creds = make_creds(root)
    tls = f'cert_file: "{certs["server"]}", key_file: "{certs["server_key"]}"'
    servers = []
    try:
        servers.append(Server(root, "auth", f"tls {{ {tls} }}\n"
                              "authorization { user: alice, password: s3cret }"))
        servers.append(Server(root, "mtls", f'tls {{ {tls}, ca_file: "{certs["ca"]}", '
                              "verify: true }"))
        servers.append(Server(root, "jwt", jwt_settings))
        yield SimpleNamespace(certs=certs, auth=servers[0], mtls=servers[1], jwt=servers[2],
                              creds=creds, stranger_creds=stranger_creds)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---- pipelines ---------------------------------------------------------------

def launch(description, env=None):
    return subprocess.Popen([GST_LAUNCH, "-q"] + description.split(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, GST_SHARED_MATRIX_FORCE_CPU="1", **(env or {})))


def finish(proc, what, timeout=60, ok=True):
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"{what} did not finish in {timeout} s:\n{out}")
    if ok:
        expect(proc.returncode == 0, f"{what} exited {proc.returncode}:\n{out}")
    return proc.returncode, out


def run(description, what, timeout=60, ok=True, env=None):
    return finish(launch(description, env), what, timeout, ok)


def source(n, seed, rows=ROWS, cols=COLS, batch=BATCH):
    return f"updatetestsrc seed={seed} rows={rows} cols={cols} batch={batch} num-buffers={n}"


def reference(tmp, n, seed, rows=ROWS, cols=COLS, batch=BATCH):
    """numpy applying the @n updates of source(n, seed, …) once each."""
    path = os.path.join(tmp, f"updates-{seed}-{n}.bin")
    run(f"{source(n, seed, rows, cols, batch)} ! filesink location={path}", "capture")
    record = 4 + cols * 4
    raw = np.fromfile(path, np.uint8)
    matrix = np.zeros((rows, cols), np.float32)
    for b in range(n):
        chunk = raw[b * batch * record:(b + 1) * batch * record]
        np.add.at(matrix, chunk[:batch * 4].view("<i4"),
                  chunk[batch * 4:].view("<f4").reshape(batch, cols))
    return matrix


def sink(cluster, stream, subject, extra="", replicas=3):
    return (f"jetstreamsink server={cluster.servers} stream={stream} "
            f"subject={stream}.{subject} replicas={replicas} {extra}")


def shard(cluster, stream, subject, durable, rows, ck, every=25, before="", idle=3,
          src_extra=""):
    return (f"jetstreamsrc server={cluster.servers} stream={stream} "
            f"subject={stream}.{subject} durable={durable} "
            f"idle-timeout={idle * SECOND} {src_extra} ! {before} sharedmatrix rows={rows} cols={COLS} "
            f"checkpoint-location={ck} checkpoint-every={every} ! fakesink")


def expect_same(got, want, what):
    expect(got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}")
    diff = np.argwhere(got.view(np.uint32) != want.view(np.uint32))
    expect(len(diff) == 0, f"{what}: {len(diff)} values differ from numpy, first at "
           f"{diff[:3].tolist()}")


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# ---- the checks -----------------------------------------------------------------

def test_shard_roundtrip_and_restart_resumes(cluster, tmp):
    """One shard reads the whole stream; a second run of the same durable
    consumer gets nothing more (everything was acknowledged)."""
    n, stream = 200, "RT"
    run(f"{source(n, 1)} ! {sink(cluster, stream, 'all')}", "producer")
    messages, _ = cluster.stream_state(stream)
    expect(messages == n, f"stream holds {messages} messages, expected {n}")
    ck = os.path.join(tmp, "ck.npy")
    run(shard(cluster, stream, "all", "s0", ROWS, ck, idle=2), "shard")
    want = reference(tmp, n, 1)
    expect_same(np.load(ck), want, "shard")
    os.unlink(ck)
    # a fresh matrix: what a second run applies is what was not acknowledged
    run(shard(cluster, stream, "all", "s0", ROWS, ck, idle=1), "shard again")
    expect(not np.any(np.load(ck)), "the second run applied messages the first acknowledged")


@pytest.mark.skipif(not HAVE_PARTITION, reason="updatepartition not built (feat-delta)")
def test_two_partitions_two_shards(cluster, tmp):
    n, stream = 300, "PART"
    b = (ROWS + 1) // 2
    run(f"{source(n, 2)} ! updatepartition partitions=2 rows={ROWS} name=p "
        f"p.src_0 ! queue ! {sink(cluster, stream, 'p0')} "
        f"p.src_1 ! queue ! {sink(cluster, stream, 'p1')}", "producer")
    cks = [os.path.join(tmp, f"shard{i}.npy") for i in range(2)]
    shards = [launch(shard(cluster, stream, f"p{i}", f"shard{i}", rows, cks[i]))
              for i, rows in enumerate((b, ROWS - b))]
    for i, p in enumerate(shards):
        finish(p, f"shard {i}")
    expect_same(np.concatenate([np.load(c) for c in cks]), reference(tmp, n, 2),
                "the two shards")


@pytest.mark.skipif(not HAVE_PARTITION, reason="updatepartition not built")
@pytest.mark.parametrize("round_", [1, 2])
def test_shards_read_while_producer_publishes(cluster, tmp, round_):
    """Two shards consume while the producer is still publishing 81 KB
    updates in two partitions (the topology of examples/scale-out.sh):
    pull requests overlap on a busy machine, and deliveries for an earlier
    request arrive while the next one is filled. libnats 3.4's Fetch wrote
    past its message array then, and the shards died with heap corruption
    (in about one run of three here). The second round also stalls each
    server in turn (SIGSTOP for 0.4 s, as a loaded machine does): the pull
    requests sent meanwhile are answered together when it resumes."""
    n, stream, rows, cols, batch = 1200, f"LIVE{round_}", 70000, 100, 200
    half = (rows + 1) // 2
    run(f"{source(0, 8)} ! {sink(cluster, stream, 'warmup')}", "stream creation")
    cks = [os.path.join(tmp, f"shard{i}.npy") for i in range(2)]
    shards = [launch(f"jetstreamsrc server={cluster.servers} stream={stream} "
                     f"subject={stream}.p{i} durable=live{i} num-buffers={n} ! "
                     f"sharedmatrix rows={r} cols={cols} checkpoint-location={cks[i]} "
                     f"checkpoint-every=200 ! fakesink")
              for i, r in enumerate((half, rows - half))]
    producer = launch(f"{source(n, 8 + round_, rows, cols, batch)} ! updatepartition "
                      f"partitions=2 rows={rows} name=p "
                      f"p.src_0 ! queue ! {sink(cluster, stream, 'p0', 'max-pending=256')} "
                      f"p.src_1 ! queue ! {sink(cluster, stream, 'p1', 'max-pending=256')}")
    try:
        if round_ == 2:
            time.sleep(0.3)
            for victim in (0, 1, 2, 0, 1, 2):
                if producer.poll() is not None:
                    break
                cluster.procs[victim].send_signal(signal.SIGSTOP)
                time.sleep(0.4)
                cluster.procs[victim].send_signal(signal.SIGCONT)
                time.sleep(0.2)
        finish(producer, "producer", timeout=120)
        for i, p in enumerate(shards):
            finish(p, f"shard {i}", timeout=120)
    finally:
        for p in cluster.procs:
            p.send_signal(signal.SIGCONT)
        for p in shards + [producer]:
            if p.poll() is None:
                p.kill()
    expect_same(np.concatenate([np.load(c) for c in cks]),
                reference(tmp, n, 8 + round_, rows, cols, batch),
                "shards fed while the producer publishes")


def test_shard_sigkill_resumes_from_checkpoint(cluster, tmp):
    n, stream = 600, "KILL"
    run(f"{source(n, 3)} ! {sink(cluster, stream, 'all')}", "producer")
    ck = os.path.join(tmp, "ck.npy")
    # slowed down so that the kill lands mid-stream
    slow = "identity sleep-time=3000 !"
    first = launch(shard(cluster, stream, "all", "s", ROWS, ck, every=40, before=slow))
    wait_for(lambda: os.path.exists(ck) and os.path.getsize(ck) > 0, "a first checkpoint")
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    finish(first, "killed shard", ok=False)
    with open(ck, "rb") as f:
        f.seek(-16, os.SEEK_END)
        last = int.from_bytes(f.read(16)[8:], "little")
    note(f"killed with a checkpoint through offset {last}")
    expect(last < n - 1, f"the shard finished ({last}) before it was killed")
    run(shard(cluster, stream, "all", "s", ROWS, ck, every=40), "restarted shard")
    expect_same(np.load(ck), reference(tmp, n, 3), "restarted shard")


def test_server_killed_mid_stream(cluster, tmp):
    n, stream = 800, "SRVKILL"
    ck = os.path.join(tmp, "ck.npy")
    # the stream must exist before the shard starts
    run(f"{source(1, 4)} ! {sink(cluster, stream, 'all')}", "first update")
    producer = launch(f"{source(n, 4)} ! identity sleep-time=4000 ! "
                      f"{sink(cluster, stream, 'all')}")
    # the shard ends after the n messages the stream will hold; the
    # idle-timeout only bounds a stall (a leader election on a loaded
    # machine once stalled it for more than 15 s)
    consumer = launch(shard(cluster, stream, "all", "s", ROWS, ck, every=50, idle=60,
                            src_extra=f"num-buffers={n}"))
    time.sleep(1.2)
    _, leader = cluster.stream_state(stream)
    victim = leader if leader is not None else 0
    note(f"killing server n{victim} (stream leader: n{leader})")
    cluster.kill(victim)
    try:
        finish(producer, "producer", timeout=90)
        finish(consumer, "shard", timeout=150)
        messages, _ = cluster.stream_state(stream)
        expect(messages == n, f"stream holds {messages} messages, expected {n}")
        expect_same(np.load(ck), reference(tmp, n, 4), "shard across a server's death")
    finally:
        cluster.start(victim)
        cluster.wait_ready()


def test_producer_replays_from_zero(cluster, tmp):
    n, stream = 400, "REPLAY"
    first = launch(f"{source(n, 5)} ! identity sleep-time=3000 ! "
                   f"{sink(cluster, stream, 'all')}")
    wait_for(lambda: (cluster.stream_state(stream)[0] or 0) > 60, "60 messages stored")
    first.send_signal(signal.SIGKILL)
    finish(first, "killed producer", ok=False)
    stored, _ = cluster.stream_state(stream)
    note(f"producer killed after {stored} messages; replaying from offset 0")
    expect(stored < n, "the producer finished before it was killed")
    run(f"{source(n, 5)} ! {sink(cluster, stream, 'all')}", "replaying producer")
    messages, _ = cluster.stream_state(stream)
    expect(messages == n, f"stream holds {messages} messages after the replay, "
           f"expected {n}: duplicates were stored")
    ck = os.path.join(tmp, "ck.npy")
    run(shard(cluster, stream, "all", "s", ROWS, ck, idle=2), "shard")
    expect_same(np.load(ck), reference(tmp, n, 5), "shard after a replay")


@pytest.mark.skipif(not have_delta_snapshots(), reason="delta snapshots not built (feat-delta)")
def test_replica_through_jetstream(cluster, tmp):
    n, every, stream = 120, 10, "REPLICA"
    run(f"{source(n, 6)} ! sharedmatrix rows={ROWS} cols={COLS} snapshot-every={every} ! "
        f"application/x-matrix-update,index-type=int64 ! {sink(cluster, stream, 'deltas')}",
        "primary")
    out = os.path.join(tmp, "replica-%05d.npy")
    run(f"jetstreamsrc server={cluster.servers} stream={stream} subject={stream}.deltas "
        f"durable=replica idle-timeout={2 * SECOND} ! sharedmatrix rows={ROWS} cols={COLS} "
        f"op=set snapshot-every=1 snapshot-on-eos=false ! application/x-npy ! "
        f"multifilesink location={out}", "replica")
    versions = list(range(every, n + 1, every))
    if n % every:
        versions.append(n)
    for i, v in enumerate(versions):
        path = out % i
        expect(os.path.exists(path), f"replica snapshot {i} (primary version {v}) missing")
        expect_same(np.load(path), reference(tmp, v, 6), f"replica at version {v}")

    # a delta removed from the stream: the replica must notice
    reply = cluster.request(f"$JS.API.STREAM.MSG.DELETE.{stream}", '{"seq": 3}')
    expect('"success":true' in reply.replace(" ", ""), f"delete failed: {reply}")
    rc, log = run(f"jetstreamsrc server={cluster.servers} stream={stream} "
                  f"subject={stream}.deltas durable=replica2 idle-timeout={2 * SECOND} ! "
                  f"sharedmatrix rows={ROWS} cols={COLS} op=set ! fakesink", "replica with a gap",
                  ok=False)
    expect(rc != 0 and "ERROR" in log, f"the replica did not report the missing delta:\n{log}")


def test_bad_input(cluster, tmp):
    # nothing listens on an unused port: an error within the connect timeout
    dead = free_ports(2)
    t = time.monotonic()
    rc, log = run(f"jetstreamsrc server=nats://127.0.0.1:{dead[0]},nats://127.0.0.1:{dead[1]} "
                  f"stream=X durable=d ! fakesink", "unreachable", timeout=20, ok=False)
    took = time.monotonic() - t
    expect(rc != 0 and "Cannot connect to any NATS server" in log,
           f"unreachable server: {log}")
    expect(took < 10, f"unreachable server took {took:.1f} s to fail")
    rc, log = run(f"{source(1, 7)} ! jetstreamsink server=nats://127.0.0.1:{dead[0]} "
                  f"stream=X subject=X.a", "unreachable sink", timeout=20, ok=False)
    expect(rc != 0 and "Cannot connect" in log, f"unreachable server (sink): {log}")

    rc, log = run(f"jetstreamsrc server={cluster.servers} stream=NOSUCHSTREAM durable=d ! "
                  f"fakesink", "missing stream", timeout=20, ok=False)
    expect(rc != 0 and "does not exist" in log, f"missing stream: {log}")

    rc, log = run(f"{source(1, 7)} ! jetstreamsink server={cluster.servers} stream=BAD "
                  f"subject=OTHER.a", "subject outside the stream", timeout=20, ok=False)
    expect(rc != 0 and "is not a subject of stream" in log, f"bad subject: {log}")

    # a message that jetstreamsink did not write
    run(f"{source(1, 7)} ! {sink(cluster, 'FOREIGN', 'ours')}", "stream creation")
    reply = cluster.request("FOREIGN.theirs", "hello")
    expect('"seq"' in reply, f"foreign publish not stored: {reply}")
    rc, log = run(f"jetstreamsrc server={cluster.servers} stream=FOREIGN subject=FOREIGN.theirs "
                  f"durable=d idle-timeout={5 * SECOND} ! sharedmatrix rows={ROWS} cols={COLS} ! "
                  f"fakesink", "foreign message", timeout=20, ok=False)
    expect(rc != 0 and "Gst-Caps" in log, f"foreign message: {log}")


# ---- TLS and credentials (single servers of the `secure` fixture) --------------

def tls_roundtrip(tmp, servers, stream, security, n=40, seed=11):
    """Updates through jetstreamsink and jetstreamsrc ! sharedmatrix, both
    with the properties @security, to one server; the matrix against numpy.
    (Also used for creds-file without TLS.)"""
    ep = SimpleNamespace(servers=servers)
    run(f"{source(n, seed)} ! {sink(ep, stream, 'all', security, replicas=1)}",
        f"producer ({security})", timeout=30)
    ck = os.path.join(tmp, f"{stream}.npy")
    run(shard(ep, stream, "all", "s0", ROWS, ck, idle=1, src_extra=security),
        f"shard ({security})", timeout=30)
    expect_same(np.load(ck), reference(tmp, n, seed), f"shard over TLS ({security})")


def fails(description, what, *wanted, env=None):
    """@description must fail within 15 s with an error holding each of @wanted."""
    t = time.monotonic()
    rc, log = run(description, what, timeout=20, ok=False, env=env)
    took = time.monotonic() - t
    expect(rc != 0 and all(w in log for w in wanted),
           f"{what}: expected an error with {wanted}, got (exit {rc}):\n{log}")
    expect(took < 15, f"{what} took {took:.1f} s to fail")
    return log


def test_tls_user_password_roundtrip(secure, tmp):
    """A tls:// URL with user:password and tls-ca-file: the round trip; a wrong
    password, an unknown CA and no CA file are clear errors."""
    certs, port = secure.certs, secure.auth.port
    url = f"tls://alice:s3cret@127.0.0.1:{port}"
    tls_roundtrip(tmp, url, "TLSAUTH", f"tls-ca-file={certs['ca']}")

    src = "jetstreamsrc stream=TLSAUTH durable=probe idle-timeout=1000000000"
    log = fails(f"{src} server=tls://alice:wrong@127.0.0.1:{port} tls-ca-file={certs['ca']} "
                "! fakesink", "wrong password", "refused us", "user:password",
                f"alice:xxx@127.0.0.1:{port}")
    expect("wrong" not in log.replace("wrong password", ""), f"the password was shown:\n{log}")
    fails(f"{src} server={url} tls-ca-file={certs['other_ca']} ! fakesink", "unknown CA",
          "TLS handshake", f"tls-ca-file=\"{certs['other_ca']}\"", "alice:xxx@")
    # no CA file: libnats verifies against OpenSSL's default store, which
    # SSL_CERT_FILE names (docs/scale-out.md)
    fails(f"{src} server={url} ! fakesink", "no CA file", "TLS handshake",
          "system's default CA store")
    run(f"{src} server={url} ! fakesink", "no CA file, SSL_CERT_FILE=the CA", timeout=20,
        env={"SSL_CERT_FILE": certs["ca"]})


def test_tls_client_certificate_roundtrip(secure, tmp):
    """A server that verifies clients: the round trip with a client certificate
    (nats:// URL: the CA file alone makes TLS required); without one, or
    trusting another CA, clear errors."""
    certs = secure.certs
    url = f"nats://127.0.0.1:{secure.mtls.port}"
    client = f"tls-cert-file={certs['client']} tls-key-file={certs['client_key']}"
    tls_roundtrip(tmp, url, "MTLS", f"tls-ca-file={certs['ca']} {client}")

    src = f"jetstreamsrc server={url} stream=MTLS durable=probe idle-timeout=1000000000"
    fails(f"{src} tls-ca-file={certs['ca']} ! fakesink", "no client certificate",
          "Cannot connect", "set tls-cert-file and tls-key-file")
    fails(f"{src} tls-ca-file={certs['other_ca']} {client} ! fakesink", "unknown CA",
          "TLS handshake", certs["other_ca"])


def test_creds_file_roundtrip(secure, tmp):
    """A server in operator mode: the round trip with creds-file; no
    credentials, or those of a user of an account it does not know, refused."""
    url = f"nats://127.0.0.1:{secure.jwt.port}"
    tls_roundtrip(tmp, url, "CREDS", f"creds-file={secure.creds}")
    src = f"jetstreamsrc server={url} stream=CREDS durable=probe idle-timeout=1000000000"
    fails(f"{src} ! fakesink", "no credentials", "refused us", "creds-file")
    fails(f"{src} creds-file={secure.stranger_creds} ! fakesink", "unknown account",
          "refused us", "creds-file is set")


def test_tls_bad_settings(secure, cluster, tmp):
    """Missing, unpaired or unusable files, and TLS against a server without it:
    errors that name the property and the file, before any hang."""
    certs = secure.certs
    src = f"jetstreamsrc server=nats://127.0.0.1:{secure.mtls.port} stream=X durable=d"
    missing = os.path.join(tmp, "no-such-ca.pem")
    fails(f"{src} tls-ca-file={missing} ! fakesink", "missing CA file",
          f"tls-ca-file=\"{missing}\"", "no such file")
    fails(f"{source(1, 7)} ! jetstreamsink server=nats://127.0.0.1:{secure.mtls.port} "
          f"stream=X subject=X.a tls-key-file={missing}", "missing key file (sink)",
          f"tls-key-file=\"{missing}\"", "tls-cert-file is not")
    fails(f"{src} tls-cert-file={certs['client']} ! fakesink", "certificate without key",
          f"tls-cert-file=\"{certs['client']}\" is set but tls-key-file is not")
    garbage = os.path.join(tmp, "garbage.txt")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    fails(f"{src} tls-ca-file={garbage} ! fakesink", "CA file without certificates",
          f"tls-ca-file=\"{garbage}\"", "PEM")
    fails(f"{src} tls-cert-file={certs['client']} tls-key-file={certs['server_key']} "
          "! fakesink", "key of another certificate", "tls-key-file", "key values mismatch")
    fails(f"{src} creds-file={missing} ! fakesink", "missing creds file",
          f"creds-file=\"{missing}\"", "no such file")
    fails(f"jetstreamsrc server=nats://alice:s3cret@127.0.0.1:{secure.auth.port} stream=X "
          f"durable=d tls-ca-file={certs['ca']} creds-file={garbage} ! fakesink",
          "garbage creds file", f"creds-file=\"{garbage}\"", "not a NATS credentials file")
    # libnats 3.4.1 alone would talk in clear text to a server without TLS
    fails(f"jetstreamsrc server=tls://127.0.0.1:{cluster.client[0]} stream=X durable=d "
          "! fakesink", "tls:// to a server without TLS", "offers no TLS")
