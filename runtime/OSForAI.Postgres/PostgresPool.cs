using System.Collections.Concurrent;

namespace OSForAI.Postgres;

/// <summary>
/// A bounded pool of connections to one server: at most MaxPoolSize open at once, a renter waits up to the connect timeout
/// for one. A returned connection is kept only if it is healthy and idle (an open transaction is rolled back first);
/// a broken one is discarded, and an idle one the server closed meanwhile is noticed and replaced when rented.
/// </summary>
public sealed class PostgresPool(PostgresConnectionSettings settings) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(settings.MaxPoolSize, settings.MaxPoolSize);
    private readonly ConcurrentStack<PostgresConnection> _idle = new();
    private volatile bool _disposed;

    public PostgresConnectionSettings Settings { get; } = settings;

    /// <summary>Connections open and not rented (for tests and diagnostics).</summary>
    public int IdleCount => _idle.Count;

    public PooledConnection Rent()
    {
        if (!_slots.Wait(Settings.ConnectTimeout)) throw Exhausted();
        try { return new PooledConnection(this, TakeIdle() ?? PostgresConnection.Open(Settings)); }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    public async Task<PooledConnection> RentAsync(CancellationToken ct = default)
    {
        if (!await _slots.WaitAsync(Settings.ConnectTimeout, ct)) throw Exhausted();
        try { return new PooledConnection(this, TakeIdle() ?? await PostgresConnection.OpenAsync(Settings, ct)); }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    private PostgresConnection? TakeIdle()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (_idle.TryPop(out var c))
        {
            if (c.IsIdleAndHealthy) return c;
            c.Dispose();
        }
        return null;
    }

    private TimeoutException Exhausted() =>
        new($"all {Settings.MaxPoolSize} PostgreSQL connections stayed in use for {Settings.ConnectTimeout.TotalSeconds:0.#} s");

    internal void Return(PostgresConnection connection)
    {
        try
        {
            if (!connection.IsBroken && connection.TransactionStatus != 'I') connection.ExecuteScript("ROLLBACK");
        }
        catch (Exception e) when (e is PostgresException or PostgresProtocolException or TimeoutException)
        {
            connection.Dispose();
        }
        if (_disposed || !connection.IsIdleAndHealthy) connection.Dispose();
        else _idle.Push(connection);
        _slots.Release();
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryPop(out var c)) c.Dispose();
    }
}

/// <summary>A connection rented from a <see cref="PostgresPool"/>; disposing it returns it.</summary>
public sealed class PooledConnection : IDisposable, IAsyncDisposable
{
    private readonly PostgresPool _pool;
    private PostgresConnection? _connection;

    internal PooledConnection(PostgresPool pool, PostgresConnection connection)
    {
        _pool = pool;
        _connection = connection;
    }

    public PostgresConnection Connection => _connection ?? throw new ObjectDisposedException(nameof(PooledConnection));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } c) _pool.Return(c);
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
