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
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            foreach (var (path, text) in files)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
        }
        return ms.ToArray();
    }
}
