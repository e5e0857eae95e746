using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// The attacks of <see cref="AttackTests"/> against a server that runs as an unprivileged user (here "nobody"), where
/// the sandbox cannot drop to worker uids and maps the server's own uid into each worker's user namespace instead.
/// The test process must be root to start it as another user: CI runs as root; as a non-root user the whole suite
/// already runs the unprivileged case, so these skip with that reason. Memory, process and CPU limits are not tried
/// here: an unprivileged server gets no cgroups unless they are delegated to it (docs/security.md).
/// </summary>
public sealed class UnprivilegedServerTests
{
    private const int Nobody = 65534;

    private sealed class NobodyServer : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _home;
        private readonly string _log;

        private NobodyServer(Process process, string home, string log, AttackTests.Target target)
        {
            _process = process;
            _home = home;
            _log = log;
            Target = target;
        }

        public AttackTests.Target Target { get; }

        public static async Task<NobodyServer> StartAsync()
        {
            var home = Path.Combine(Path.GetTempPath(), "osai-nobody-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(home);
            Chown(home);
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
            var bin = BinaryFolderFor(Nobody);
            var cli = Path.Combine(bin, "osai.dll");
            var psi = new ProcessStartInfo("/usr/bin/setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--", Environment.ProcessPath ?? "dotnet", cli,
                         "serve", "--home", home, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
                psi.ArgumentList.Add(a);
            psi.Environment["HOME"] = home;
            psi.Environment["DOTNET_CLI_HOME"] = home;
            // Its worker folders go inside its home, so they go with it (the server is killed, not stopped).
            var tmp = Path.Combine(home, "tmp");
            Directory.CreateDirectory(tmp);
            Chown(tmp);
            psi.Environment["TMPDIR"] = tmp;
            psi.Environment["OSForAI__Workers__Sandbox"] = "bubblewrap";
            psi.Environment["OSForAI__Workers__WarmGenericWorkers"] = "2";
            var process = Process.Start(psi)!;
            var log = Path.Combine(home, "server.log");
            var output = new System.Text.StringBuilder();
            process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var url = $"http://127.0.0.1:{port}";
            var keyPath = Path.Combine(home, "admin.key");
            using var probeClient = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(2) };
            for (var i = 0; ; i++)
            {
                if (process.HasExited) throw new InvalidOperationException("the server as nobody exited: " + Locked(output));
                if (i > 300) throw new TimeoutException("the server as nobody did not start in 60 s: " + Locked(output));
                try
                {
                    using var health = await probeClient.GetAsync("/health");
                    if (health.IsSuccessStatusCode && File.Exists(keyPath)) break;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                await Task.Delay(200);
            }
            var admin = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
            admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Simple", (await File.ReadAllTextAsync(keyPath)).Trim());
            return new NobodyServer(process, home, log, new AttackTests.Target(admin, url, home, keyPath, Path.Combine(home, "tmp"))) { _bin = bin };
        }

        private string? _bin;

        /// <summary>
        /// The test's binaries where another user can reach them: here, or (when a parent such as /root is closed to
        /// others, as a CI checkout may be) a hard-linked mirror in the temp folder.
        /// </summary>
        private static string BinaryFolderFor(int uid)
        {
            var here = AppContext.BaseDirectory.TrimEnd('/');
            var open = true;
            for (var dir = here; dir is { Length: > 1 }; dir = Path.GetDirectoryName(dir))
                if (!OperatingSystem.IsWindows() && !File.GetUnixFileMode(dir).HasFlag(UnixFileMode.OtherExecute)) open = false;
            if (open) return here;
            var mirror = Path.Combine(Path.GetTempPath(), "osai-nobody-bin-" + Guid.NewGuid().ToString("N")[..8]);
            foreach (var args in new[] { new[] { "-al", here, mirror }, new[] { "-a", here, mirror } })
            {
                using var cp = Process.Start("/bin/cp", args)!;
                cp.WaitForExit();
                if (cp.ExitCode == 0) return mirror;
                if (Directory.Exists(mirror)) Directory.Delete(mirror, recursive: true);
            }
            throw new InvalidOperationException($"cannot make {here} reachable for uid {uid}");
        }

        private static string Locked(System.Text.StringBuilder b) { lock (b) return b.ToString(); }

        private static void Chown(string path)
        {
            using var p = Process.Start("/bin/chown", [$"{Nobody}:{Nobody}", path])!;
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("chown failed");
        }

        public async ValueTask DisposeAsync()
        {
            Target.Admin.Dispose();
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync();
            _process.Dispose();
            try { Directory.Delete(_home, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (_bin is not null && _bin != AppContext.BaseDirectory.TrimEnd('/'))
                try { Directory.Delete(_bin, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static void RequireRootAndBubblewrap()
    {
        AttackTests.RequireBubblewrap();
        Skip.IfNot(Environment.UserName == "root" || Environment.GetEnvironmentVariable("CI") == "true",
            "starting a server as another user needs root; as a non-root user the other isolation tests already cover an unprivileged server");
    }

    [SkippableFact]
    public async Task As_an_unprivileged_server_mounts_capabilities_files_channels_and_network_stay_closed()
    {
        RequireRootAndBubblewrap();
        await using var server = await NobodyServer.StartAsync();
        await AttackTests.An_algorithm_cannot_unmount_remount_or_mount_and_holds_no_capabilitiesAsync(server.Target);
        await AttackTests.An_algorithm_sees_neither_the_home_nor_other_builds_only_its_ownAsync(server.Target);
        await AttackTests.An_algorithm_finds_no_other_workers_channel_to_take_overAsync(server.Target);
        await AttackTests.An_algorithm_has_no_network_the_gateway_local_services_and_the_metadata_address_includedAsync(server.Target);
        await AttackTests.Composition_and_data_keep_working_without_a_networkAsync(server.Target);
        using var hosts = new EgressTests.TestHosts();
        await EgressTests.NetworkVersionsAsync(server.Target, hosts);
    }
}
