using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace OSForAI.Data.Cloud;

/// <summary>Helpers shared by the cloud connectors' error mapping.</summary>
internal static partial class StoreErrors
{
    /// <summary>True for failures to reach or talk to the store at all (refused, reset, timed out).</summary>
    public static bool IsTransport(Exception e, CancellationToken ct) => e switch
    {
        OperationCanceledException => !ct.IsCancellationRequested,
        HttpRequestException or IOException or SocketException or TimeoutException => true,
        AggregateException a => a.InnerExceptions.Count > 0 && a.InnerExceptions.All(i => IsTransport(i, ct)),
        _ => e.InnerException is { } inner && IsTransport(inner, ct),
    };

    /// <summary>A store's error code when it looks like one ("NoSuchKey"), so it can go in a message; never free text.</summary>
    public static string? SafeCode(string? code) => code is not null && CodePattern().IsMatch(code) ? code : null;

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9.]{0,63}$")]
    private static partial Regex CodePattern();
}
