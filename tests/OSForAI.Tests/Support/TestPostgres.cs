using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OSForAI.Postgres;
using OSForAI.Testing;

namespace OSForAI.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests use: the one named by OSFORAI_TEST_POSTGRES (a connection string of a role that may create
/// databases), else a private throwaway cluster (initdb in a temp folder, loopback on a free port, TLS on with a self-signed
/// certificate, scram-sha-256 for the test role, md5, password and trust for roles that test those), stopped and removed when
/// the test run ends. Each caller gets a fresh database of its own. Neither possible: the test is skipped, except in CI, where
/// it fails.
/// </summary>
public static class TestPostgres
{
    public const string EnvironmentVariable = "OSFORAI_TEST_POSTGRES";
    private static readonly Lazy<Task<PostgresServer?>> Shared = new(StartAsync);
    private static string? _skipReason;

    /// <summary>A fresh, empty database on the test server; skips (or fails in CI) when there is no server.</summary>
    public static async Task<PostgresConnectionSettings> CreateDatabaseAsync()
    {
        var server = await ServerOrSkipAsync();
        var name = "osai_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = await PostgresConnection.OpenAsync(server.Admin))
            await admin.ExecuteScriptAsync($"CREATE DATABASE {name}");
        return server.Admin with { Database = name };
    }

    /// <summary>The private cluster (for the tests of authentication methods and TLS); skips when an external server is used.</summary>
    public static async Task<PostgresServer> PrivateClusterOrSkipAsync()
    {
        var server = await ServerOrSkipAsync();
        Skip.If(server.Cluster is null, $"{EnvironmentVariable} names an external server; this test needs the private cluster");
        return server;
    }

    private static async Task<PostgresServer> ServerOrSkipAsync()
    {
        var server = await Shared.Value;
        if (server is null && Environment.GetEnvironmentVariable("CI") == "true")
            throw new InvalidOperationException("CI needs PostgreSQL for these tests: " + _skipReason);
        Skip.If(server is null, _skipReason);
        return server!;
    }

    private static async Task<PostgresServer?> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } external)
            return new PostgresServer(PostgresConnectionSettings.Parse(external), null);
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            : null;
        if (bin is null)
        {
            _skipReason = $"no PostgreSQL server: set {EnvironmentVariable} or install the postgresql package (initdb under /usr/lib/postgresql)";
            return null;
        }
        var cluster = await PrivateCluster.StartAsync(bin);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Dispose();
        return new PostgresServer(cluster.AdminSettings, cluster);
    }
}

/// <summary>A server the tests may use: settings of a role that can create databases, and the private cluster if it is ours.</summary>
public sealed record PostgresServer(PostgresConnectionSettings Admin, PrivateCluster? Cluster);

/// <summary>A throwaway PostgreSQL cluster run as the postgres user when the tests run as root (postgres refuses root).</summary>
public sealed class PrivateCluster : IDisposable
{
    public const string ScramRole = "osai_test";
    public const string Md5Role = "osai_md5";
    public const string CleartextRole = "osai_cleartext";
    public const string TrustRole = "osai_trust";
    private const string ServiceUser = "postgres";
    private readonly string _bin;
    private readonly Process _server;

    private PrivateCluster(string bin, string dir, int port, string password, Process server)
    {
        _bin = bin;
        Folder = dir;
        Port = port;
        Password = password;
        _server = server;
    }

    public string Folder { get; }
    public int Port { get; }
    /// <summary>The password of every role of the cluster.</summary>
    public string Password { get; }

    public PostgresConnectionSettings AdminSettings => SettingsFor(ScramRole);

    public PostgresConnectionSettings SettingsFor(string role) => new()
    {
        Host = "127.0.0.1", Port = Port, Username = role, Password = Password, Database = "postgres", SslMode = SslMode.Disable,
    };

    private static bool AsRoot => Environment.UserName == "root";

    private const string FolderPrefix = "osai-pg-";

