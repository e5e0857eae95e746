namespace OSForAI.Data;

/// <summary>
/// The settings of one connector instance (one scheme and label), as configured by the operator in
/// <c>OSForAI:Data:&lt;Scheme&gt;:&lt;label&gt;:&lt;Setting&gt;</c> (label "default" for unlabelled URIs;
/// environment: <c>OSForAI__Data__S3__prod__SecretAccessKey</c>). A secret may instead be given as
/// <c>&lt;Setting&gt;File</c>, the path of a mounted secret file. Values are never logged or echoed.
/// </summary>
public sealed class ConnectorSettings(string scheme, string? label, IReadOnlyDictionary<string, string?> values)
{
    public string Scheme { get; } = scheme;
    public string? Label { get; } = label;
    public string Key => Label is null ? Scheme : $"{Scheme}+{Label}";

    /// <summary>A plain setting (case-insensitive name), or null.</summary>
    public string? Get(string name) =>
        values.FirstOrDefault(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Value is { Length: > 0 } v ? v : null;

    /// <summary>A secret: the setting itself, or the trimmed contents of the file named by "&lt;name&gt;File".</summary>
    public string? Secret(string name)
    {
        if (Get(name) is { } direct) return direct;
        if (Get(name + "File") is not { } file) return null;
        try { return File.ReadAllText(file).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException(DataError.NotConfigured, $"the secret file configured for {Key} {name} cannot be read");
        }
    }

    public string Require(string name) => Get(name) ?? throw Missing(name);
    public string RequireSecret(string name) => Secret(name) ?? throw Missing(name);

    public bool Flag(string name, bool fallback) => Get(name) is { } v ? bool.TryParse(v, out var b) ? b : throw Invalid(name, "true or false") : fallback;

    /// <summary>
    /// Where the connector's credentials come from (setting <c>Credentials</c>): the keys in the settings (the default), or the
    /// identity the platform gives the pod (<see cref="CredentialSource.WorkloadIdentity"/>).
    /// </summary>
    public CredentialSource Credentials => Get("Credentials") is { } v
        ? Enum.TryParse<CredentialSource>(v, ignoreCase: true, out var source) && Enum.IsDefined(source) && !int.TryParse(v, out _)
            ? source
            : throw Invalid("Credentials", $"one of {string.Join(", ", Enum.GetNames<CredentialSource>())}")
        : CredentialSource.Keys;

    public long Long(string name, long fallback) => Get(name) is { } v ? long.TryParse(v, out var n) && n > 0 ? n : throw Invalid(name, "a positive integer") : fallback;

    public IReadOnlyDictionary<string, string?> Values => values;

    private DataException Missing(string name) => new(DataError.NotConfigured,
        $"{Key}:// has no {name} configured; set OSForAI:Data:{ConfigScheme}:{Label ?? "default"}:{name} (or {name}File)");

    private DataException Invalid(string name, string expected) => new(DataError.NotConfigured,
        $"OSForAI:Data:{ConfigScheme}:{Label ?? "default"}:{name} must be {expected}");

    private string ConfigScheme => char.ToUpperInvariant(Scheme[0]) + Scheme[1..];
}

/// <summary>Where a cloud connector's credentials come from.</summary>
public enum CredentialSource
{
    /// <summary>Keys, tokens or connection strings in the connector's settings (or their ...File forms).</summary>
    Keys,
    /// <summary>
    /// The identity the platform gives the pod, with no long-lived secret anywhere: EKS Pod Identity for s3 (the container
    /// credentials endpoint), Azure workload identity for azure (a federated service-account token exchanged for an Entra ID
    /// token), GKE Workload Identity for gs (the metadata server). See docs/data.md.
    /// </summary>
    WorkloadIdentity,
}

/// <summary>Makes the connector for one scheme from its settings. Throws NotConfigured on missing credentials.</summary>
public interface IConnectorFactory
{
    /// <summary>The canonical scheme this factory serves ("s3", "azure", ...).</summary>
    string Scheme { get; }
    /// <summary>True when the scheme works with no settings at all (http, data); otherwise a label must be configured.</summary>
    bool WorksUnconfigured { get; }
    IDataConnector Create(ConnectorSettings settings);
}

/// <summary>
/// Resolves a URI to its connector: one instance per scheme+label, built on first use from the
/// configured settings. Unknown labels and missing credentials are clear NotConfigured errors.
/// </summary>
public sealed class ConnectorRegistry
{
    private readonly Dictionary<string, IConnectorFactory> _factories;
    private readonly Func<string, string?, IReadOnlyDictionary<string, string?>?> _settings;
    private readonly Dictionary<string, IDataConnector> _connectors = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <param name="settings">Settings for (scheme, label or null), or null when none are configured.</param>
    public ConnectorRegistry(IEnumerable<IConnectorFactory> factories, Func<string, string?, IReadOnlyDictionary<string, string?>?> settings)
    {
        _factories = factories.ToDictionary(f => f.Scheme, StringComparer.Ordinal);
        _settings = settings;
    }

    public IDataConnector Resolve(StorageUri uri)
    {
        lock (_lock)
        {
            if (_connectors.TryGetValue(uri.ConnectorKey, out var existing)) return existing;
            if (!_factories.TryGetValue(uri.Scheme, out var factory))
                throw new DataException(DataError.NotConfigured, $"the {uri.Scheme}:// connector is not available on this server");
            var values = _settings(uri.Scheme, uri.Label);
            if (values is null)
            {
                if (uri.Label is not null)
                    throw new DataException(DataError.NotConfigured, $"unknown connector label '{uri.Label}' for {uri.Scheme}:// (no credential set named {uri.ConnectorKey} is configured)");
                if (!factory.WorksUnconfigured)
                    throw new DataException(DataError.NotConfigured, $"{uri.Scheme}:// is not configured on this server (no credentials); see docs/data.md");
            }
            var connector = factory.Create(new ConnectorSettings(uri.Scheme, uri.Label, values ?? new Dictionary<string, string?>()));
            _connectors[uri.ConnectorKey] = connector;
            return connector;
        }
    }
}
