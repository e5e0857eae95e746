using System.Globalization;
using System.Net;

namespace OSForAI.Cli;

/// <summary>
/// HTTP content that streams a seekable source and reports how many bytes have been sent.
/// The source is rewound on each send, so a retried request sends it whole again.
/// </summary>
internal sealed class ProgressContent : HttpContent
{
    private const int ChunkSize = 64 * 1024;
    private readonly Stream _source;
    private readonly long _length;
    private readonly Action<long, long> _progress;

    /// <param name="source">Seekable data to send (not disposed by this content).</param>
    /// <param name="progress">Called with (bytes sent, total bytes) after each chunk.</param>
    public ProgressContent(Stream source, Action<long, long> progress)
    {
        if (!source.CanSeek)
            throw new ArgumentException("the source must be seekable", nameof(source));
        _source = source;
        _length = source.Length;
        _progress = progress;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _source.Position = 0;
        var buffer = new byte[ChunkSize];
        long sent = 0;
        _progress(0, _length);
        int read;
        while ((read = await _source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            sent += read;
            _progress(sent, _length);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }
}

/// <summary>Shows upload or download progress on standard error: a live line on a terminal, and a final summary line.</summary>
internal sealed class UploadProgress(TextWriter error, bool live, string label)
{
    private int _lastPercent = -1;
    private bool _drawn;

    /// <summary>Shows <paramref name="sent"/> of <paramref name="total"/> bytes; a negative total is an unknown size.</summary>
    public void Report(long sent, long total)
    {
        if (!live)
            return;
        if (total < 0)
        {
            var mib = (int)(sent >> 20);   // unknown size: redraw once per MiB
            if (mib == _lastPercent && sent > 0)
                return;
            _lastPercent = mib;
            error.Write($"\r{label} {FormatBytes(sent)}   ");
        }
        else
        {
            var percent = total == 0 ? 100 : (int)(sent * 100 / total);
            if (percent == _lastPercent)
                return;
            _lastPercent = percent;
            error.Write($"\r{label} {percent,3}%  {FormatBytes(sent)} / {FormatBytes(total)}   ");
        }
        error.Flush();
        _drawn = true;
    }

    /// <summary>Ends the live line (if any) and prints the summary.</summary>
    public void Complete(string summary)
    {
        if (_drawn)
            error.Write('\r' + new string(' ', 60) + '\r');
        error.WriteLine(summary);
    }

    /// <summary>Clears a live line after a failure so the error starts on a fresh line.</summary>
    public void Abort()
    {
        if (_drawn)
            error.WriteLine();
    }

    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
    };
}