    public static async Task<PrivateCluster> StartAsync(string bin)
    {
        RemoveStaleFolders();
        var dir = Path.Combine(Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N")[..12]);
        var data = Path.Combine(dir, "data");
        Directory.CreateDirectory(dir);
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var passwordFile = Path.Combine(dir, "password");
        await File.WriteAllTextAsync(passwordFile, password);
        WriteCertificate(dir);
        if (AsRoot) Run("chown", "-R", $"{ServiceUser}:", dir);
        RunAsService(Path.Combine(bin, "initdb"), "-D", data, "-U", ScramRole, "--pwfile", passwordFile, "-E", "UTF8", "--no-sync",
            "--auth-local=trust", "--auth-host=scram-sha-256");
        var hba = $"""
            local all all trust
            host all {Md5Role} 127.0.0.1/32 md5
            host all {CleartextRole} 127.0.0.1/32 password
            host all {TrustRole} 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256
            """;
        await File.WriteAllTextAsync(Path.Combine(data, "pg_hba.conf"), hba + "\n");
        var port = EmulatorProcess.FreePort();
        var server = StartProcess(Path.Combine(bin, "postgres"), "-D", data, "-k", dir, "-p", port.ToString(),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=300", "-c", "ssl=on", "-c", $"ssl_cert_file={Path.Combine(dir, "server.crt")}",
            "-c", $"ssl_key_file={Path.Combine(dir, "server.key")}");
        var cluster = new PrivateCluster(bin, dir, port, password, server);
        try
        {
            await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
            await using var admin = await PostgresConnection.OpenAsync(cluster.AdminSettings);
            await admin.ExecuteScriptAsync($"""
                SET password_encryption = 'md5';
                CREATE ROLE {Md5Role} LOGIN PASSWORD '{password}';
                SET password_encryption = 'scram-sha-256';
                CREATE ROLE {CleartextRole} LOGIN PASSWORD '{password}';
                CREATE ROLE {TrustRole} LOGIN;
                """);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Folders of earlier runs whose server is gone (no postmaster.pid) and that are over an hour old: the test host may end
    /// before its exit handler has removed its cluster's folder.
    /// </summary>
    private static void RemoveStaleFolders()
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            if (File.Exists(Path.Combine(dir, "data", "postmaster.pid")) || Directory.GetLastWriteTimeUtc(dir) > DateTime.UtcNow.AddHours(-1)) continue;
            try { Directory.Delete(dir, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void WriteCertificate(string dir)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=osai-test-postgres", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(Path.Combine(dir, "server.crt"), cert.ExportCertificatePem());
        var keyFile = Path.Combine(dir, "server.key");
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);   // postgres refuses a key others can read
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_server.HasExited) throw new InvalidOperationException($"postgres exited ({_server.ExitCode}) while starting: {string.Join('\n', ServerLog)}");
            try
            {
                await using var c = await PostgresConnection.OpenAsync(AdminSettings);
                return;
            }
            catch (Exception e) when ((e is PostgresProtocolException or PostgresException) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static Process StartProcess(string file, params string[] args)
    {
        var psi = AsRoot ? new ProcessStartInfo("runuser") : new ProcessStartInfo(file);
        if (AsRoot) foreach (var a in new[] { "-u", ServiceUser, "--", file }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardError = psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => Remember(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static readonly Queue<string> ServerLog = new();

    // The server's last lines, for the message when it does not start.
    private static void Remember(string? line)
    {
        if (line is null) return;
        lock (ServerLog)
        {
            ServerLog.Enqueue(line);
            if (ServerLog.Count > 50) ServerLog.Dequeue();
        }
    }

    private static void RunAsService(string file, params string[] args)
    {
        if (AsRoot) Run("runuser", ["-u", ServiceUser, "--", file, .. args]);
        else Run(file, args);
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {error}{output.Result}");
    }

    // The server may still be removing its pid file as it exits: try again once.
    private void DeleteFolder()
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Thread.Sleep(200); }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_server.HasExited)
            {
                RunAsService(Path.Combine(_bin, "pg_ctl"), "stop", "-D", Path.Combine(Folder, "data"), "-m", "immediate", "-w");
                _server.WaitForExit(5000);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            _server.Kill(entireProcessTree: true);
        }
        finally
        {
            _server.Dispose();
            DeleteFolder();
        }
    }
}
