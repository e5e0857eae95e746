using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace OSForAI.DevCluster;

/// <summary>
/// An in-process stand-in for a Kubernetes API server plus kubelets: core/v1 pods, nodes and namespaces
/// over plain HTTP on 127.0.0.1, strict validation of pods, a scheduler (node selectors, taints,
/// <c>nvidia.com/gpu</c>), and each pod's container run as a local process group with its own loopback IP
/// (127.0.1.N). Real clients (KubernetesClient, kubectl) talk to it. See docs in README of the project.
/// </summary>
public sealed class DevCluster : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ClusterState _state;

    private DevCluster(WebApplication app, ClusterState state, string url)
    {
        _app = app;
        _state = state;
        Url = url;
    }

    /// <summary>The API server's URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Url { get; }

    /// <summary>Names of the nodes: <c>dev-cpu-0</c>, then <c>dev-gpu-0</c>…</summary>
    public IReadOnlyList<string> NodeNames => _state.Nodes.Select(n => n.Name).ToList();

    /// <summary>Starts a dev cluster listening on 127.0.0.1.</summary>
    public static async Task<DevCluster> StartAsync(DevClusterOptions options, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{options.Port}");
        var app = builder.Build();
        var state = new ClusterState(options);
        var api = new ApiHandler(state);
        app.Run(api.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        return new DevCluster(app, state, $"http://127.0.0.1:{port}");
    }

    /// <summary>The kubeconfig for this cluster (context, cluster and user <c>osforai-dev</c>, namespace default).
    /// The user's token is a placeholder: KubernetesClient needs some credential; the dev cluster checks none.</summary>
    public string Kubeconfig(string defaultNamespace = "default") => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: osforai-dev
          cluster:
            server: {Url}
        contexts:
        - name: osforai-dev
          context:
            cluster: osforai-dev
            user: osforai-dev
            namespace: {defaultNamespace}
        current-context: osforai-dev
        preferences: {"{}"}
        users:
        - name: osforai-dev
          user:
            token: osforai-dev

        """;

    /// <summary>Writes <see cref="Kubeconfig"/> to <paramref name="path"/> (folders created).</summary>
    public void WriteKubeconfig(string path, string defaultNamespace = "default")
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        File.WriteAllText(path, Kubeconfig(defaultNamespace));
    }

    /// <summary>The OS process id of a pod's running container (also its process group id), or null.</summary>
    public int? PodProcessId(string ns, string name) => _state.ProcessId(ns, name);

    /// <summary>Process ids of all running containers.</summary>
    public IReadOnlyList<int> PodProcessIds => _state.AllProcessIds();

    /// <summary>SIGKILLs a pod's container process group, as if it crashed; false when none runs.</summary>
    public bool KillPodProcess(string ns, string name) => _state.KillProcess(ns, name);

    /// <summary>Whether a process id (or its process group) still exists.</summary>
    public static bool IsProcessAlive(int pid) => ClusterState.IsAlive(pid);

    /// <summary>Stops the API and kills every pod's processes.</summary>
    public async ValueTask DisposeAsync()
    {
        await _state.DisposeAsync().ConfigureAwait(false);
        try { await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(2)).Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
