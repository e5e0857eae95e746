using System.Buffers;

namespace OSForAI.Data.Cloud;

/// <summary>
/// Reads an upload's content in fixed-size chunks for a store's multipart (S3) or block (Azure)
/// upload, holding at most two pooled chunks: the next chunk is read while the previous one is sent.
/// </summary>
internal sealed class ChunkedContent : IDisposable
{
    /// <summary>Dedicated pool, so a few idle upload buffers are kept rather than one set per core.</summary>
    private static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(maxArrayLength: 64 * 1024 * 1024, maxArraysPerBucket: 8);

    private readonly Stream _content;
    private readonly int _chunkSize;
    private byte[] _current;
    private byte[] _next;
    private int _currentCount;
    private int _nextCount;
    private bool _nextRead;

    private ChunkedContent(Stream content, int chunkSize)
    {
        _content = content;
        _chunkSize = chunkSize;
        _current = Pool.Rent(chunkSize);
        _next = Pool.Rent(chunkSize);
    }

    /// <summary>Reads the first chunk (and, when it is full, the second, to learn whether there is more).</summary>
    public static async Task<ChunkedContent> ReadFirstAsync(Stream content, int chunkSize, CancellationToken ct)
    {
        var chunks = new ChunkedContent(content, chunkSize);
        try
        {
            chunks._currentCount = await chunks.FillAsync(chunks._current, ct);
            if (chunks._currentCount == chunkSize)
            {
                chunks._nextCount = await chunks.FillAsync(chunks._next, ct);
                chunks._nextRead = true;
            }
            return chunks;
        }
        catch
        {
            chunks.Dispose();
            throw;
        }
    }

    /// <summary>True once reading the content itself failed (as opposed to sending it), e.g. a client disconnect or a size limit.</summary>
    public bool ContentFailed { get; private set; }

    /// <summary>True when the whole content is the first chunk.</summary>
    public bool IsSingleChunk => _currentCount < _chunkSize || _nextRead && _nextCount == 0;

    /// <summary>The first chunk; valid until <see cref="UploadAllAsync"/> or <see cref="Dispose"/>.</summary>
    public ArraySegment<byte> First => new(_current, 0, _currentCount);

    /// <summary>
    /// Sends every chunk in order (index from 0), reading the next one meanwhile. A failure of the
    /// content stream or of <paramref name="send"/> propagates once no send is still using a buffer.
    /// Returns the total bytes sent.
    /// </summary>
    public async Task<long> UploadAllAsync(Func<int, ArraySegment<byte>, Task> send, CancellationToken ct)
    {
        long total = 0;
        var index = 0;
        while (_currentCount > 0)
        {
            var sending = send(index++, new ArraySegment<byte>(_current, 0, _currentCount));
            if (!_nextRead && _currentCount == _chunkSize)
            {
                try { _nextCount = await FillAsync(_next, ct); }
                catch
                {
                    try { await sending; } catch { /* the read failure is the one to report */ }
                    throw;
                }
                _nextRead = true;
            }
            await sending;
            total += _currentCount;
            if (!_nextRead) break;
            (_current, _next) = (_next, _current);
            _currentCount = _nextCount;
            _nextCount = 0;
            _nextRead = false;
        }
        _currentCount = 0;
        return total;
    }

    private async Task<int> FillAsync(byte[] buffer, CancellationToken ct)
    {
        var filled = 0;
        try
        {
            while (filled < _chunkSize)
            {
                var n = await _content.ReadAsync(buffer.AsMemory(filled, _chunkSize - filled), ct);
                if (n == 0) break;
                filled += n;
            }
        }
        catch
        {
            ContentFailed = true;
            throw;
        }
        return filled;
    }

    public void Dispose()
    {
        if (_current.Length == 0) return;
        Pool.Return(_current);
        Pool.Return(_next);
        _current = _next = [];
    }
}
