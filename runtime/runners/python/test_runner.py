"""Tests for osai_runner.py: a tiny host speaking docs/worker-protocol.md.

Run:  /usr/bin/python3 runtime/runners/python/test_runner.py
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "osai_runner.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
LENS = struct.Struct(">II")

ALGO = textwrap.dedent('''
    import os, sys, time

    def apply(x):
        return x

    def warner(x):
        import sys
        print("to stdout")
        sys.stderr.write("careful: %s\\n" % x)
        if x == "raise":
            raise ValueError("after warning")
        return x

    def greet(name):
        print("greeting", name)
        return "Hello " + name

    def reverse(b):
        return bytes(reversed(b))

    def to_json(x):
        return {"echo": x, "n": 1.5, "ok": True, "none": None, "u": "h\\u00e9llo"}

    def boom(x):
        print("about to fail")
        raise ZeroDivisionError("division by zero")

    def boom_empty(x):
        raise RuntimeError()

    def sysexit(x):
        sys.exit(5)

    def returns_set(x):
        return {1, 2}

    def returns_nan(x):
        return float("nan")

    def returns_none(x):
        return None

    def returns_memoryview(x):
        return memoryview(b"mv-bytes")

    def returns_surrogate(x):
        return "\\ud800"

    def printer(n):
        for i in range(n):
            print("line %d" % i)
        return n

    def print_many(x):
        chunk = "x" * 999
        for _ in range(x["count"]):
            print(chunk)
        return "done"

    def print_huge(mb):
        print("y" * (mb * 1000 * 1000))
        return "done"

    def print_unicode(x):
        print(x, end="")
        return None

    def sleepy(x):
        print("start", x)
        time.sleep(0.5)
        print("end", x)
        return x

    def context(x):
        import osai_runner
        return osai_runner.current_context()

    def die(x):
        os._exit(3)

    def write_buffer(x):
        sys.stdout.buffer.write(b"raw bytes\\n")
        sys.stdout.flush()
        return None

    def echo_print(x):
        for i in range(50):
            print(x, i)
        return x

    not_callable = 42
''')


def hmac_hex(secret, message):
    import hashlib
    import hmac
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Host(object):
    """Listens on a unix socket, spawns the runner, speaks frames."""

    counter = 0

    SECRET = "s3cret-for-the-test-worker"

    def __init__(self, tmp, tcp=False, secret=None, worker_secret=None, authenticate=True):
        """`secret` is the one the host proves with, `worker_secret` the one the runner is given (default: the same)."""
        Host.counter += 1
        self.secret = secret or Host.SECRET
        if tcp:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            address = "tcp:127.0.0.1:%d" % self.listener.getsockname()[1]
        else:
            path = os.path.join(tmp, "w%d.sock" % Host.counter)
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(path)
            address = "unix:" + path
        self.listener.listen(1)
        self.next_id = 1
        env = dict(os.environ, OSAI_WORKER_ADDRESS=address, OSAI_RUNTIME="python3",
                   OSAI_WORKER_ID="test", OSAI_WORKER_SECRET=worker_secret or self.secret)
        self.t_spawn = time.perf_counter()
        self.proc = subprocess.Popen([PYTHON, "-u", "-S", RUNNER], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.listener.settimeout(10)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(30)
        self.rf = self.conn.makefile("rb")
        self.hello, _ = self.recv()
        self.startup_ms = (time.perf_counter() - self.t_spawn) * 1000.0
        if authenticate:
            self.authenticate()
        self.ready_ms = (time.perf_counter() - self.t_spawn) * 1000.0

    def host_auth(self, host_nonce=None):
        """The host's auth frame for this connection's hello (docs/worker-protocol.md)."""
        self.host_nonce = host_nonce or os.urandom(32).hex()
        proof = hmac_hex(self.secret, "osai-host\n%s\n%s" % (self.hello["nonce"], self.host_nonce))
        return {"type": "auth", "nonce": self.host_nonce, "proof": proof}

    def authenticate(self):
        """Host side of the handshake: prove, then check the runner's proof."""
        self.send(self.host_auth())
        self.worker_auth, _ = self.recv()
        assert self.worker_auth == {"type": "auth", "proof": hmac_hex(
            self.secret, "osai-worker\n%s\n%s" % (self.host_nonce, self.hello["nonce"]))}, self.worker_auth

    def send(self, header, payload=b""):
        hb = json.dumps(header).encode()
        self.conn.sendall(LENS.pack(len(hb), len(payload)) + hb + payload)

    def send_raw(self, data):
        self.conn.sendall(data)

    def recv(self):
        pre = self.rf.read(8)
        if len(pre) < 8:
            raise EOFError("runner closed the connection")
        h, p = LENS.unpack(pre)
        header = json.loads(self.rf.read(h))
        payload = self.rf.read(p) if p else b""
        return header, payload

    def request(self, header, payload=b""):
        header = dict(header)
        header["id"] = self.next_id
        self.next_id += 1
        self.send(header, payload)
        h, p = self.recv()
        assert h.get("id") == header["id"], (h, header)
        return h, p

    def load(self, code_dir, entrypoint="main:apply", concurrency=1, stdout_limit=1 << 20, **extra):
        h = {"type": "load", "algorithm": "t/t", "version": "1.0.0", "code_dir": code_dir,
             "entrypoint": entrypoint, "concurrency": concurrency, "stdout_limit": stdout_limit}
        h.update(extra)
        return self.request(h)

    def invoke(self, payload, content_type="json", **extra):
        h = {"type": "invoke", "content_type": content_type, "timeout_ms": 300000,
             "context": {"trace_id": "abc", "caller": "alice", "depth": 0}}
        h.update(extra)
        if content_type == "json" and not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        elif content_type == "text" and isinstance(payload, str):
            payload = payload.encode()
        return self.request(h, payload)

    def wait(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self):
        for c in (self.rf, self.conn, self.listener):
            try:
                c.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class RunnerTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="osai-runner-test-")
        cls.code = os.path.join(cls.tmp, "code")
        os.mkdir(cls.code)
        with open(os.path.join(cls.code, "main.py"), "w") as f:
            f.write(ALGO)
        with open(os.path.join(cls.code, "broken.py"), "w") as f:
            f.write("import nonexistent_module_xyz\n")
        with open(os.path.join(cls.code, "exits.py"), "w") as f:
            f.write("import sys\nsys.exit(1)\n")
        with open(os.path.join(cls.code, "envprobe.py"), "w") as f:
            f.write("import os\n"
                    "def secret(x):\n    return os.environ.get('OSAI_WORKER_SECRET')\n"
                    "def proxies(x):\n    return [os.environ.get(k) for k in ('HTTP_PROXY', 'HTTPS_PROXY')]\n"
                    "def hog(mb):\n    return len(bytearray(mb * 1024 * 1024))\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def host(self):
        h = Host(self.tmp)
        self.addCleanup(h.close)
        return h

    def loaded(self, entrypoint, **kw):
        h = self.host()
        rep, _ = h.load(self.code, entrypoint, **kw)
        self.assertEqual(rep["type"], "loaded", rep)
        return h

    # --- hello / load -----------------------------------------------------------------

    def test_hello(self):
        h = self.host()
        self.assertEqual(h.hello["type"], "hello")
        self.assertEqual(h.hello["protocol"], 1)
        self.assertEqual(h.hello["runtime"], "python3")
        self.assertEqual(h.hello["runner"], "osai-python/1.0")
        self.assertEqual(h.hello["pid"], h.proc.pid)
        self.assertEqual(h.hello["worker_id"], "test")
        # A fresh nonce, never the secret: the secret does not cross the connection at all.
        self.assertRegex(h.hello["nonce"], "^[0-9a-f]{64}$")
        self.assertNotIn("secret", h.hello)
        self.assertNotEqual(h.hello["nonce"], self.host().hello["nonce"])

    def test_the_runners_hmac_is_hmac_sha256(self):
        sys.path.insert(0, HERE)
        try:
            import osai_runner
        finally:
            sys.path.remove(HERE)
        import hashlib
        import hmac
        for key in (b"", b"k", Host.SECRET.encode(), b"x" * 64, b"y" * 65, bytes(range(200))):
            for msg in (b"", b"osai-host\nab\ncd", os.urandom(300)):
                self.assertEqual(osai_runner._hmac_sha256_hex(key, msg), hmac.new(key, msg, hashlib.sha256).hexdigest())

    def test_a_host_that_proves_the_wrong_secret_is_refused(self):
        h = Host(self.tmp, secret="not-the-workers-secret", worker_secret=Host.SECRET, authenticate=False)
        self.addCleanup(h.close)
        h.send(h.host_auth())
        with self.assertRaises(EOFError):        # the runner sends nothing: no proof of its own for a host it doubts
            h.recv()
        self.assertEqual(h.wait(), 3)
        self.assertIn(b"refusing the host: its proof is wrong", h.proc.stderr.read())

    def test_a_replayed_host_proof_is_refused(self):
        # A host auth recorded on one connection is worthless on the next: the runner's nonce is fresh each time.
        first = self.host()
        recorded = {"type": "auth", "nonce": first.host_nonce,
                    "proof": hmac_hex(first.secret, "osai-host\n%s\n%s" % (first.hello["nonce"], first.host_nonce))}
        h = Host(self.tmp, authenticate=False)
        self.addCleanup(h.close)
        h.send(recorded)
        with self.assertRaises(EOFError):
            h.recv()
        self.assertEqual(h.wait(), 3)
        self.assertIn(b"its proof is wrong", h.proc.stderr.read())

    def test_a_host_that_skips_auth_is_refused(self):
        h = Host(self.tmp, authenticate=False)
        self.addCleanup(h.close)
        h.send({"type": "ping", "id": 1})
        with self.assertRaises(EOFError):
            h.recv()
        self.assertEqual(h.wait(), 3)
        self.assertIn(b"its first frame is not auth", h.proc.stderr.read())

    def test_the_worker_proof_reflects_nothing(self):
        # Labels per direction: the worker's proof is not the host proof for the swapped nonces.
        h = self.host()
        self.assertNotEqual(h.worker_auth["proof"],
                            hmac_hex(h.secret, "osai-host\n%s\n%s" % (h.host_nonce, h.hello["nonce"])))
        rep, _ = h.request({"type": "ping"})
        self.assertEqual(rep["type"], "pong")

    def test_the_secret_is_not_left_for_algorithm_code(self):
        h = self.loaded("envprobe:secret")
        rep, payload = h.invoke(None)
        self.assertEqual(rep["type"], "result", rep)
        self.assertEqual(json.loads(payload), None)

    def test_egress_sets_proxy_variables_only_when_given(self):
        h = self.loaded("envprobe:proxies")
        rep, payload = h.invoke(None)
        self.assertEqual(json.loads(payload), [None, None])
        sock_dir = tempfile.mkdtemp(prefix="osai-egress-")
        self.addCleanup(shutil.rmtree, sock_dir, True)
        h = self.host()
        rep, _ = h.request({"type": "load", "code_dir": self.code, "entrypoint": "envprobe:proxies",
                            "concurrency": 1, "stdout_limit": 100, "egress": "unix:" + os.path.join(sock_dir, "egress.sock")})
        self.assertEqual(rep["type"], "loaded", rep)
        rep, payload = h.invoke(None)
        http, https = json.loads(payload)
        self.assertTrue(http.startswith("http://127.0.0.1:") and http == https, (http, https))

    def test_memory_error_is_reported_as_out_of_memory(self):
        import resource
        h = self.host()
        # Hold this worker to 300 MiB of data so the allocation below fails inside Python rather than on the machine.
        resource.prlimit(h.proc.pid, resource.RLIMIT_DATA, (300 << 20, 300 << 20))
        rep, _ = h.load(self.code, "envprobe:hog")
        self.assertEqual(rep["type"], "loaded", rep)
        rep, _ = h.invoke(1024)
        self.assertEqual(rep["type"], "error", rep)
        self.assertEqual(rep["error_type"], "AlgorithmOutOfMemory", rep)

    def test_load_ok(self):
        h = self.host()
        rep, payload = h.load(self.code, "main:apply")
        self.assertEqual(rep["type"], "loaded")
        self.assertIsInstance(rep["load_ms"], (int, float))
        self.assertEqual(payload, b"")

    @staticmethod
    def _archive(files):
        import io, tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                if data is None:
                    info.type = tarfile.SYMTYPE
                    info.linkname = "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def test_load_from_an_archive_sent_with_the_load(self):
        # A pod cannot see the host's files: the build comes in the load frame and is unpacked into a fresh folder.
        h = self.host()
        archive = self._archive({"pkg/main.py": b"def apply(x):\n    return x * 3\n"})
        rep, _ = h.request({"type": "load", "code_archive": "tar.gz", "build": "abc123", "entrypoint": "pkg.main:apply",
                            "concurrency": 1, "stdout_limit": 100}, archive)
        self.assertEqual(rep["type"], "loaded", rep)
        rep, payload = h.request({"type": "invoke", "content_type": "json", "timeout_ms": 5000}, b"14")
        self.assertEqual((rep["type"], payload), ("result", b"42"))

    def test_an_archive_that_escapes_its_folder_or_holds_links_is_refused(self):
        for files in ({"../evil.py": b"x = 1\n"}, {"/tmp/abs.py": b"x = 1\n"}, {"main.py": None}):
            h = self.host()
            rep, _ = h.request({"type": "load", "code_archive": "tar.gz", "build": "b", "concurrency": 1, "stdout_limit": 100},
                               self._archive(files))
            self.assertEqual((rep["type"], rep.get("error_type")), ("error", "LoadError"), (files, rep))
            self.assertIn("not a plain file or folder inside the build", rep["message"])

    def test_load_default_entrypoints(self):
        for entry in ("", None, "main"):
            h = self.host()
            hdr = {"type": "load", "code_dir": self.code, "concurrency": 1, "stdout_limit": 100}
            if entry is not None:
                hdr["entrypoint"] = entry
            rep, _ = h.request(hdr)
            self.assertEqual(rep["type"], "loaded", (entry, rep))
            rep, p = h.invoke([1, 2])
            self.assertEqual(json.loads(p), [1, 2])

    def test_load_missing_module(self):
        h = self.host()
        rep, _ = h.load(self.code, "nosuchmodule:apply")
        self.assertEqual(rep["type"], "error")
        self.assertEqual(rep["error_type"], "LoadError")
        self.assertIn("nosuchmodule", rep["message"])
        self.assertIn("ModuleNotFoundError", rep["stacktrace"])

    def test_load_import_raises(self):
        h = self.host()
        rep, _ = h.load(self.code, "broken:apply")
        self.assertEqual(rep["error_type"], "LoadError")
        self.assertIn("nonexistent_module_xyz", rep["message"])
        self.assertIn("broken.py", rep["stacktrace"])

    def test_load_import_sysexit(self):
        h = self.host()
        rep, _ = h.load(self.code, "exits:apply")
        self.assertEqual(rep["error_type"], "LoadError")
        self.assertIn("SystemExit", rep["message"])
        rep, _ = h.request({"type": "ping"})
        self.assertEqual(rep["type"], "pong")

    def test_load_missing_function_and_not_callable(self):
        h = self.host()
        rep, _ = h.load(self.code, "main:nope")
        self.assertEqual(rep["error_type"], "LoadError")
        self.assertIn("nope", rep["message"])
        h = self.host()
        rep, _ = h.load(self.code, "main:not_callable")
        self.assertEqual(rep["error_type"], "LoadError")
        self.assertIn("not callable", rep["message"])

    def test_second_load_and_invoke_before_load(self):
        h = self.host()
        rep, _ = h.invoke(1)
        self.assertEqual((rep["type"], rep["error_type"]), ("error", "ProtocolError"))
        rep, _ = h.load(self.code, "main:apply")
        self.assertEqual(rep["type"], "loaded")
        rep, _ = h.load(self.code, "main:apply")
        self.assertEqual((rep["type"], rep["error_type"]), ("error", "ProtocolError"))
        rep, p = h.invoke(7)
        self.assertEqual(json.loads(p), 7)

    def test_unknown_type(self):
        h = self.host()
        rep, _ = h.request({"type": "frobnicate", "extra": [1]})
        self.assertEqual((rep["type"], rep["error_type"]), ("error", "ProtocolError"))
        h.send({"type": "frobnicate"})   # no id: no reply; the next request still works
        rep, _ = h.request({"type": "ping"})
        self.assertEqual(rep["type"], "pong")

    # --- invoke -----------------------------------------------------------------------

    def test_json_round_trip(self):
        h = self.loaded("main:to_json")
        value = {"a": [1, 2.5, None, True], "s": "d\u00e9j\u00e0 \U0001F600"}
        rep, p = h.invoke(value, unknown_field="ignored")
        self.assertEqual(rep["type"], "result", rep)
        self.assertEqual(rep["content_type"], "json")
        self.assertEqual(rep["stdout"], "")
        self.assertFalse(rep["stdout_truncated"])
        self.assertIsInstance(rep["duration_ms"], (int, float))
        self.assertEqual(json.loads(p.decode("utf-8")),
                         {"echo": value, "n": 1.5, "ok": True, "none": None, "u": "h\u00e9llo"})
        self.assertIn("h\u00e9llo".encode("utf-8"), p)   # ensure_ascii=False, UTF-8
        self.assertNotIn(b", ", p)                         # compact separators
        self.assertNotIn(b": ", p)

    def test_json_scalars(self):
        h = self.loaded("main:apply")
        for v in (None, 0, -3, 1e100, "str-in-json", [], {}, False):
            rep, p = h.invoke(v)
            if isinstance(v, str):
                self.assertEqual((rep["content_type"], p.decode()), ("text", v))
            else:
                self.assertEqual(rep["content_type"], "json")
                self.assertEqual(json.loads(p), v)
        rep, p = h.invoke(b"  [1, 2]  ")
        self.assertEqual(json.loads(p), [1, 2])
        h2 = self.loaded("main:returns_none")
        rep, p = h2.invoke(1)
        self.assertEqual((rep["content_type"], p), ("json", b"null"))

    def test_text_round_trip(self):
        h = self.loaded("main:greet")
        rep, p = h.invoke("W\u00f6rld", content_type="text")
        self.assertEqual(rep["type"], "result", rep)
        self.assertEqual(rep["content_type"], "text")
        self.assertEqual(p.decode("utf-8"), "Hello W\u00f6rld")
        self.assertEqual(rep["stdout"], "greeting W\u00f6rld\n")

    def test_binary_round_trip(self):
        h = self.loaded("main:reverse")
        data = bytes(range(256)) * 1000
        rep, p = h.invoke(data, content_type="binary")
        self.assertEqual(rep["content_type"], "binary")
        self.assertEqual(p, data[::-1])
        rep, p = h.invoke(b"", content_type="binary")
        self.assertEqual((rep["content_type"], p), ("binary", b""))
        big = os.urandom(8 << 20)
        rep, p = h.invoke(big, content_type="binary")
        self.assertEqual(p, big[::-1])

    def test_memoryview_result(self):
        h = self.loaded("main:returns_memoryview")
        rep, p = h.invoke(1)
        self.assertEqual((rep["content_type"], p), ("binary", b"mv-bytes"))

    def test_input_errors(self):
        h = self.loaded("main:apply")
        rep, _ = h.invoke(b"{not json", content_type="json")
        self.assertEqual(rep["error_type"], "InputError")
        rep, _ = h.invoke(b"\xff\xfe", content_type="text")
        self.assertEqual(rep["error_type"], "InputError")
        rep, _ = h.invoke(b"", content_type="json")
        self.assertEqual(rep["error_type"], "InputError")
        rep, _ = h.invoke(b"1", content_type="yaml")
        self.assertEqual(rep["error_type"], "ProtocolError")
        rep, p = h.invoke(5)
        self.assertEqual(json.loads(p), 5)

    def test_algorithm_error(self):
        h = self.loaded("main:boom")
        rep, p = h.invoke(1)
        self.assertEqual(rep["type"], "error")
        self.assertEqual(rep["error_type"], "AlgorithmError")
        self.assertEqual(rep["message"], "division by zero")
        self.assertIn("Traceback (most recent call last)", rep["stacktrace"])
        self.assertIn("ZeroDivisionError", rep["stacktrace"])
        self.assertIn("main.py", rep["stacktrace"])
        self.assertNotIn("osai_runner.py", rep["stacktrace"])
        self.assertEqual(rep["stdout"], "about to fail\n")
        self.assertFalse(rep["stdout_truncated"])
        self.assertEqual(p, b"")

    def test_algorithm_error_empty_message(self):
        h = self.loaded("main:boom_empty")
        rep, _ = h.invoke(1)
        self.assertEqual((rep["error_type"], rep["message"]), ("AlgorithmError", "RuntimeError"))

    def test_sys_exit_is_algorithm_error(self):
        h = self.loaded("main:sysexit")
        for _ in range(2):
            rep, _ = h.invoke(1)
            self.assertEqual(rep["error_type"], "AlgorithmError")
            self.assertIn("SystemExit", rep["stacktrace"])
        rep, _ = h.request({"type": "ping"})
        self.assertEqual(rep["type"], "pong")

    def test_serialization_errors(self):
        for entry, word in (("main:returns_set", "set"), ("main:returns_nan", "float"),
                            ("main:returns_surrogate", "str")):
            h = self.loaded(entry)
            rep, p = h.invoke(1)
            self.assertEqual(rep["type"], "error", rep)
            self.assertEqual(rep["error_type"], "SerializationError")
            self.assertIn(word, rep["message"])
            self.assertEqual(p, b"")

    def test_context_available(self):
        h = self.loaded("main:context")
        rep, p = h.invoke(1)
        self.assertEqual(json.loads(p)["trace_id"], "abc")

    # --- stdout -----------------------------------------------------------------------

    def test_stderr_captured_per_invocation_apart_from_stdout(self):
        h = self.loaded("main:warner")
        rep, p = h.invoke("a")
        self.assertEqual(rep["stdout"], "to stdout\n")
        self.assertEqual(rep["stderr"], "careful: a\n")
        self.assertFalse(rep["stderr_truncated"])
        rep, _ = h.invoke("raise")
        self.assertEqual(rep["error_type"], "AlgorithmError")
        self.assertEqual(rep["stderr"], "careful: raise\n")

    def test_no_stderr_field_when_nothing_was_written(self):
        h = self.loaded("main:printer")
        rep, _ = h.invoke(1)
        self.assertNotIn("stderr", rep)

    def test_stdout_truncated(self):
        h = self.loaded("main:printer", stdout_limit=20)
        rep, p = h.invoke(10)
        self.assertEqual(json.loads(p), 10)
        self.assertEqual(rep["stdout"], ("".join("line %d\n" % i for i in range(10)))[:20])
        self.assertTrue(rep["stdout_truncated"])
        rep, _ = h.invoke(2)
        self.assertEqual(rep["stdout"], "line 0\nline 1\n")   # per invocation, not cumulative
        self.assertFalse(rep["stdout_truncated"])

    def test_stdout_limit_counts_utf8_bytes(self):
        h = self.loaded("main:print_unicode", stdout_limit=11)
        rep, _ = h.invoke("\u00e9" * 10)          # 20 bytes; 11 bytes = 5 chars + half a char
        self.assertEqual(rep["stdout"], "\u00e9" * 5)
        self.assertTrue(rep["stdout_truncated"])
        rep, _ = h.invoke("ab\u00e9\u00e9")      # exactly 6 bytes
        self.assertEqual(rep["stdout"], "ab\u00e9\u00e9")
        self.assertFalse(rep["stdout_truncated"])

    def test_stdout_zero_limit(self):
        h = self.loaded("main:printer", stdout_limit=0)
        rep, _ = h.invoke(1)
        self.assertEqual(rep["stdout"], "")
        self.assertTrue(rep["stdout_truncated"])

    def test_stdout_buffer_write(self):
        h = self.loaded("main:write_buffer")
        rep, _ = h.invoke(1)
        self.assertEqual(rep["stdout"], "raw bytes\n")

    def test_huge_print_is_dropped_cheaply(self):
        h = self.loaded("main:print_many", stdout_limit=1 << 20)
        rep, _ = h.request({"type": "ping"})
        rss0 = rep.get("rss_bytes")
        t0 = time.perf_counter()
        rep, p = h.invoke({"count": 50000})          # 50 MB of stdout in 1000-byte lines
        dt = time.perf_counter() - t0
        self.assertEqual(p.decode(), "done")
        self.assertTrue(rep["stdout_truncated"])
        n = len(rep["stdout"].encode())   # the limit, less what the 1 MiB header limit forces off
        self.assertLessEqual(n, 1 << 20)
        self.assertGreater(n, (1 << 20) - 8192)
        rep, _ = h.request({"type": "ping"})
        if rss0 is not None:
            self.assertLess(rep["rss_bytes"] - rss0, 20 << 20, "runner kept the dropped stdout")
        sys.stderr.write("\n  [50 MB printed in 1000-byte lines: %.2f s] " % dt)

        h = self.loaded("main:print_huge", stdout_limit=1000)
        rep, p = h.invoke(50)                         # one 50 MB print
        self.assertEqual(p.decode(), "done")
        self.assertEqual(rep["stdout"], "y" * 1000)
        self.assertTrue(rep["stdout_truncated"])

    def test_stdout_fits_header_limit(self):
        # A full 1 MiB of stdout would make the header exceed 1 MiB: the runner must cut it.
        h = self.loaded("main:print_unicode", stdout_limit=1 << 20)
        rep, _ = h.invoke("\x01" * (1 << 20))          # escapes to 6 bytes each in JSON
        self.assertTrue(rep["stdout_truncated"])
        self.assertGreater(len(rep["stdout"]), 100000)
        self.assertEqual(rep["stdout"], "\x01" * len(rep["stdout"]))

    # --- concurrency ------------------------------------------------------------------

    def test_concurrency_parallel_and_isolated(self):
        h = self.loaded("main:sleepy", concurrency=4)
        ids = {}
        t0 = time.perf_counter()
        for i in range(4):
            rid = h.next_id
            h.next_id += 1
            ids[rid] = "job%d" % i
            h.send({"type": "invoke", "id": rid, "content_type": "text"}, ("job%d" % i).encode())
        time.sleep(0.1)
        pong, _ = h.request({"type": "ping"})   # answered while the four are still running
        self.assertEqual(pong["type"], "pong")
        self.assertEqual(pong["in_flight"], 4)
        got = {}
        for _ in range(4):
            rep, p = h.recv()
            got[rep["id"]] = (rep, p)
        elapsed = time.perf_counter() - t0
        self.assertLess(elapsed, 1.5, "invocations did not run in parallel")
        for rid, name in ids.items():
            rep, p = got[rid]
            self.assertEqual(p.decode(), name)
            self.assertEqual(rep["stdout"], "start %s\nend %s\n" % (name, name))
        pong, _ = h.request({"type": "ping"})
        self.assertEqual(pong["in_flight"], 0)

    def test_concurrency_stress(self):
        h = self.loaded("main:echo_print", concurrency=8, stdout_limit=100000)
        n = 400

        def sender():
            for i in range(n):
                h.send({"type": "invoke", "id": 1000 + i, "content_type": "text"}, ("c%d" % i).encode())
        th = threading.Thread(target=sender)
        th.start()
        self.addCleanup(th.join)
        seen = set()
        for _ in range(n):
            rep, p = h.recv()
            name = p.decode()
            self.assertEqual(rep["id"], 1000 + int(name[1:]))
            self.assertEqual(rep["stdout"], "".join("%s %d\n" % (name, i) for i in range(50)))
            seen.add(rep["id"])
        self.assertEqual(len(seen), n)
        pong, _ = h.request({"type": "ping"})
        self.assertEqual(pong["in_flight"], 0)

    def test_shutdown_lets_in_flight_finish(self):
        h = self.loaded("main:sleepy", concurrency=2)
        h.send({"type": "invoke", "id": 100, "content_type": "text"}, b"a")
        h.send({"type": "invoke", "id": 101, "content_type": "text"}, b"b")
        time.sleep(0.1)
        h.send({"type": "shutdown"})
        ids = set()
        for _ in range(2):
            rep, _ = h.recv()
            ids.add(rep["id"])
        self.assertEqual(ids, {100, 101})
        self.assertEqual(h.wait(), 0)

    # --- ping / lifecycle -------------------------------------------------------------

    def test_tcp_transport(self):
        h = Host(self.tmp, tcp=True)
        self.addCleanup(h.close)
        self.assertEqual(h.hello["type"], "hello")
        rep, _ = h.load(self.code, "main:greet")
        self.assertEqual(rep["type"], "loaded")
        rep, p = h.invoke("tcp", content_type="text")
        self.assertEqual(p, b"Hello tcp")
        h.send({"type": "shutdown"})
        self.assertEqual(h.wait(), 0)

    def test_ping(self):
        h = self.host()
        rep, _ = h.request({"type": "ping"})
        self.assertEqual(rep["type"], "pong")
        self.assertEqual(rep["in_flight"], 0)
        self.assertGreater(rep["rss_bytes"], 1 << 20)

    def test_shutdown_exits_zero(self):
        h = self.loaded("main:apply")
        h.send({"type": "shutdown"})
        self.assertEqual(h.wait(), 0)
        self.assertEqual(h.rf.read(1), b"")

    def test_eof_exits_zero(self):
        h = self.host()
        h.conn.shutdown(socket.SHUT_RDWR)
        self.assertEqual(h.wait(), 0)

    def test_oversized_frame_exits_2(self):
        h = self.host()
        h.send_raw(LENS.pack((1 << 20) + 1, 0))
        self.assertEqual(h.wait(), 2)
        h = self.host()
        h.send_raw(LENS.pack(2, 0) + b"[]")          # header not an object
        self.assertEqual(h.wait(), 2)

    def test_os_exit_closes_socket(self):
        h = self.loaded("main:die")
        h.send({"type": "invoke", "id": 5, "content_type": "json"}, b"1")
        with self.assertRaises(EOFError):
            h.recv()
        self.assertEqual(h.wait(), 3)

    # --- measurements (printed, not asserted) -----------------------------------------

    def test_zz_measure(self):
        times, ready = [], []
        for _ in range(10):
            h = Host(self.tmp)
            times.append(h.startup_ms)
            ready.append(h.ready_ms)
            h.send({"type": "shutdown"})
            h.wait()
            h.close()
        times.sort()
        ready.sort()
        h = self.loaded("main:apply")
        n = 10000
        send, recv = h.send, h.recv
        for i in range(200):        # warm up
            h.send({"type": "invoke", "id": 10**6 + i, "content_type": "json"}, b"1")
            recv()
        cpu0 = proc_cpu_s(h.proc.pid)
        t0 = time.perf_counter()
        for i in range(n):
            send({"type": "invoke", "id": 1000 + i, "content_type": "json"}, b"1")
            recv()
        dt = time.perf_counter() - t0
        cpu = proc_cpu_s(h.proc.pid) - cpu0
        # Host-side cost of the same loop with a trivial in-process echo, for comparison.
        a, b = socket.socketpair()
        bf, af = b.makefile("rb"), a.makefile("rb")
        t1 = time.perf_counter()
        for i in range(n):
            hb = json.dumps({"type": "invoke", "id": 1000 + i, "content_type": "json"}).encode()
            a.sendall(LENS.pack(len(hb), 1) + hb + b"1")
            pre = bf.read(8)
            x, y = LENS.unpack(pre)
            bf.read(x + y)
            b.sendall(pre + hb + b"1")
            pre = af.read(8)
            x, y = LENS.unpack(pre)
            json.loads(af.read(x))
            af.read(y)
        base = time.perf_counter() - t1
        for c in (a, b, af, bf):
            c.close()
        sys.stderr.write(
            "\n  start-up to hello: median %.1f ms, min %.1f ms, max %.1f ms; to authenticated: median %.1f ms"
            "\n  no-op round trips: %d calls in %.3f s = %.0f calls/s, %.1f us/call"
            " (in-process echo baseline %.1f us/call)"
            "\n  runner CPU time (user+sys) per no-op call: %.1f us\n"
            % (times[len(times) // 2], times[0], times[-1], ready[len(ready) // 2], n, dt, n / dt, dt / n * 1e6, base / n * 1e6,
               cpu / n * 1e6))


if __name__ == "__main__":
    unittest.main(verbosity=2)
