using System.Globalization;
using OSForAI.Runtime.Catalog;

namespace OSForAI.Server.Http;

/// <summary>
/// Flags an answer that a deprecated version gave: the <c>Deprecation</c> header of RFC 9745 ("@" and the Unix time the version was
/// deprecated), which clients that do not know it ignore. The v1 envelope also says <c>"deprecated": true</c> in its metadata.
/// </summary>
public static class DeprecationHeader
{
    public const string Name = "Deprecation";

    public static void Mark(HttpContext ctx, VersionRecord version)
    {
        if (version.DeprecatedAt is { } at) ctx.Response.Headers[Name] = "@" + at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
    }
}
