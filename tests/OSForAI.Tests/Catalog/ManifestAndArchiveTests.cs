using System.Formats.Tar;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Storage;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Catalog;

public sealed class ManifestAndArchiveTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public void Manifest_defaults_and_validation()
    {
        var m = AlgorithmManifest.Parse("runtime: python3\nconcurrency: 4\nresources:\n  memory_mb: 256\n  gpu_memory_mb: 1024\ntags: [a, b]\n");
        Assert.Equal("main:apply", m.Entrypoint);
        Assert.Equal(4, m.Concurrency);
        Assert.Equal(1024, m.Resources.GpuMemoryMb);
        Assert.Equal(["a", "b"], m.Tags);
        Assert.Contains("runtime", Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("entrypoint: main:apply\n")).Message);
        Assert.Contains("unknown runtime", Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("runtime: cobol\n")).Message);
        Assert.Contains("entrypoint", Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("runtime: python3\nentrypoint: 'os; rm -rf'\n")).Message);
        Assert.Contains("concurrency", Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("runtime: python3\nconcurrency: 0\n")).Message);
        Assert.Contains("not valid YAML", Assert.Throws<CatalogException>(() => AlgorithmManifest.Parse("runtime: [python3\n")).Message);
    }

    [Fact]
    public void Migrations_are_recorded_and_reopening_is_idempotent()
    {
        var path = Path.Combine(Path.GetTempPath(), "osai-db-" + Guid.NewGuid().ToString("N") + ".db");
        var db = new SqliteDatabase(path, TimeProvider.System);
        Assert.Equal(SchemaMigrations.All.Max(m => m.Version), db.SchemaVersion);
        var again = new SqliteDatabase(path, TimeProvider.System);
        Assert.Equal(db.SchemaVersion, again.SchemaVersion);
        Assert.Equal("wal", Convert.ToString(again.Query("PRAGMA journal_mode", r => r.GetString(0)).Single()));
    }

    private async Task<(HttpStatusCode, string)> UploadAsync(byte[] archive, string contentType = "application/gzip", string name = "arch")
    {
        var s = fixture.Server;
        await s.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "pat", name });
        var content = new ByteArrayContent(archive);
        content.Headers.ContentType = new(contentType);
        var r = await s.Admin.PostAsync($"/v1/algorithms/pat/{name}/builds", content);
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Archive_with_parent_traversal_is_rejected()
    {
        using var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "algorithm.yaml") { DataStream = new MemoryStream("runtime: python3\n"u8.ToArray()) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "../../escaped.py") { DataStream = new MemoryStream("x"u8.ToArray()) });
        }
        var (status, body) = await UploadAsync(ms.ToArray(), "application/x-tar");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("outside the archive", body);
        Assert.False(File.Exists(Path.Combine(fixture.Server.Home, "escaped.py")));
    }

    [Fact]
    public async Task Archive_with_symlink_is_rejected()
    {
        using var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "algorithm.yaml") { DataStream = new MemoryStream("runtime: python3\n"u8.ToArray()) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "main.py") { LinkName = "/etc/passwd" });
        }
        var (status, body) = await UploadAsync(ms.ToArray(), "application/x-tar");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("only plain files", body);
    }

    [Fact]
    public async Task Garbage_upload_and_missing_manifest_are_clear_errors()
    {
        var (status, body) = await UploadAsync("this is not gzip"u8.ToArray());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not a valid archive", body);
        (status, body) = await UploadAsync(TestServer.TarGz(new Dictionary<string, string> { ["main.py"] = "def apply(x): return x" }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("algorithm.yaml", body);
        (status, body) = await UploadAsync("x"u8.ToArray(), "application/zip");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
    }

    [Fact]
    public async Task Single_python_file_upload_is_callable()
    {
        var s = fixture.Server;
        await s.Admin.PostAsJsonAsync("/v1/algorithms", new { owner = "pat", name = "single" });
        var content = new StringContent("def apply(x):\n    return x + 1\n");
        var r = await s.Admin.PostAsync("/v1/algorithms/pat/single/builds?filename=adder.py", content);
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var build = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("adder:apply", build.GetProperty("entrypoint").GetString());
        await s.Admin.PostAsJsonAsync("/v1/algorithms/pat/single/versions", new { build = build.GetProperty("build").GetString(), version = "0.1.0" });
        var (status, body) = await TestServer.CallAsync(s.Admin, "/v1/algo/pat/single", TestServer.Json("41"));
        Assert.Equal(200, status);
        Assert.Equal(42, body.GetProperty("result").GetInt32());
        // The code is kept in the platform's own data space.
        var info = await s.Admin.GetFromJsonAsync<JsonElement>("/v1/algorithms/pat/single/versions/0.1.0");
        Assert.StartsWith("data://.osforai/code/pat/single/", info.GetProperty("code_uri").GetString());
    }
}
