"""OSForAI reference Python runner (worker side of docs/worker-protocol.md, version 1).

Run as:  /usr/bin/python3 -u -S osai_runner.py
with OSAI_WORKER_ADDRESS=unix:/path.sock | tcp:HOST:PORT in the environment.

Standard library only. Start-up is kept short: the `hello` frame is sent using
only built-in modules (`_socket`, `os`, `sys`); everything heavier (json,
threading, socket's buffered reader, hmac and hashlib for the handshake) is
imported after it, while the host is still busy with the hello.

The hello carries a fresh nonce, never the per-worker secret: host and worker
then prove to each other that they know the secret with HMAC-SHA256 proofs over
both nonces (`auth` frames; see _authenticate and docs/worker-protocol.md).

Algorithms may `import osai_runner` and call `current_context()` to get the
invocation's `context` object, or `osai_runner.client().algo("owner/name/1.x").pipe(x).result`
to call another algorithm on behalf of their caller.
"""

import sys
import os
import _socket

PROTOCOL = 1
RUNNER = "osai-python/1.0"
MAX_HEADER = 1 << 20          # 1 MiB
MAX_PAYLOAD = 1 << 30         # 1 GiB
DEFAULT_STDOUT_LIMIT = 1 << 20
SHUTDOWN_GRACE_S = 30.0       # the host kills us after its own (shorter) grace period
_SMALL_SEND = 1 << 16         # below this, prefix+header+payload are joined into one sendall
HANDSHAKE_NONCE_BYTES = 32
MAX_HANDSHAKE_HEADER = 16 << 10
HANDSHAKE_TIMEOUT_S = 60.0    # the host answers hello at once; this only ends a wait on a peer that never does


def _die(code, why=None):
    """Exit at once (no interpreter teardown: algorithm threads must not keep us alive)."""
    if why:
        try:
            sys.stderr.write("osai-runner: %s\n" % why)
        except Exception:
            pass
    for f in (sys.__stdout__, sys.__stderr__):
        try:
            if f is not None:
                f.flush()
        except Exception:
            pass
    os._exit(code)


def _connect(address):
    """Connect with the bare _socket module (cheap to import) and return the raw socket."""
    if address.startswith("unix:"):
        path = address[5:]
        if path.startswith("@"):                     # Linux abstract namespace
            path = "\0" + path[1:]
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.connect(path)
        return s
    if address.startswith("tcp:"):
        host, sep, port = address[4:].rpartition(":")
        if not sep or not host:
            raise ValueError("bad tcp address %r" % address)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        err = None
        for family, type_, proto, _, sa in _socket.getaddrinfo(host, int(port), 0, _socket.SOCK_STREAM):
            s = _socket.socket(family, type_, proto)
            try:
                s.connect(sa)
            except OSError as e:
                s.close()
                err = e
                continue
            s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return s
        raise err or OSError("cannot resolve %r" % host)
    raise ValueError("unsupported OSAI_WORKER_ADDRESS %r (want unix:/path or tcp:host:port)" % address)


def _json_str(s):
    # Minimal JSON string literal for the hello frame (json is not imported yet).
    out = []
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch < " " or ch > "~":
            o = ord(ch)
            if o > 0xFFFF:
                o -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 | (o >> 10), 0xDC00 | (o & 0x3FF)))
            else:
                out.append("\\u%04x" % o)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _hello_frame(nonce):
    runtime = os.environ.get("OSAI_RUNTIME") or "python3"
    h = ('{"type":"hello","protocol":%d,"runtime":%s,"runner":%s,"pid":%d,"worker_id":%s,"nonce":"%s"}'
         % (PROTOCOL, _json_str(runtime), _json_str(RUNNER), os.getpid(), _json_str(os.environ.get("OSAI_WORKER_ID") or ""),
            nonce)).encode("ascii")
    n = len(h)
    return bytes((n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255, 0, 0, 0, 0)) + h


# --------------------------------------------------------------------------------------
# Everything below runs after `hello` has been sent.
# --------------------------------------------------------------------------------------

_tls = None          # threading.local(): .cap (the _Capture of the running invocation), .ctx
_sock = None
_wlock = None
_pack = None
_henc = None         # header encoder
_renc = None         # result encoder (allow_nan=False)
_jdec = None
_clock = None
_fn = None           # the algorithm's callable
_load_seen = False
_stdout_limit = DEFAULT_STDOUT_LIMIT
_received = 0        # invocations accepted (main thread only)
_completed = 0       # invocations answered (under _wlock)
_traceback = None
_gateway_key = None  # HMAC-SHA256(secret, "osai-gateway"): what gateway channels authenticate with


def current_context():
    """The `context` object of the invocation running on this thread (None outside one)."""
    return getattr(_tls, "ctx", None) if _tls is not None else None


def _gateway_connection(timeout):
    """An HTTP connection to the gateway, the only way out of the sandbox: through this worker's own gateway socket
    (OSAI_GATEWAY=unix:/path, on one machine), or (OSAI_GATEWAY=tcp:HOST:PORT, a worker in a pod) over a gateway
    channel to the host's listener, authenticated with the worker's gateway key. Either way the host relays it and the
    gateway accepts this invocation's token from it alone."""
    import http.client
    import socket
    address = os.environ.get("OSAI_GATEWAY") or ""
    if address.startswith("unix:"):
        path = address[5:]

        class _UnixConnection(http.client.HTTPConnection):
            def connect(self):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self.timeout)
                s.connect(path)
                self.sock = s

        return _UnixConnection("gateway", timeout=timeout)
    if address.startswith("tcp:") and _gateway_key:
        class _ChannelConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = _open_gateway_channel(address, self.timeout, socket)

        return _ChannelConnection("gateway", timeout=timeout)
    raise OSError("this worker has no way to the gateway (OSAI_GATEWAY is %r)" % address)


