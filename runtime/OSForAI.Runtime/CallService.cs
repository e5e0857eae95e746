using System.Diagnostics;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers;

namespace OSForAI.Runtime;

/// <summary>The call path below the gateway: resolve a version for a caller, then run it on the pool.</summary>
public sealed class CallService(CatalogStore catalog, WorkerPool pool, IOptions<OsaiOptions> options)
{
    private readonly OsaiOptions _options = options.Value;

    /// <summary>Resolves owner/name[/version] for the caller; throws <see cref="CatalogException"/>.</summary>
    public VersionRecord Resolve(string owner, string name, string? versionText, Principal caller)
    {
        if (!VersionSpec.TryParse(versionText, out var spec, out var error))
            throw new CatalogException(CatalogError.Invalid, error!);
        if (!Names.IsValid(owner) || !Names.IsValid(name))
            throw new CatalogException(CatalogError.NotFound, $"algorithm {owner}/{name} not found");
        return catalog.Resolve(owner, name, spec, caller);
    }

    /// <summary>The timeout for a call: what the caller asked for, else the version's, capped by the server maximum.</summary>
    public TimeSpan TimeoutFor(VersionRecord version, int? requestedSeconds) =>
        TimeSpan.FromSeconds(Math.Min(requestedSeconds ?? version.TimeoutSeconds, _options.MaxTimeoutSeconds));

    public Task<InvokeResult> CallAsync(VersionRecord version, string contentKind, ReadOnlyMemory<byte> body, Principal caller,
        TimeSpan timeout, CancellationToken ct, string? traceId = null, int depth = 0)
    {
        var context = new CallContext(traceId ?? ActivityTraceId.CreateRandom().ToHexString(), caller.Owner, depth,
            DateTimeOffset.UtcNow + timeout);
        return pool.InvokeAsync(version, new InvokeRequest(contentKind, body, context), timeout, ct);
    }
}
