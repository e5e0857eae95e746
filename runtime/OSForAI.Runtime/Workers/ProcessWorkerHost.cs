using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace OSForAI.Runtime.Workers;

/// <summary>Starts generic workers. Backends (child process, sandbox, container, pod) hide behind this.</summary>
public interface IWorkerHost
{
    IReadOnlyCollection<string> RuntimeKinds { get; }
    /// <summary>Starts one generic worker of <paramref name="runtime"/> and returns it after its hello.</summary>
    Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct);
}

/// <summary>
/// Workers as child processes talking over a Unix domain socket in the home's run/ folder,
/// inside a bubblewrap sandbox when one is configured or available (see <see cref="BubblewrapSandbox"/>).
/// </summary>
public sealed class ProcessWorkerHost : IWorkerHost
{
    private readonly OsaiOptions _options;
    private readonly ILogger<ProcessWorkerHost> _log;
    private readonly string _runDir;
    private readonly BubblewrapSandbox? _sandbox;
    private long _counter;

    public ProcessWorkerHost(IOptions<OsaiOptions> options, ILogger<ProcessWorkerHost> log)
    {
        _options = options.Value;
        _log = log;
        // Unix socket paths are limited to ~108 bytes; fall back to the temp folder for deep homes.
        _runDir = _options.RunRoot.Length < 70 ? _options.RunRoot : Path.Combine(Path.GetTempPath(), "osai-" + Environment.ProcessId);
        Directory.CreateDirectory(_runDir);
        if (BubblewrapSandbox.ShouldUse(_options.Workers, out var whyNot))
        {
            Directory.CreateDirectory(_options.CodeCacheRoot);
            _sandbox = new BubblewrapSandbox(_options.Workers.BubblewrapPath, Path.GetFullPath(_options.Home), _options.CodeCacheRoot, _runDir,
                Path.GetDirectoryName(PythonRunnerPath)!, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
            _log.LogInformation("workers run in a bubblewrap sandbox ({Path})", _sandbox.BwrapPath);
        }
        else
        {
            _log.LogWarning("workers run as plain processes with the server's permissions (no sandbox: {Reason})", whyNot);
        }
    }

    /// <summary>Whether workers start inside bubblewrap.</summary>
    public bool IsSandboxed => _sandbox is not null;

    public IReadOnlyCollection<string> RuntimeKinds { get; } = ["python3"];

    public static string PythonRunnerPath => Path.Combine(AppContext.BaseDirectory, "runners", "python", "osai_runner.py");

    public async Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct)
    {
        if (runtime != "python3") throw new AlgorithmCallException(ErrorTypes.Unavailable, $"no worker host for runtime '{runtime}'");
        // Unique across hosts in one process too (tests, restarts): a shared name would let one host delete another's socket.
        var id = $"py-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..10]}";
        var socketPath = Path.Combine(_runDir, id + ".sock");
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);

        string[] command = [_options.Workers.PythonPath, "-u", "-S", "-B", PythonRunnerPath];
        var psi = new ProcessStartInfo(_sandbox?.BwrapPath ?? command[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = _runDir,
        };
        foreach (var a in _sandbox is null ? command[1..] : _sandbox.Arguments(command)) psi.ArgumentList.Add(a);
        // Algorithms get a clean environment: nothing of the server's (keys, credentials) leaks in.
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        psi.Environment["LANG"] = "C.UTF-8";
        psi.Environment["HOME"] = _runDir;
        psi.Environment["PYTHONIOENCODING"] = "utf-8";
        psi.Environment["OSAI_WORKER_ADDRESS"] = "unix:" + socketPath;
        psi.Environment["OSAI_WORKER_ID"] = id;
        psi.Environment["OSAI_RUNTIME"] = runtime;
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";

        Process process;
        try { process = Process.Start(psi) ?? throw new InvalidOperationException("process did not start"); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            File.Delete(socketPath);
            throw new AlgorithmCallException(ErrorTypes.Unavailable, $"cannot start the python3 worker ({_options.Workers.PythonPath}): {e.Message}");
        }
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _log.LogInformation("[{Id}] {Line}", id, e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _log.LogWarning("[{Id}] {Line}", id, e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        void Kill()
        {
            try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.Workers.StartTimeout);
            var acceptTask = listener.AcceptAsync(timeout.Token).AsTask();
            var exitTask = process.WaitForExitAsync(timeout.Token);
            if (await Task.WhenAny(acceptTask, exitTask) != acceptTask)
                throw new AlgorithmCallException(ErrorTypes.Unavailable,
                    process.HasExited ? $"the python3 worker exited at start-up with status {process.ExitCode}" : "the python3 worker did not connect in time");
            var socket = await acceptTask;
            var stream = new NetworkStream(socket, ownsSocket: true);
            // Reads go through a buffer (one reader loop); writes go straight to the socket, one whole frame each.
            var buffered = new BufferedStream(stream, 64 * 1024);
            var hello = await Frame.ReadAsync(buffered, timeout.Token)
                ?? throw new AlgorithmCallException(ErrorTypes.Unavailable, "the python3 worker closed its connection before saying hello");
            if (hello.Type != "hello" || hello.GetInt("protocol") != 1)
                throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the python3 worker spoke '{hello.Type}' protocol {hello.GetInt("protocol")}, expected hello protocol 1");
            return new WorkerConnection(id, runtime, process.Id, buffered, stream, () =>
            {
                Kill();
                process.Dispose();
            }, () => WorkerConnection.ExitCodeOf(process), _log);
        }
        catch (Exception e)
        {
            Kill();
            process.Dispose();
            if (e is AlgorithmCallException) throw;
            if (e is OperationCanceledException && ct.IsCancellationRequested) throw;
            throw new AlgorithmCallException(ErrorTypes.Unavailable, "the python3 worker failed to start: " + e.Message);
        }
        finally
        {
            File.Delete(socketPath);
        }
    }
}
