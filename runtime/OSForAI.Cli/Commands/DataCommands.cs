using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using OSForAI.Data;

namespace OSForAI.Cli.Commands;

/// <summary>
/// <c>osai data ls|cp|rm|cat</c>: the data API (docs/data.md) from the command line. Remote paths are URIs
/// (<c>data://.my/in/a.csv</c>, <c>s3+prod://bucket/key</c>, ...); anything without "://" is a local path.
/// </summary>
internal static class DataCommands
{
    private const int BufferSize = 256 * 1024;

    public static async Task<int> ListAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(0, 1, "");
        var uri = ParseRemote(args.Positionals.Count == 0 ? "data://.my/" : args.Positionals[0], "ls");
        using var client = ClientContext.Create(args, host);

        if (!uri.IsDirectory)
        {
            // A file is listed as itself; a path without a trailing slash may also be a folder.
            using var head = await client.SendUncheckedAsync(HttpMethod.Head, ApiPath(uri), null);
            if (head.StatusCode == HttpStatusCode.NotFound)
                throw new CliException($"{uri} not found", 1);
            if (!head.IsSuccessStatusCode)
                throw (await ClientContext.ReadErrorAsync(head)).ToError();
            if (IsFile(head))
            {
                TableWriter.Write(host.Out, ["NAME", "SIZE", "MODIFIED"],
                [[uri.Name, head.Content.Headers.ContentLength is { } size ? UploadProgress.FormatBytes(size) : null,
                  head.Content.Headers.LastModified is { } at ? TableWriter.Time(at.ToString("o", CultureInfo.InvariantCulture)) : null]]);
                return 0;
            }
        }

        var rows = new List<IReadOnlyList<string?>>();
        string? marker = null;
        do
        {
            var path = ApiPath(uri.AsDirectory()) + (marker is null ? "" : "?marker=" + Uri.EscapeDataString(marker));
            var page = (await client.SendJsonAsync(HttpMethod.Get, path)).EnsureSuccess();
            rows.AddRange(page.Items("folders").Select(f => (IReadOnlyList<string?>)[f.Str("name") + "/", null, null]));
            rows.AddRange(page.Items("files").Select(f => (IReadOnlyList<string?>)
            [
                f.Str("filename"),
                f.Prop("size") is { ValueKind: JsonValueKind.Number } n && n.TryGetInt64(out var bytes) ? UploadProgress.FormatBytes(bytes) : null,
                TableWriter.Time(f.Str("last_modified")),
            ]));
            marker = page.Str("marker") is { Length: > 0 } next && next != marker ? next : null;
        }
        while (marker is not null);

