using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace OSForAI.Postgres;

/// <summary>
/// One connection speaking the PostgreSQL frontend/backend protocol v3: startup with TLS (SSLRequest) and trust, cleartext,
/// MD5 or SCRAM-SHA-256 authentication; statements through the extended query protocol (Parse/Bind/Describe/Execute/Sync)
/// with typed parameters $1..$n; scripts (several statements, no parameters) through the simple query protocol. An
/// ErrorResponse becomes a <see cref="PostgresException"/> after the connection has read on to ReadyForQuery, so it stays
/// usable. A command that times out or is cancelled is cancelled on the server (CancelRequest) and the connection is broken.
/// Not thread-safe: one command at a time (the pool hands a connection to one user at a time).
/// Every operation has a synchronous and an asynchronous form sharing one implementation: with async false every await
/// below completes synchronously on blocking socket calls.
/// </summary>
public sealed class PostgresConnection : IDisposable, IAsyncDisposable
{
    private const int ProtocolVersion3 = 3 << 16;
    private const int SslRequestCode = 80877103;
    private const int CancelRequestCode = 80877102;
    private const byte TlsAccepted = (byte)'S';
    private const byte TlsRefused = (byte)'N';
    private const char Idle = 'I';

    private readonly PostgresConnectionSettings _settings;
    private readonly Socket _socket;
    private readonly MessageWriter _writer = new();
    private Stream _stream;
    private MessageReader _reader;
    private int _processId;
    private int _secretKey;

    private PostgresConnection(PostgresConnectionSettings settings, Socket socket)
    {
        _settings = settings;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new MessageReader(_stream);
    }

    /// <summary>The transaction status from the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' in a failed one.</summary>
    public char TransactionStatus { get; private set; } = Idle;

    /// <summary>Whether the connection failed (I/O, protocol, timeout, cancellation) and must be discarded.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Whether the connection looks usable: not broken, no transaction open and nothing unread from the server.</summary>
    public bool IsIdleAndHealthy
    {
        get
        {
            if (IsBroken || TransactionStatus != Idle) return false;
            try { return !_socket.Poll(0, SelectMode.SelectRead); }   // readable while idle: closed by the server, or it said FATAL
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
        }
    }

    public static PostgresConnection Open(PostgresConnectionSettings settings) =>
        OpenCoreAsync(settings, async: false, CancellationToken.None).GetAwaiter().GetResult();

    public static Task<PostgresConnection> OpenAsync(PostgresConnectionSettings settings, CancellationToken ct = default) =>
        OpenCoreAsync(settings, async: true, ct).AsTask();