def _open_gateway_channel(address, timeout, socket):
    """A socket to the host's listener that has passed the gateway-channel handshake (docs/worker-protocol.md)."""
    import json
    s = socket.socket(fileno=_connect(address).detach())
    try:
        nonce = os.urandom(HANDSHAKE_NONCE_BYTES).hex()
        h = ('{"type":"hello","protocol":%d,"channel":"gateway","runner":%s,"worker_id":%s,"nonce":"%s"}'
             % (PROTOCOL, _json_str(RUNNER), _json_str(os.environ.get("OSAI_WORKER_ID") or ""), nonce)).encode("ascii")
        s.settimeout(timeout)
        s.sendall(len(h).to_bytes(4, "big") + b"\0\0\0\0" + h)

        def read(n):
            parts = []
            while n > 0:
                b = s.recv(n)
                if not b:
                    break
                parts.append(b)
                n -= len(b)
            return b"".join(parts)

        try:
            _check_host(s, read, _gateway_key, nonce, json)
        except _HandshakeRefused as e:
            raise OSError("the gateway channel was refused: %s" % (e,))
        s.settimeout(timeout)
        return s
    except BaseException:
        s.close()
        raise


def _gateway_request(method, path, body=None, headers=None, timeout=300.0):
    """Sends one request to the gateway; returns the open http.client response (whatever its status)."""
    conn = _gateway_connection(timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    r._osai_conn = conn          # closed with the response
    return r


class AlgorithmException(Exception):
    """A composed call failed: the called algorithm raised, or the gateway refused the call."""

    def __init__(self, message, error_type=None, status=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.status = status


class AlgoResponse(object):
    """What a composed call returned: `result` (decoded like the caller's own input) and `metadata`."""
    __slots__ = ("result", "metadata")

    def __init__(self, result, metadata):
        self.result = result
        self.metadata = metadata


class _Algo(object):
    __slots__ = ("_ctx", "_path")

    def __init__(self, ctx, path):
        self._ctx = ctx
        self._path = path.strip("/")

    def pipe(self, value):
        """Calls the algorithm with `value` (bytes, str or anything JSON) on behalf of this invocation's caller."""
        import json
        import time
        import base64
        if isinstance(value, (bytes, bytearray)):
            body, ctype = bytes(value), "application/octet-stream"
        elif isinstance(value, str):
            body, ctype = value.encode("utf-8"), "text/plain"
        else:
            body, ctype = json.dumps(value).encode("utf-8"), "application/json"
        remaining = (self._ctx.get("deadline_unix_ms", 0) / 1000.0) - time.time()
        if remaining <= 0:
            raise AlgorithmException("no time left: this invocation's deadline has passed", "AlgorithmTimeout")
        import urllib.parse
        headers = {"Content-Type": ctype, "Authorization": "Simple " + self._ctx["token"],
                   "traceparent": "00-%s-%s-01" % (self._ctx.get("trace_id", "0" * 32), "0" * 15 + "1")}
        try:
            r = _gateway_request("POST", "/v1/algo/" + urllib.parse.quote(self._path, safe="/*.-_~"), body, headers, remaining + 1)
            with r:
                status, text = r.status, r.read()
        except OSError as e:
            raise AlgorithmException("cannot reach the gateway: %s" % (e,))
        try:
            envelope = json.loads(text.decode("utf-8"))
        except Exception:
            envelope = {}
        if status >= 400:
            err = envelope.get("error", {}) if isinstance(envelope, dict) else {}
            raise AlgorithmException(err.get("message") or ("HTTP %d" % status), err.get("error_type"), status)
        meta = envelope.get("metadata", {})
        result = envelope.get("result")
        if meta.get("content_type") == "binary" and isinstance(result, str):
            result = base64.b64decode(result)
        return AlgoResponse(result, meta)


class DataApiError(Exception):
    """A data request failed: not found, not allowed by the caller's grants, a bad URI, or the store failed."""

    def __init__(self, message, error_type=None, status=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.status = status


def _gateway_path(uri):
    """The gateway path of a data URI: data://a/b (or a bare a/b) -> /v1/data/a/b, s3+prod://b/k -> /v1/connector/s3+prod/b/k."""
    import urllib.parse
    scheme, sep, rest = uri.partition("://")
    if not sep:
        scheme, rest = "data", uri
    if "?" in rest or "#" in rest:
        raise DataApiError("data URIs may not contain '?' or '#': %s" % uri, "BadPath")
    path = "/".join(urllib.parse.quote(seg, safe="") for seg in rest.lstrip("/").split("/"))
    if scheme == "data":
        return "/v1/data/" + path
    return "/v1/connector/" + urllib.parse.quote(scheme, safe="+") + "/" + path


def _data_request(ctx, method, uri, body=None, headers=None, stream=False, query=""):
    """One data request through the gateway with this invocation's call token; returns the response (open when stream)."""
    import json
    h = {"Authorization": "Simple " + ctx["token"]}
    h.update(headers or {})
    try:
        r = _gateway_request(method, _gateway_path(uri) + query, body, h)
    except OSError as e:
        raise DataApiError("cannot reach the gateway: %s" % (e,))
    if r.status >= 400 and method != "HEAD":
        with r:
            try:
                err = json.loads(r.read().decode("utf-8")).get("error", {})
            except Exception:
                err = {}
        raise DataApiError(err.get("message") or ("HTTP %d for %s" % (r.status, uri)), err.get("error_type"), r.status)
    if stream:
        return r
    with r:
        return r.status, r.read()


class DataFile(object):
    """A file at a data URI (data://, s3://, azure://, gs://, hdfs://, dropbox://, file://, http(s)://), read and
    written with this invocation's caller's permissions."""
    __slots__ = ("_ctx", "uri")

    def __init__(self, ctx, uri):
        self._ctx = ctx
        self.uri = uri

    def getBytes(self):
        return _data_request(self._ctx, "GET", self.uri, headers={"Accept": "application/octet-stream"})[1]

    def getString(self):
        return self.getBytes().decode("utf-8")

    def getJson(self):
        import json
        return json.loads(self.getBytes().decode("utf-8"))

    def getStream(self, offset=None, length=None):
        """A readable, streaming file-like object (close it); `offset`/`length` read a byte range."""
        headers = {"Accept": "application/octet-stream"}
        if offset is not None or length is not None:
            start = offset or 0
            headers["Range"] = "bytes=%d-%s" % (start, "" if length is None else str(start + length - 1))
        return _data_request(self._ctx, "GET", self.uri, headers=headers, stream=True)

    def getFile(self):
        """The content in a temporary file, opened for reading in binary mode."""
        import shutil
        import tempfile
        f = tempfile.TemporaryFile()
        with self.getStream() as r:
            shutil.copyfileobj(r, f, 1024 * 1024)
        f.seek(0)
        return f

    def put(self, data):
        """Writes bytes, a string, or a readable binary file-like object (streamed)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers = {"Content-Type": "application/octet-stream"}
        body = data
        if not isinstance(data, (bytes, bytearray)):
            body = iter(lambda: data.read(1024 * 1024), b"")     # sent chunked by http.client
        _data_request(self._ctx, "PUT", self.uri, body=body, headers=headers)
        return self

    def putJson(self, value):
        import json
        return self.put(json.dumps(value).encode("utf-8"))

    def putFile(self, path):
        with open(path, "rb") as f:
            return self.put(f)

    def exists(self):
        r = _data_request(self._ctx, "HEAD", self.uri, stream=True)
        try:
            return r.status == 200
        finally:
            r.close()

    def delete(self):
        _data_request(self._ctx, "DELETE", self.uri)

    # snake_case spellings
    get = getBytes
    get_bytes = getBytes
    get_string = getString
    get_json = getJson
    get_stream = getStream
    get_file = getFile
    put_json = putJson
    put_file = putFile


class DataDirectory(object):
    """A directory (or key prefix) at a data URI."""
    __slots__ = ("_ctx", "uri")

    def __init__(self, ctx, uri):
        self._ctx = ctx
        self.uri = uri.rstrip("/")

    def file(self, name):
        return DataFile(self._ctx, self.uri + "/" + name)

    def dir(self, name):
        return DataDirectory(self._ctx, self.uri + "/" + name)

    def _pages(self):
        import json
        import urllib.parse
        marker = None
        while True:
            query = "?marker=" + urllib.parse.quote(marker, safe="") if marker else ""
            page = json.loads(_data_request(self._ctx, "GET", self.uri + "/", query=query)[1].decode("utf-8"))
            yield page
            marker = page.get("marker")
            if not marker:
                return

    def list(self):
        """Every entry, page by page: ("dir", name) for folders, then ("file", name, size) for files of each page."""
        for page in self._pages():
            for d in page.get("folders", []):
                yield ("dir", d["name"])
            for f in page.get("files", []):
                yield ("file", f["filename"], f.get("size"))

    def files(self):
        return (self.file(e[1]) for e in self.list() if e[0] == "file")

    def dirs(self):
        return (self.dir(e[1]) for e in self.list() if e[0] == "dir")

    def exists(self):
        r = _data_request(self._ctx, "HEAD", self.uri + "/", stream=True)
        try:
            return r.status == 200
        finally:
            r.close()

    def create(self):
        import json
        parent, _, name = self.uri.rpartition("/")
        _data_request(self._ctx, "POST", parent + "/", body=json.dumps({"name": name}).encode("utf-8"),
                      headers={"Content-Type": "application/json"})
        return self

    def delete(self, force=False):
        _data_request(self._ctx, "DELETE", self.uri + "/", query="?force=true" if force else "")


class Client(object):
    """Algorithmia-style client inside an invocation: client().algo("owner/name/1.x").pipe(input).result,
    client().file("s3://bucket/key").getBytes(), client().dir("data://.my/out").list()"""
    __slots__ = ("_ctx",)

    def __init__(self, ctx):
        self._ctx = ctx

    def algo(self, path):
        return _Algo(self._ctx, path)

    def file(self, uri):
        return DataFile(self._ctx, uri)

    def dir(self, uri):
        return DataDirectory(self._ctx, uri)


def client():
    """A client that calls other algorithms and reads and writes data as this invocation's caller (only inside an invocation)."""
    ctx = current_context()
    if not ctx or not ctx.get("token"):
        raise AlgorithmException("the client needs an invocation's call context: call client() while handling a call")
    return Client(ctx)


class _Capture(object):
    __slots__ = ("parts", "room", "truncated", "err")

    def __init__(self, limit):
        self.parts = []
        self.room = limit
        self.truncated = False
        self.err = None          # the stderr capture, on the stdout capture of an invocation


class _StdoutProxy(object):
    """sys.stdout (and, with err=True, sys.stderr) replacement: per-thread capture while an
    invocation runs, else the real stream."""

    encoding = "utf-8"
    errors = "strict"
    newlines = None
    closed = False

    def __init__(self, real, err=False):
        self._real = real
        self._err = err
        self.buffer = _StdoutBufferProxy(self, real)

    def write(self, s):
        cap = getattr(_tls, "cap", None)
        if cap is not None and self._err:
            cap = cap.err
        if cap is None:
            real = self._real
            return real.write(s) if real is not None else len(s)
        if s.__class__ is not str and not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        n = len(s)
        room = cap.room
        if room <= 0:
            if n:
                cap.truncated = True          # drop cheaply: no measuring, no copying
            return n
        if s.isascii():                        # O(1) in CPython
            if n <= room:
                cap.parts.append(s)
                cap.room = room - n
            else:
                cap.parts.append(s[:room])
                cap.room = 0
                cap.truncated = True
            return n
        if n > room:                           # UTF-8 bytes >= characters: surely overflows
            b = s[:room].encode("utf-8", "replace")
        else:
            b = s.encode("utf-8", "replace")
            if len(b) <= room:
                cap.parts.append(s)
                cap.room = room - len(b)
                return n
        cap.parts.append(b[:room].decode("utf-8", "ignore"))   # cut on a character boundary
        cap.room = 0
        cap.truncated = True
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if getattr(_tls, "cap", None) is None and self._real is not None:
            try:
                self._real.flush()
            except Exception:
                pass

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def fileno(self):
        if self._real is None:
            raise OSError("stdout has no file descriptor")
        return self._real.fileno()

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self._real, name)


class _StdoutBufferProxy(object):
    """sys.stdout.buffer: bytes writes are decoded (UTF-8, replace) into the capture."""

    def __init__(self, text, real):
        self._text = text
        self._real = getattr(real, "buffer", None)

    def write(self, b):
        if getattr(_tls, "cap", None) is None and self._real is not None:
            return self._real.write(b)
        b = memoryview(b).cast("B")
        self._text.write(str(b, "utf-8", "replace"))
        return len(b)

    def flush(self):
        self._text.flush()

    def isatty(self):
        return False

    def writable(self):
        return True

    def __getattr__(self, name):
        return getattr(self._real, name)


def _fit_header(h):
    """Encode a reply header; shrink its long text fields so it stays within MAX_HEADER."""
    hb = _henc(h).encode("utf-8", "replace")    # lone surrogates become '?'
    while len(hb) > MAX_HEADER:
        key = max(("stdout", "stderr", "stacktrace", "message"), key=lambda k: len(h.get(k) or ""))
        val = h.get(key) or ""
        if not val:
            raise ValueError("reply header too large")
        # Keep the share of the field that should fit (escapes can make characters cost up
        # to 6 bytes each); always shrink, so the loop ends.
        keep = int(len(val) * (MAX_HEADER - 256) / len(hb)) - 64
        h[key] = val[:max(0, min(keep, len(val) - 1))]
        if key in ("stdout", "stderr"):
            h[key + "_truncated"] = True
        hb = _henc(h).encode("utf-8", "replace")
    return hb


def _send(h, payload=b"", invocation=False):
    global _completed
    hb = _henc(h).encode("utf-8", "replace")
    if len(hb) > MAX_HEADER:
        hb = _fit_header(h)
    frame = _pack(len(hb), len(payload)) + hb
    try:
        with _wlock:
            # Count the reply before it leaves, so a ping sent after it never sees it in flight.
            if invocation:
                _completed += 1
            if len(payload) < _SMALL_SEND:
                _sock.sendall(frame + payload if payload else frame)
            else:
                _sock.sendall(frame)
                _sock.sendall(payload)
    except OSError as e:
        _die(0, "connection lost while replying: %s" % e)


def _error(rid, error_type, message, stacktrace=None, cap=None, duration_ms=None, invocation=False):
    h = {"type": "error", "id": rid, "error_type": error_type, "message": message}
    if stacktrace is not None:
        h["stacktrace"] = stacktrace
    if invocation:
        if cap is not None:
            _put_streams(h, cap)
        else:
            h["stdout"] = ""
            h["stdout_truncated"] = False
        if duration_ms is not None:
            h["duration_ms"] = duration_ms
    _send(h, b"", invocation)


def _put_streams(h, cap):
    """Captured stdout always; stderr only when the invocation wrote any (keeps no-op replies small)."""
    h["stdout"] = "".join(cap.parts) if cap.parts else ""
    h["stdout_truncated"] = cap.truncated
    err = cap.err
    if err is not None and (err.parts or err.truncated):
        h["stderr"] = "".join(err.parts)
        h["stderr_truncated"] = err.truncated


def _format_exc(exc, skip_own_frame=True):
    global _traceback
    if _traceback is None:
        import traceback as _traceback_mod
        _traceback = _traceback_mod
    try:
        tb = exc.__traceback__
        if skip_own_frame and tb is not None and tb.tb_next is not None:
            tb = tb.tb_next                   # hide the runner's own frame
        return "".join(_traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        return "%s (traceback unavailable)" % type(exc).__name__


def _exc_message(exc):
    try:
        msg = str(exc)
    except BaseException:
        msg = ""
    return msg or type(exc).__name__


def _valid_id(h):
    rid = h.get("id")
    if rid.__class__ is int and rid > 0:
        return rid
    return None


# --------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------

def _extract_build(archive, build, max_bytes=None, max_entries=None, prefix="osai-build-"):
    """Unpacks a build sent in the load frame (a worker that cannot see the host's files: a pod) into a fresh folder under
    the temporary folder. Regular files and folders only, every name inside the folder; anything else refuses the build.
    With max_bytes / max_entries, an archive that would expand past them is refused before anything is written."""
    import io, tarfile, tempfile
    safe = "".join(c for c in (build or "") if c.isalnum())[:64] or "build"
    target = tempfile.mkdtemp(prefix="%s%s-" % (prefix, safe))
    root = os.path.realpath(target)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = tar.getmembers()
        if max_entries is not None and len(members) > max_entries:
            raise ValueError("the archive holds %d entries, more than the limit of %d" % (len(members), max_entries))
        if max_bytes is not None and sum(m.size for m in members if m.isfile()) > max_bytes:
            raise ValueError("the archive expands to more than the limit of %d bytes" % max_bytes)
        for m in members:
            path = os.path.realpath(os.path.join(root, m.name))
            if not (m.isfile() or m.isdir()) or os.path.isabs(m.name) or not (path == root or path.startswith(root + os.sep)):
                raise ValueError("the build archive holds %r, which is not a plain file or folder inside the build" % m.name)
        for m in members:
            path = os.path.join(root, m.name)
            if m.isdir():
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            src = tar.extractfile(m)
            with open(path, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
    return target


_staged = {}


def _stage(rid, h, payload):
    """A Python environment sent ahead of the load to a worker that cannot see the host's files (a pod): unpacked once into
    the worker's own temporary folder; the load then names it in env_dir. Only before the load: a specialized worker
    takes nothing new."""
    key = h.get("build")
    if _load_seen:
        _error(rid, "ProtocolError", "stage after load: this worker is already specialized")
        return
    if not isinstance(key, str) or not key or not all(c.isalnum() or c in "-_" for c in key) or h.get("archive") != "tar.gz":
        _error(rid, "ProtocolError", "stage: build must be a hash and archive must be \"tar.gz\"")
        return
    path = _staged.get(key)
    if path is None:
        max_bytes = h.get("max_bytes")
        max_entries = h.get("max_entries")
        try:
            path = _extract_build(payload, key, max_bytes if max_bytes.__class__ is int else None,
                                  max_entries if max_entries.__class__ is int else None, prefix="osai-env-")
        except Exception as e:
            _error(rid, "LoadError", "the environment sent with the stage could not be unpacked: %s" % (e,))
            return
        _staged[key] = path
    _send({"type": "staged", "id": rid, "path": path})


def _py_files(code_dir):
    try:
        return sorted(n for n in os.listdir(code_dir) if n.endswith(".py") or os.path.isfile(os.path.join(code_dir, n, "__init__.py")))
    except OSError:
        return []


def _defined_callables(module):
    """The public functions and classes a module defines itself (not those it imported), for "it defines ..." hints."""
    names = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or not callable(value):
            continue
        if getattr(value, "__module__", None) == module.__name__:
            names.append(name)
    return names


def _module_file(module, code_dir):
    f = getattr(module, "__file__", None) or module.__name__
    if code_dir and f.startswith(code_dir.rstrip("/") + "/"):
        return f[len(code_dir.rstrip("/")) + 1:]
    return os.path.basename(f)


def _load_error_message(entry, mod_name, fn_path, code_dir, e, module):
    """What a failed load says, in the user's terms: which file, which line, what is missing and what there is instead."""
    if isinstance(e, ModuleNotFoundError) and module is None and e.name is not None and \
            (e.name == mod_name or mod_name.startswith(e.name + ".")):
        files = _py_files(code_dir) if code_dir else []
        has = (" (it has %s)" % ", ".join(files[:12])) if files else " (it has no Python files at its root)"
        return "entrypoint %s: module %r not found in the code%s" % (entry, mod_name, has)
    if isinstance(e, ModuleNotFoundError):
        return "cannot load %s: %s: No module named %r: add the package to requirements.txt%s" % (
            entry, type(e).__name__, e.name, " (or set system_packages: true to use the host's)" if e.name else "")
    if isinstance(e, SyntaxError):
        where = e.filename or "?"
        if code_dir and where.startswith(code_dir.rstrip("/") + "/"):
            where = where[len(code_dir.rstrip("/")) + 1:]
        return "cannot load %s: %s in %s, line %s: %s" % (entry, type(e).__name__, where, e.lineno, e.msg)
    if module is not None and isinstance(e, AttributeError):
        defined = _defined_callables(module)
        it = ("it defines %s" % ", ".join(defined[:12])) if defined else "it defines no public functions"
        return "entrypoint %s:%s not found in %s (%s)" % (mod_name, fn_path, _module_file(module, code_dir), it)
    return "cannot load %s: %s: %s" % (entry, type(e).__name__, _exc_message(e))


def _format_load_exc(e):
    """The traceback of a failed load without the runner's and importlib's own frames: what is left is the user's code."""
    import traceback
    try:
        te = traceback.TracebackException.from_exception(e)
        te.stack = traceback.StackSummary.from_list([
            f for f in te.stack
            if os.path.basename(f.filename) != "osai_runner.py" and not f.filename.startswith("<frozen importlib")
            and not f.filename.endswith(os.sep + os.path.join("importlib", "__init__.py"))])
        return "".join(te.format())
    except BaseException:
        return _format_exc(e, skip_own_frame=False)


def _add_site_dirs(env_dir, system_packages):
    """The build's own environment, then (system_packages: true) the host's site-packages, after the standard library; their
    .pth files are honoured, as in a normal interpreter. The worker runs with -S, so neither is there otherwise."""
    import site
    if env_dir:
        if not os.path.isdir(env_dir):
            raise FileNotFoundError("env_dir %r is not a directory" % env_dir)
        site.addsitedir(env_dir)
    if system_packages:
        for d in site.getsitepackages():
            if os.path.isdir(d):
                site.addsitedir(d)


def _load(rid, h, payload=b""):
    global _fn, _load_seen, _stdout_limit
    if _load_seen:
        _error(rid, "ProtocolError", "this worker is already specialized; a second load is not allowed")
        return None
    _load_seen = True
    t0 = _clock()
    code_dir = h.get("code_dir")
    entry = h.get("entrypoint")
    conc = h.get("concurrency", 1)
    limit = h.get("stdout_limit", DEFAULT_STDOUT_LIMIT)
    if code_dir is not None and not isinstance(code_dir, str):
        _error(rid, "ProtocolError", "load: code_dir must be a string")
        return None
    archive = h.get("code_archive")
    if archive is not None:
        if archive != "tar.gz" or code_dir is not None:
            _error(rid, "ProtocolError", "load: code_archive must be \"tar.gz\", without code_dir")
            return None
        try:
            code_dir = _extract_build(payload, h.get("build"))
        except Exception as e:
            _error(rid, "LoadError", "the build sent with the load could not be unpacked: %s" % (e,))
            return None
    if entry is not None and not isinstance(entry, str):
        _error(rid, "ProtocolError", "load: entrypoint must be a string")
        return None
    env_dir = h.get("env_dir")
    system_packages = h.get("system_packages", False)
    if (env_dir is not None and not isinstance(env_dir, str)) or system_packages.__class__ is not bool:
        _error(rid, "ProtocolError", "load: env_dir must be a string and system_packages a boolean")
        return None
    if conc is None:
        conc = 1
    if limit is None:
        limit = DEFAULT_STDOUT_LIMIT
    if conc.__class__ is not int or limit.__class__ is not int:
        _error(rid, "ProtocolError", "load: concurrency and stdout_limit must be integers")
        return None
    conc = max(1, conc)
    _stdout_limit = max(0, limit)

    egress = h.get("egress")
    if egress is not None:
        if not isinstance(egress, str) or not egress.startswith("unix:"):
            _error(rid, "ProtocolError", "load: egress must be a unix: address")
            return None
        try:
            _start_egress(egress[5:])
        except OSError as e:
            _error(rid, "LoadError", "cannot offer outbound network access: %s" % (e,))
            return None

    entry = (entry or "").strip() or "main:apply"
    mod_name, _, fn_path = entry.partition(":")
    mod_name = mod_name.strip()
    fn_path = fn_path.strip() or "apply"

    # Install the capturing stdout before the import, so `from sys import stdout` sees it.
    if not isinstance(sys.stdout, _StdoutProxy):
        sys.stdout = _StdoutProxy(sys.stdout)
    if not isinstance(sys.stderr, _StdoutProxy):
        sys.stderr = _StdoutProxy(sys.stderr, err=True)

    module = None
    try:
        if code_dir:
            if not os.path.isdir(code_dir):
                raise FileNotFoundError("code_dir %r is not a directory" % code_dir)
            sys.path.insert(0, code_dir)
        _add_site_dirs(env_dir, system_packages)
        if not mod_name:
            raise ValueError("entrypoint %r has no module name" % entry)
        import importlib
        obj = module = importlib.import_module(mod_name)
        for part in fn_path.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError("%s:%s is not callable (it is a %s)" % (mod_name, fn_path, type(obj).__name__))
    except BaseException as e:                # SystemExit/KeyboardInterrupt at import time, too
        try:
            message = _load_error_message(entry, mod_name, fn_path, code_dir, e, module)
        except BaseException:
            message = "cannot load %s: %s: %s" % (entry, type(e).__name__, _exc_message(e))
        _error(rid, "LoadError", message, _format_load_exc(e))
        return None
    _fn = obj
    load_ms = round((_clock() - t0) * 1000.0, 3)
    pool = _start_pool(conc) if conc > 1 else None
    _send({"type": "loaded", "id": rid, "load_ms": load_ms})
    return pool


def _start_egress(path):
    """Outbound access for a version that declared `network: true`: the sandbox has only loopback, so a relay on
    127.0.0.1 forwards each connection to the host's egress proxy (Unix socket `path`), and the standard proxy
    variables point HTTP clients (urllib, requests, pip) at it. The host decides what may be reached."""
    import socket
    import threading

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def relay(client):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(path)
        except OSError:
            client.close()
            upstream.close()
            return
        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def serve():
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=relay, args=(client,), daemon=True).start()

    threading.Thread(target=serve, name="osai-egress", daemon=True).start()
    proxy = "http://127.0.0.1:%d" % srv.getsockname()[1]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        os.environ[name] = proxy
    for name in ("NO_PROXY", "no_proxy"):
        os.environ.pop(name, None)


# --------------------------------------------------------------------------------------
# invoke
# --------------------------------------------------------------------------------------

def _invoke(rid, h, payload):
    try:
        _invoke_inner(rid, h, payload)
    except BaseException as e:                 # a runner bug: answer this id, keep serving
        try:
            _tls.cap = None
            _tls.ctx = None
            _error(rid, "ProtocolError", "internal runner error: %s: %s" % (type(e).__name__, _exc_message(e)),
                   _format_exc(e, skip_own_frame=False), invocation=True)
        except BaseException:
            pass


def _invoke_inner(rid, h, payload):
    ct = h.get("content_type", "json")
    try:
        if ct == "json":
            arg = _jdec(payload.decode("utf-8"))
        elif ct == "text":
            arg = payload.decode("utf-8")
        elif ct == "binary":
            arg = payload
        else:
            _error(rid, "ProtocolError", "unknown content_type %r" % (ct,), invocation=True)
            return
    except Exception as e:
        _error(rid, "InputError", "cannot decode %s input: %s" % (ct, _exc_message(e)), invocation=True)
        return

    cap = _Capture(_stdout_limit)
    cap.err = _Capture(_stdout_limit)
    tls = _tls
    tls.ctx = h.get("context")
    tls.cap = cap
    t0 = _clock()
    try:
        result = _fn(arg)
    except BaseException as e:                 # SystemExit, KeyboardInterrupt too: never kill the runner
        dur = round((_clock() - t0) * 1000.0, 3)
        tls.cap = None
        tls.ctx = None
        kind = "AlgorithmOutOfMemory" if isinstance(e, MemoryError) else "AlgorithmError"
        _error(rid, kind, _exc_message(e), _format_exc(e), cap, dur, True)
        return
    dur = round((_clock() - t0) * 1000.0, 3)
    tls.cap = None
    tls.ctx = None
    del arg

    try:
        cls = result.__class__
        if cls is bytes or cls is bytearray:
            out, rct = result, "binary"
        elif cls is str:
            out, rct = result.encode("utf-8"), "text"
        elif isinstance(result, (bytes, bytearray)):
            out, rct = bytes(result), "binary"
        elif isinstance(result, memoryview):
            out, rct = result.tobytes(), "binary"
        elif isinstance(result, str):
            out, rct = str.encode(result, "utf-8"), "text"
        else:
            out, rct = _renc(result).encode("utf-8"), "json"
    except Exception as e:
        _error(rid, "SerializationError",
               "result of type %s has no wire form: %s" % (type(result).__name__, _exc_message(e)),
               None, cap, dur, True)
        return
    if len(out) > MAX_PAYLOAD:
        _error(rid, "SerializationError", "result is %d bytes; the limit is %d" % (len(out), MAX_PAYLOAD),
               None, cap, dur, True)
        return
    h = {"type": "result", "id": rid, "content_type": rct, "duration_ms": dur}
    _put_streams(h, cap)
    _send(h, out, True)


def _start_pool(n):
    import threading
    from _queue import SimpleQueue
    q = SimpleQueue()
    get = q.get

    def worker():
        while True:
            item = get()
            if item is None:
                return
            _invoke(*item)
            item = None

    threads = []
    for i in range(n):
        t = threading.Thread(target=worker, name="osai-invoke-%d" % i, daemon=True)
        t.start()
        threads.append(t)
    return q, threads


# --------------------------------------------------------------------------------------
# main loop
# --------------------------------------------------------------------------------------

def _json_default(o):
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def _json_codecs(json):
    """(header encoder, result encoder, decoder), using the C accelerators of json directly
    (skipping JSONEncoder/JSONDecoder's Python layers) where this Python has them."""
    dec = json.JSONDecoder()
    slow_decode = dec.decode
    henc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    renc = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    try:
        from json.encoder import c_make_encoder, encode_basestring
        from json.scanner import c_make_scanner
    except ImportError:
        return henc, renc, slow_decode
    if c_make_encoder is None or c_make_scanner is None:
        return henc, renc, slow_decode
    join = "".join
    # Reply headers are flat dicts the runner builds itself: no circular check, safe to share.
    header_encoder = c_make_encoder(None, _json_default, encode_basestring, None, ":", ",", False, False, True)

    def fast_henc(h):
        return join(header_encoder(h, 0))

    def fast_renc(o):
        # A fresh marker dict per call: circular-reference detection, and thread safety.
        return join(c_make_encoder({}, _json_default, encode_basestring, None, ":", ",",
                                   False, False, False)(o, 0))

    scan = c_make_scanner(dec)

    def fast_decode(s):
        try:
            obj, end = scan(s, 0)
        except StopIteration:
            return slow_decode(s)            # leading whitespace, or an error to report
        if end != len(s):
            return slow_decode(s)            # trailing whitespace, or extra data to report
        return obj

    return fast_henc, fast_renc, fast_decode


def _rss_bytes():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except Exception:
        return None


def _shutdown(pool):
    if pool is not None:
        q, threads = pool
        for _ in threads:
            q.put(None)
        deadline = _clock() + SHUTDOWN_GRACE_S
        for t in threads:
            t.join(max(0.0, deadline - _clock()))
    _die(0)


def _hmac_sha256_hex(key, message):
    """HMAC-SHA256 (RFC 2104) on the interpreter's built-in SHA-256: importing hmac would load hashlib and OpenSSL,
    several milliseconds of every worker's start. test_runner.py checks it against hmac."""
    try:
        from _sha2 import sha256                # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256          # up to 3.11
        except ImportError:
            from hashlib import sha256
    if len(key) > 64:
        key = sha256(key).digest()
    key = key + b"\0" * (64 - len(key))
    inner = sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


class _HandshakeRefused(Exception):
    """The host failed the handshake (the message says how)."""


def _check_host(sock, read, secret, nonce, json):
    """The worker's side of the handshake (docs/worker-protocol.md, "hello" and "auth"): check the host's proof, then
    prove this side's knowledge of the secret. Raises _HandshakeRefused saying why the host is refused."""
    sock.settimeout(HANDSHAKE_TIMEOUT_S)        # a silent peer must not keep a worker waiting forever
    try:
        pre = read(8)
        if len(pre) != 8:
            raise _HandshakeRefused("refusing the host: it closed the connection before its auth")
        hlen, plen = (pre[0] << 24 | pre[1] << 16 | pre[2] << 8 | pre[3]), (pre[4] << 24 | pre[5] << 16 | pre[6] << 8 | pre[7])
        if hlen == 0 or hlen > MAX_HANDSHAKE_HEADER or plen != 0:
            raise _HandshakeRefused("refusing the host: its auth frame is malformed (header %d, payload %d bytes)" % (hlen, plen))
        hb = read(hlen)
    except OSError as e:                    # socket.timeout is an OSError
        raise _HandshakeRefused("refusing the host: no auth from it (%s)" % (e,))
    try:
        h = json.loads(hb.decode("utf-8"))
    except Exception:
        h = None
    if h.__class__ is not dict or h.get("type") != "auth":
        raise _HandshakeRefused("refusing the host: its first frame is not auth")
    host_nonce, proof = h.get("nonce"), h.get("proof")
    if (host_nonce.__class__ is not str or len(host_nonce) != 2 * HANDSHAKE_NONCE_BYTES
            or host_nonce.strip("0123456789abcdef") or proof.__class__ is not str):
        raise _HandshakeRefused("refusing the host: its auth frame is malformed")
    from _operator import _compare_digest    # what hmac.compare_digest is
    key = secret.encode("utf-8")
    expected = _hmac_sha256_hex(key, ("osai-host\n%s\n%s" % (nonce, host_nonce)).encode("ascii"))
    if not _compare_digest(expected.encode("ascii"), proof.encode("utf-8", "surrogatepass")):
        raise _HandshakeRefused("refusing the host: its proof is wrong (it does not know this worker's secret)")
    mine = _hmac_sha256_hex(key, ("osai-worker\n%s\n%s" % (host_nonce, nonce)).encode("ascii"))
    hb = ('{"type":"auth","proof":"%s"}' % mine).encode("ascii")
    try:
        sock.sendall(len(hb).to_bytes(4, "big") + b"\0\0\0\0" + hb)
    except OSError as e:
        raise _HandshakeRefused("the host closed the connection during the handshake: %s" % (e,))
    sock.settimeout(None)


def _authenticate(sock, read, secret, nonce, json):
    """The handshake of the worker's own channel; exits (status 3, saying why) if the host cannot prove itself."""
    try:
        _check_host(sock, read, secret, nonce, json)
    except _HandshakeRefused as e:
        _die(3, str(e))


def _serve(raw, secret, nonce):
    global _sock, _wlock, _pack, _henc, _renc, _jdec, _clock, _tls, _received
    import socket
    import json
    import threading
    import struct
    import time

    _sock = socket.socket(fileno=raw.detach())
    read = _sock.makefile("rb", buffering=1 << 16).read
    _authenticate(_sock, read, secret, nonce, json)
    global _gateway_key
    # Gateway channels (a worker in a pod) prove this derived key; the secret itself is not kept (docs/worker-protocol.md).
    _gateway_key = _hmac_sha256_hex(secret.encode("utf-8"), b"osai-gateway")
    del secret
    _wlock = threading.Lock()
    _tls = threading.local()
    lens = struct.Struct(">II")
    _pack = lens.pack
    unpack = lens.unpack
    _henc, _renc, _jdec = _json_codecs(json)
    _clock = time.perf_counter
    hdec = _jdec

    pool = None
    submit = None

    while True:
        pre = read(8)
        if len(pre) != 8:
            if pre:
                _die(2, "connection closed inside a frame")
            _die(0)
        hlen, plen = unpack(pre)
        if hlen > MAX_HEADER or plen > MAX_PAYLOAD:
            _sock.close()
            _die(2, "frame too large (header %d, payload %d bytes)" % (hlen, plen))
        hb = read(hlen)
        payload = read(plen) if plen else b""
        if len(hb) != hlen or len(payload) != plen:
            _die(2, "connection closed inside a frame")
        try:
            h = hdec(hb.decode("utf-8"))
        except Exception:
            h = None
        if h.__class__ is not dict or h.get("type").__class__ is not str:
            _sock.close()
            _die(2, "malformed frame header")
        t = h["type"]

        if t == "invoke":
            rid = _valid_id(h)
            if rid is None:
                sys.stderr.write("osai-runner: invoke without a valid id ignored\n")
                continue
            _received += 1                     # every counted invoke gets one invocation reply
            if _fn is None:
                _error(rid, "ProtocolError", "invoke before a successful load", invocation=True)
            elif submit is not None:
                submit((rid, h, payload))
            else:
                _invoke(rid, h, payload)
            continue

        if t == "shutdown":
            _shutdown(pool)

        rid = _valid_id(h)
        try:
            if t == "ping":
                if rid is not None:
                    pong = {"type": "pong", "id": rid, "in_flight": max(0, _received - _completed)}
                    rss = _rss_bytes()
                    if rss is not None:
                        pong["rss_bytes"] = rss
                    _send(pong)
            elif t == "stage":
                if rid is not None:
                    _stage(rid, h, payload)
            elif t == "load":
                if rid is None:
                    sys.stderr.write("osai-runner: load without a valid id ignored\n")
                else:
                    p = _load(rid, h, payload)
                    if p is not None:
                        pool = p
                        submit = p[0].put
            elif rid is not None:
                _error(rid, "ProtocolError", "unknown message type %r" % t)
        except BaseException as e:
            if rid is not None:
                _error(rid, "ProtocolError", "internal runner error: %s: %s" % (type(e).__name__, _exc_message(e)),
                       _format_exc(e, skip_own_frame=False))


def main():
    address = os.environ.get("OSAI_WORKER_ADDRESS")
    if not address:
        _die(1, "OSAI_WORKER_ADDRESS is not set")
    # The per-worker secret proves host and worker to each other (_authenticate); algorithm code has no use for it.
    secret = os.environ.pop("OSAI_WORKER_SECRET", None)
    if not secret:
        _die(1, "OSAI_WORKER_SECRET is not set")
    nonce = os.urandom(HANDSHAKE_NONCE_BYTES).hex()
    try:
        raw = _connect(address)
        raw.sendall(_hello_frame(nonce))
    except Exception as e:
        _die(1, "cannot connect to %s: %s" % (address, e))
    # Let `import osai_runner` from algorithm code reach this (running) module.
    sys.modules.setdefault("osai_runner", sys.modules[__name__])
    _serve(raw, secret, nonce)


if __name__ == "__main__":
    main()
