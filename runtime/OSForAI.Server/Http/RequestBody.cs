using System.Buffers;
using System.IO.Pipelines;

namespace OSForAI.Server.Http;

/// <summary>Reads request bodies with a hard size limit, also for chunked bodies without Content-Length.</summary>
public static class RequestBody
{
    public static async Task<byte[]> ReadAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength is { } declared && declared > limit) throw ApiErrors.TooLarge(limit);
        var reader = request.BodyReader;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            if (buffer.Length > limit)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw ApiErrors.TooLarge(limit);
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                var bytes = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                return bytes;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Fails fast with 413 when Content-Length already says the body is too large (streaming readers enforce the rest).</summary>
    public static void RejectIfDeclaredOver(HttpRequest request, long limit)
    {
        if (request.ContentLength is { } declared && declared > limit) throw ApiErrors.TooLarge(limit);
    }
}
