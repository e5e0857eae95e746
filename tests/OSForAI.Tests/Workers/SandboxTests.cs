using System.Text.Json;
using OSForAI.Runtime.Workers;
using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Workers;

/// <summary>
/// Workers in the bubblewrap sandbox cannot see the server's state. These tests need Debian's
/// bubblewrap: CI installs it (.ci/run) and they fail there without it; elsewhere they are skipped
/// with that reason.
/// </summary>
public sealed class SandboxTests
{
    private const string Bwrap = "/usr/bin/bwrap";

    private static void RequireBubblewrap() =>
        Skip.IfNot(File.Exists(Bwrap) || Environment.GetEnvironmentVariable("CI") == "true",
            "bubblewrap is not installed (apt-get install bubblewrap); CI installs it and runs these tests");

    private const string Prober = """
        import os
        def apply(x):
            out = {}
            try:
                with open(x["read"]) as f:
                    out["read"] = f.read().strip()
            except OSError as e:
                out["read_error"] = type(e).__name__
            try:
                with open(os.path.join(os.path.dirname(__file__), "planted.py"), "w") as f:
                    f.write("x")
                out["wrote_code"] = True
            except OSError as e:
                out["write_error"] = type(e).__name__
            return out
        """;

    private static async Task<JsonElement> ProbeAsync(TestServer s)
    {
        await s.PublishAsync("sam/probe", "1.0.0", Python(Prober));
        var (status, body) = await CallAsync(s.Admin, "/v1/algo/sam/probe",
            Json(JsonSerializer.Serialize(new { read = s.Server.AdminKeyPath })));
        Assert.Equal(200, status);
        return body.GetProperty("result");
    }

    [SkippableFact]
    public async Task Sandboxed_algorithms_cannot_read_the_admin_key_or_change_their_code()
    {
        RequireBubblewrap();
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:Workers:Sandbox"] = "bubblewrap" });
        Assert.True(((ProcessWorkerHost)s.Server.Services.GetService(typeof(IWorkerHost))!).IsSandboxed);
        var result = await ProbeAsync(s);
        Assert.False(result.TryGetProperty("read", out _), "the sandboxed algorithm read the admin key");
        Assert.Equal("FileNotFoundError", result.GetProperty("read_error").GetString());
        Assert.Equal("OSError", result.GetProperty("write_error").GetString());
    }

    [Fact]
    public async Task Without_a_sandbox_the_same_probe_reaches_the_key_which_is_why_auto_prefers_one()
    {
        await using var s = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:Workers:Sandbox"] = "none" });
        Assert.False(((ProcessWorkerHost)s.Server.Services.GetService(typeof(IWorkerHost))!).IsSandboxed);
        var result = await ProbeAsync(s);
        Assert.Equal(s.AdminKey, result.GetProperty("read").GetString());
    }

    [Theory]
    [InlineData("bubblewrap", "/nonexistent/bwrap", "does not exist")]
    [InlineData("chroot", "/usr/bin/bwrap", "must be auto, bubblewrap or none")]
    public async Task Invalid_sandbox_configuration_stops_the_server_with_a_clear_message(string mode, string path, string expected)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["OSForAI:Workers:Sandbox"] = mode,
            ["OSForAI:Workers:BubblewrapPath"] = path,
        }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Auto_mode_falls_back_to_plain_processes_when_bubblewrap_cannot_run_here()
    {
        // A stand-in for a bwrap that exists but fails, as on hosts without unprivileged user namespaces.
        var fake = Path.Combine(Path.GetTempPath(), "osai-fake-bwrap-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(fake, "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n");
        // Executable by all: as root the server runs the probe under a worker uid.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, (UnixFileMode)0b111_101_101);
        try
        {
            await using (var s = await TestServer.StartAsync(new Dictionary<string, string?>
            {
                ["OSForAI:Workers:Sandbox"] = "auto",
                ["OSForAI:Workers:BubblewrapPath"] = fake,
            }))
            {
                Assert.False(((ProcessWorkerHost)s.Server.Services.GetService(typeof(IWorkerHost))!).IsSandboxed);
                var result = await ProbeAsync(s);
                Assert.Equal(s.AdminKey, result.GetProperty("read").GetString());
            }
            var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?>
            {
                ["OSForAI:Workers:Sandbox"] = "bubblewrap",
                ["OSForAI:Workers:BubblewrapPath"] = fake,
            }));
            Assert.Contains("No permissions to create new namespace", e.Message);
        }
        finally { File.Delete(fake); }
    }
}
