using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Building;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Data;
using OSForAI.Runtime.Workers.Kubernetes;
using OSForAI.Runtime.Cluster;
using OSForAI.Runtime.Jobs;
using OSForAI.Runtime.Storage;
using OSForAI.Runtime.Inference;
using OSForAI.Runtime.Workers;
using OSForAI.Server.Endpoints;
using OSForAI.Server.Http;

namespace OSForAI.Server;

public static partial class OsaiServer
{
    /// <summary>Builds and starts the server; returns once it listens.</summary>
    public static async Task<RunningServer> StartAsync(ServerStartOptions options, CancellationToken ct = default)
    {
        var home = Path.GetFullPath(options.Home);
        Directory.CreateDirectory(home);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = home, EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        });
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddInMemoryCollection(options.Settings);
        options.ConfigureLogging?.Invoke(builder.Logging);
        builder.Services.Configure<OsaiOptions>(builder.Configuration.GetSection(OsaiOptions.Section));
        builder.Services.PostConfigure<OsaiOptions>(o =>
        {
            o.Home = home;
            if (o.Workers.Host == WorkerHostKind.Kubernetes) o.Workers.Kubernetes.ApplyDefaults();
        });
        builder.Services.AddOptions<OsaiOptions>().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<OsaiOptions>, OsaiOptionsValidation>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            // Limits are enforced per endpoint (calls, code, data) with proper error envelopes.
            k.Limits.MaxRequestBodySize = null;
            k.AddServerHeader = false;
        });
        // HTTPS endpoints from configuration (Kestrel:Endpoints:<name>:Url https://..., Certificate:Path/KeyPath PEM files: the stacks'
        // gateway certificate), which the slim builder leaves out; such an endpoint replaces the HTTP address below.
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') ? $"[{options.Host}]" : options.Host)}:{options.Port}");

        var s = builder.Services;
        s.AddSingleton(TimeProvider.System);
        s.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<OsaiOptions>>().Value;
            return Database.Open(o.State, o.DatabasePath, sp.GetRequiredService<TimeProvider>());
        });
        s.AddSingleton<CatalogStore>();
        s.AddSingleton<VersionLifecycle>();
        s.AddSingleton<KeyStore>();
        s.AddSingleton<JobStore>();
        s.AddSingleton(sp => new LocalDataStore(sp.GetRequiredService<IOptions<OsaiOptions>>().Value.DataRoot)
        {
            QuotaBytes = sp.GetRequiredService<IOptions<OsaiOptions>>().Value.DataQuotaBytes,
        });
        s.AddSingleton(sp => DataConnectors.Create(SettingsOf(builder.Configuration),
            sp.GetRequiredService<LocalDataStore>(), sp.GetRequiredService<IOptions<OsaiOptions>>().Value.DataStore));
        s.AddSingleton<DataService>();
        // Builds live wherever data:// does (the local folder, or OSForAI:DataStore such as the stack's bucket).
        s.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<OsaiOptions>>().Value;
            var platformData = sp.GetRequiredService<ConnectorRegistry>().Resolve(StorageUri.Parse($"data://{DataPath.PlatformOwner}/"));
            return new CodeStore(platformData, o.CodeCacheRoot, o.MaxCodeExpandedBytes, o.MaxCodeEntries);
        });
        // Code workers run on the configured host; model workers (onnx) too where it has an image for them, else beside the gateway.
        s.AddSingleton<ProcessWorkerHost>();
        s.AddSingleton<IWorkerHost>(sp => sp.GetRequiredService<IOptions<OsaiOptions>>().Value.Workers.Host == WorkerHostKind.Kubernetes
            ? ActivatorUtilities.CreateInstance<KubernetesWorkerHost>(sp, ActivatorUtilities.CreateInstance<PodChannels>(sp))
            : sp.GetRequiredService<ProcessWorkerHost>());
        s.AddSingleton<ResourceProfiles>();
        // Builds: pip runs in the process host's sandbox (beside the gateway, whatever host runs workers); environments are stored
        // beside the builds in data:// so that other replicas and worker pods get them.
        s.AddSingleton<IBuildSandbox>(sp => sp.GetRequiredService<ProcessWorkerHost>());
        s.AddSingleton(sp => new PythonEnvironments(sp.GetRequiredService<IBuildSandbox>(),
            sp.GetRequiredService<ConnectorRegistry>().Resolve(StorageUri.Parse($"data://{DataPath.PlatformOwner}/")),
            sp.GetRequiredService<IOptions<OsaiOptions>>().Value, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<PythonEnvironments>>()));
        s.AddSingleton<BuildService>();
        s.AddSingleton<WorkerPool>();
        s.AddSingleton<CallTokens>();
        s.AddSingleton<CallDelegation>();
        s.AddSingleton<CallGraphPrewarmer>();
        s.AddSingleton<GatewayAddress>();
        s.AddSingleton<CallService>();
        s.AddSingleton(sp => ActivatorUtilities.CreateInstance<ModelWorkerPool>(sp, ModelWorkerHost(sp)));
        s.AddSingleton<ModelService>();
        s.AddSingleton<JobRunner>();
        // Replicas sharing the state elect a leader for the cluster's housekeeping; every replica serves calls.
        s.AddSingleton(_ => ReplicaIdentity.ForThisProcess());
        s.AddSingleton<ILeaseStore, SqlLeaseStore>();
        s.AddSingleton<ILeaderDuty, JobRetentionDuty>();
        s.AddSingleton(sp => ActivatorUtilities.CreateInstance<LeaderElection>(sp, sp.GetRequiredService<ReplicaIdentity>().Name,
            sp.GetRequiredService<IOptions<OsaiOptions>>().Value.Cluster));

        var app = builder.Build();
        // Anything the endpoints did not answer themselves (unknown route, wrong method) still gets an error envelope.
        app.UseStatusCodePages(ctx => ApiErrors.WriteAsync(ctx.HttpContext, new ApiException(ctx.HttpContext.Response.StatusCode,
            ctx.HttpContext.Response.StatusCode switch
            {
                404 => $"no such endpoint: {ctx.HttpContext.Request.Path}",
                405 => $"{ctx.HttpContext.Request.Method} is not allowed on {ctx.HttpContext.Request.Path}",
                var code => $"HTTP {code}",
            }, ctx.HttpContext.Response.StatusCode == 405 ? "MethodNotAllowed" : "NotFound")));
        app.MapAlgo();
        app.MapInference();
        app.MapData();
        app.MapManagement();
        app.MapLifecycle();
        app.MapOps();

        string adminKeyPath;
        try
        {
            adminKeyPath = EnsureAdminKey(home, app.Services.GetRequiredService<KeyStore>(), app.Services.GetRequiredService<IOptions<OsaiOptions>>().Value.AdminKey);
            app.Services.GetRequiredService<WorkerPool>().WarmUp();
            app.Services.GetRequiredService<ModelWorkerPool>().Start();
            await app.StartAsync(ct);
            app.Services.GetRequiredService<JobRunner>().Start();
            app.Services.GetRequiredService<LeaderElection>().Start();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        // Bound to every interface (0.0.0.0 or [::], as in a container): clients on this machine, the CLI and
        // algorithms calling back, reach it on loopback.
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()
            .Replace("://0.0.0.0:", "://127.0.0.1:", StringComparison.Ordinal).Replace("://[::]:", "://[::1]:", StringComparison.Ordinal);
        app.Services.GetRequiredService<GatewayAddress>().Url = url;
        await File.WriteAllTextAsync(Path.Combine(home, ServerInfoFile), JsonSerializer.Serialize(new { url, pid = Environment.ProcessId }), ct);
        return new RunningServer(app, url, adminKeyPath, home);
    }

    /// <summary>Where model workers run: as pods when the Kubernetes host has an onnx image, else as processes beside the gateway.</summary>
    private static IWorkerHost ModelWorkerHost(IServiceProvider sp)
    {
        var workers = sp.GetRequiredService<IOptions<OsaiOptions>>().Value.Workers;
        return workers.Host == WorkerHostKind.Kubernetes && workers.Kubernetes.Images.GetValueOrDefault(ModelWorkerPool.Runtime) is { Length: > 0 }
            ? sp.GetRequiredService<IWorkerHost>()
            : sp.GetRequiredService<ProcessWorkerHost>();
    }

    /// <summary>A configuration section flattened to keys relative to it ("Roots:shared" → path), or null when it is absent.</summary>
    private static Func<string, IReadOnlyDictionary<string, string?>?> SettingsOf(IConfiguration configuration) => path =>
    {
        var section = configuration.GetSection(path);
        if (!section.Exists()) return null;
        return section.AsEnumerable(makePathsRelative: true).Where(kv => kv.Value is not null)
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
    };

    /// <summary>
    /// The admin key, kept readable by the owner only in the home folder: the configured one (OSForAI:AdminKey, the same on every
    /// replica), else one the first start creates.
    /// </summary>
    private static string EnsureAdminKey(string home, KeyStore keys, string configured)
    {
        var path = Path.Combine(home, AdminKeyFile);
        string key;
        if (configured.Length > 0)
        {
            keys.EnsureAdminKey(configured, "admin (from OSForAI:AdminKey)");
            key = configured;
        }
        else if (File.Exists(path) && keys.Verify(File.ReadAllText(path).Trim()) is { IsAdmin: true }) return path;
        else key = keys.Create("admin", Scopes.Admin | Scopes.Call | Scopes.Publish, "admin (created at first start)").Key;
        var temp = path + "." + Convert.ToHexString(RandomNumberGenerator.GetBytes(4));
        File.WriteAllText(temp, key + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
        return path;
    }
}

