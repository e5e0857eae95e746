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
        private readonly ServeProcess _server;
        private readonly string _bin;

        private NobodyServer(ServeProcess server, string bin)
        {
            _server = server;
            _bin = bin;
            Target = new AttackTests.Target(server.Admin, server.Url, server.Home, server.AdminKeyPath, Path.Combine(server.Home, "tmp"));
        }

        public AttackTests.Target Target { get; }

        public static async Task<NobodyServer> StartAsync()
        {
            var home = Path.Combine(Path.GetTempPath(), "osai-nobody-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(home);
            Chown(home);
            // Its worker folders go inside its home, so they go with it (the server is killed, not stopped).
            var tmp = Path.Combine(home, "tmp");
            Directory.CreateDirectory(tmp);
            Chown(tmp);
            var bin = BinaryFolderFor(Nobody);
            var server = await ServeProcess.StartAsync(home, new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["DOTNET_CLI_HOME"] = home,
                ["TMPDIR"] = tmp,
                ["OSForAI__Workers__Sandbox"] = "bubblewrap",
                ["OSForAI__Workers__WarmGenericWorkers"] = "2",
            }, bin, ["/usr/bin/setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--"]);
            return new NobodyServer(server, bin);
        }


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

        private static void Chown(string path)
        {
            using var p = Process.Start("/bin/chown", [$"{Nobody}:{Nobody}", path])!;
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException("chown failed");
        }

        public async ValueTask DisposeAsync()
        {
            await _server.DisposeAsync();
            if (_bin != AppContext.BaseDirectory.TrimEnd('/'))
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
