using System.Buffers.Binary;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>Type bytes of the backend messages this client handles.</summary>
internal static class BackendType
{
    public const char Authentication = 'R';
    public const char BackendKeyData = 'K';
    public const char ParameterStatus = 'S';
    public const char ReadyForQuery = 'Z';
    public const char ErrorResponse = 'E';
    public const char NoticeResponse = 'N';
    public const char NotificationResponse = 'A';
    public const char ParseComplete = '1';
    public const char BindComplete = '2';
    public const char CloseComplete = '3';
    public const char ParameterDescription = 't';
    public const char RowDescription = 'T';
    public const char NoData = 'n';
    public const char DataRow = 'D';
    public const char CommandComplete = 'C';
    public const char EmptyQueryResponse = 'I';
    public const char PortalSuspended = 's';
}

/// <summary>One message from the server: its type and body, read front to back.</summary>
internal sealed class BackendMessage(char type, byte[] body)
{
    private int _at;

    public char Type { get; } = type;
    public byte[] Body { get; } = body;

    public byte ReadByte() => Body[_at++];

    public short ReadInt16()
    {
        var v = BinaryPrimitives.ReadInt16BigEndian(Body.AsSpan(_at));
        _at += 2;
        return v;
    }

    public int ReadInt32()
    {
        var v = BinaryPrimitives.ReadInt32BigEndian(Body.AsSpan(_at));
        _at += 4;
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || _at + count > Body.Length) throw new PostgresProtocolException($"a '{Type}' message is shorter than it says");
        var span = Body.AsSpan(_at, count);
        _at += count;
        return span;
    }

    public ReadOnlySpan<byte> Rest() => ReadBytes(Body.Length - _at);

    public string ReadCString()
    {
        var end = Array.IndexOf(Body, (byte)0, _at);
        if (end < 0) throw new PostgresProtocolException($"a string in a '{Type}' message is not terminated");
        var s = Encoding.UTF8.GetString(Body, _at, end - _at);
        _at = end + 1;
        return s;
    }

    /// <summary>The fields of an ErrorResponse or NoticeResponse, by their one-letter codes.</summary>
    public Dictionary<char, string> ReadFields()
    {
        var fields = new Dictionary<char, string>();
        while (ReadByte() is var code and not 0) fields[(char)code] = ReadCString();
        return fields;
    }

    public PostgresException ToException()
    {
        var f = ReadFields();
        return new PostgresException(f.GetValueOrDefault('C') ?? "XX000", f.GetValueOrDefault('V') ?? f.GetValueOrDefault('S') ?? "ERROR",
            f.GetValueOrDefault('M') ?? "unknown error", f.GetValueOrDefault('D'), f.GetValueOrDefault('H'));
    }
}

/// <summary>Reads framed backend messages (type byte, Int32 length, body) from a stream.</summary>
internal sealed class MessageReader(Stream stream)
{
    /// <summary>Larger messages are refused rather than allocated (a broken stream, not a real row).</summary>
    public const int MaxMessageBytes = 1 << 30;
    private readonly byte[] _header = new byte[5];

    public async ValueTask<BackendMessage> ReadAsync(bool async, CancellationToken ct)
    {
        await FillAsync(_header, async, ct);
        var length = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(1));
        if (length < 4 || length > MaxMessageBytes) throw new PostgresProtocolException($"a backend message claims {length} bytes");
        var body = new byte[length - 4];
        await FillAsync(body, async, ct);
        return new BackendMessage((char)_header[0], body);
    }

    /// <summary>Reads exactly one byte (the answer to an SSLRequest).</summary>
    public async ValueTask<byte> ReadSingleByteAsync(bool async, CancellationToken ct)
    {
        var one = new byte[1];
        await FillAsync(one, async, ct);
        return one[0];
    }

    private async ValueTask FillAsync(byte[] buffer, bool async, CancellationToken ct)
    {
        if (async) await stream.ReadExactlyAsync(buffer, ct);
        else stream.ReadExactly(buffer);
    }
}