/// <summary>A started server. Dispose to stop it; workers are shut down and state is left on disk.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _disposed;

    private readonly string _home;

    internal RunningServer(WebApplication app, string url, string adminKeyPath, string home)
    {
        _app = app;
        Url = url;
        AdminKeyPath = adminKeyPath;
        _home = home;
    }

    public string Url { get; }
    public string AdminKeyPath { get; }
    public IServiceProvider Services => _app.Services;

    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    /// <summary>
    /// Removes server.json as the server starts to stop, so clients no longer find it there; only while the file still names this
    /// server (another one may have started on the same home since).
    /// </summary>
    private void RemoveServerInfo()
    {
        var path = Path.Combine(_home, OsaiServer.ServerInfoFile);
        try
        {
            using (var doc = JsonDocument.Parse(File.ReadAllBytes(path)))
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("url", out var url) || url.ToString() != Url)
                    return;
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        RemoveServerInfo();
        await _app.Services.GetRequiredService<LeaderElection>().DisposeAsync();
        await _app.Services.GetRequiredService<JobRunner>().DisposeAsync();
        await _app.StopAsync(TimeSpan.FromSeconds(5) is var t ? new CancellationTokenSource(t).Token : default);
        await _app.Services.GetRequiredService<WorkerPool>().DisposeAsync();
        await _app.Services.GetRequiredService<ModelWorkerPool>().DisposeAsync();
        await _app.DisposeAsync();
    }
}
