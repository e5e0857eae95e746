using Microsoft.Extensions.Logging;
namespace OSForAI.Server;

/// <summary>How to start an embedded OSForAI server.</summary>
public sealed record ServerStartOptions
{
    /// <summary>Folder that holds all state (SQLite catalog, data, code, admin key).</summary>
    public required string Home { get; init; }
    /// <summary>Address to bind; loopback by default.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Extra configuration (ASP.NET Core keys, e.g. "OSForAI:Workers:PythonPath").</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();
    /// <summary>Extra logging setup (another provider, e.g. one that captures log records in tests).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>Starts the gateway with embedded defaults (SQLite, local data folder, process workers).</summary>
public static partial class OsaiServer
{
    /// <summary>File in the home folder that holds the admin key (one line).</summary>
    public const string AdminKeyFile = "admin.key";
    /// <summary>File in the home folder that records where the server listens: {"url": "..."}.</summary>
    public const string ServerInfoFile = "server.json";
}
