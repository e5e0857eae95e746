using System.Globalization;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>How the connection uses TLS (libpq's sslmode values, those this client supports).</summary>
public enum SslMode
{
    /// <summary>Plain TCP only.</summary>
    Disable,
    /// <summary>TLS when the server offers it (certificate not checked), else plain TCP.</summary>
    Prefer,
    /// <summary>TLS or no connection; the certificate is not checked.</summary>
    Require,
    /// <summary>TLS with the certificate chain checked against the system's trust store and the host name matched.</summary>
    VerifyFull,
}

/// <summary>A connection string that cannot be used; the message names the bad part and never contains the password.</summary>
public sealed class PostgresConnectionStringException(string message) : FormatException(message);

/// <summary>
/// Where and how to connect. Parsed from a URI (<c>postgres://user:password@host:port/db?sslmode=require</c>, parts
/// percent-encoded) or from key=value pairs (<c>Host=h;Port=5432;Username=u;Password=p;Database=d;SslMode=Require</c>).
/// <see cref="ToString"/> shows everything but the password.
/// </summary>
public sealed record PostgresConnectionSettings
{
    public const int DefaultPort = 5432;
    private static readonly string[] UriSchemes = ["postgres://", "postgresql://"];

    public required string Host { get; init; }
    public int Port { get; init; } = DefaultPort;
    public required string Username { get; init; }
    public string Password { get; init; } = "";
    public required string Database { get; init; }
    public SslMode SslMode { get; init; } = SslMode.Prefer;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Longest one command may take before it is cancelled on the server and the connection dropped.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public string ApplicationName { get; init; } = "osforai";
    /// <summary>Most connections a pool opens to this server.</summary>
    public int MaxPoolSize { get; init; } = 20;

    /// <summary>Whether <paramref name="text"/> is written as a postgres:// or postgresql:// URI.</summary>
    public static bool IsUri(string text) => UriSchemes.Any(s => text.StartsWith(s, StringComparison.OrdinalIgnoreCase));

    /// <summary>Parses either form; throws <see cref="PostgresConnectionStringException"/> naming what is wrong.</summary>
    public static PostgresConnectionSettings Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new PostgresConnectionStringException("the connection string is empty");
        return IsUri(text) ? ParseUri(text) : ParseKeyValues(text);
    }

    private static PostgresConnectionSettings ParseUri(string text)
    {
        var rest = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var query = "";
        if (rest.IndexOf('?') is var q and >= 0) (rest, query) = (rest[..q], rest[(q + 1)..]);
        var database = "";
        if (rest.IndexOf('/') is var slash and >= 0) (rest, database) = (rest[..slash], Decode(rest[(slash + 1)..], "database name"));
        string? user = null, password = null;
        if (rest.LastIndexOf('@') is var at and >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            if (userInfo.IndexOf(':') is var colon and >= 0)
                (user, password) = (Decode(userInfo[..colon], "user name"), Decode(userInfo[(colon + 1)..], "password"));
            else user = Decode(userInfo, "user name");
        }
        var (host, port) = SplitHostPort(rest);
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0) throw new PostgresConnectionStringException($"URI parameter '{pair}' has no value (write name=value)");
            values[Decode(pair[..eq], "parameter name")] = Decode(pair[(eq + 1)..], "parameter value");
        }
        var settings = Build(host, port, user, password, database, values, UriParameters);
        return settings;
    }

    private static (string Host, string? Port) SplitHostPort(string text)
    {
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0) throw new PostgresConnectionStringException("the IPv6 host has no closing ']'");
            var after = text[(close + 1)..];
            if (after.Length > 0 && !after.StartsWith(':')) throw new PostgresConnectionStringException($"unexpected '{after}' after the host");
            return (text[1..close], after.Length > 0 ? after[1..] : null);
        }
        return text.IndexOf(':') is var colon and >= 0 ? (Decode(text[..colon], "host"), text[(colon + 1)..]) : (Decode(text, "host"), null);
    }

    private static string Decode(string part, string what)
    {
        try { return Uri.UnescapeDataString(part); }
        catch (UriFormatException) { throw new PostgresConnectionStringException($"the {what} is not valid percent-encoding"); }
    }

    // Names accepted in a URI's query (libpq's) and as keys of the key=value form, each mapped to one setting.
    private static readonly Dictionary<string, string> UriParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sslmode"] = nameof(SslMode), ["connect_timeout"] = nameof(ConnectTimeout), ["command_timeout"] = nameof(CommandTimeout),
        ["application_name"] = nameof(ApplicationName), ["max_pool_size"] = nameof(MaxPoolSize),
    };

    private static readonly Dictionary<string, string> Keys = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Host"] = nameof(Host), ["Server"] = nameof(Host), ["Port"] = nameof(Port),
        ["Username"] = nameof(Username), ["User"] = nameof(Username), ["User ID"] = nameof(Username),
        ["Password"] = nameof(Password), ["Database"] = nameof(Database), ["SslMode"] = nameof(SslMode),
        ["Timeout"] = nameof(ConnectTimeout), ["CommandTimeout"] = nameof(CommandTimeout),
        ["ApplicationName"] = nameof(ApplicationName), ["MaxPoolSize"] = nameof(MaxPoolSize),
    };

    private static PostgresConnectionSettings ParseKeyValues(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var pair = parts[i];
            var eq = pair.IndexOf('=');
            // Not quoted: the part could be a piece of a password.
            if (eq <= 0) throw new PostgresConnectionStringException($"part {i + 1} has no value (write Key=value pairs separated by ';')");
            var key = pair[..eq].Trim();
            if (!Keys.TryGetValue(key, out var setting))
                throw new PostgresConnectionStringException($"unknown key '{key}' (known: {string.Join(", ", Keys.Keys)})");
            values[setting] = pair[(eq + 1)..].Trim();
        }
        values.Remove(nameof(Host), out var host);
        values.Remove(nameof(Port), out var port);
        values.Remove(nameof(Username), out var user);
        values.Remove(nameof(Password), out var password);
        values.Remove(nameof(Database), out var database);
        return Build(host ?? "", port, user, password, database ?? "", values, null);
    }

    private static PostgresConnectionSettings Build(string host, string? port, string? user, string? password, string database,
        Dictionary<string, string> options, Dictionary<string, string>? names)
    {
        if (host.Length == 0) throw new PostgresConnectionStringException("the host is missing");
        if (string.IsNullOrEmpty(user)) throw new PostgresConnectionStringException("the user name is missing");
        var settings = new PostgresConnectionSettings
        {
            Host = host,
            Port = port is null ? DefaultPort : ParsePort(port),
            Username = user,
            Password = password ?? "",
            Database = database.Length > 0 ? database : user,
        };
        foreach (var (name, value) in options)
        {
            var setting = names is null ? name
                : names.TryGetValue(name, out var s) ? s
                : throw new PostgresConnectionStringException($"unknown URI parameter '{name}' (known: {string.Join(", ", names.Keys)})");
            settings = setting switch
            {
                nameof(SslMode) => settings with { SslMode = ParseSslMode(value) },
                nameof(ConnectTimeout) => settings with { ConnectTimeout = TimeSpan.FromSeconds(ParsePositive(value, name)) },
                nameof(CommandTimeout) => settings with { CommandTimeout = TimeSpan.FromSeconds(ParsePositive(value, name)) },
                nameof(ApplicationName) => settings with { ApplicationName = value },
                nameof(MaxPoolSize) => settings with { MaxPoolSize = ParsePositive(value, name) },
                _ => throw new PostgresConnectionStringException($"unknown setting '{name}'"),
            };
        }
        return settings;
    }

    private static int ParsePort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535 ? port
            : throw new PostgresConnectionStringException($"port '{text}' is not a number from 1 to 65535");

    private static int ParsePositive(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : throw new PostgresConnectionStringException($"{name} '{text}' is not a positive whole number");

    private static SslMode ParseSslMode(string text) => text.ToLowerInvariant() switch
    {
        "disable" => SslMode.Disable,
        "prefer" => SslMode.Prefer,
        "require" => SslMode.Require,
        "verify-full" or "verifyfull" => SslMode.VerifyFull,
        _ => throw new PostgresConnectionStringException($"sslmode '{text}' is not one of disable, prefer, require, verify-full"),
    };

    /// <summary>The settings as a URI with the password left out: safe to log.</summary>
    public override string ToString()
    {
        var host = Host.Contains(':') ? $"[{Host}]" : Host;
        var sb = new StringBuilder($"postgres://{Uri.EscapeDataString(Username)}{(Password.Length > 0 ? ":***" : "")}@{host}:{Port}/{Uri.EscapeDataString(Database)}");
        sb.Append("?sslmode=").Append(SslMode == SslMode.VerifyFull ? "verify-full" : SslMode.ToString().ToLowerInvariant());
        return sb.ToString();
    }
}
