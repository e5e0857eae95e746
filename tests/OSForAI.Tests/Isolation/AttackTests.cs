using System.Net;
using System.Net.Sockets;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// Hostile algorithms try, for real, what docs/security.md says the sandbox prevents; each attack must fail, and the
/// server must stay healthy and answer the next call correctly. These need Debian's bubblewrap: CI installs it
/// (.ci/run) and they fail there without it; elsewhere they are skipped with that reason. CI runs them as root, where
/// workers drop to their own uids; as an unprivileged server the same sandbox maps the server's uid instead.
/// </summary>
public sealed class AttackTests
{
    internal static void RequireBubblewrap() =>
        Skip.IfNot(File.Exists("/usr/bin/bwrap") || Environment.GetEnvironmentVariable("CI") == "true",
            "bubblewrap is not installed (apt-get install bubblewrap); CI installs it and runs these tests");

    /// <summary>What an attack needs of the server under attack: in-process (<see cref="TestServer"/>) or another process.</summary>
    internal sealed record Target(HttpClient Admin, string Url, string Home, string AdminKeyPath, string? TempRoot = null)
    {
        /// <summary>Where the server keeps its workers' folders (its temp folder).</summary>
        public string WorkerFoldersRoot => TempRoot ?? Path.GetTempPath();

        private int _versions;

        /// <summary>A version number not used before on this target, so scenarios can run one after another on one server.</summary>
        public string NextVersion() => $"1.0.{Interlocked.Increment(ref _versions)}";

        public static Target Of(TestServer s) => new(s.Admin, s.Url, s.Home, s.Server.AdminKeyPath);

        public Task<JsonElement> PublishAsync(string fullName, string version, IDictionary<string, string> files, string visibility = "public") =>
            TestServer.PublishArchiveWithAsync(Admin, fullName, version, TarGz(files), visibility);

        public HttpClient ClientFor(string key)
        {
            var c = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
            c.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Simple", key);
            return c;
        }

        public async Task<string> CreateKeyAsync(string owner, params string[] scopes)
        {
            var r = await Admin.PostAsync("/v1/keys", Json(JsonSerializer.Serialize(new { owner, scopes })));
            r.EnsureSuccessStatusCode();
            return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        }
    }

