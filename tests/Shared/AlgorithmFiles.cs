using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace OSForAI.Testing;

/// <summary>Inline algorithm folders for tests and benchmarks: a manifest plus code, packed as the upload format.</summary>
public static class AlgorithmFiles
{
    /// <summary>A one-file Python algorithm with a manifest.</summary>
    public static Dictionary<string, string> Python(string mainPy, string manifestExtra = "") => new()
    {
        ["algorithm.yaml"] = "runtime: python3\nentrypoint: main:apply\n" + manifestExtra,
        ["main.py"] = mainPy,
    };

    /// <summary>The files as a .tar.gz, the format POST /v1/algorithms/{owner}/{name}/builds takes as application/gzip.</summary>
    public static byte[] TarGz(IDictionary<string, string> files)
    {
        return TarGz(files.ToDictionary(f => f.Key, f => Encoding.UTF8.GetBytes(f.Value)));
    }

    public static byte[] TarGz(IDictionary<string, byte[]> files)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            foreach (var (path, bytes) in files)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(bytes) });
        }
        return ms.ToArray();
    }

    /// <summary>An ONNX model upload: model.onnx, algorithm.yaml (runtime onnx plus <paramref name="manifestExtra"/>) and extra text files.</summary>
    public static byte[] Model(byte[] onnx, string? manifestExtra = null, IDictionary<string, string>? extraFiles = null)
    {
        var files = new Dictionary<string, byte[]>
        {
            ["model.onnx"] = onnx,
            ["algorithm.yaml"] = Encoding.UTF8.GetBytes("runtime: onnx\nmodel: model.onnx\n" + (manifestExtra ?? "")),
        };
        foreach (var (path, text) in extraFiles ?? new Dictionary<string, string>()) files[path] = Encoding.UTF8.GetBytes(text);
        return TarGz(files);
    }
}
