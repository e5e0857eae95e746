namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// One worker's private folder on the host: the socket of its channel to the host, the socket through which it
/// reaches the gateway, and the builds it has loaded. Inside the sandbox it is mounted read-only at
/// <see cref="SandboxRoot"/> and is the only part of the server's state the worker sees; no other worker's
/// sandbox has it. Builds are hard links into the code cache (a copy where links cannot cross devices), so a
/// worker sees its own version's files and never the cache that holds everybody's.
/// </summary>
public sealed class WorkerFolder : IDisposable
{
    /// <summary>Where the folder appears inside a sandbox.</summary>
    public const string SandboxRoot = "/osai";
    private const string ChannelName = "worker.sock";
    private const string GatewayName = "gateway.sock";
    private const string EgressName = "egress.sock";
    private readonly bool _sandboxed;
    private readonly object _builds = new();

    private WorkerFolder(string hostPath, bool sandboxed)
    {
        HostPath = hostPath;
        _sandboxed = sandboxed;
    }

    /// <summary>Creates <paramref name="parent"/>/<paramref name="id"/>, readable by its owner only (the worker's uid when given).</summary>
    public static WorkerFolder Create(string parent, string id, bool sandboxed, int? ownerUid)
    {
        var path = Path.Combine(parent, id);
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("worker folders need a Unix system");
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(path, "build"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        if (ownerUid is { } uid) Libc.Chown(path, uid, uid);
        return new WorkerFolder(path, sandboxed);
    }

    public string HostPath { get; }
    public string ChannelSocket => Path.Combine(HostPath, ChannelName);
    public string GatewaySocket => Path.Combine(HostPath, GatewayName);
    public string EgressSocket => Path.Combine(HostPath, EgressName);

    /// <summary>The worker's view of <paramref name="hostPath"/> (a path inside this folder).</summary>
    public string WorkerView(string hostPath) =>
        _sandboxed ? SandboxRoot + hostPath[HostPath.Length..].Replace(Path.DirectorySeparatorChar, '/') : hostPath;

    /// <summary>
    /// Makes the extracted build at <paramref name="codeDir"/> visible to the worker and returns the path it sees it
    /// at. Unsandboxed workers see the cache itself.
    /// </summary>
    public string ExposeBuild(string codeDir)
    {
        if (!_sandboxed) return codeDir;
        var target = Path.Combine(HostPath, "build", Path.GetFileName(Path.TrimEndingDirectorySeparator(codeDir)));
        lock (_builds)
        {
            if (!Directory.Exists(target))
            {
                var staging = target + ".staging";
                if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
                Mirror(codeDir, staging);
                Directory.Move(staging, target);
            }
        }
        return WorkerView(target);
    }

    /// <summary>Recreates the folder tree of <paramref name="from"/> at <paramref name="to"/>, each file a hard link (or a copy).</summary>
    private static void Mirror(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(to, Path.GetRelativePath(from, file));
            if (!Libc.TryHardLink(file, dest)) File.Copy(file, dest);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(HostPath, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
