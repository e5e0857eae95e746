using OSForAI.WorkerProtocol;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers.Isolation;

namespace OSForAI.Runtime.Workers;

/// <summary>
/// Workers as child processes, each with a private folder (<see cref="WorkerFolder"/>) holding the Unix socket of its
/// channel to the host and the socket through which it reaches the gateway (<see cref="WorkerGatewayProxy"/>). The host
/// accepts only the process it started (SO_PEERCRED: a descendant of it, under the worker's uid) that then proves it knows
/// the per-worker secret (<see cref="WorkerHandshake"/>), as the host proves it to the worker. Inside a bubblewrap sandbox
/// when one is configured or available (<see cref="BubblewrapSandbox"/>), held to resource limits by a cgroup where one can be made here
/// (<see cref="CgroupLimiter"/>), with its stray output rate-limited into the log (<see cref="WorkerOutputLog"/>).
/// </summary>
public sealed class ProcessWorkerHost : IWorkerHost, Building.IBuildSandbox, IDisposable
{
    private readonly OsaiOptions _options;
    private readonly ILogger<ProcessWorkerHost> _log;
    private readonly TimeProvider _clock;
    private readonly GatewayAddress _gateway;
    private readonly CallDelegation _delegation;
    private readonly string _runDir;
    private readonly BubblewrapSandbox? _sandbox;
    private readonly string? _seccompFile;
    private readonly WorkerUids? _uids;
    private readonly CgroupLimiter _cgroups;
    private long _counter;

