using System.Diagnostics;
using System.Text.Json;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// A version that declares <c>network: true</c> reaches public addresses through the host's egress proxy, and still
/// not the gateway, other loopback services, private ranges, this machine's own addresses or 169.254.169.254; a version
/// that does not declare it reaches nothing. The addresses are test hosts this test makes itself: a network namespace
/// on a veth pair holding a "public" address (198.18.0.0/15, the benchmarking range) and a private one (10.213.x.2),
/// each serving HTTP. Making them needs root (CI runs as root); elsewhere the test is skipped with that reason.
/// </summary>
public sealed class EgressTests
{
    internal sealed class TestHosts : IDisposable
    {
        private readonly string _ns;
        private readonly Process _server;
        public string Public { get; }
        public string Private { get; }
        public string HostSide { get; }
        public const int Port = 8080;
        private static readonly int Base = Random.Shared.Next(0, 250);
        private static int _instances;

        public TestHosts()
        {
            // A subnet per instance: test classes run in parallel, and two veths in one /24 would fight over its route.
            var n = (Base + Interlocked.Increment(ref _instances)) % 250 + 1;
            var tag = Guid.NewGuid().ToString("N")[..6];
            _ns = "osai-eg-" + tag;
            (HostSide, Public, Private) = ($"198.18.{n}.1", $"198.18.{n}.2", $"10.213.{n}.2");
            var (outer, inner) = ("oeg" + tag, "ieg" + tag);
            Run("ip", "netns", "add", _ns);
            Run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner);
            Run("ip", "link", "set", inner, "netns", _ns);
            Run("ip", "addr", "add", HostSide + "/24", "dev", outer);
            Run("ip", "link", "set", outer, "up");
            Run("ip", "netns", "exec", _ns, "ip", "addr", "add", Public + "/24", "dev", inner);
            Run("ip", "netns", "exec", _ns, "ip", "addr", "add", Private + "/32", "dev", inner);
            Run("ip", "netns", "exec", _ns, "ip", "link", "set", inner, "up");
            Run("ip", "netns", "exec", _ns, "ip", "link", "set", "lo", "up");
            Run("ip", "route", "add", Private + "/32", "via", Public);
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true };
            foreach (var a in new[] { "netns", "exec", _ns, "/usr/bin/python3", "-c", """
                import http.server, socketserver, sys, threading
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = ("hello from " + self.server.server_address[0]).encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a): pass
                for host in sys.argv[1:]:
                    s = socketserver.ThreadingTCPServer((host, 8080), H)
                    threading.Thread(target=s.serve_forever, daemon=True).start()
                print("ready", flush=True)
                threading.Event().wait(120)
                """, Public, Private }) psi.ArgumentList.Add(a);
            _server = Process.Start(psi)!;
            if (_server.StandardOutput.ReadLine() != "ready") throw new InvalidOperationException("the test hosts' server did not start");
        }

        private static void Run(params string[] args)
        {
            var psi = new ProcessStartInfo(args[0]) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in args[1..]) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)} failed: {err}");
        }

        public void Dispose()
        {
            try { _server.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            _server.Dispose();
            try { Run("ip", "netns", "delete", _ns); } catch (InvalidOperationException) { }
        }
    }

    private const string Prober = """
        import http.client, os, socket, urllib.error, urllib.parse, urllib.request

        def _get(url):
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return "ok:" + r.read().decode()
            except urllib.error.HTTPError as e:
                return "http%d:%s" % (e.code, e.read().decode()[:300])
            except Exception as e:
                return "%s:%s" % (type(e).__name__, e)

        def apply(x):
            out = {name: _get(url) for name, url in x["urls"].items()}
            host, port = x["tunnel"]
            proxy = os.environ.get("HTTPS_PROXY")
            if proxy:
                p = urllib.parse.urlsplit(proxy)
                c = http.client.HTTPConnection(p.hostname, p.port, timeout=5)
                c.set_tunnel(host, port)
                try:
                    c.request("GET", "/")
                    out["tunnel"] = "ok:" + c.getresponse().read().decode()
                except Exception as e:
                    out["tunnel"] = "%s:%s" % (type(e).__name__, e)
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((host, port))
                out["direct"] = "connected"
            except OSError as e:
                out["direct"] = type(e).__name__
            finally:
                s.close()
            return out
        """;

    internal static void RequireRoot() =>
        Skip.IfNot(Environment.UserName == "root" || Environment.GetEnvironmentVariable("CI") == "true",
            "making test hosts (network namespaces, veth) needs root; CI runs as root");

    [SkippableFact]
    public async Task A_network_version_reaches_public_hosts_only_and_others_reach_nothing()
    {
        AttackTests.RequireBubblewrap();
        RequireRoot();
        using var hosts = new TestHosts();
        await using var s = await AttackTests.SandboxedServerAsync();
        await NetworkVersionsAsync(AttackTests.Target.Of(s), hosts);
    }

    internal static async Task NetworkVersionsAsync(AttackTests.Target s, TestHosts hosts)
    {
        var gateway = new Uri(s.Url);
        var input = JsonSerializer.Serialize(new
        {
            urls = new Dictionary<string, string>
            {
                ["public"] = $"http://{hosts.Public}:{TestHosts.Port}/",
                ["private"] = $"http://{hosts.Private}:{TestHosts.Port}/",
                ["own_address"] = $"http://{hosts.HostSide}:{gateway.Port}/health",
                ["gateway"] = $"http://127.0.0.1:{gateway.Port}/health",
                ["metadata"] = "http://169.254.169.254/latest/meta-data/",
            },
            tunnel = new object[] { hosts.Public, TestHosts.Port },
        });

        await s.PublishAsync("alice/fetch", s.NextVersion(), Python(Prober, "network: true\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/alice/fetch", Json(input));
        Assert.True(status == 200, body.ToString());
        var r = body.GetProperty("result");
        Assert.Equal($"ok:hello from {hosts.Public}", r.GetProperty("public").GetString());
        Assert.Equal($"ok:hello from {hosts.Public}", r.GetProperty("tunnel").GetString());
        foreach (var refused in new[] { "private", "own_address", "gateway", "metadata" })
            Assert.StartsWith("http403:osforai egress:", r.GetProperty(refused).GetString());
        Assert.NotEqual("connected", r.GetProperty("direct").GetString());   // only through the proxy

        await s.PublishAsync("alice/offline", s.NextVersion(), Python(Prober));
        (status, body) = await CallAsync(s.Admin, "/v1/algo/alice/offline", Json(input));
        Assert.True(status == 200, body.ToString());
        r = body.GetProperty("result");
        Assert.False(r.TryGetProperty("tunnel", out _), "a version without network: true was offered the proxy");
        foreach (var name in new[] { "public", "private", "gateway", "metadata" })
            Assert.False(r.GetProperty(name).GetString()!.StartsWith("ok:"), $"{name}: {r.GetProperty(name)}");
        Assert.NotEqual("connected", r.GetProperty("direct").GetString());
    }
}
