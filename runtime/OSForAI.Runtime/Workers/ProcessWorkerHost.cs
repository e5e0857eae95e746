using OSForAI.WorkerProtocol;
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
                new[] { Path.GetDirectoryName(PythonRunnerPath), Path.GetDirectoryName(Path.GetFullPath(ModelWorkerPath)), Path.GetDirectoryName(DotnetPath) }
                    .Where(d => d is { Length: > 0 } && Path.IsPathRooted(d) && Directory.Exists(d)).Select(d => d!).Distinct().ToList(),
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
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

    /// <summary>The .NET model worker's entry assembly.</summary>
    public string ModelWorkerPath => _options.Models.WorkerPath is { Length: > 0 } p ? p : Path.Combine(AppContext.BaseDirectory, "OSForAI.Worker.dll");

    /// <summary>The dotnet host: configured, else the one that runs this process.</summary>
    public string DotnetPath => _options.Models.DotnetPath is { Length: > 0 } p ? p : DotnetHost.Path;

    private string[] CommandFor(string runtime) => runtime switch
    {
        "python3" => [_options.Workers.PythonPath, "-u", "-S", "-B", PythonRunnerPath],
        "onnx" => [DotnetPath, "exec", ModelWorkerPath],
        _ => throw new AlgorithmCallException(ErrorTypes.Unavailable, $"no worker host for runtime '{runtime}'"),
    };

    public async Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct)
    {
        var command = CommandFor(runtime);
        // Unique across hosts in one process too (tests, restarts): a shared name would let one host delete another's socket.
        var id = $"{(runtime == "python3" ? "py" : runtime)}-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..10]}";
        var socketPath = Path.Combine(_runDir, id + ".sock");
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);

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
        if (runtime == "onnx")
        {
            var m = _options.Models;
            psi.Environment["OSAI_DEVICE"] = m.Device;
            psi.Environment["OSAI_MODEL_MEMORY_BUDGET"] = m.MemoryBudgetBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["OSAI_GPU_DEVICE_ID"] = m.GpuDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            psi.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(DotnetPath)!;
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_gcServer"] = "0";
            // Where the CUDA and cuDNN libraries are found, and which GPUs are visible: the node's, passed on.
            foreach (var name in new[] { "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES" })
                if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value) psi.Environment[name] = value;
        }

        Process process;
        try { process = Process.Start(psi) ?? throw new InvalidOperationException("process did not start"); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            File.Delete(socketPath);
            throw new AlgorithmCallException(ErrorTypes.Unavailable, $"cannot start the {runtime} worker ({command[0]}): {e.Message}");
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
                    process.HasExited ? $"the {runtime} worker exited at start-up with status {process.ExitCode}" : $"the {runtime} worker did not connect in time");
            var socket = await acceptTask;
            WorkerSockets.Tune(socket);
            var stream = new NetworkStream(socket, ownsSocket: true);
            // Reads go through a buffer (one reader loop); writes go straight to the socket, one whole frame each.
            var buffered = new BufferedStream(stream, 64 * 1024);
            var hello = await Frame.ReadAsync(buffered, timeout.Token)
                ?? throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the {runtime} worker closed its connection before saying hello");
            if (hello.Type != "hello" || hello.GetInt("protocol") != 1)
                throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the {runtime} worker spoke '{hello.Type}' protocol {hello.GetInt("protocol")}, expected hello protocol 1");
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
            throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the {runtime} worker failed to start: " + e.Message);
        }
        finally
        {
            File.Delete(socketPath);
        }
    }
}

/// <summary>Finds the dotnet host executable that runs this process.</summary>
internal static class DotnetHost
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h)) return h;
        if (Environment.ProcessPath is { } p && System.IO.Path.GetFileNameWithoutExtension(p) == "dotnet") return p;
        // .../dotnet/shared/Microsoft.NETCore.App/<version>/ → .../dotnet/dotnet
        var runtimeDir = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory();
        var root = System.IO.Path.GetFullPath(System.IO.Path.Combine(runtimeDir, "..", "..", ".."));
        var candidate = System.IO.Path.Combine(root, "dotnet");
        if (File.Exists(candidate)) return candidate;
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } r && File.Exists(System.IO.Path.Combine(r, "dotnet")))
            return System.IO.Path.Combine(r, "dotnet");
        return "dotnet";
    }
}
