using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace OSForAI.Testing;

/// <summary>
/// Python wheels written by hand (a wheel is a zip with a .dist-info folder: METADATA, WHEEL and RECORD), for tests and
/// benchmarks that install requirements without the package index: put them in a folder and give it to the server as
/// OSForAI:Build:Python:FindLinks.
/// </summary>
public static class Wheels
{
    /// <summary>
    /// Writes <c>NAME-VERSION-py3-none-any.whl</c> into <paramref name="folder"/> holding <paramref name="files"/> (paths inside
    /// site-packages, e.g. "tinya/__init__.py"), which depends on <paramref name="requires"/> (PEP 508 requirements). Returns its path.
    /// </summary>
    public static string Write(string folder, string name, string version, IReadOnlyDictionary<string, byte[]> files, params string[] requires)
    {
        Directory.CreateDirectory(folder);
        var dist = name.Replace('-', '_');
        var info = $"{dist}-{version}.dist-info";
        var metadata = new StringBuilder($"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        foreach (var r in requires) metadata.Append("Requires-Dist: ").Append(r).Append('\n');
        var entries = new Dictionary<string, byte[]>(files)
        {
            [$"{info}/METADATA"] = Encoding.UTF8.GetBytes(metadata.Append('\n').ToString()),
            [$"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: osforai-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"u8.ToArray(),
        };
        var record = new StringBuilder();
        foreach (var (entry, bytes) in entries)
            record.Append(entry).Append(",sha256=").Append(Convert.ToBase64String(SHA256.HashData(bytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_'))
                .Append(',').Append(bytes.Length).Append('\n');
        record.Append(info).Append("/RECORD,,\n");
        entries[$"{info}/RECORD"] = Encoding.UTF8.GetBytes(record.ToString());
        var path = Path.Combine(folder, $"{dist}-{version}-py3-none-any.whl");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entry, bytes) in entries)
        {
            var e = zip.CreateEntry(entry, CompressionLevel.Fastest);
            using var s = e.Open();
            s.Write(bytes);
        }
        return path;
    }

    /// <summary>A one-module package: <c>NAME/__init__.py</c> with <paramref name="init"/>.</summary>
    public static string Module(string folder, string name, string version, string init, params string[] requires) =>
        Write(folder, name, version, new Dictionary<string, byte[]> { [$"{name.Replace('-', '_')}/__init__.py"] = Encoding.UTF8.GetBytes(init) }, requires);
}
