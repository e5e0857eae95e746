using System.Text;
using OSForAI.Postgres;

namespace OSForAI.Tests.Postgres;

/// <summary>The client's parts that need no server: SCRAM, message framing, value codecs, connection strings.</summary>
public sealed class PostgresCodecTests
{
    [Fact]
    public void Scram_reproduces_the_RFC_7677_exchange()
    {
        // RFC 7677 section 3: user "user", password "pencil".
        var scram = new ScramSha256("pencil", "user", "rOprNGfwEbeRWgbNEkqO");
        Assert.Equal("n,,n=user,r=rOprNGfwEbeRWgbNEkqO", scram.ClientFirstMessage);
        var final = scram.ClientFinalMessage("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        Assert.Equal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final);
        scram.VerifyServerFinal("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    [Fact]
    public void Scram_refuses_a_server_that_does_not_know_the_password_or_changes_the_nonce()
    {
        var scram = new ScramSha256("pencil", "user", "rOprNGfwEbeRWgbNEkqO");
        scram.ClientFinalMessage("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        Assert.Contains("signature is wrong", Assert.Throws<PostgresProtocolException>(
            () => scram.VerifyServerFinal("v=" + Convert.ToBase64String(new byte[32]))).Message);
        Assert.Contains("refused", Assert.Throws<PostgresProtocolException>(() => scram.VerifyServerFinal("e=invalid-proof")).Message);
        Assert.Contains("nonce", Assert.Throws<PostgresProtocolException>(
            () => new ScramSha256("pencil", "user", "abc").ClientFinalMessage("r=xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")).Message);
    }

    [Fact]
    public void Frontend_messages_carry_their_type_and_a_length_that_counts_itself()
    {
        var w = new MessageWriter();
        w.Start('Q').WriteCString("SELECT 1").End();
        w.Start(null).WriteInt32(80877103).End();
        Assert.Equal([(byte)'Q', 0, 0, 0, 13, .. "SELECT 1"u8, 0, 0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F], w.Written.ToArray());
        Assert.Throws<ArgumentException>(() => new MessageWriter().Start('Q').WriteCString("a\0b"));
    }

    [Fact]
    public async Task Backend_messages_are_read_whole_and_errors_keep_their_fields()
    {
        var error = Frame('E', [.. "SERROR\0"u8, .. "C23505\0"u8, .. "Mduplicate key\0"u8, .. "DKey (id)=(1) already exists.\0"u8, 0]);
        var ready = Frame('Z', "I"u8.ToArray());
        var reader = new MessageReader(new MemoryStream([.. error, .. ready]));
        var e = (await reader.ReadAsync(async: true, CancellationToken.None)).ToException();
        Assert.Equal(PostgresException.UniqueViolation, e.SqlState);
        Assert.Equal("duplicate key", e.MessageText);
        Assert.Equal("Key (id)=(1) already exists.", e.Detail);
        var z = await reader.ReadAsync(async: false, CancellationToken.None);
        Assert.Equal('Z', z.Type);
        Assert.Equal((byte)'I', z.ReadByte());
        await Assert.ThrowsAsync<PostgresProtocolException>(async () =>
            await new MessageReader(new MemoryStream([(byte)'D', 0, 0, 0, 2])).ReadAsync(async: true, CancellationToken.None));
    }

    private static byte[] Frame(char type, byte[] body) =>
        [(byte)type, .. BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(body.Length + 4)), .. body];

    [Fact]
    public void Values_decode_from_text_and_binary_and_parameters_encode_in_binary()
    {
        Assert.Equal(true, ValueCodec.DecodeText(TypeOid.Bool, "t"));
        Assert.Equal(42, ValueCodec.DecodeText(TypeOid.Int4, "42"));
        Assert.Equal(1L << 40, ValueCodec.DecodeText(TypeOid.Int8, "1099511627776"));
        Assert.Equal(2.5, ValueCodec.DecodeText(TypeOid.Float8, "2.5"));
        Assert.Equal(new byte[] { 0, 0xff }, ValueCodec.DecodeText(TypeOid.Bytea, "\\x00ff"));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 600, TimeSpan.Zero), ValueCodec.DecodeText(TypeOid.TimestampTz, "2026-01-02 03:04:05.6+00"));
        Assert.Equal("x", ValueCodec.DecodeText(TypeOid.Text, "x"));

        foreach (var value in new object[] { 7, -7L, 1.25, true, new byte[] { 1, 2 }, "héllo", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero) })
        {
            var (oid, bytes) = ValueCodec.EncodeParameter(value);
            var back = ValueCodec.DecodeBinary(oid, bytes);
            Assert.Equal(value is int i ? i : value, back);
        }
        Assert.Equal((TypeOid.Unspecified, (byte[]?)null), ValueCodec.EncodeParameter(null));
        Assert.Contains("Guid", Assert.Throws<ArgumentException>(() => ValueCodec.EncodeParameter(Guid.NewGuid())).Message);
    }

    [Fact]
    public void Connection_uris_are_percent_decoded_and_default_sensibly()
    {
        var s = PostgresConnectionSettings.Parse("postgresql://app%40corp:p%3Ass%2Fw%40rd@db.example.com:6543/my%20db?sslmode=verify-full&connect_timeout=5");
        Assert.Equal(("app@corp", "p:ss/w@rd", "db.example.com", 6543, "my db", SslMode.VerifyFull, TimeSpan.FromSeconds(5)),
            (s.Username, s.Password, s.Host, s.Port, s.Database, s.SslMode, s.ConnectTimeout));
        var d = PostgresConnectionSettings.Parse("postgres://bob@[::1]");
        Assert.Equal(("bob", "", "::1", 5432, "bob", SslMode.Prefer), (d.Username, d.Password, d.Host, d.Port, d.Database, d.SslMode));
    }

    [Fact]
    public void Key_value_connection_strings_parse_case_insensitively()
    {
        var s = PostgresConnectionSettings.Parse("Host=h; Port=5433; Username=u; Password=p=q; Database=d; SslMode=Require; CommandTimeout=9");
        Assert.Equal(("h", 5433, "u", "p=q", "d", SslMode.Require, TimeSpan.FromSeconds(9)),
            (s.Host, s.Port, s.Username, s.Password, s.Database, s.SslMode, s.CommandTimeout));
    }

    [Theory]
    [InlineData("postgres://u:secretpw@h:99999/d", "port '99999'")]
    [InlineData("postgres://u:secretpw@h/d?sslmode=maybe", "sslmode 'maybe'")]
    [InlineData("postgres://u:secretpw@h/d?colour=blue", "unknown URI parameter 'colour'")]
    [InlineData("postgres://u:secretpw@/d", "host is missing")]
    [InlineData("postgres://h/d", "user name is missing")]
    [InlineData("Host=h;Username=u;Password=secretpw;Colour=blue", "unknown key 'Colour'")]
    [InlineData("Host=h;Username=u;secretpw", "has no value")]
    [InlineData("", "empty")]
    public void Bad_connection_strings_name_the_bad_part_and_never_the_password(string text, string expected)
    {
        var e = Assert.Throws<PostgresConnectionStringException>(() => PostgresConnectionSettings.Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("secretpw", e.Message);
    }

    [Fact]
    public void Settings_print_without_the_password()
    {
        var text = PostgresConnectionSettings.Parse("postgres://u:secretpw@h:5/d?sslmode=require").ToString();
        Assert.Equal("postgres://u:***@h:5/d?sslmode=require", text);
    }
}
