using System.Collections.Concurrent;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using OSForAI.WorkerProtocol;

namespace OSForAI.Worker;

/// <summary>
/// Builds the host sends in a <c>stage</c> message (a worker that cannot see the host's files: a pod), each unpacked once into
/// this worker's own scratch folder under its build hash (docs/worker-protocol.md, "stage"). The archive may be hostile: it is
/// unpacked by <see cref="SafeArchive"/> into a fresh folder that becomes the build's only when it is complete. Concurrent stages
/// of one build share the one unpacking; one that failed is forgotten, so the next stage tries again.
/// </summary>
internal sealed partial class BuildStager : IDisposable
{
    /// <summary>Ceilings whatever the host asks for: a build larger than this does not fit a worker's scratch space anyway.</summary>
    public const long MaxBytesCeiling = 16L * 1024 * 1024 * 1024;
    public const int MaxEntriesCeiling = 100_000;

    private readonly string _root;
    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _builds = new(StringComparer.Ordinal);

    /// <summary>Stages into <paramref name="root"/>, emptied first (what a previous run of this worker left is stale).</summary>
    public BuildStager(string root)
    {
        _root = Path.GetFullPath(root);
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
        Directory.CreateDirectory(_root);
    }

    /// <summary>
    /// This worker's scratch folder: under the temporary folder (a pod's writable /tmp), named by the worker id, which a pod keeps
    /// across restarts of its container, so a restarted worker clears what its predecessor staged.
    /// </summary>
    public static BuildStager ForThisWorker()
    {
        var id = Environment.GetEnvironmentVariable("OSAI_WORKER_ID") is { Length: > 0 } w ? NotName().Replace(w, "-") : Environment.ProcessId.ToString();
        return new BuildStager(Path.Combine(Path.GetTempPath(), "osai-builds-" + id));
    }

    /// <summary>The folder of <paramref name="build"/>, unpacked from <paramref name="archive"/> (a tar.gz) unless it already is.</summary>
    /// <exception cref="WorkerException">LoadError: the archive is refused (what is wrong with it), or the build name is malformed.</exception>
    public async Task<string> StageAsync(string build, ReadOnlyMemory<byte> archive, long maxBytes, int maxEntries, CancellationToken ct)
    {
        if (!BuildName().IsMatch(build)) throw new WorkerException("ProtocolError", $"stage: 'build' must be a build hash, not '{build}'");
        var lazy = _builds.GetOrAdd(build, b => new Lazy<Task<string>>(() => UnpackAsync(b, archive,
            maxBytes is > 0 and < MaxBytesCeiling ? maxBytes : MaxBytesCeiling, maxEntries is > 0 and < MaxEntriesCeiling ? maxEntries : MaxEntriesCeiling, ct)));
        try { return await lazy.Value; }
        catch
        {
            _builds.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(build, lazy));
            throw;
        }
    }

    private async Task<string> UnpackAsync(string build, ReadOnlyMemory<byte> archive, long maxBytes, int maxEntries, CancellationToken ct)
    {
        var target = Path.Combine(_root, build);
        if (Directory.Exists(target)) return target;
        var staging = Path.Combine(_root, ".unpacking-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            using var raw = MemoryMarshal.TryGetArray(archive, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(archive.ToArray(), writable: false);
            await using var tar = new GZipStream(raw, CompressionMode.Decompress);
            try { await SafeArchive.ExtractAsync(tar, staging, maxBytes, maxEntries, ct); }
            catch (UnsafeArchiveException e) { throw new WorkerException("LoadError", $"build {build} was refused: {e.Message}"); }
            Directory.Move(staging, target);
            return target;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")] private static partial Regex BuildName();
    [GeneratedRegex("[^A-Za-z0-9_-]")] private static partial Regex NotName();
}