    internal static Task<TestServer> SandboxedServerAsync(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["OSForAI:Workers:Sandbox"] = "bubblewrap" };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return TestServer.StartAsync(settings);
    }

    /// <summary>One algorithm that runs the attack named in its input and reports what happened.</summary>
    internal const string Attacker = """
        import ctypes, errno, glob, os, socket
        libc = ctypes.CDLL(None, use_errno=True)

        def _err():
            return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

        def _connect(host, port, family=socket.AF_INET):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect((host, port))
                return "connected"
            except OSError as e:
                return type(e).__name__ + ":" + (errno.errorcode.get(e.errno, "") if e.errno else "timeout")
            finally:
                s.close()

        def apply(x):
            a = x["attack"]
            if a == "mounts":
                out = {}
                out["umount_tmp"] = "ok" if libc.umount2(b"/tmp", 2) == 0 else _err()
                out["umount_usr"] = "ok" if libc.umount2(b"/usr", 2) == 0 else _err()
                out["remount_rw"] = "ok" if libc.mount(b"none", b"/", None, 0x20 | 0x1000, None) == 0 else _err()
                out["mount_tmpfs"] = "ok" if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0 else _err()
                out["unshare_user"] = "ok" if libc.unshare(0x10000000) == 0 else _err()
                out["write_usr"] = "ok"
                try:
                    open("/usr/planted", "w").write("x")
                except OSError as e:
                    out["write_usr"] = type(e).__name__
                for scratch in ("/tmp", "/dev/shm"):
                    try:
                        with open(scratch + "/scratch", "w") as f:
                            f.write("x")
                        out[scratch] = "writable"
                    except OSError as e:
                        out[scratch] = type(e).__name__
                with open("/proc/self/status") as f:
                    out["caps"] = [l.split()[1] for l in f if l.startswith("CapEff")][0]
                out["uid"] = os.getuid()
                return out
            if a == "files":
                out = {}
                for name, path in x["paths"].items():
                    try:
                        with open(path, "rb") as f:
                            out[name] = "read:" + f.read(64).decode("utf-8", "replace")
                    except OSError as e:
                        out[name] = type(e).__name__
                out["globbed"] = sorted(glob.glob(x["glob"]))
                out["osai"] = sorted(os.listdir("/osai")) if os.path.isdir("/osai") else None
                out["builds"] = sorted(os.listdir("/osai/build")) if os.path.isdir("/osai/build") else None
                return out
            if a == "network":
                return {name: _connect(host, port) for name, (host, port) in x["targets"].items()}
            if a == "channels":
                # Looks for any worker socket it could take over: its own folder's, and anything named *.sock anywhere it can see.
                found = []
                for root in ["/", "/tmp", "/osai", "/run", "/var"]:
                    for dirpath, dirnames, filenames in os.walk(root):
                        if dirpath.startswith(("/proc", "/sys", "/usr", "/dev")):
                            dirnames[:] = []
                            continue
                        found += [os.path.join(dirpath, f) for f in filenames if f.endswith(".sock")]
                tried = {}
                for path in sorted(set(found)):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        s.connect(path)
                        tried[path] = "connected"
                    except OSError as e:
                        tried[path] = type(e).__name__
                    finally:
                        s.close()
                return {"sockets": tried, "host_run_dir": os.path.exists(x["run_dir"])}
            if a == "flood":
                chunk = b"A" * 65536 + b"\n"
                for _ in range(x["mb"] * 16):
                    os.write(1, chunk)
                return "flooded"
            raise ValueError(a)
        """;

    internal static async Task<JsonElement> AttackAsync(HttpClient client, string name, object input)
    {
        var (status, body) = await CallAsync(client, $"/v1/algo/{name}", Json(JsonSerializer.Serialize(input)));
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("result");
    }

    /// <summary>After an attack: the server answers, and a plain algorithm gives the right answer.</summary>
    internal static async Task AssertHealthyAsync(Target s)
    {
        using var health = await s.Admin.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        await s.PublishAsync("ops/double", s.NextVersion(), Python("def apply(x):\n    return x * 2\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/ops/double", Json("21"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(42, body.GetProperty("result").GetInt32());
    }

    [SkippableFact]
    public async Task An_algorithm_cannot_unmount_remount_or_mount_and_holds_no_capabilities()
    {
        RequireBubblewrap();
        await using var server = await SandboxedServerAsync();
        await An_algorithm_cannot_unmount_remount_or_mount_and_holds_no_capabilitiesAsync(Target.Of(server));
    }

    internal static async Task An_algorithm_cannot_unmount_remount_or_mount_and_holds_no_capabilitiesAsync(Target s)
    {
        await s.PublishAsync("mallory/attack", s.NextVersion(), Python(Attacker));
        var r = await AttackAsync(s.Admin, "mallory/attack", new { attack = "mounts" });
        foreach (var call in new[] { "umount_tmp", "umount_usr", "remount_rw", "mount_tmpfs", "unshare_user" })
            Assert.True(r.GetProperty(call).GetString() is "EPERM" or "EINVAL" or "EACCES" or "ENOSPC", $"{call}: {r.GetProperty(call)}");
        Assert.NotEqual("ok", r.GetProperty("write_usr").GetString());
        Assert.Equal("0000000000000000", r.GetProperty("caps").GetString());
        Assert.Equal("writable", r.GetProperty("/tmp").GetString());          // its private scratch space still works
        Assert.Equal("writable", r.GetProperty("/dev/shm").GetString());
        Assert.NotEqual(0, r.GetProperty("uid").GetInt32());
        await AssertHealthyAsync(s);
    }

    [SkippableFact]
    public async Task An_algorithm_sees_neither_the_home_nor_other_builds_only_its_own()
    {
        RequireBubblewrap();
        await using var server = await SandboxedServerAsync();
        await An_algorithm_sees_neither_the_home_nor_other_builds_only_its_ownAsync(Target.Of(server));
    }

    internal static async Task An_algorithm_sees_neither_the_home_nor_other_builds_only_its_ownAsync(Target s)
    {
        await s.PublishAsync("alice/private", s.NextVersion(), Python("SECRET = 'alice-source'\ndef apply(x):\n    return SECRET\n"), "private");
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/alice/private", Json("0"))).Item1);   // its build is extracted now
        await s.PublishAsync("mallory/attack", s.NextVersion(), Python(Attacker));
        var code = Path.Combine(s.Home, "code");
        var alicesMain = Directory.GetFiles(code, "main.py", SearchOption.AllDirectories)
            .First(f => File.ReadAllText(f).Contains("alice-source"));
        var r = await AttackAsync(s.Admin, "mallory/attack", new
        {
            attack = "files",
            paths = new Dictionary<string, string>
            {
                ["admin_key"] = s.AdminKeyPath,
                ["alices_code"] = alicesMain,
                ["database"] = Directory.GetFiles(s.Home, "*.db").FirstOrDefault() ?? Path.Combine(s.Home, "osforai.db"),
                ["root_home"] = "/root/.bashrc",
                ["shadow"] = "/etc/shadow",
            },
            glob = Path.Combine(code, "*", "main.py"),
        });
        foreach (var name in new[] { "admin_key", "alices_code", "database", "root_home", "shadow" })
            Assert.False(r.GetProperty(name).GetString()!.StartsWith("read:"), $"the algorithm read {name}: {r.GetProperty(name)}");
        Assert.Empty(r.GetProperty("globbed").EnumerateArray());
        // Its own folder: its gateway socket and exactly one build, its own.
        Assert.Equal(new[] { "build", "gateway.sock" }, r.GetProperty("osai").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Single(r.GetProperty("builds").EnumerateArray());
        await AssertHealthyAsync(s);
    }

    [SkippableFact]
    public async Task An_algorithm_finds_no_other_workers_channel_to_take_over()
    {
        RequireBubblewrap();
        await using var server = await SandboxedServerAsync(new() { ["OSForAI:Workers:WarmGenericWorkers"] = "3" });
        await An_algorithm_finds_no_other_workers_channel_to_take_overAsync(Target.Of(server));
    }

    internal static async Task An_algorithm_finds_no_other_workers_channel_to_take_overAsync(Target s)
    {
        // Other workers are alive while the attacker searches: a victim instance and the warm generic ones.
        await s.PublishAsync("alice/victim", s.NextVersion(), Python("def apply(x):\n    return 'genuine'\n"));
        Assert.Equal(200, (await CallAsync(s.Admin, "/v1/algo/alice/victim", Json("0"))).Item1);
        await s.PublishAsync("mallory/attack", s.NextVersion(), Python(Attacker));
        // Some server's worker folders on the host (other test servers come and go meanwhile).
        static bool HasWorkers(string dir)
        {
            try { return Directory.EnumerateDirectories(dir).Any(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
        }
        var runDir = Directory.GetDirectories(s.WorkerFoldersRoot, "osai-w-*").FirstOrDefault(HasWorkers);
        Assert.NotNull(runDir);
        var r = await AttackAsync(s.Admin, "mallory/attack", new { attack = "channels", run_dir = runDir });
        Assert.False(r.GetProperty("host_run_dir").GetBoolean());
        // The only socket it can reach is its own gateway socket.
        var reachable = r.GetProperty("sockets").EnumerateObject().Where(p => p.Value.GetString() == "connected").Select(p => p.Name).ToList();
        Assert.Equal(["/osai/gateway.sock"], reachable);
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/alice/victim", Json("0"));
        Assert.Equal(200, status);
        Assert.Equal("genuine", body.GetProperty("result").GetString());
    }

    [SkippableFact]
    public async Task An_algorithm_has_no_network_the_gateway_local_services_and_the_metadata_address_included()
    {
        RequireBubblewrap();
        await using var server = await SandboxedServerAsync();
        await An_algorithm_has_no_network_the_gateway_local_services_and_the_metadata_address_includedAsync(Target.Of(server));
    }

    internal static async Task An_algorithm_has_no_network_the_gateway_local_services_and_the_metadata_address_includedAsync(Target s)
    {
        // A local service the test itself runs on this machine's loopback.
        using var service = new TcpListener(IPAddress.Loopback, 0);
        service.Start();
        var gateway = new Uri(s.Url);
        await s.PublishAsync("mallory/attack", s.NextVersion(), Python(Attacker));
        var r = await AttackAsync(s.Admin, "mallory/attack", new
        {
            attack = "network",
            targets = new Dictionary<string, object[]>
            {
                ["gateway"] = [gateway.Host, gateway.Port],
                ["local_service"] = ["127.0.0.1", ((IPEndPoint)service.LocalEndpoint).Port],
                ["metadata"] = ["169.254.169.254", 80],
                ["public"] = ["192.0.2.1", 443],
            },
        });
        foreach (var target in new[] { "gateway", "local_service", "metadata", "public" })
            Assert.NotEqual("connected", r.GetProperty(target).GetString());
        Assert.False(service.Pending(), "the local service saw a connection from the sandbox");
        await AssertHealthyAsync(s);
    }

    [SkippableFact]
    public async Task Composition_and_data_keep_working_without_a_network()
    {
        RequireBubblewrap();
        await using var server = await SandboxedServerAsync();
        await Composition_and_data_keep_working_without_a_networkAsync(Target.Of(server));
    }

    internal static async Task Composition_and_data_keep_working_without_a_networkAsync(Target s)
    {
        await s.PublishAsync("alice/double", s.NextVersion(), Python("def apply(x):\n    return x * 2\n"));
        await s.PublishAsync("alice/store", s.NextVersion(), Python("""
            import osai_runner
            def apply(x):
                c = osai_runner.client()
                doubled = c.algo("alice/double").pipe(x).result
                c.file("data://alice/out/n.json").putJson({"n": doubled})
                return c.file("data://alice/out/n.json").getJson()["n"] + 1
            """));
        var (status, body) = await CallAsync(s.ClientFor(await s.CreateKeyAsync("alice", "call")), "/v1/algo/alice/store", Json("20"));
        Assert.True(status == 200, body.ToString());
        Assert.Equal(41, body.GetProperty("result").GetInt32());
    }

    private static void RequireCgroups(TestServer s) =>
        Assert.True(s.Get<IWorkerHost>() is ProcessWorkerHost { LimitsMechanism: not Runtime.Workers.Isolation.CgroupMechanism.None },
            "cgroups are not usable on this machine, so memory, process and CPU limits cannot be enforced or tested");

    [SkippableFact]
    public async Task Allocating_past_the_declared_memory_fails_the_call_clearly_and_the_next_call_is_fine()
    {
        RequireBubblewrap();
        await using var s = await SandboxedServerAsync();
        RequireCgroups(s);
        await s.PublishAsync("mallory/hog", "1.0.0", Python("""
            def apply(mb):
                block = bytearray(mb * 1024 * 1024)
                return len(block) // (1024 * 1024)
            """, "resources:\n  memory_mb: 64\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/mallory/hog/1.0.0", Json("400"));
        Assert.Equal(400, status);
        Assert.Equal("AlgorithmOutOfMemory", body.GetProperty("error").GetProperty("error_type").GetString());
        Assert.Contains("64 MB", body.GetProperty("error").GetProperty("message").GetString());
        // The worker was replaced: the same version answers a call that fits.
        var (s2, b2) = await CallAsync(s.Admin, "/v1/algo/mallory/hog/1.0.0", Json("8"));
        Assert.True(s2 == 200, b2.ToString());
        Assert.Equal(8, b2.GetProperty("result").GetInt32());
        await AssertHealthyAsync(Target.Of(s));
    }

    [SkippableFact]
    public async Task A_fork_storm_is_capped_by_the_process_limit()
    {
        RequireBubblewrap();
        await using var s = await SandboxedServerAsync(new() { ["OSForAI:Workers:MaxProcesses"] = "32" });
        RequireCgroups(s);
        await s.PublishAsync("mallory/forks", "1.0.0", Python("""
            import os, signal, time
            def apply(n):
                kids, error = [], None
                for _ in range(n):
                    try:
                        pid = os.fork()
                    except OSError as e:
                        error = e.strerror
                        break
                    if pid == 0:
                        time.sleep(60)
                        os._exit(0)
                    kids.append(pid)
                for pid in kids:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                return {"started": len(kids), "error": error}
            """));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/mallory/forks/1.0.0", Json("200"));
        Assert.True(status == 200, body.ToString());
        var started = body.GetProperty("result").GetProperty("started").GetInt32();
        Assert.True(started < 32, $"{started} processes started under a limit of 32");
        Assert.NotNull(body.GetProperty("result").GetProperty("error").GetString());
        await AssertHealthyAsync(Target.Of(s));
    }

    [SkippableFact]
    public async Task A_cpu_spinner_is_held_to_its_declared_cores()
    {
        RequireBubblewrap();
        await using var s = await SandboxedServerAsync();
        RequireCgroups(s);
        // Spins for a second of wall time and reports the CPU time it got.
        await s.PublishAsync("mallory/spin", "1.0.0", Python("""
            import os, time
            def apply(seconds):
                start, cpu0 = time.monotonic(), os.times()
                while time.monotonic() - start < seconds:
                    pass
                cpu1 = os.times()
                return (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (time.monotonic() - start)
            """, "resources:\n  cpu: 0.2\n"));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/mallory/spin/1.0.0", Json("1.5"));
        Assert.True(status == 200, body.ToString());
        var cores = body.GetProperty("result").GetDouble();
        Assert.True(cores < 0.35, $"the spinner got {cores:0.00} cores under a quota of 0.2");
        await AssertHealthyAsync(Target.Of(s));
    }
}