    public ProcessWorkerHost(IOptions<OsaiOptions> options, ILogger<ProcessWorkerHost> log, TimeProvider clock, GatewayAddress gateway,
        CallDelegation delegation)
    {
        _options = options.Value;
        _log = log;
        _clock = clock;
        _gateway = gateway;
        _delegation = delegation;
        // Worker folders live outside the home (which stays private to the server) in a folder of their own that others
        // may traverse but not list: each worker's folder in it is its uid's alone. Short, for Unix socket paths (~108 bytes).
        _runDir = Path.Combine(Path.GetTempPath(), "osai-w-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant());
        // Decided first: a sandbox that is required but cannot work stops the start before anything is made on disk.
        var sandboxed = BubblewrapSandbox.ShouldUse(_options.Workers, out var whyNot);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(_runDir);
        else Directory.CreateDirectory(_runDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        // Python environments of builds (Building.PythonEnvironments): every sandbox sees them read-only at their own path, so a
        // worker loads its version's environment in place, never a copy. They hold only packages from the configured index,
        // which any user could install by naming them, nothing of anyone's code or data.
        Building.PythonEnvironments.CreateRoot(_options.EnvironmentsRoot);
        if (sandboxed)
        {
            var hidden = new List<string> { Path.GetFullPath(_options.Home) };
            if (Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) is { Length: > 1 } userHome) hidden.Add(userHome);
            _sandbox = new BubblewrapSandbox(_options.Workers.BubblewrapPath,
                BubblewrapSandbox.RuntimeFolders([_options.Workers.PythonPath, PythonRunnerPath, ModelWorkerPath, DotnetPath],
                    [.. _options.Workers.SandboxReadOnlyPaths, _options.EnvironmentsRoot]),
                hidden);
            var seccomp = Path.Combine(_runDir, "seccomp.bpf");
            if (SeccompFilter.WriteTo(seccomp)) _seccompFile = seccomp;
            if (Libc.IsRoot) _uids = new WorkerUids(_options.Workers.SandboxFirstUid, _options.Workers.SandboxUidCount);
            _log.LogInformation("workers run in a bubblewrap sandbox ({Path}): no capabilities, no network, {Uid}, {Seccomp}", _sandbox.BwrapPath,
                _uids is null ? "the server's uid mapped into a user namespace" : $"their own uids from {_options.Workers.SandboxFirstUid}",
                _seccompFile is null ? $"no seccomp filter for {RuntimeInformation.ProcessArchitecture}" : "a seccomp filter");
        }
        else
        {
            _log.LogWarning("workers run as plain processes with the server's permissions (no sandbox: {Reason})", whyNot);
        }
        _cgroups = CgroupLimiter.Detect("osforai", log);
        if (_cgroups.Mechanism == CgroupMechanism.None)
            _log.LogWarning("worker resource limits: no cgroups ({How}); only rlimits apply: no core dumps{Nproc}, and neither memory nor CPU is enforced",
                _cgroups.Description, _uids is null ? "" : ", processes per worker");
    }

    /// <summary>Removes the workers' folders (the workers are stopped by their pools first).</summary>
    public void Dispose()
    {
        try { Directory.Delete(_runDir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>What enforces workers' memory, process and CPU limits here.</summary>
    public CgroupMechanism LimitsMechanism => _cgroups.Mechanism;

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

    /// <summary>What a generic worker is held to before it loads a version (which then sets its own, see <see cref="IWorkerEnvironment.Limit"/>).</summary>
    private WorkerLimits GenericLimits(string runtime) => runtime == "onnx"
        ? new WorkerLimits(null, _options.Workers.MaxProcesses, null)
        : new WorkerLimits((long)new ResourceRequest().MemoryMb * 1024 * 1024, _options.Workers.MaxProcesses, null);

    public Task<WorkerConnection> StartAsync(string runtime, CancellationToken ct) => StartProcessAsync(runtime, null, ct);

    /// <summary>A process is limited when it loads a version, not when it starts: <paramref name="resources"/> do not size it.</summary>
    public Task<WorkerConnection> StartAsync(string runtime, ResourceRequest resources, IReadOnlyDictionary<string, string> environment,
        IProgress<string> pending, CancellationToken ct) => StartProcessAsync(runtime, environment, ct);

    private async Task<WorkerConnection> StartProcessAsync(string runtime, IReadOnlyDictionary<string, string>? extraEnvironment, CancellationToken ct)
    {
        var command = CommandFor(runtime);
        // Unique across hosts in one process too (tests, restarts): a shared name would let one host delete another's folder.
        var id = $"{(runtime == "python3" ? "py" : runtime)}-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..10]}";
        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var resources = new List<IDisposable>();
        Process? process = null;
        void Kill()
        {
            try { if (process is { HasExited: false }) process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
        }
        void Release()
        {
            for (var i = resources.Count - 1; i >= 0; i--)
                try { resources[i].Dispose(); }
                catch (Exception e) { _log.LogDebug(e, "worker {Id}: releasing a resource failed", id); }
        }
        try
        {
            WorkerUids.Lease? uid = null;
            if (_sandbox is not null && _uids is not null)
            {
                uid = _uids.Take() ?? throw new AlgorithmCallException(ErrorTypes.Unavailable,
                    $"all {_options.Workers.SandboxUidCount} worker uids are in use (OSForAI:Workers:SandboxUidCount)");
                resources.Add(uid);
            }
            var folder = WorkerFolder.Create(_runDir, id, _sandbox is not null, uid?.Uid);
            resources.Add(folder);
            var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            resources.Add(listener);
            listener.Bind(new UnixDomainSocketEndPoint(folder.ChannelSocket));
            if (uid is not null && !OperatingSystem.IsWindows()) File.SetUnixFileMode(folder.ChannelSocket, (UnixFileMode)0b110_110_110);
            listener.Listen(1);
            var proxy = WorkerGatewayProxy.Start(folder.GatewaySocket, id, _gateway, _delegation, _log);
            resources.Add(proxy);
            var cgroup = _cgroups.Create(id, GenericLimits(runtime));
            if (cgroup is not null) resources.Add(cgroup);

            var psi = LaunchCommand(command, folder, uid?.Uid, cgroup);
            psi.Environment["OSAI_WORKER_ADDRESS"] = "unix:" + folder.WorkerView(folder.ChannelSocket);
            psi.Environment["OSAI_GATEWAY"] = "unix:" + folder.WorkerView(folder.GatewaySocket);
            psi.Environment["OSAI_WORKER_SECRET"] = secret;
            psi.Environment["OSAI_WORKER_ID"] = id;
            psi.Environment["OSAI_RUNTIME"] = runtime;
            psi.Environment["HOME"] = _sandbox is null ? folder.HostPath : "/tmp";
            if (runtime == "onnx") DotnetEnvironment(psi);
            foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>()) psi.Environment[name] = value;

            try { process = Process.Start(psi) ?? throw new InvalidOperationException("process did not start"); }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw new AlgorithmCallException(ErrorTypes.Unavailable, $"cannot start the {runtime} worker ({psi.FileName}): {e.Message}");
            }
            var output = new WorkerOutputLog(id, _log, _clock, _options.Workers.OutputBytesPerSecond);
            _ = output.PumpAsync(process.StandardOutput.BaseStream, isError: false);
            _ = output.PumpAsync(process.StandardError.BaseStream, isError: true);
            process.StandardInput.Close();

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.Workers.StartTimeout);
            var (socket, workerPid) = await AcceptWorkerAsync(listener, process, uid?.Uid, runtime, timeout.Token);
            WorkerSockets.Tune(socket);
            var stream = new NetworkStream(socket, ownsSocket: true);
            // The handshake proves to both sides that the other knows this worker's secret (which never crosses the socket).
            try { await WorkerHandshake.AuthenticateAsync(stream, workerId => workerId == id ? secret : null, timeout.Token); }
            catch
            {
                stream.Dispose();
                throw;
            }
            // Reads go through a buffer (one reader loop); writes go straight to the socket, one whole frame each.
            var buffered = new BufferedStream(stream, 64 * 1024);
            listener.Dispose();
            File.Delete(folder.ChannelSocket);
            var started = process;
            var environment = new WorkerEnvironment(folder, cgroup, Release, _sandbox is null ? null : () =>
            {
                var egress = WorkerEgressProxy.Start(folder.EgressSocket, id, _log);
                resources.Add(egress);
                return "unix:" + folder.WorkerView(folder.EgressSocket);
            });
            // The worker is the process that connected (inside the sandbox, bwrap's child's child); killing it ends its
            // pid namespace too, whatever became of the launcher. It is killed by identity, not by number: by the time a
            // worker that exited by itself is cleaned up, its pid may belong to another worker.
            var worker = ProcessIdentity.Of(workerPid);
            return new WorkerConnection(id, runtime, workerPid, buffered, stream, () =>
            {
                if (worker is { } w) w.KillTree();
                else if (!ProcessIdentity.Supported) KillByPid(workerPid);   // no /proc here to tell processes apart
                Kill();
                started.Dispose();
            }, () => WorkerConnection.ExitCodeOf(started), _log, environment);
        }
        catch (Exception e)
        {
            Kill();
            process?.Dispose();
            Release();
            if (e is AlgorithmCallException) throw;
            if (e is OperationCanceledException && ct.IsCancellationRequested) throw;
            if (e is OperationCanceledException)
                throw new AlgorithmCallException(ErrorTypes.Unavailable, process is { HasExited: true }
                    ? $"the {runtime} worker exited at start-up with status {process.ExitCode}" : $"the {runtime} worker did not connect in time");
            throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the {runtime} worker failed to start: " + e.Message);
        }
    }

    /// <summary>
    /// Runs a build step (pip) in the workers' sandbox: its own uid (as root) with the writable folders lent to it for the
    /// step and given back after, a cgroup with the step's memory limit (rlimits without cgroups), the seccomp filter, a clean
    /// environment, and a deadline after which it is killed.
    /// </summary>
    public async Task<Building.BuildStepResult> RunStepAsync(Building.BuildStep step, Action<string> output, CancellationToken ct)
    {
        var id = $"build-{Interlocked.Increment(ref _counter)}-{Guid.NewGuid().ToString("N")[..10]}";
        var resources = new List<IDisposable>();
        WorkerUids.Lease? uid = null;
        string? scratchHome = null;
        Process? process = null;
        try
        {
            if (_sandbox is not null && _uids is not null)
            {
                uid = _uids.Take() ?? throw new AlgorithmCallException(ErrorTypes.Unavailable,
                    $"all {_options.Workers.SandboxUidCount} worker uids are in use (OSForAI:Workers:SandboxUidCount)");
                resources.Add(uid);
                foreach (var w in step.WritablePaths) Libc.ChownTree(w, uid.Uid, uid.Uid);
            }
            var limits = new WorkerLimits(step.MemoryBytes, _options.Workers.MaxProcesses, null);
            var cgroup = _cgroups.Create(id, limits);
            if (cgroup is not null) resources.Add(cgroup);
            var seccomp = _sandbox is not null && _seccompFile is not null;
            var inner = new List<string>();
            if (cgroup is null) inner.AddRange(["prlimit", .. CgroupLimiter.RlimitArguments(limits, uid is not null), "--"]);
            inner.AddRange(_sandbox is null ? step.Command
                : _sandbox.StepCommand(step.ReadOnlyPaths, step.WritablePaths, step.Network, step.Command, seccomp, uid?.Uid));
            if (_sandbox is null) scratchHome = Directory.CreateTempSubdirectory("osai-build-home-").FullName;
            var psi = new ProcessStartInfo(WorkerLauncher.Shell)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                WorkingDirectory = scratchHome ?? "/",
            };
            foreach (var a in WorkerLauncher.ShellArguments(cgroup?.ProcsFiles ?? [], seccomp ? _seccompFile : null, inner)) psi.ArgumentList.Add(a);
            psi.Environment.Clear();
            psi.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
            psi.Environment["LANG"] = "C.UTF-8";
            psi.Environment["PYTHONIOENCODING"] = "utf-8";
            psi.Environment["HOME"] = scratchHome ?? "/tmp";
            foreach (var (name, value) in step.Environment) psi.Environment[name] = value;
            try { process = Process.Start(psi) ?? throw new InvalidOperationException("process did not start"); }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw new InvalidOperationException($"cannot start the build step ({step.Command[0]}): {e.Message}", e);
            }
            process.StandardInput.Close();
            var gate = new object();
            async Task PumpAsync(StreamReader reader)
            {
                while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
                    lock (gate) output(line);
            }
            var pumps = Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(step.Timeout);
            var timedOut = false;
            try { await process.WaitForExitAsync(deadline.Token); }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); }
                catch (InvalidOperationException) { }
                ct.ThrowIfCancellationRequested();
                timedOut = true;
                await process.WaitForExitAsync(CancellationToken.None);
            }
            await pumps.WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
            return new Building.BuildStepResult(timedOut ? -1 : process.ExitCode, timedOut, cgroup is not null && !timedOut && cgroup.WasOomKilled());
        }
        finally
        {
            try { if (process is { HasExited: false }) process.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { }
            process?.Dispose();
            for (var i = resources.Count - 1; i >= 0; i--)
                try { resources[i].Dispose(); }
                catch (Exception e) { _log.LogDebug(e, "build step {Id}: releasing a resource failed", id); }
            if (uid is not null)
                foreach (var w in step.WritablePaths)
                    try { Libc.ChownTree(w, 0, 0); }
                    catch (IOException e) { _log.LogWarning(e, "build step {Id}: could not take {Path} back from the step's uid", id, w); }
            if (scratchHome is not null)
                try { Directory.Delete(scratchHome, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void KillByPid(int pid)
    {
        try { using var process = Process.GetProcessById(pid); process.Kill(entireProcessTree: true); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    /// <summary>
    /// Accepts the worker's connection, and only it: the peer must be the started process or one of its descendants,
    /// under the worker's own uid when it has one. Anything else that reaches the socket is logged and dropped.
    /// </summary>
    private async Task<(Socket Socket, int Pid)> AcceptWorkerAsync(Socket listener, Process process, int? uid, string runtime, CancellationToken ct)
    {
        var exited = process.WaitForExitAsync(ct);
        while (true)
        {
            var accept = listener.AcceptAsync(ct).AsTask();
            if (await Task.WhenAny(accept, exited) != accept)
            {
                ct.ThrowIfCancellationRequested();
                throw new AlgorithmCallException(ErrorTypes.Unavailable, $"the {runtime} worker exited at start-up with status {process.ExitCode}");
            }
            var socket = await accept;
            var peer = PeerCredentials.Of(socket);
            if (peer is { } p && PeerCredentials.DescendsFrom(p.Pid, process.Id) && (uid is null || p.Uid == uid)) return (socket, p.Pid);
            _log.LogWarning("refused a connection to a worker's channel from pid {Pid} uid {Uid}: not the worker that was started",
                peer?.Pid, peer?.Uid);
            socket.Dispose();
        }
    }

    /// <summary>The launcher command line: cgroups and seccomp, then (as root) the drop to the worker's uid, then the sandbox.</summary>
    private ProcessStartInfo LaunchCommand(string[] command, WorkerFolder folder, int? uid, IWorkerCgroup? cgroup)
    {
        var seccomp = _sandbox is not null && _seccompFile is not null;
        var inner = new List<string>();
        if (cgroup is null)
        {
            // No cgroups here: per-process rlimits instead (see CgroupLimiter.RlimitArguments for what they cover).
            // Memory is left to the version's own limit, which only a cgroup can change after start: here it is not enforced.
            inner.AddRange(["prlimit", .. CgroupLimiter.RlimitArguments(new WorkerLimits(null, _options.Workers.MaxProcesses, null), uid is not null), "--"]);
        }
        inner.AddRange(_sandbox is null ? command : _sandbox.Command(folder, command, seccomp, uid));
        var psi = new ProcessStartInfo(WorkerLauncher.Shell)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = _sandbox is null ? folder.HostPath : "/",
        };
        foreach (var a in WorkerLauncher.ShellArguments(cgroup?.ProcsFiles ?? [], seccomp ? _seccompFile : null, inner))
            psi.ArgumentList.Add(a);
        // Algorithms get a clean environment: nothing of the server's (keys, credentials) leaks in.
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        psi.Environment["LANG"] = "C.UTF-8";
        psi.Environment["PYTHONIOENCODING"] = "utf-8";
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        return psi;
    }

    /// <summary>How the .NET model worker runs here (its device and budget come with the start, <see cref="ModelServingOptions.WorkerEnvironment"/>).</summary>
    private void DotnetEnvironment(ProcessStartInfo psi)
    {
        psi.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(DotnetPath)!;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_gcServer"] = "0";
        // Where the CUDA and cuDNN libraries are found, and which GPUs are visible: the node's, passed on.
        foreach (var name in new[] { "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES" })
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value) psi.Environment[name] = value;
    }

    /// <summary>The host side of one process worker: its folder, its cgroup, and what to release when it is gone.</summary>
    private sealed class WorkerEnvironment(WorkerFolder folder, IWorkerCgroup? cgroup, Action release, Func<string>? openEgress) : IWorkerEnvironment
    {
        public string? OpenEgress() => openEgress?.Invoke();

        private long? _memoryLimit;
        private int _released;

        public string ExposeBuild(string codeDir) => folder.ExposeBuild(codeDir);

        public void Limit(ResourceRequest resources, int maxProcesses)
        {
            _memoryLimit = (long)resources.MemoryMb * 1024 * 1024;
            try { cgroup?.Update(new WorkerLimits(_memoryLimit, maxProcesses, resources.Cpu)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new AlgorithmCallException(ErrorTypes.Unavailable, "cannot hold the worker to the version's declared resources: " + e.Message);
            }
        }

        public AlgorithmCallException? DeathCause() => cgroup is not null && cgroup.WasOomKilled()
            ? new AlgorithmCallException(ErrorTypes.OutOfMemory, _memoryLimit is { } limit
                ? $"the algorithm used more than its {limit / (1024 * 1024)} MB of memory (resources.memory_mb in algorithm.yaml); its worker was stopped"
                : "the worker ran out of memory and was stopped")
            : null;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) release();
        }
    }
}

/// <summary>What a worker host keeps for one worker beside its connection: the worker's view of builds, its limits, and its clean-up.</summary>
public interface IWorkerEnvironment : IDisposable
{
    /// <summary>
    /// Makes an extracted build visible to the worker; returns the path the worker sees it at, or null when the worker cannot
    /// see this host's files (a pod): then the build travels in the load request.
    /// </summary>
    string? ExposeBuild(string codeDir);

    /// <summary>Holds the worker to a version's declared resources from now on (where the host can enforce them).</summary>
    void Limit(ResourceRequest resources, int maxProcesses);

    /// <summary>Whether the worker can be shown this machine's files (a process can; a pod cannot: builds and environments are sent to it).</summary>
    bool SeesHostFiles => true;

    /// <summary>
    /// The path at which the worker sees the Python environment folder <paramref name="hostDir"/> (under OsaiOptions.EnvironmentsRoot):
    /// the same path, since every sandbox binds that folder read-only. Nothing is copied or linked.
    /// </summary>
    string ExposeEnvironment(string hostDir) => hostDir;

    /// <summary>Why the worker died when the host knows better than its exit status (it ran out of memory); else null.</summary>
    AlgorithmCallException? DeathCause();

    /// <summary>
    /// Gives the worker filtered outbound access (<see cref="WorkerEgressProxy"/>) and returns the proxy's address as the
    /// worker sees it; null where the worker is not sandboxed (it has the host's network then).
    /// </summary>
    string? OpenEgress();
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
