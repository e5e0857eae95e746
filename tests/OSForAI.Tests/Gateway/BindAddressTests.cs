using OSForAI.Server;

namespace OSForAI.Tests.Gateway;

public sealed class BindAddressTests
{
    [Fact]
    public async Task A_server_bound_to_every_interface_advertises_loopback_to_local_clients()
    {
        var home = Path.Combine(Path.GetTempPath(), "osai-bind-" + Guid.NewGuid().ToString("N")[..10]);
        await using var server = await OsaiServer.StartAsync(new ServerStartOptions
        {
            Home = home, Host = "0.0.0.0", Port = 0,
            Settings = new Dictionary<string, string?> { ["OSForAI:Workers:WarmGenericWorkers"] = "0" },
        });
        Assert.StartsWith("http://127.0.0.1:", server.Url);
        Assert.Contains(server.Url, await File.ReadAllTextAsync(Path.Combine(home, OsaiServer.ServerInfoFile)));
        using var client = new HttpClient();
        Assert.True((await client.GetAsync(server.Url + "/health")).IsSuccessStatusCode);
    }
}
