using OSForAI.Tests.Support;
using static OSForAI.Tests.Support.TestServer;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// The host takes a worker's channel only from the process it started. Here an impostor gets there first: a process
/// outside the worker's process tree (double-forked away from it) connects to the channel socket and says hello in the
/// worker's name; it could read the worker's secret too, and so complete the handshake. The host must drop it before
/// the handshake, keep waiting for the real worker, and serve calls normally. Run without bubblewrap, where nothing else
/// stops such a process (same uid, the secret readable), so that the peer check alone is tested.
/// </summary>
public sealed class ChannelTests
{
    private const string Impostor = """
        import os, socket, struct, sys, time
        def main():
            # Outside the worker's tree for sure: wait until the subshell that started us is gone and we are reparented,
            # so that the worker's process (argv[2]) is no longer among our ancestors.
            def ancestors():
                pid, seen = os.getpid(), []
                while pid > 1:
                    try:
                        with open("/proc/%d/stat" % pid) as f:
                            pid = int(f.read().rsplit(")", 1)[1].split()[1])
                    except OSError:
                        return None          # an ancestor exited while we walked: look again
                    seen.append(pid)
                return seen
            while True:
                chain = ancestors()
                if chain is not None and int(sys.argv[2]) not in chain:
                    break
                time.sleep(0.01)
            path = os.environ["OSAI_WORKER_ADDRESS"][5:]
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            open(sys.argv[1] + ".connected", "w").close()
            hello = ('{"type":"hello","protocol":1,"runtime":"python3","runner":"impostor","pid":%d,"worker_id":"%s","nonce":"%s"}'
                     % (os.getpid(), os.environ.get("OSAI_WORKER_ID", ""), os.urandom(32).hex())).encode()
            s.settimeout(10)
            try:
                # The host may drop us before we even get to say hello: that is a refusal too.
                s.sendall(struct.pack(">II", len(hello), 0) + hello)
                got = s.recv(4096)
                verdict = "received a frame: %r" % got[:200] if got else "closed by the host"
            except (BrokenPipeError, ConnectionResetError):
                verdict = "closed by the host"
            except OSError as e:
                verdict = "error: %s" % e
            with open(sys.argv[1], "w") as f:
                f.write(verdict)
        try:
            main()
        except BaseException as e:
            with open(sys.argv[1], "w") as f:
                f.write("impostor crashed: %r" % (e,))
        """;

    [Fact]
    public async Task A_process_outside_the_workers_tree_cannot_take_its_channel_even_with_the_secret()
    {
        var dir = Path.Combine(Path.GetTempPath(), "osai-impostor-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var impostor = Path.Combine(dir, "impostor.py");
            var verdict = Path.Combine(dir, "verdict.txt");
            await File.WriteAllTextAsync(impostor, Impostor);
            // The "interpreter" the server starts: the first worker it starts (publishing starts one to check the build, the call
            // may start another) sends the impostor off (a subshell that exits at once, so the impostor's parent becomes init),
            // waits until it has connected, then becomes the real Python; later workers start as they are. mkdir is atomic: one
            // impostor, one verdict. The wait (up to 45 s, inside the 60-s start timeout below) outlasts a loaded machine: were the
            // worker to start first, it would finish its build check and be gone before the impostor reached its socket.
            var python = Path.Combine(dir, "python3");
            await File.WriteAllTextAsync(python,
                $"#!/bin/sh\nif mkdir '{dir}/impostor-sent' 2>/dev/null; then\n" +
                $"( /usr/bin/python3 '{impostor}' '{verdict}' $$ & )\n" +
                $"i=0; while [ ! -e '{verdict}.connected' ] && [ $i -lt 900 ]; do sleep 0.05; i=$((i+1)); done\nfi\n" +
                "exec /usr/bin/python3 \"$@\"\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(python, (UnixFileMode)0b111_101_101);

            var logs = new CapturedLogs();
            await using var s = await TestServer.StartAsync(new Dictionary<string, string?>
            {
                ["OSForAI:Workers:Sandbox"] = "none",
                ["OSForAI:Workers:PythonPath"] = python,
                ["OSForAI:Workers:WarmGenericWorkers"] = "0",
                ["OSForAI:Workers:StartTimeout"] = "00:01:00",
            }, logs: logs);
            await s.PublishAsync("alice/genuine", "1.0.0", Python("def apply(x):\n    return 'genuine ' + x\n"));
            var (status, body) = await CallAsync(s.Admin, "/v1/algo/alice/genuine/1.0.0", Text("answer"));
            Assert.True(status == 200, body.ToString());
            Assert.Equal("genuine answer", body.GetProperty("result").GetString());

            for (var i = 0; i < 300 && !File.Exists(verdict); i++) await Task.Delay(100);
            Assert.True(File.Exists(verdict), "the impostor never reported: it did not get to connect first");
            // Dropped: the host closed the connection (cleanly, or with a reset or broken pipe before the hello was read).
            Assert.Equal("closed by the host", await File.ReadAllTextAsync(verdict));
            Assert.Contains(logs.Entries, e => e.Message.Contains("refused a connection to a worker's channel"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
