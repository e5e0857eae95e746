using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OSForAI.Cli;
using OSForAI.Cli.Commands;
using OSForAI.Onnx;
using OSForAI.Server;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Cli;

/// <summary>
/// <c>osai data</c>, <c>osai jobs</c>, <c>osai call --out/--async</c>, <c>osai example-model</c> and <c>osai serve</c>'s one-server-per-home
/// lock, run in-process against a real server on loopback (real Python workers). The inline result limit is lowered to 4 KiB so
/// a stored result is quick to make.
/// </summary>
public sealed class CliDataJobsTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private readonly TempDir _local = new();
    private string _alice = "";

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(new Dictionary<string, string?> { ["OSForAI:MaxInlineResultBytes"] = "4096" });
        _alice = await _server.CreateKeyAsync("alice", "call", "publish");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _local.Dispose();
    }

    private sealed record Run(int ExitCode, string Out, string Error, byte[] Stdout);

    private async Task<Run> Osai(string key, params string[] args) => await OsaiWith(key, false, null, args);

    private async Task<Run> OsaiWith(string key, bool terminal, byte[]? stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var stdout = new MemoryStream();
        var host = new CliHost
        {
            Out = output,
            Error = error,
            GetEnvironmentVariable = _ => null,
            UserHome = _local.Path,
            OpenStandardInput = () => new MemoryStream(stdin ?? []),
            OpenStandardOutput = () => stdout,
            ErrorIsTerminal = terminal,
        };
        var code = await OSForAI.Cli.Cli.RunAsync([.. args, "--url", _server.Url, "--key", key], host);
        return new Run(code, output.ToString(), error.ToString(), stdout.ToArray());
    }

    [Fact]
    public async Task Data_files_go_up_and_down_and_are_listed_and_deleted()
    {
        var bytes = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7 % 251)).ToArray();
        var source = Path.Combine(_local.Path, "blob.bin");
        await File.WriteAllBytesAsync(source, bytes);

        var up = await OsaiWith(_alice, true, null, "data", "cp", source, "data://.my/in/");
        Assert.True(up.ExitCode == 0, up.Error);
        Assert.Contains("%", up.Error);                               // live progress on a terminal
        Assert.Contains("Uploaded 293.0 KiB to data://alice/in/blob.bin", up.Error);

        var ls = await Osai(_alice, "data", "ls", "data://.my/in");
        Assert.True(ls.ExitCode == 0, ls.Error);
        var lines = ls.Out.TrimEnd().Split('\n');
        Assert.StartsWith("NAME", lines[0]);
        Assert.Matches(@"^blob\.bin\s+293\.0 KiB\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", lines[1].TrimEnd());

        var root = await Osai(_alice, "data", "ls");
        Assert.Contains("in/", root.Out);

        var down = Path.Combine(_local.Path, "down");
        Directory.CreateDirectory(down);
        var get = await Osai(_alice, "data", "cp", "data://.my/in/blob.bin", down);
        Assert.True(get.ExitCode == 0, get.Error);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(down, "blob.bin")));
        Assert.Single(Directory.GetFiles(down));                       // no temporary file left beside it

        var cat = await Osai(_alice, "data", "cat", "data://.my/in/blob.bin");
        Assert.True(cat.ExitCode == 0, cat.Error);
        Assert.Equal(bytes, cat.Stdout);

        var copy = await Osai(_alice, "data", "cp", "data://.my/in/blob.bin", "data://.my/copy/b2.bin");
        Assert.True(copy.ExitCode == 0, copy.Error);
        var fromStdin = await OsaiWith(_alice, false, "piped"u8.ToArray(), "data", "cp", "-", "data://.my/copy/piped.txt");
        Assert.True(fromStdin.ExitCode == 0, fromStdin.Error);
        using (var admin = _server.ClientFor(_alice))
        {
            Assert.Equal(bytes, await admin.GetByteArrayAsync("/v1/data/alice/copy/b2.bin"));
            Assert.Equal("piped", await admin.GetStringAsync("/v1/data/alice/copy/piped.txt"));
        }

        var notEmpty = await Osai(_alice, "data", "rm", "data://.my/copy");
        Assert.Equal(1, notEmpty.ExitCode);
        Assert.Contains("data://.my/copy is a folder that is not empty: add --recursive", notEmpty.Error);
        var rmFile = await Osai(_alice, "data", "rm", "data://.my/in/blob.bin");
        Assert.True(rmFile.ExitCode == 0, rmFile.Error);
        Assert.Contains("(1 file)", rmFile.Error);
        var rmTree = await Osai(_alice, "data", "rm", "data://.my/copy", "--recursive");
        Assert.True(rmTree.ExitCode == 0, rmTree.Error);
        Assert.Contains("(2 files)", rmTree.Error);
        var gone = await Osai(_alice, "data", "ls", "data://.my/copy/");
        Assert.Equal(1, gone.ExitCode);
    }

    [Fact]
    public async Task Data_errors_are_clear_and_leave_nothing_behind()
    {
        var missing = await Osai(_alice, "data", "cat", "data://.my/nope.txt");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("error: data://alice/nope.txt not found", missing.Error);

        var target = Path.Combine(_local.Path, "x.txt");
        var missingDownload = await Osai(_alice, "data", "cp", "data://.my/nope.txt", target);
        Assert.Equal(1, missingDownload.ExitCode);
        Assert.Empty(Directory.GetFiles(_local.Path));

        Assert.Equal(0, (await OsaiWith(_alice, false, "a"u8.ToArray(), "data", "cp", "-", "data://.my/dir/a.txt")).ExitCode);
        var folder = await Osai(_alice, "data", "cp", "data://.my/dir", target);
        Assert.Equal(2, folder.ExitCode);
        Assert.Contains("data://.my/dir is a folder: name a file", folder.Error);
        Assert.False(File.Exists(target));

        var noFolder = await Osai(_alice, "data", "cp", "data://.my/dir/a.txt", Path.Combine(_local.Path, "no", "such", "x"));
        Assert.Equal(2, noFolder.ExitCode);
        Assert.Contains("there is no folder", noFolder.Error);

        var bothLocal = await Osai(_alice, "data", "cp", "a", "b");
        Assert.Equal(2, bothLocal.ExitCode);
        Assert.Contains("one of SRC and DST must be a data URI", bothLocal.Error);

        var badUri = await Osai(_alice, "data", "ls", "data://.my/../bob/");
        Assert.Equal(2, badUri.ExitCode);
        Assert.Contains("'.' and '..' are not allowed", badUri.Error);

        var others = await Osai(_alice, "data", "ls", "data://bob/");
        Assert.Equal(1, others.ExitCode);
        Assert.StartsWith("error: ", others.Error);

        var localMissing = await Osai(_alice, "data", "cp", Path.Combine(_local.Path, "absent"), "data://.my/x");
        Assert.Equal(2, localMissing.ExitCode);
        Assert.Contains("cannot read", localMissing.Error);
    }

    /// <summary>
    /// A download whose body ends before its Content-Length fails without leaving a file. An in-process fake answers here: the
    /// real server cannot be made to cut a body short on purpose.
    /// </summary>
    [Fact]
    public async Task A_download_cut_short_leaves_no_file()
    {
        var fake = new FakeServer(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[50]) };
            response.Content.Headers.ContentLength = 100;
            response.Headers.AcceptRanges.Add("bytes");
            return response;
        });
        var target = Path.Combine(_local.Path, "short.bin");
        var run = await CliRunner.RunAsync(["data", "cp", "data://alice/f.bin", target, "--url", "http://127.0.0.1:9"], server: fake);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("data://alice/f.bin", run.Error);
        Assert.Empty(Directory.GetFiles(_local.Path));
    }

    [Fact]
    public async Task Call_out_follows_a_stored_result_and_says_where_it_is_without_out()
    {
        await _server.PublishAsync("alice/big", "1.0.0",
            TestServer.Python("def apply(n):\n    return bytes(i % 256 for i in range(n))\n"), client: _server.ClientFor(_alice));

        var file = Path.Combine(_local.Path, "result.bin");
        var saved = await Osai(_alice, "call", "alice/big", "100000", "--out", file);
        Assert.True(saved.ExitCode == 0, saved.Error);
        Assert.Equal(Enumerable.Range(0, 100_000).Select(i => (byte)(i % 256)).ToArray(), await File.ReadAllBytesAsync(file));
        Assert.Contains("Downloaded 97.7 KiB from data://alice/.results/alice/big/", saved.Error);

        var referenced = await Osai(_alice, "call", "alice/big", "100000");
        Assert.True(referenced.ExitCode == 0, referenced.Error);
        Assert.StartsWith("data://alice/.results/alice/big/", referenced.Out);
        Assert.Contains("add --out FILE to save it", referenced.Error);

        var inline = Path.Combine(_local.Path, "small.bin");
        var small = await Osai(_alice, "call", "alice/big", "1000", "--out", inline);
        Assert.True(small.ExitCode == 0, small.Error);
        Assert.Equal(1000, new FileInfo(inline).Length);
    }

    [Fact]
    public async Task Async_calls_are_jobs_to_get_wait_for_and_list()
    {
        await _server.PublishAsync("alice/slow", "1.0.0",
            TestServer.Python("import time\n\ndef apply(x):\n    time.sleep(1.5)\n    return 'done ' + x\n"), client: _server.ClientFor(_alice));

        var queued = await Osai(_alice, "call", "alice/slow", "one", "--async");
        Assert.True(queued.ExitCode == 0, queued.Error);
        var job = queued.Out.Trim();
        Assert.StartsWith("job-", job);

        var early = await Osai(_alice, "jobs", "get", job);
        Assert.Equal(JobsCommands.NotFinished, early.ExitCode);
        Assert.Contains(early.Out.Trim(), new[] { "queued", "running" });

        var waited = await Osai(_alice, "jobs", "get", job, "--wait", "--timeout", "120");
        Assert.True(waited.ExitCode == 0, waited.Error);
        Assert.Equal("done one", waited.Out.Trim());

        var bob = await _server.CreateKeyAsync("bob", "call");
        var bobJob = (await Osai(bob, "call", "alice/slow", "two", "--async")).Out.Trim();
        var aliceList = await Osai(_alice, "jobs", "list");
        Assert.True(aliceList.ExitCode == 0, aliceList.Error);
        Assert.Contains(job, aliceList.Out);
        Assert.DoesNotContain(bobJob, aliceList.Out);                 // only your own jobs
        var adminList = await Osai(_server.AdminKey, "jobs", "list", "--limit", "10");
        Assert.Contains(bobJob, adminList.Out);
        Assert.Contains(job, adminList.Out);
        var bobSeesAlice = await Osai(bob, "jobs", "get", job);
        Assert.Equal(1, bobSeesAlice.ExitCode);

        var badLimit = await _server.ClientFor(_alice).GetAsync("/v1/jobs?limit=0");
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);

        await _server.PublishAsync("alice/fails", "1.0.0", TestServer.Python("def apply(x):\n    raise ValueError('no ' + x)\n"),
            client: _server.ClientFor(_alice));
        var failing = (await Osai(_alice, "call", "alice/fails", "way", "--async")).Out.Trim();
        var failed = await Osai(_alice, "jobs", "get", failing, "--wait", "--timeout", "120");
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("failed: ", failed.Error);
        Assert.Contains("no way", failed.Error);
    }

    [Fact]
    public async Task Example_model_writes_a_model_the_server_accepts()
    {
        var dir = Path.Combine(_local.Path, "linear");
        var run = await CliRunner.RunAsync(["example-model", "linear", dir]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("x FP32 [N,4] -> y FP32 [N,2]", run.Out);
        var info = OnnxModelFile.ReadFile(Path.Combine(dir, "model.onnx"));
        Assert.Equal("x", Assert.Single(info.Inputs).Name);

        var unknown = await CliRunner.RunAsync(["example-model", "resnet", dir]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no example model 'resnet' (known: linear)", unknown.Error);

        // Served: y = [sum(x), mean(x)].
        await _server.PublishModelAsync("alice/linear", "1.0.0", await File.ReadAllBytesAsync(Path.Combine(dir, "model.onnx")));
        using var client = _server.ClientFor(_alice);
        var response = await client.PostAsJsonAsync("/v2/models/alice.linear/infer",
            new { inputs = new[] { new { name = "x", shape = new[] { 2, 4 }, datatype = "FP32", data = new[] { 1f, 2, 3, 4, -1, 0, 0, 1 } } } });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        var data = JsonDocument.Parse(body).RootElement.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(e => e.GetSingle());
        Assert.Equal([10f, 2.5f, 0f, 0f], data);
    }
}