        TableWriter.Write(host.Out, ["NAME", "SIZE", "MODIFIED"], rows);
        return 0;
    }

    public static async Task<int> CopyAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(2, 2, args.Positionals.Count == 0 ? "SRC and DST" : "DST");
        var (source, target) = (args.Positionals[0], args.Positionals[1]);
        var (remoteSource, remoteTarget) = (IsRemote(source), IsRemote(target));
        if (!remoteSource && !remoteTarget)
            throw new UsageException("one of SRC and DST must be a data URI such as data://.my/file (both are local paths)");

        using var client = ClientContext.Create(args, host, Timeout.InfiniteTimeSpan);
        if (remoteSource && !remoteTarget)
        {
            var from = ParseRemote(source, "SRC");
            if (target == "-")
                await WriteToStdoutAsync(client, from, host);
            else
                await DownloadAsync(client, from, LocalTarget(target, from), host);
        }
        else if (!remoteSource)
            await UploadAsync(client, source, ParseRemote(target, "DST"), host);
        else
            await CopyRemoteAsync(client, ParseRemote(source, "SRC"), ParseRemote(target, "DST"), host);
        return 0;
    }

    public static async Task<int> RemoveAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "the URI to delete");
        var uri = ParseRemote(args.Positionals[0], "rm");
        var recursive = args.Has("recursive");
        using var client = ClientContext.Create(args, host);
        var response = await client.SendAsync(HttpMethod.Delete, ApiPath(uri) + (recursive ? "?force=true" : ""), null);
        if (response.Status == HttpStatusCode.Conflict && !recursive)
            throw new CliException($"{uri} is a folder that is not empty: add --recursive to delete it and everything in it", 1);
        var result = response.EnsureSuccess();
        var deleted = result.Prop("result")?.Prop("deleted") is { ValueKind: JsonValueKind.Number } n ? n.GetInt64() : 0;
        await host.Error.WriteLineAsync($"Deleted {uri} ({deleted} file{(deleted == 1 ? "" : "s")})");
        return 0;
    }

    public static async Task<int> CatAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(1, 1, "the URI of a file");
        var uri = ParseRemote(args.Positionals[0], "cat");
        using var client = ClientContext.Create(args, host, Timeout.InfiniteTimeSpan);
        await WriteToStdoutAsync(client, uri, host);
        return 0;
    }

    /// <summary>Whether a command-line path is a remote URI ("scheme://...") rather than a local path.</summary>
    internal static bool IsRemote(string path) => path.Contains("://", StringComparison.Ordinal);

    internal static StorageUri ParseRemote(string text, string what)
    {
        try
        {
            return StorageUri.Parse(text);
        }
        catch (DataException e)
        {
            throw new UsageException($"{what}: '{text}' is not a usable data URI: {e.Message}");
        }
    }

    /// <summary>The API path of a URI: /v1/data/OWNER/... for data://, /v1/connector/SCHEME[+LABEL]/... for the other stores.</summary>
    internal static string ApiPath(StorageUri uri)
    {
        if (uri.Address is { } address)
            return $"v1/connector/{uri.Scheme}/{address.Authority}{address.AbsolutePath}";
        var parts = new List<string>();
        if (StorageUri.ContainerSchemes.Contains(uri.Scheme))
            parts.Add(uri.Container);
        parts.AddRange(uri.Segments);
        var prefix = uri.Scheme == "data" ? "v1/data" : "v1/connector/" + Uri.EscapeDataString(uri.ConnectorKey);
        var path = prefix + "/" + string.Join('/', parts.Select(Uri.EscapeDataString));
        return uri.IsDirectory && uri.Segments.Count > 0 ? path + "/" : path;
    }

    /// <summary>Downloads a file to <paramref name="file"/>: written beside it under a temporary name and moved into place
    /// when whole, so a broken transfer leaves the old file (or none).</summary>
    internal static async Task DownloadAsync(ClientContext client, StorageUri uri, string file, CliHost host)
    {
        var full = Path.GetFullPath(file);
        if (!Directory.Exists(Path.GetDirectoryName(full)))
            throw new CliException($"cannot write {file}: there is no folder {Path.GetDirectoryName(full)}", 2);
        using var response = await OpenFileAsync(client, uri);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.osai-{Guid.NewGuid():N}.part");
        var progress = new UploadProgress(host.Error, host.ErrorIsTerminal, "Downloading");
        long copied;
        try
        {
            await using (var output = OpenLocal(temp, file))
                copied = await CopyBodyAsync(response, output, uri, progress);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            progress.Abort();
            TryDelete(temp);
            throw new CliException($"cannot write {file}: {e.Message}", 2);
        }
        catch
        {
            progress.Abort();
            TryDelete(temp);
            throw;
        }
        progress.Complete($"Downloaded {UploadProgress.FormatBytes(copied)} from {uri} to {file}");
    }

    private static async Task UploadAsync(ClientContext client, string source, StorageUri target, CliHost host)
    {
        Stream input;
        string name;
        if (source == "-")
        {
            input = host.OpenStandardInput();
            name = "stdin";
        }
        else
        {
            if (Directory.Exists(source))
                throw new CliException($"{source} is a folder: osai data cp copies one file", 2);
            try
            {
                input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read {source}: {e.Message}", 2);
            }
            name = Path.GetFileName(source);
        }
        if (target.IsDirectory)
        {
            if (source == "-")
                throw new UsageException("DST must name a file when SRC is standard input (it ends in '/')");
            target = target.Child(name);
        }

        await using (input)
        {
            var progress = new UploadProgress(host.Error, host.ErrorIsTerminal, "Uploading");
            HttpContent content = input.CanSeek ? new ProgressContent(input, progress.Report) : new StreamContent(input, BufferSize);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using (content)
            {
                var result = await PutAsync(client, target, content, progress);
                var size = result.Prop("size") is { ValueKind: JsonValueKind.Number } n ? UploadProgress.FormatBytes(n.GetInt64()) : "the file";
                progress.Complete($"Uploaded {size} to {result.Str("result") ?? target.ToString()}");
            }
        }
    }

    /// <summary>Remote to remote: the source streams through this process into the target (never whole in memory).</summary>
    private static async Task CopyRemoteAsync(ClientContext client, StorageUri source, StorageUri target, CliHost host)
    {
        if (target.IsDirectory)
            target = target.Child(source.Name);
        using var response = await OpenFileAsync(client, source);
        var progress = new UploadProgress(host.Error, host.ErrorIsTerminal, "Copying");
        await using var body = await response.Content.ReadAsStreamAsync();
        var length = response.Content.Headers.ContentLength;
        using var content = new StreamContent(new CountingStream(body, n => progress.Report(n, length ?? -1)), BufferSize);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (length is { } known)
            content.Headers.ContentLength = known;
        var result = await PutAsync(client, target, content, progress);
        var size = result.Prop("size") is { ValueKind: JsonValueKind.Number } n ? n.GetInt64() : 0;
        progress.Complete($"Copied {UploadProgress.FormatBytes(size)} from {source} to {result.Str("result") ?? target.ToString()}");
    }

    /// <summary>PUTs <paramref name="content"/> to <paramref name="target"/>; on any failure the progress line is cleared before the error.</summary>
    private static async Task<JsonElement> PutAsync(ClientContext client, StorageUri target, HttpContent content, UploadProgress progress)
    {
        ApiResponse response;
        try
        {
            response = await client.SendAsync(HttpMethod.Put, ApiPath(target), content);
        }
        catch
        {
            progress.Abort();
            throw;
        }
        if (!response.IsSuccess)
        {
            progress.Abort();
            throw response.ToError();
        }
        return response.EnsureSuccess();
    }

    private static async Task WriteToStdoutAsync(ClientContext client, StorageUri uri, CliHost host)
    {
        using var response = await OpenFileAsync(client, uri);
        await host.Out.FlushAsync();
        var stdout = host.OpenStandardOutput();
        await CopyBodyAsync(response, stdout, uri, progress: null);
        await stdout.FlushAsync();
    }

    /// <summary>GETs a file; a clear error when the URI is a folder (the server answers a folder's listing there).</summary>
    private static async Task<HttpResponseMessage> OpenFileAsync(ClientContext client, StorageUri uri)
    {
        if (uri.IsDirectory)
            throw new CliException($"{uri} is a folder: name a file (osai data ls {uri} shows what is in it)", 2);
        var response = await client.SendForStreamAsync(HttpMethod.Get, ApiPath(uri), null);
        if (!IsFile(response))
        {
            response.Dispose();
            throw new CliException($"{uri} is a folder: name a file (osai data ls {uri} shows what is in it)", 2);
        }
        return response;
    }

    /// <summary>Files are answered with Accept-Ranges: bytes; folders (listings, or a bare 200 to HEAD) without.</summary>
    private static bool IsFile(HttpResponseMessage response) => response.Headers.AcceptRanges.Contains("bytes");

    /// <summary>
    /// Copies a response body, checking it arrived whole; returns the bytes copied. A broken download is a
    /// <see cref="CliException"/>; failures to write <paramref name="output"/> propagate as they are.
    /// </summary>
    private static async Task<long> CopyBodyAsync(HttpResponseMessage response, Stream output, StorageUri uri, UploadProgress? progress)
    {
        var length = response.Content.Headers.ContentLength;
        long copied = 0;
        var buffer = new byte[BufferSize];
        Stream body;
        try
        {
            body = await response.Content.ReadAsStreamAsync();
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new CliException($"the transfer of {uri} failed: {e.Message}", 1);
        }
        await using (body)
        {
            progress?.Report(0, length ?? -1);
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer);
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    throw new CliException($"the transfer of {uri} broke off after {UploadProgress.FormatBytes(copied)}: {e.Message}", 1);
                }
                if (read == 0)
                    break;
                await output.WriteAsync(buffer.AsMemory(0, read));
                copied += read;
                progress?.Report(copied, length ?? -1);
            }
        }
        if (length is { } expected && copied != expected)
            throw new CliException($"the transfer of {uri} ended after {copied} of {expected} bytes", 1);
        return copied;
    }

    private static FileStream OpenLocal(string temp, string shownAs)
    {
        try
        {
            return new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write {shownAs}: {e.Message}", 2);
        }
    }

    /// <summary>The local file a download goes to: DST, or DST/NAME when DST is a folder (or ends in '/').</summary>
    private static string LocalTarget(string target, StorageUri source) =>
        target.EndsWith('/') || target.EndsWith(Path.DirectorySeparatorChar) || Directory.Exists(target)
            ? Path.Combine(target, source.Name)
            : target;

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>A read-only pass-through that reports how many bytes have been read.</summary>
    private sealed class CountingStream(Stream inner, Action<long> report) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int n)
        {
            _read += n;
            report(_read);
            return n;
        }
    }
}
