using OSForAI.Data.Azure;
using OSForAI.Data.Dropbox;
using OSForAI.Data.Files;
using OSForAI.Data.Gcs;
using OSForAI.Data.Hdfs;
using OSForAI.Data.Http;
using OSForAI.Data.S3;

namespace OSForAI.Runtime.Data;

/// <summary>
/// Builds the connector registry: every scheme's factory, with settings read from configuration section
/// <c>OSForAI:Data:&lt;Scheme&gt;:&lt;label or "default"&gt;</c>.
/// </summary>
public static class DataConnectors
{
    public const string Section = "OSForAI:Data";

    /// <param name="settingsOf">Flattened settings of one configuration section path (e.g. "OSForAI:Data:S3:prod"), or null when absent.</param>
    /// <param name="local">The local data folder that serves data:// unless <paramref name="dataStore"/> names another store.</param>
    /// <param name="dataStore">Where data:// lives: empty for the local folder, else a base URI such as s3+platform://bucket/osforai.</param>
    public static ConnectorRegistry Create(Func<string, IReadOnlyDictionary<string, string?>?> settingsOf, LocalDataStore local, string? dataStore)
    {
        ConnectorRegistry? registry = null;
        var factories = new List<IConnectorFactory>
        {
            new PlatformDataFactory(local, dataStore, () => registry!),
            new FileConnectorFactory(),
            new S3ConnectorFactory(),
            new AzureBlobConnectorFactory(),
            new GcsConnectorFactory(),
            new WebHdfsConnectorFactory(),
            new DropboxConnectorFactory(),
        };
        factories.AddRange(HttpConnectorFactory.Both);
        registry = new ConnectorRegistry(factories,
            (scheme, label) => scheme == "data" ? null : settingsOf($"{Section}:{scheme}:{label ?? "default"}"));
        return registry;
    }

    private sealed class PlatformDataFactory(LocalDataStore local, string? dataStore, Func<ConnectorRegistry> registry) : IConnectorFactory
    {
        public string Scheme => "data";
        public bool WorksUnconfigured => true;

        public IDataConnector Create(ConnectorSettings settings)
        {
            if (string.IsNullOrWhiteSpace(dataStore)) return new LocalDataConnector(local);
            var baseUri = StorageUri.Parse(dataStore).AsDirectory();
            if (baseUri.Scheme == "data") throw new DataException(DataError.NotConfigured, "OSForAI:DataStore cannot itself be a data:// URI");
            return new RebasedDataConnector(registry().Resolve(baseUri), baseUri);
        }
    }
}
