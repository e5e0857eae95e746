using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;

namespace OSForAI.Runtime.Data;

/// <summary>
/// The one way into data: parses a URI, resolves data://.my, checks the caller may reach it, and finds its connector.
/// Who may reach what:
/// - admins: everything;
/// - everyone else: their own data://&lt;owner&gt;/ space (writing needs the call or publish scope), plus what their key's
///   data grants cover; the platform's data://.osforai/ space is admin-only whatever the grants.
/// An algorithm acts with its caller's principal (call tokens carry the caller's grants), so never with more.
/// </summary>
public sealed class DataService(ConnectorRegistry connectors)
{
    public (StorageUri Uri, IDataConnector Connector) Open(string uriText, Principal caller, bool write)
    {
        var uri = Resolve(StorageUri.Parse(uriText), caller);
        Authorize(caller, uri, write);
        var connector = connectors.Resolve(uri);
        if (write && !connector.CanWrite) throw new DataException(DataError.NotSupported, $"{uri.Scheme}:// is read-only");
        return (uri, connector);
    }

    /// <summary>Resolves data://.my to the caller's folder and checks data:// owners.</summary>
    public static StorageUri Resolve(StorageUri uri, Principal? caller)
    {
        if (uri.Scheme != "data") return uri;
        if (uri.Label is not null) throw new DataException(DataError.NotConfigured, "data:// takes no label");
        if (uri.Container == DataPath.MyAlias)
            return uri.WithContainer(caller?.Owner ?? throw new DataException(DataError.Forbidden, "data://.my needs an API key"));
        if (uri.Container != DataPath.PlatformOwner && !Names.IsValid(uri.Container))
            throw new DataException(DataError.BadPath, $"invalid owner '{uri.Container}' in data URI");
        return uri;
    }

    public static void Authorize(Principal caller, StorageUri uri, bool write)
    {
        if (caller.IsAdmin) return;
        if (write && !caller.Has(Scopes.Call) && !caller.Has(Scopes.Publish))
            throw new DataException(DataError.Forbidden, "your key has no scope that allows writing data");
        if (uri.Scheme == "data" && uri.Container == DataPath.PlatformOwner)
            throw new DataException(DataError.Forbidden, $"your key may not {(write ? "write" : "read")} data://{DataPath.PlatformOwner}/");
        if (uri.Scheme == "data" && uri.Container == caller.Owner) return;
        if (caller.Grants.Any(g => g.Covers(uri, write))) return;
        throw new DataException(DataError.Forbidden, uri.Scheme == "data"
            ? $"your key may not {(write ? "write" : "read")} data://{uri.Container}/"
            : $"your key has no data grant to {(write ? "write" : "read")} {uri}");
    }
}