    private static async ValueTask<PostgresConnection> OpenCoreAsync(PostgresConnectionSettings settings, bool async, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        PostgresConnection? connection = null;
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            // Socket.Connect has no timeout; the connect itself always goes through ConnectAsync with the connect timeout.
            var connect = socket.ConnectAsync(settings.Host, settings.Port, timeout.Token);
            if (async) await connect; else connect.AsTask().GetAwaiter().GetResult();
            socket.ReceiveTimeout = socket.SendTimeout = (int)settings.ConnectTimeout.TotalMilliseconds;
            connection = new PostgresConnection(settings, socket);
            await connection.NegotiateTlsAsync(async, timeout.Token);
            await connection.StartupAsync(async, timeout.Token);
            return connection;
        }
        catch (Exception e) when (e is not PostgresException and not PostgresProtocolException)
        {
            if (connection is not null) connection.Dispose(); else socket.Dispose();
            if (ct.IsCancellationRequested) throw new OperationCanceledException(ct);
            var what = timeout.IsCancellationRequested || e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } }
                ? $"did not answer within {settings.ConnectTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new PostgresProtocolException($"cannot connect to PostgreSQL at {settings.Host}:{settings.Port}: {what}", e);
        }
        catch
        {
            if (connection is not null) connection.Dispose(); else socket.Dispose();
            throw;
        }
    }

    private async ValueTask NegotiateTlsAsync(bool async, CancellationToken ct)
    {
        if (_settings.SslMode == SslMode.Disable) return;
        await _writer.Start(null).WriteInt32(SslRequestCode).End().FlushAsync(_stream, async, ct);
        var answer = await _reader.ReadSingleByteAsync(async, ct);
        if (answer == TlsRefused)
        {
            if (_settings.SslMode == SslMode.Prefer) return;
            throw new PostgresProtocolException($"sslmode={_settings.SslMode} but the server at {_settings.Host}:{_settings.Port} does not accept TLS");
        }
        if (answer != TlsAccepted) throw new PostgresProtocolException($"the server answered the SSLRequest with byte {answer}");
        var verify = _settings.SslMode == SslMode.VerifyFull;
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false,
            verify ? null : (_, _, _, _) => true);   // prefer/require encrypt without checking who answers, as libpq does
        var options = new SslClientAuthenticationOptions { TargetHost = _settings.Host };
        if (async) await tls.AuthenticateAsClientAsync(options, ct);
        else tls.AuthenticateAsClient(options);
        _stream = tls;
        _reader = new MessageReader(tls);
    }

    private async ValueTask StartupAsync(bool async, CancellationToken ct)
    {
        _writer.Start(null).WriteInt32(ProtocolVersion3);
        foreach (var (name, value) in new[]
        {
            ("user", _settings.Username), ("database", _settings.Database), ("application_name", _settings.ApplicationName),
            ("client_encoding", "UTF8"), ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"),
        })
            _writer.WriteCString(name).WriteCString(value);
        await _writer.WriteByte(0).End().FlushAsync(_stream, async, ct);

        ScramSha256? scram = null;
        while (true)
        {
            var m = await _reader.ReadAsync(async, ct);
            switch (m.Type)
            {
                case BackendType.Authentication:
                    scram = await AuthenticateAsync(m, scram, async, ct);
                    break;
                case BackendType.BackendKeyData:
                    _processId = m.ReadInt32();
                    _secretKey = m.ReadInt32();
                    break;
                case BackendType.ReadyForQuery:
                    TransactionStatus = (char)m.ReadByte();
                    return;
                case BackendType.ErrorResponse:
                    throw m.ToException();
                case BackendType.ParameterStatus or BackendType.NoticeResponse:
                    break;
                default:
                    throw new PostgresProtocolException($"unexpected message '{m.Type}' during startup");
            }
        }
    }

    private enum AuthRequest { Ok = 0, CleartextPassword = 3, Md5Password = 5, Sasl = 10, SaslContinue = 11, SaslFinal = 12 }

    private async ValueTask<ScramSha256?> AuthenticateAsync(BackendMessage m, ScramSha256? scram, bool async, CancellationToken ct)
    {
        var request = (AuthRequest)m.ReadInt32();
        switch (request)
        {
            case AuthRequest.Ok:
                return scram;
            case AuthRequest.CleartextPassword:
                await SendPasswordAsync(Encoding.UTF8.GetBytes(RequirePassword()), async, ct);
                return scram;
            case AuthRequest.Md5Password:
            {
                var salt = m.ReadBytes(4).ToArray();
                var inner = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(RequirePassword() + _settings.Username)));
                var outer = Convert.ToHexStringLower(MD5.HashData([.. Encoding.ASCII.GetBytes(inner), .. salt]));
                await SendPasswordAsync(Encoding.ASCII.GetBytes("md5" + outer), async, ct);
                return scram;
            }
            case AuthRequest.Sasl:
            {
                var mechanisms = new List<string>();
                while (m.ReadCString() is { Length: > 0 } name) mechanisms.Add(name);
                if (!mechanisms.Contains(ScramSha256.Mechanism))
                    throw new PostgresProtocolException($"the server offers SASL mechanisms {string.Join(", ", mechanisms)}; this client speaks {ScramSha256.Mechanism}");
                scram = new ScramSha256(RequirePassword());
                var first = Encoding.UTF8.GetBytes(scram.ClientFirstMessage);
                _writer.Start('p').WriteCString(ScramSha256.Mechanism).WriteInt32(first.Length).WriteBytes(first).End();
                await _writer.FlushAsync(_stream, async, ct);
                return scram;
            }
            case AuthRequest.SaslContinue when scram is not null:
                // SASLResponse: the bytes alone, no terminator.
                var final = Encoding.UTF8.GetBytes(scram.ClientFinalMessage(Encoding.UTF8.GetString(m.Rest())));
                await _writer.Start('p').WriteBytes(final).End().FlushAsync(_stream, async, ct);
                return scram;
            case AuthRequest.SaslFinal when scram is not null:
                scram.VerifyServerFinal(Encoding.UTF8.GetString(m.Rest()));
                return scram;
            default:
                throw new PostgresProtocolException($"the server asks for authentication method {(int)request}, which this client does not support (trust, password, md5, scram-sha-256)");
        }
    }

    private string RequirePassword() => _settings.Password.Length > 0 ? _settings.Password
        : throw new PostgresProtocolException($"the server asks user '{_settings.Username}' for a password and the connection string has none");

    /// <summary>PasswordMessage: the password (cleartext or md5-hashed), NUL-terminated.</summary>
    private ValueTask SendPasswordAsync(byte[] password, bool async, CancellationToken ct) =>
        _writer.Start('p').WriteBytes(password).WriteByte(0).End().FlushAsync(_stream, async, ct);

    /// <summary>Runs one statement with positional parameters ($1 is args[0]).</summary>
    public PostgresResult Query(string sql, params object?[] args) =>
        RunAsync((a, t) => ExtendedQueryAsync(sql, args, a, t), async: false, CancellationToken.None).GetAwaiter().GetResult();

    public Task<PostgresResult> QueryAsync(string sql, IReadOnlyList<object?> args, CancellationToken ct = default) =>
        RunAsync((a, t) => ExtendedQueryAsync(sql, args, a, t), async: true, ct).AsTask();

    /// <summary>Runs statements separated by semicolons, without parameters (DDL, BEGIN/COMMIT).</summary>
    public void ExecuteScript(string sql) =>
        RunAsync((a, t) => SimpleQueryAsync(sql, a, t), async: false, CancellationToken.None).GetAwaiter().GetResult();

    public Task ExecuteScriptAsync(string sql, CancellationToken ct = default) =>
        RunAsync((a, t) => SimpleQueryAsync(sql, a, t), async: true, ct).AsTask();

    public PostgresTransaction BeginTransaction()
    {
        ExecuteScript("BEGIN");
        return new PostgresTransaction(this);
    }

    public async Task<PostgresTransaction> BeginTransactionAsync(CancellationToken ct = default)
    {
        await ExecuteScriptAsync("BEGIN", ct);
        return new PostgresTransaction(this);
    }

    private async ValueTask<T> RunAsync<T>(Func<bool, CancellationToken, ValueTask<T>> operation, bool async, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(IsBroken, this);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_settings.CommandTimeout);
        _socket.ReceiveTimeout = _socket.SendTimeout = (int)_settings.CommandTimeout.TotalMilliseconds;
        try
        {
            return await operation(async, timeout.Token);
        }
        catch (PostgresException)
        {
            throw;   // the server reported an error and the connection read on to ReadyForQuery: still in step
        }
        catch (Exception e)
        {
            var timedOut = timeout.IsCancellationRequested && !ct.IsCancellationRequested
                || e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } };
            if (timedOut || ct.IsCancellationRequested) SendCancelRequest();
            Dispose();
            if (ct.IsCancellationRequested) throw new OperationCanceledException("the PostgreSQL command was cancelled", e, ct);
            if (timedOut) throw new TimeoutException($"the PostgreSQL command did not finish within {_settings.CommandTimeout.TotalSeconds:0.#} s", e);
            if (e is PostgresProtocolException) throw;
            throw new PostgresProtocolException($"the connection to PostgreSQL at {_settings.Host}:{_settings.Port} failed: {e.Message}", e);
        }
    }

    private async ValueTask<PostgresResult> ExtendedQueryAsync(string sql, IReadOnlyList<object?> args, bool async, CancellationToken ct)
    {
        var parameters = args.Select(ValueCodec.EncodeParameter).ToList();
        _writer.Start('P').WriteCString("").WriteCString(sql).WriteInt16(checked((short)parameters.Count));
        foreach (var (oid, _) in parameters) _writer.WriteInt32(oid);
        _writer.End();
        // All parameters go in binary; all results come back as text, which every type has.
        _writer.Start('B').WriteCString("").WriteCString("").WriteInt16(1).WriteInt16(ValueCodec.BinaryFormat)
            .WriteInt16((short)parameters.Count);
        foreach (var (_, bytes) in parameters)
        {
            _writer.WriteInt32(bytes?.Length ?? -1);
            if (bytes is not null) _writer.WriteBytes(bytes);
        }
        _writer.WriteInt16(0).End();
        _writer.Start('D').WriteByte((byte)'P').WriteCString("").End();
        _writer.Start('E').WriteCString("").WriteInt32(0).End();
        _writer.Start('S').End();
        await _writer.FlushAsync(_stream, async, ct);
        return await ReadResultsAsync(async, ct);
    }

    private async ValueTask<PostgresResult> SimpleQueryAsync(string sql, bool async, CancellationToken ct)
    {
        await _writer.Start('Q').WriteCString(sql).End().FlushAsync(_stream, async, ct);
        return await ReadResultsAsync(async, ct);
    }

    /// <summary>Reads up to ReadyForQuery; the last statement's rows and tag are the result, an error is thrown after.</summary>
    private async ValueTask<PostgresResult> ReadResultsAsync(bool async, CancellationToken ct)
    {
        PostgresException? error = null;
        var columns = new List<(PostgresColumn Column, short Format)>();
        var rows = new List<object?[]>();
        var tag = "";
        while (true)
        {
            var m = await _reader.ReadAsync(async, ct);
            switch (m.Type)
            {
                case BackendType.RowDescription:
                    columns.Clear();
                    rows.Clear();
                    for (int i = 0, n = m.ReadInt16(); i < n; i++)
                    {
                        var name = m.ReadCString();
                        m.ReadInt32(); m.ReadInt16();   // table OID and column number
                        var oid = m.ReadInt32();
                        m.ReadInt16(); m.ReadInt32();   // type size and modifier
                        columns.Add((new PostgresColumn(name, oid), m.ReadInt16()));
                    }
                    break;
                case BackendType.DataRow:
                {
                    var row = new object?[m.ReadInt16()];
                    for (var i = 0; i < row.Length; i++)
                    {
                        var length = m.ReadInt32();
                        row[i] = length < 0 ? null : ValueCodec.Decode(columns[i].Column.TypeOid, columns[i].Format, m.ReadBytes(length));
                    }
                    rows.Add(row);
                    break;
                }
                case BackendType.CommandComplete:
                    tag = m.ReadCString();
                    break;
                case BackendType.ErrorResponse:
                    error ??= m.ToException();
                    break;
                case BackendType.ReadyForQuery:
                    TransactionStatus = (char)m.ReadByte();
                    if (error is not null) throw error;
                    return new PostgresResult(columns.Select(c => c.Column).ToList(), rows, RowsIn(tag), tag);
                case BackendType.ParseComplete or BackendType.BindComplete or BackendType.CloseComplete or BackendType.NoData
                    or BackendType.EmptyQueryResponse or BackendType.PortalSuspended or BackendType.ParameterDescription
                    or BackendType.NoticeResponse or BackendType.ParameterStatus or BackendType.NotificationResponse:
                    break;
                default:
                    throw new PostgresProtocolException($"unexpected message '{m.Type}' in a query's response");
            }
        }
    }

    // "INSERT 0 3", "UPDATE 2", "DELETE 1", "SELECT 5": the count is the last word.
    private static long RowsIn(string tag) =>
        tag.LastIndexOf(' ') is var space and > 0 && long.TryParse(tag.AsSpan(space + 1), out var n) ? n : 0;

    /// <summary>Asks the server, on a separate connection, to cancel what this one is running (best effort).</summary>
    private void SendCancelRequest()
    {
        if (_processId == 0) return;
        try
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            socket.ConnectAsync(_settings.Host, _settings.Port, cts.Token).AsTask().GetAwaiter().GetResult();
            var request = new MessageWriter().Start(null).WriteInt32(CancelRequestCode).WriteInt32(_processId).WriteInt32(_secretKey).End();
            socket.Send(request.Written.Span);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            // The connection is dropped anyway; the server ends the command when it notices.
        }
    }

    public void Dispose()
    {
        if (IsBroken) return;
        IsBroken = true;
        try
        {
            if (_socket.Connected) _stream.Write([(byte)'X', 0, 0, 0, 4]);   // Terminate
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
        _stream.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A transaction on one connection: committed explicitly, rolled back when disposed without a commit.</summary>
public sealed class PostgresTransaction(PostgresConnection connection) : IDisposable, IAsyncDisposable
{
    private bool _done;

    public PostgresConnection Connection { get; } = connection;

    public void Commit() => Finish("COMMIT");
    public void Rollback() => Finish("ROLLBACK");

    public async Task CommitAsync(CancellationToken ct = default)
    {
        _done = true;
        await Connection.ExecuteScriptAsync("COMMIT", ct);
    }

    private void Finish(string command)
    {
        _done = true;
        Connection.ExecuteScript(command);
    }

    public void Dispose()
    {
        if (_done || Connection.IsBroken) return;
        Rollback();
    }

    public async ValueTask DisposeAsync()
    {
        if (_done || Connection.IsBroken) return;
        _done = true;
        await Connection.ExecuteScriptAsync("ROLLBACK");
    }
}
