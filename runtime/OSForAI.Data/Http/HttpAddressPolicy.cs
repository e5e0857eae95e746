using System.Net;
using System.Net.Sockets;

namespace OSForAI.Data.Http;

/// <summary>
/// Where http(s):// may go: public addresses only (unless the operator allows private ones), and
/// redirects only to http(s), never from https down to http, and only so many.
/// </summary>
public static class HttpAddressPolicy
{
    public const string ForbiddenMessage = "http(s):// to private or loopback addresses is not allowed on this server";

    /// <summary>
    /// False for loopback, link-local (incl. cloud metadata 169.254.169.254), private, carrier-grade NAT,
    /// unspecified, multicast and reserved addresses, also when embedded in IPv6 (mapped, NAT64, 6to4).
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return !(b[0] is 0 or 10 or 127            // "this network" (incl. 0.0.0.0), private, loopback
                || b[0] == 169 && b[1] == 254           // link-local, cloud metadata
                || b[0] == 172 && (b[1] & 0xF0) == 16   // 172.16/12
                || b[0] == 192 && b[1] == 168
                || b[0] == 100 && (b[1] & 0xC0) == 64   // carrier-grade NAT 100.64/10
                || b[0] >= 224);                        // multicast, reserved, broadcast
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast) return false;
        // ::/96 covers ::, ::1 and the old IPv4-compatible form.
        if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0) return false;
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that decides.
        if (b.AsSpan(0, 12).SequenceEqual(Nat64Prefix)) return IsPublic(new IPAddress(b.AsSpan(12, 4)));
        if (b[0] == 0x20 && b[1] == 0x02) return IsPublic(new IPAddress(b.AsSpan(2, 4)));
        return true;
    }

    private static readonly byte[] Nat64Prefix = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>Checks one redirect hop (<paramref name="hop"/> counts from 1); throws Upstream when it may not be followed.</summary>
    public static void CheckRedirect(Uri from, Uri to, int hop, int maxRedirects)
    {
        if (hop > maxRedirects)
            throw new DataException(DataError.Upstream, $"more than {maxRedirects} redirects (the last one from {Describe(from)}); not followed");
        if (to.Scheme != Uri.UriSchemeHttp && to.Scheme != Uri.UriSchemeHttps)
            throw new DataException(DataError.Upstream, $"{Describe(from)} redirected to a {to.Scheme}: address; only http(s) redirects are followed");
        if (from.Scheme == Uri.UriSchemeHttps && to.Scheme == Uri.UriSchemeHttp)
            throw new DataException(DataError.Upstream, $"{Describe(from)} redirected from https to plain http; not followed");
        if (!string.IsNullOrEmpty(to.UserInfo))
            throw new DataException(DataError.Upstream, $"{Describe(from)} redirected to an address with credentials; not followed");
    }

    /// <summary>
    /// A SocketsHttpHandler.ConnectCallback that resolves the host itself and connects only to an
    /// address that passed <see cref="IsPublic"/>, so a DNS answer cannot change between check and connect.
    /// </summary>
    public static async ValueTask<Stream> ConnectToPublicAddressAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host.Trim('[', ']');
        var candidates = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = candidates.Where(IsPublic).ToArray();
        if (allowed.Length == 0) throw new DataException(DataError.Forbidden, ForbiddenMessage);
        SocketException? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e) { socket.Dispose(); last = e; }
            catch { socket.Dispose(); throw; }
        }
        throw last!;
    }

    /// <summary>An address for messages: scheme, host and path, never the query (it may hold a signature).</summary>
    public static string Describe(Uri address) => $"{address.Scheme}://{address.Authority}{address.AbsolutePath}";
}
