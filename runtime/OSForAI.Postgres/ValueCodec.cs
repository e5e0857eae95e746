using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>Type OIDs (pg_type) this client encodes or decodes.</summary>
public static class TypeOid
{
    public const int Unspecified = 0;
    public const int Bool = 16;
    public const int Bytea = 17;
    public const int Name = 19;
    public const int Int8 = 20;
    public const int Int2 = 21;
    public const int Int4 = 23;
    public const int Text = 25;
    public const int Oid = 26;
    public const int Float4 = 700;
    public const int Float8 = 701;
    public const int Bpchar = 1042;
    public const int Varchar = 1043;
    public const int Timestamp = 1114;
    public const int TimestampTz = 1184;
    public const int Void = 2278;
}

/// <summary>
/// Converts .NET values to parameters (binary format) and column values (text or binary format) back to .NET values:
/// text → string, int2/int4 → int, int8 → long, float4/float8 → double, bool → bool, bytea → byte[], timestamptz → DateTimeOffset.
/// Types it does not know come back as their text.
/// </summary>
public static class ValueCodec
{
    public const short TextFormat = 0;
    public const short BinaryFormat = 1;
    private static readonly DateTimeOffset PostgresEpoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The OID and binary-format bytes of a parameter; null bytes for SQL NULL.</summary>
    public static (int Oid, byte[]? Bytes) EncodeParameter(object? value) => value switch
    {
        null or DBNull => (TypeOid.Unspecified, null),
        string s => (TypeOid.Text, Encoding.UTF8.GetBytes(s)),
        int i => (TypeOid.Int4, BigEndian(4, b => BinaryPrimitives.WriteInt32BigEndian(b, i))),
        long l => (TypeOid.Int8, BigEndian(8, b => BinaryPrimitives.WriteInt64BigEndian(b, l))),
        double d => (TypeOid.Float8, BigEndian(8, b => BinaryPrimitives.WriteDoubleBigEndian(b, d))),
        bool b => (TypeOid.Bool, [b ? (byte)1 : (byte)0]),
        byte[] bytes => (TypeOid.Bytea, bytes),
        DateTimeOffset t => (TypeOid.TimestampTz, BigEndian(8, b => BinaryPrimitives.WriteInt64BigEndian(b, (t - PostgresEpoch).Ticks / 10))),
        _ => throw new ArgumentException($"a parameter of type {value.GetType().Name} is not supported (use string, int, long, double, bool, byte[], DateTimeOffset or null)"),
    };

    private static byte[] BigEndian(int size, SpanAction write)
    {
        var bytes = new byte[size];
        write(bytes);
        return bytes;
    }

    private delegate void SpanAction(Span<byte> bytes);

    public static object? Decode(int oid, short format, ReadOnlySpan<byte> value) =>
        format == BinaryFormat ? DecodeBinary(oid, value) : DecodeText(oid, Encoding.UTF8.GetString(value));

    public static object? DecodeText(int oid, string text) => oid switch
    {
        TypeOid.Bool => text == "t",
        TypeOid.Int2 or TypeOid.Int4 => int.Parse(text, CultureInfo.InvariantCulture),
        TypeOid.Int8 => long.Parse(text, CultureInfo.InvariantCulture),
        TypeOid.Oid => long.Parse(text, CultureInfo.InvariantCulture),
        TypeOid.Float4 or TypeOid.Float8 => ParseDouble(text),
        TypeOid.Bytea => DecodeByteaText(text),
        TypeOid.TimestampTz => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUniversalTime(),
        TypeOid.Timestamp => DateTime.SpecifyKind(DateTime.Parse(text, CultureInfo.InvariantCulture), DateTimeKind.Unspecified),
        TypeOid.Void => null,
        _ => text,
    };

    private static double ParseDouble(string text) => text switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    // bytea_output = hex (the default since 9.0): "\x" then two hex digits a byte.
    private static byte[] DecodeByteaText(string text) =>
        text.StartsWith("\\x", StringComparison.Ordinal) ? Convert.FromHexString(text.AsSpan(2))
            : throw new PostgresProtocolException("bytea came in the escape format; this client reads bytea_output=hex only");

    public static object? DecodeBinary(int oid, ReadOnlySpan<byte> b) => oid switch
    {
        TypeOid.Bool => b[0] != 0,
        TypeOid.Int2 => (int)BinaryPrimitives.ReadInt16BigEndian(b),
        TypeOid.Int4 => BinaryPrimitives.ReadInt32BigEndian(b),
        TypeOid.Int8 => BinaryPrimitives.ReadInt64BigEndian(b),
        TypeOid.Oid => (long)BinaryPrimitives.ReadUInt32BigEndian(b),
        TypeOid.Float4 => (double)BinaryPrimitives.ReadSingleBigEndian(b),
        TypeOid.Float8 => BinaryPrimitives.ReadDoubleBigEndian(b),
        TypeOid.Bytea => b.ToArray(),
        TypeOid.TimestampTz => PostgresEpoch.AddTicks(BinaryPrimitives.ReadInt64BigEndian(b) * 10),
        TypeOid.Void => null,
        TypeOid.Text or TypeOid.Varchar or TypeOid.Bpchar or TypeOid.Name => Encoding.UTF8.GetString(b),
        _ => b.ToArray(),
    };
}
