using OSForAI.WorkerProtocol;

namespace OSForAI.Runtime.Catalog;

public enum Visibility { Public, Private }

public sealed record AlgorithmRecord(string Owner, string Name, string Description, DateTimeOffset CreatedAt)
{
    public string FullName => $"{Owner}/{Name}";
}

/// <summary>Resource request of one instance.</summary>
public sealed record ResourceRequest(double Cpu = 1, int MemoryMb = 512, int GpuMemoryMb = 0);

/// <summary>How a build ended: only a succeeded build can be called by its hash or published.</summary>
public enum BuildStatus { Succeeded, Failed }

/// <summary>
/// An uploaded, content-addressed code archive plus the manifest it carried, and how its build went (docs/api.md, "Builds"):
/// its status, the one-line reason when it failed, and the Python environment it runs with (the hash of its resolved
/// requirements; null without a requirements.txt). The build log is kept beside it (<see cref="CatalogStore.BuildLog"/>).
/// </summary>
public sealed record BuildRecord(
    string Owner, string Name, string Hash, string CodeUri, long Size, AlgorithmManifest Manifest, DateTimeOffset CreatedAt)
{
    public BuildStatus Status { get; init; } = BuildStatus.Succeeded;
    public string? Error { get; init; }
    public string? Environment { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public long? DurationMs { get; init; }
}

/// <summary>
/// Everything needed to run one algorithm version. Published versions are immutable;
/// an unpublished build is runnable through the same record with <see cref="Version"/> null.
/// </summary>
public sealed record VersionRecord
{
    public required string Owner { get; init; }
    public required string Name { get; init; }
    /// <summary>Semantic version, or null for an unpublished build called by hash.</summary>
    public SemVer? Version { get; init; }
    public required string Build { get; init; }
    public required string Runtime { get; init; }
    public required string Entrypoint { get; init; }
    public required string CodeUri { get; init; }
    public ResourceRequest Resources { get; init; } = new();
    /// <summary>The version declared that it needs outbound network access.</summary>
    public bool Network { get; init; }
    public int Concurrency { get; init; } = 1;
    public int TimeoutSeconds { get; init; } = 300;
    public Visibility Visibility { get; init; } = Visibility.Public;
    public string Description { get; init; } = "";
    public IReadOnlyList<string> Tags { get; init; } = [];
    public string? SampleInput { get; init; }
    public string? SampleOutput { get; init; }
    public DateTimeOffset? PublishedAt { get; init; }
    /// <summary>For model runtimes (onnx): the signature and serving settings read at upload.</summary>
    public ModelSpec? Model { get; init; }
    /// <summary>
    /// When the owner deprecated the version (null: not deprecated). A deprecated version is still called by its exact version; ranges
    /// and latest skip it. Kept in the versions row, not in the immutable record (see CatalogStore).
    /// </summary>
    public DateTimeOffset? DeprecatedAt { get; init; }
    /// <summary>When the version was deleted (null: it was not); a deleted version answers 410 and its number is never reused.</summary>
    public DateTimeOffset? DeletedAt { get; init; }
    /// <summary>The build's Python environment (hash of its resolved requirements.txt), or null when it has none.</summary>
    public string? Environment { get; init; }
    /// <summary>Whether the worker also sees the host's site-packages (system_packages: true in algorithm.yaml).</summary>
    public bool SystemPackages { get; init; }

    public string FullName => $"{Owner}/{Name}";
    /// <summary>Identity of the runnable unit: published version, or the build hash.</summary>
    public string InstanceKey => $"{Owner}/{Name}@{(Version is { } v ? v.ToString() : Build)}";
    public string VersionLabel => Version?.ToString() ?? Build;
}

/// <summary>
/// A served model's signature (read from the model file when the build is uploaded) and how to serve
/// it: dynamic batching, device preference, session options, and the class labels if it has any.
/// </summary>
public sealed record ModelSpec
{
    public IReadOnlyList<TensorSpec> Inputs { get; init; } = [];
    public IReadOnlyList<TensorSpec> Outputs { get; init; } = [];
    public IReadOnlyList<string>? Labels { get; init; }
    /// <summary>Most rows merged into one run; 1 = no dynamic batching.</summary>
    public int MaxBatchSize { get; init; } = 1;
    public double MaxQueueDelayMs { get; init; }
    /// <summary>Runs of the model that may be in flight at once, batched or not.</summary>
    public int Instances { get; init; } = 2;
    /// <summary>auto (the node decides), cpu or gpu.</summary>
    public string Device { get; init; } = "auto";
    public int IntraOpThreads { get; init; }
    /// <summary>none, basic, extended or all.</summary>
    public string GraphOptimization { get; init; } = "all";
    public long WeightBytes { get; init; }
}

/// <summary>Changes to algorithms and versions that the audit trail records (stored in snake case: delete_version).</summary>
public enum AuditAction { CreateAlgorithm, Publish, Deprecate, Undeprecate, DeleteVersion, DeleteAlgorithm }

/// <summary>One audit record: who (the owner a key belongs to and the key's id) did what to which algorithm or version, and when.</summary>
public sealed record AuditEntry(long Id, string Owner, string Name, DateTimeOffset At, string Actor, string KeyId, AuditAction Action,
    string? Version, string? Build, string Detail);
