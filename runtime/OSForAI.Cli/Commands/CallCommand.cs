using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace OSForAI.Cli.Commands;

/// <summary>How an input is sent to an algorithm.</summary>
internal enum InputKind { Json, Text, Binary }

/// <summary>A call's request body and its content type.</summary>
internal sealed record CallInput(InputKind Kind, byte[] Body)
{
    public string MediaType => Kind switch
    {
        InputKind.Json => "application/json",
        InputKind.Text => "text/plain",
        _ => "application/octet-stream",
    };
}

/// <summary><c>osai call OWNER/NAME[/VERSION] INPUT</c>.</summary>
internal static class CallCommand
{
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static async Task<int> RunAsync(Arguments args, CliHost host)
    {
        args.ExpectPositionals(2, 2, args.Positionals.Count == 0 ? "OWNER/NAME[/VERSION] and INPUT" : "INPUT (text, JSON, @FILE or - for stdin)");
        var path = AlgorithmPath(args.Positionals[0]);
        if (args.Has("json") && args.Has("text"))
            throw new UsageException("--json and --text cannot be used together");
        InputKind? forced = args.Has("json") ? InputKind.Json : args.Has("text") ? InputKind.Text : null;

        var query = new List<string>();
        TimeSpan httpTimeout = Timeout.InfiniteTimeSpan;
        if (args.Get("timeout") is { } timeoutText)
        {
            if (!int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                throw new UsageException($"--timeout must be a whole number of seconds above 0, not '{timeoutText}'");
            query.Add($"timeout={seconds}");
            httpTimeout = TimeSpan.FromSeconds(seconds + 60); // the server enforces the timeout; this is a safety net
        }
        if (args.Has("stdout"))
            query.Add("stdout=true");
        var async = args.Has("async");
        if (async)
        {
            if (args.Get("out") is not null)
                throw new UsageException("--async queues the call: fetch its result with 'osai jobs get ID --wait --out FILE'");
            query.Add("output=void");
        }
        if (query.Count > 0)
            path += "?" + string.Join("&", query);

        var input = ReadInput(args.Positionals[1], forced, host.OpenStandardInput);

        using var client = ClientContext.Create(args, host, httpTimeout);
        using var content = new ByteArrayContent(input.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue(input.MediaType);
        if (input.Kind != InputKind.Binary)
            content.Headers.ContentType.CharSet = "utf-8";
        var response = await client.SendAsync(HttpMethod.Post, path, content);

        var envelope = response.Json;
        if (envelope is { ValueKind: JsonValueKind.Object } obj && obj.Prop("error") is { } error)
        {
            // What the algorithm printed before failing (with --stdout) comes before the error.
            if ((obj.Prop("metadata")?.Str("stdout") ?? error.Str("stdout")) is { Length: > 0 } errorStdout)
                await host.Error.WriteAsync(EndWithNewline(errorStdout));
            throw response.ToError();
        }
        if (!response.IsSuccess)
            throw response.ToError();
        if (envelope is not { ValueKind: JsonValueKind.Object } result || !result.TryGetProperty("result", out var value))
            throw new CliException("unexpected response from the server: no result");

        var metadata = result.Prop("metadata");
        if (async)
        {
            var job = value.Str("request_id") ?? throw new CliException("unexpected response from the server: no request_id for the queued call");
            await host.Out.WriteLineAsync(job);
            await host.Error.WriteLineAsync($"Queued as {job}: 'osai jobs get {job} --wait' waits for its result");
            return 0;
        }
        if (metadata?.Str("stdout") is { Length: > 0 } printed)
            await host.Error.WriteAsync(EndWithNewline(printed));

        // A result over the server's inline limit is stored in the caller's data space and answered by reference.
        if (metadata?.Prop("stored") is { ValueKind: JsonValueKind.Object } stored && stored.Str("uri") is { Length: > 0 } storedUri)
        {
            if (args.Get("out") is { } file)
            {
                await DataCommands.DownloadAsync(client, DataCommands.ParseRemote(storedUri, "stored result"), file, host);
                return 0;
            }
            var size = stored.Prop("size") is { ValueKind: JsonValueKind.Number } n ? UploadProgress.FormatBytes(n.GetInt64()) : "?";
            await host.Out.WriteLineAsync(storedUri);
            await host.Error.WriteLineAsync(
                $"The result ({size}, {stored.Str("content_type") ?? "binary"}) was too large to return inline and is stored at {storedUri}: " +
                $"add --out FILE to save it, or run 'osai data cp {storedUri} FILE'");
            return 0;
        }

        await WriteResultAsync(value, metadata?.Str("content_type"), args.Get("out"), host);
        return 0;
    }

    /// <summary>"v1/algo/OWNER/NAME[/VERSION]" for a reference; a usage error when it is malformed.</summary>
    internal static string AlgorithmPath(string reference)
    {
        var parts = reference.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
            throw new UsageException($"'{reference}' is not an algorithm reference of the form OWNER/NAME or OWNER/NAME/VERSION");
        // '*' stays readable for wildcard versions such as 1.2.* (it is allowed in a path segment).
        return "v1/algo/" + string.Join("/", parts.Select(p => Uri.EscapeDataString(p).Replace("%2A", "*")));
    }

    /// <summary>How a literal INPUT argument is sent when no flag forces it: JSON when it parses, else text.</summary>
    internal static InputKind DetectKind(string input)
    {
        if (string.IsNullOrWhiteSpace(input))
            return InputKind.Text;
        try
        {
            using var _ = JsonDocument.Parse(input);
            return InputKind.Json;
        }
        catch (JsonException)
        {
            return InputKind.Text;
        }
    }

    /// <summary>
    /// Turns INPUT into a request body: <c>@PATH</c> is the file's bytes and <c>-</c> standard input (both binary
    /// unless <paramref name="forced"/>); anything else is JSON when it parses as JSON, else text.
    /// </summary>
    internal static CallInput ReadInput(string input, InputKind? forced, Func<Stream> openStdin)
    {
        if (input == "-")
        {
            using var stdin = openStdin();
            using var buffer = new MemoryStream();
            stdin.CopyTo(buffer);
            return new CallInput(forced ?? InputKind.Binary, buffer.ToArray());
        }
        if (input.Length > 1 && input[0] == '@')
        {
            var file = input[1..];
            try
            {
                return new CallInput(forced ?? InputKind.Binary, File.ReadAllBytes(file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot read input file {file}: {e.Message}", 2);
            }
        }
        var kind = forced ?? DetectKind(input);
        if (kind == InputKind.Json && DetectKind(input) != InputKind.Json)
            throw new UsageException($"--json given but the input is not valid JSON: {Preview(input)}");
        return new CallInput(kind, Encoding.UTF8.GetBytes(input));
    }

    /// <summary>Prints a result by its content type (JSON indented, text as-is, binary as base64), or writes it to <paramref name="outFile"/>.</summary>
    internal static async Task WriteResultAsync(JsonElement value, string? contentType, string? outFile, CliHost host)
    {
        byte[]? bytes = null;
        string? text = null;
        switch (contentType)
        {
            case "void":
                if (outFile is null)
                    return;
                bytes = [];
                break;
            case "binary":
                var base64 = value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText();
                if (outFile is null)
                {
                    text = base64;
                    break;
                }
                try
                {
                    bytes = Convert.FromBase64String(base64);
                }
                catch (FormatException)
                {
                    throw new CliException("the server sent a binary result that is not valid base64");
                }
                break;
            case "text":
                text = value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText();
                break;
            default: // "json" and anything unknown
                text = JsonSerializer.Serialize(value, Indented);
                break;
        }

        if (outFile is not null)
        {
            bytes ??= Encoding.UTF8.GetBytes(text!);
            try
            {
                await File.WriteAllBytesAsync(outFile, bytes);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException($"cannot write {outFile}: {e.Message}", 2);
            }
            await host.Error.WriteLineAsync($"Wrote {UploadProgress.FormatBytes(bytes.Length)} to {outFile}");
            return;
        }
        await host.Out.WriteAsync(EndWithNewline(text!));
    }

    internal static string EndWithNewline(string text) => text.EndsWith('\n') ? text : text + Environment.NewLine;

    private static string Preview(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
