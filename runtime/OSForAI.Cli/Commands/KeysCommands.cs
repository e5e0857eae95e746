using System.Text.Json;

namespace OSForAI.Cli.Commands;

/// <summary><c>osai keys create|list|revoke</c>: API key administration.</summary>
internal static class KeysCommands
{
    public static async Task<int> CreateAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        var owner = args.Require("owner", "the user the key acts as");
        var scopes = ParseScopes(args.Require("scopes", "e.g. --scopes call,publish"));
        var name = args.Get("name");
        var grants = args.Get("grants")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

        using var client = ClientContext.Create(args, host);
        var body = new Dictionary<string, object?> { ["owner"] = owner, ["scopes"] = scopes };
        if (name is not null)
            body["name"] = name;
        if (grants.Length > 0)
            body["data_grants"] = grants;
        var created = (await client.SendJsonAsync(HttpMethod.Post, "v1/keys", body)).EnsureSuccess();
        var key = created.Str("key") ?? throw new CliException("the server's answer has no key");

        await host.Out.WriteLineAsync(key);
        await host.Error.WriteLineAsync(
            $"Created key {created.Str("id") ?? "?"} for {created.Str("owner") ?? owner} with scopes {string.Join(",", scopes)}" +
            (grants.Length > 0 ? $" and data grants {string.Join(", ", grants)}" : ""));
        return 0;
    }

    public static async Task<int> ListAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 0, "");
        using var client = ClientContext.Create(args, host);
        var list = (await client.SendJsonAsync(HttpMethod.Get, "v1/keys")).EnsureSuccess();
        var rows = list.Items("keys").Select(k => (IReadOnlyList<string?>)
        [
            k.Str("id"),
            k.Str("owner"),
            k.Str("scopes"),
            k.Str("name"),
            k.Prop("data_grants") is { ValueKind: JsonValueKind.Array } g ? string.Join(" ", g.EnumerateArray().Select(x => x.GetString())) : "",
            TableWriter.Time(k.Str("created_at")),
            k.Prop("revoked") is { ValueKind: JsonValueKind.True } ? "yes" : "no",
        ]);
        TableWriter.Write(host.Out, ["ID", "OWNER", "SCOPES", "NAME", "DATA GRANTS", "CREATED", "REVOKED"], rows);
        return 0;
    }

    public static async Task<int> RevokeAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "key ID (see 'osai keys list')");
        var id = args.Positionals[0];
        using var client = ClientContext.Create(args, host);
        var response = await client.SendAsync(HttpMethod.Delete, $"v1/keys/{Uri.EscapeDataString(id)}", null);
        if (!response.IsSuccess)
            throw response.ToError();
        await host.Out.WriteLineAsync($"Revoked key {id}");
        return 0;
    }

    /// <summary>Splits "call, publish" into ["call", "publish"]; at least one scope.</summary>
    internal static string[] ParseScopes(string text)
    {
        var scopes = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        return scopes.Length > 0 ? scopes : throw new UsageException("--scopes needs at least one scope, e.g. call,publish");
    }
}
