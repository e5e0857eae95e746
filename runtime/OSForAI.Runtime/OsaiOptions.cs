using OSForAI.Scaling.Autoscaling;

namespace OSForAI.Runtime;

/// <summary>Runtime settings, bound from configuration section "OSForAI" (env: OSForAI__Workers__PythonPath, …).</summary>
public sealed class OsaiOptions
{
    public const string Section = "OSForAI";

    /// <summary>Folder that holds all state. Set by the host.</summary>
    public string Home { get; set; } = "";

    /// <summary>Largest algorithm-call body accepted (bytes); bigger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Largest code archive accepted by the management API (bytes).</summary>
    public long MaxCodeUploadBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Most bytes a code archive may expand to (the files it holds, summed), checked while it is extracted at upload; a
    /// bigger one (a gzip bomb) is refused with 400 and nothing is stored. Uploads are at most MaxCodeUploadBytes
    /// compressed; model weights barely compress, so 1 GiB leaves room for models and code alike.
    /// </summary>
    public long MaxCodeExpandedBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Most entries (files and folders) a code archive may hold.</summary>
    public int MaxCodeEntries { get; set; } = 100_000;

    /// <summary>Largest single file accepted by the data API (bytes).</summary>
    public long MaxDataUploadBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>
    /// Most bytes each owner may keep in the local data:// folder (0 = unlimited); a write past it is refused with 413
    /// QuotaExceeded and the old file stays. Usage is counted by walking the owner's folder on its first write after a start,
    /// then kept up to date by the server's own writes and deletes. Does not apply when DataStore names another store.
    /// </summary>
    public long DataQuotaBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>Entries per data-API listing page.</summary>
    public int DataListPageSize { get; set; } = 1000;

    /// <summary>
    /// Results larger than this are not returned inline: they are written to the caller's data space
    /// (data://&lt;caller&gt;/.results/...) and the response carries the URI (metadata.stored).
    /// </summary>
    public long MaxInlineResultBytes { get; set; } = 10L * 1024 * 1024;

    /// <summary>
    /// Where data:// lives: empty for the local data folder (the embedded default), or a base URI in another store,
    /// e.g. "s3+platform://my-bucket/osforai" on a cloud stack (its connector configured under OSForAI:Data).
    /// </summary>
    public string DataStore { get; set; } = "";

    /// <summary>Largest timeout a caller may ask for (seconds).</summary>
    public int MaxTimeoutSeconds { get; set; } = 3000;

    /// <summary>How deep algorithms may call algorithms (a call from outside is depth 0).</summary>
    public int MaxCallDepth { get; set; } = 8;

    /// <summary>Finished asynchronous jobs (and their inputs and results) are deleted after this long.</summary>
    public TimeSpan JobRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Asynchronous jobs run at once; more wait in the queue.</summary>
    public int MaxConcurrentJobs { get; set; } = 16;

    /// <summary>
    /// How long a running asynchronous job stays claimed without a heartbeat (renewed every third of it): a job whose server
    /// died runs again elsewhere this long after.
    /// </summary>
    public TimeSpan JobLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where catalog, keys and jobs live: empty for SQLite in the home folder (osforai.db, one server), or a PostgreSQL
    /// connection URI, postgres://USER:PASSWORD@HOST:PORT/DB[?sslmode=require], that several servers may share.
    /// </summary>
    public string State { get; set; } = "";

    /// <summary>
    /// An admin key given by the deployment (osai_&lt;hex id&gt;_&lt;secret of 32+ characters&gt;, e.g. from a Kubernetes Secret), which
    /// every replica makes sure exists instead of each creating one of its own at its first start. Empty: the server creates
    /// one in its home folder (admin.key) the first time it starts.
    /// </summary>
    public string AdminKey { get; set; } = "";

    public WorkerOptions Workers { get; set; } = new();

    /// <summary>How the replicas sharing a state elect the one that does the cluster's housekeeping (OSForAI:Cluster).</summary>
    public Cluster.LeaderElectionOptions Cluster { get; set; } = new();

    public MetricsOptions Metrics { get; set; } = new();

    public ModelServingOptions Models { get; set; } = new();

    /// <summary>How uploads are built: time limits, concurrency, and where pip finds packages (OSForAI:Build; docs/api.md, "Builds").</summary>
    public BuildOptions Build { get; set; } = new();

    public string DatabasePath => Path.Combine(Home, "osforai.db");
    public string DataRoot => Path.Combine(Home, "data");
    public string CodeCacheRoot => Path.Combine(Home, "code");
    /// <summary>Python environments of builds, one folder per hash of resolved requirements (Building.PythonEnvironments).</summary>
    public string EnvironmentsRoot => Path.Combine(Home, "envs");
}

/// <summary>
/// Builds (docs/api.md, "Builds"): an upload is checked before it can be published. A build runs while its upload request
/// waits, its steps in the workers' sandbox.
/// </summary>
public sealed class BuildOptions
{
    /// <summary>The most one build may take, its dependency installation included.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The most the import check (loading the entrypoint in a sandboxed worker) may take.</summary>
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Builds that run at once; more wait for a turn (their log says so).</summary>
    public int MaxConcurrentBuilds { get; set; } = 2;

    /// <summary>Memory of one pip step, in MB.</summary>
    public int MemoryMb { get; set; } = 2048;

    public PythonBuildOptions Python { get; set; } = new();

    public IEnumerable<string> Errors()
    {
        const string at = "OSForAI:Build";
        if (Timeout <= TimeSpan.Zero) yield return $"{at}:Timeout must be positive, not {Timeout}";
        if (CheckTimeout <= TimeSpan.Zero) yield return $"{at}:CheckTimeout must be positive, not {CheckTimeout}";
        if (MaxConcurrentBuilds < 1) yield return $"{at}:MaxConcurrentBuilds must be at least 1, not {MaxConcurrentBuilds}";
        if (MemoryMb < 64) yield return $"{at}:MemoryMb must be at least 64, not {MemoryMb}";
        foreach (var e in Python.Errors()) yield return e;
    }
}

/// <summary>
/// Where pip finds the packages of requirements.txt. Nothing set: the machine's pip configuration (/etc/pip.conf and the server's
/// PIP_* environment variables). Any of these set: they replace the index settings of that configuration.
/// </summary>
public sealed class PythonBuildOptions
{
    /// <summary>The package index (pip --index-url), e.g. a company mirror.</summary>
    public string IndexUrl { get; set; } = "";

    /// <summary>More indexes searched beside it (pip --extra-index-url).</summary>
    public List<string> ExtraIndexUrls { get; set; } = [];

    /// <summary>Folders (absolute paths) or URLs of pages of wheels (pip --find-links).</summary>
    public List<string> FindLinks { get; set; } = [];

    /// <summary>No index at all: only <see cref="FindLinks"/> (pip --no-index), e.g. an offline wheelhouse.</summary>
    public bool NoIndex { get; set; }

    /// <summary>Whether any index setting is given here (else the machine's pip configuration applies).</summary>
    public bool IsConfigured => IndexUrl.Length > 0 || ExtraIndexUrls.Count > 0 || FindLinks.Count > 0 || NoIndex;

    public IEnumerable<string> Errors()
    {
        const string at = "OSForAI:Build:Python";
        static bool IsHttp(string u) => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
        if (IndexUrl.Length > 0 && !IsHttp(IndexUrl)) yield return $"{at}:IndexUrl must be an http(s) URL, not '{IndexUrl}'";
        if (IndexUrl.Length > 0 && NoIndex) yield return $"set {at}:IndexUrl or {at}:NoIndex, not both";
        foreach (var u in ExtraIndexUrls.Where(u => !IsHttp(u))) yield return $"{at}:ExtraIndexUrls must hold http(s) URLs, not '{u}'";
        foreach (var f in FindLinks.Where(f => !IsHttp(f) && !Path.IsPathRooted(f)))
            yield return $"{at}:FindLinks must hold absolute folder paths or http(s) URLs, not '{f}'";
        if (NoIndex && FindLinks.Count == 0) yield return $"{at}:NoIndex needs {at}:FindLinks (somewhere to find packages)";
    }
}

/// <summary>
/// Who may read GET /metrics (it names every algorithm version, private ones included): admin keys, and a scraper that sends
/// "Authorization: Bearer &lt;ScrapeToken&gt;". The token may instead be read from ScrapeTokenFile (a mounted secret; read at
/// each scrape, so it can be rotated in place). Neither set: admin keys only.
/// </summary>
public sealed class MetricsOptions
{
    public string ScrapeToken { get; set; } = "";
    public string ScrapeTokenFile { get; set; } = "";

    /// <summary>The configured token (the value, else the file's first line), or null when there is none.</summary>
    public string? CurrentScrapeToken()
    {
        if (ScrapeToken.Length > 0) return ScrapeToken;
        if (ScrapeTokenFile.Length == 0) return null;
        var token = File.ReadAllText(ScrapeTokenFile).Trim();
        return token.Length > 0 ? token : null;
    }
}

/// <summary>How the process worker host keeps and starts workers.</summary>
/// <summary>Where workers run: child processes on this machine, or pods through the Kubernetes API.</summary>
public enum WorkerHostKind { Process, Kubernetes }

public sealed class WorkerOptions
{
    /// <summary>Process (default: child processes, sandboxed) or Kubernetes (pods; see <see cref="Kubernetes"/>).</summary>
    public WorkerHostKind Host { get; set; } = WorkerHostKind.Process;

    /// <summary>The Kubernetes worker host's settings (used when Host is Kubernetes).</summary>
    public Workers.Kubernetes.KubernetesWorkerOptions Kubernetes { get; set; } = new();

    /// <summary>Interpreter for the python3 runtime kind.</summary>
    public string PythonPath { get; set; } = "/usr/bin/python3";

    /// <summary>Generic (not yet specialized) workers kept warm per runtime kind.</summary>
    public int WarmGenericWorkers { get; set; } = 2;

    /// <summary>Upper bound on worker processes of all kinds.</summary>
    public int MaxWorkers { get; set; } = 32;

    /// <summary>Upper bound on specialized instances of one algorithm version.</summary>
    public int MaxInstancesPerVersion { get; set; } = 8;

    /// <summary>Calls that may wait for a free slot per algorithm version; more get 429.</summary>
    public int QueueLimit { get; set; } = 1000;

    /// <summary>With the "fixed" keep-alive, an idle version's instances are stopped after this long.</summary>
    public TimeSpan IdleKeepAlive { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long an idle version's instances are kept: Adaptive (OSForAI's cost-aware policy, learned per version from its
    /// idle times, pre-warming ahead of expected calls; see docs/scaling.md) or Fixed (IdleKeepAlive after the last call).
    /// Idle instances kept by either are stopped early when placement needs their memory.
    /// </summary>
    public KeepAliveKind KeepAlive { get; set; } = KeepAliveKind.Adaptive;

    /// <summary>This node's capacity for specialized instances; placement packs instances by their measured needs within it.</summary>
    public NodeCapacityOptions Node { get; set; } = new();

    /// <summary>How many instances a version with traffic runs (between one and MaxInstancesPerVersion).</summary>
    public AutoscalingOptions Autoscaling { get; set; } = new();

    /// <summary>Most captured stdout bytes returned per call.</summary>
    public int StdoutLimitBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// Isolation of worker processes: "auto" (bubblewrap when installed, else plain processes),
    /// "bubblewrap" (required; the server refuses to start without it) or "none".
    /// </summary>
    public string Sandbox { get; set; } = "auto";

    /// <summary>Where the bubblewrap binary is.</summary>
    public string BubblewrapPath { get; set; } = "/usr/bin/bwrap";

    /// <summary>How long a starting worker may take to connect and say hello.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// When the server runs as root, each sandboxed worker runs under its own host uid from
    /// [SandboxFirstUid, SandboxFirstUid + SandboxUidCount): a range no account may use.
    /// </summary>
    public int SandboxFirstUid { get; set; } = 61000;

    /// <summary>How many worker uids the range holds (at least MaxWorkers plus the model workers).</summary>
    public int SandboxUidCount { get; set; } = 4000;

    /// <summary>Further host folders sandboxed workers may read (e.g. a CUDA install outside /usr).</summary>
    public List<string> SandboxReadOnlyPaths { get; set; } = [];

    /// <summary>Most processes and threads one worker may run (the cgroup pids limit, or RLIMIT_NPROC under its own uid).</summary>
    public int MaxProcesses { get; set; } = 256;

    /// <summary>Bytes per second of a worker's output outside captured calls that reach the server log (the rest is counted and dropped).</summary>
    public long OutputBytesPerSecond { get; set; } = 64 * 1024;
}

/// <summary>
/// What this node offers specialized instances. Zero means: CPU cores = the machine's, memory = 80% of what the process
/// may use, GPU memory = not constrained (no GPU accounting).
/// </summary>
public sealed class NodeCapacityOptions
{
    public double CpuCores { get; set; }
    public double MemoryMb { get; set; }
    public double GpuMemoryMb { get; set; }
}

/// <summary>The keep-alive policy for idle versions.</summary>
public enum KeepAliveKind { Adaptive, Fixed }

/// <summary>The concurrency autoscaler: OSForAI's (scales up on max(average, latest, trend), down to the recent peak) or Knative's KPA.</summary>
public enum AutoscalerKind { OsForAi, Kpa }

/// <summary>
/// The live concurrency autoscaler (docs/scaling.md). Each version's load (calls in flight + queued) is averaged every metric
/// interval and fed to the policy, which decides every decision interval how many instances it runs; the keep-alive policy alone
/// decides when an idle version drops to zero. A queue that outgrows the instances being started still starts one at once.
/// The defaults are the ones the simulator studies (OSForAI.Scaling.Autoscaling.ScalingDefaults).
/// </summary>
public sealed class AutoscalingOptions
{
    public AutoscalerKind Policy { get; set; } = AutoscalerKind.OsForAi;

    /// <summary>Fraction of an instance's concurrency slots the autoscaler aims to fill (KPA's target utilisation).</summary>
    public double TargetUtilization { get; set; } = ScalingDefaults.TargetUtilization;

    /// <summary>The stable window; the panic window is PanicWindowPercentage of it, OSForAI's scale-down window a sixth of it.</summary>
    public TimeSpan StableWindow { get; set; } = TimeSpan.FromSeconds(ScalingDefaults.StableWindowSeconds);

    public double PanicWindowPercentage { get; set; } = ScalingDefaults.PanicWindowPercentage;

    /// <summary>Most the instance count may grow (×) or shrink (÷) per decision.</summary>
    public double MaxScaleUpRate { get; set; } = ScalingDefaults.MaxScaleUpRate;
    public double MaxScaleDownRate { get; set; } = ScalingDefaults.MaxScaleDownRate;

    /// <summary>How often load is sampled (averaged and fed to the autoscaler) and the keep-alive applied.</summary>
    public TimeSpan MetricInterval { get; set; } = TimeSpan.FromSeconds(ScalingDefaults.MetricIntervalSeconds);

    /// <summary>How often the autoscaler decides (a multiple of the metric interval is best).</summary>
    public TimeSpan DecisionInterval { get; set; } = TimeSpan.FromSeconds(ScalingDefaults.DecisionIntervalSeconds);

    /// <summary>The start time the autoscaler assumes for a version until it has measured one.</summary>
    public TimeSpan AssumedStartTime { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>How model runtimes (onnx) are served: multi-model .NET workers with a device-memory budget.</summary>
public sealed class ModelServingOptions
{
    /// <summary>Multi-model workers to run; each model lives in one of them (by a stable hash of its version).</summary>
    public int Workers { get; set; } = 1;

    /// <summary>Device memory each worker may fill with models before it unloads the least recently used (bytes).</summary>
    public long MemoryBudgetBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>This node's device: "auto" (CUDA where an NVIDIA device exists), "cpu" or "gpu". A model's manifest can ask for cpu or gpu itself.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Which CUDA device the workers use.</summary>
    public int GpuDeviceId { get; set; }

    /// <summary>Calls in flight per worker before more are refused with 429.</summary>
    public int MaxInFlightPerWorker { get; set; } = 4096;

    /// <summary>The worker's entry assembly; empty: OSForAI.Worker.dll beside the server.</summary>
    public string WorkerPath { get; set; } = "";

    /// <summary>The dotnet host that runs the worker; empty: the one running the server.</summary>
    public string DotnetPath { get; set; } = "";

    /// <summary>
    /// A model worker that had no call for this long is stopped (a pod is deleted, so a GPU node pool can scale back to zero);
    /// the next call starts one again. 0: never. Warm GPU model pods (Workers:Kubernetes:Pools:gpu:WarmPods) are not stopped.
    /// </summary>
    public TimeSpan IdleShutdown { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// What a model worker is told at start: its device and its memory budget. One given a GPU of its own (a pod that requests
    /// one) uses it, its first visible CUDA device, whatever this node's <see cref="Device"/> says (a gateway pod's is cpu).
    /// </summary>
    public IReadOnlyDictionary<string, string> WorkerEnvironment(bool ownGpu) => new Dictionary<string, string>
    {
        ["OSAI_DEVICE"] = ownGpu ? "gpu" : Device,
        ["OSAI_MODEL_MEMORY_BUDGET"] = MemoryBudgetBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["OSAI_GPU_DEVICE_ID"] = (ownGpu ? 0 : GpuDeviceId).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Every problem with these settings (and the warm GPU model pods they bound), for start-up validation.</summary>
    public IEnumerable<string> Errors(WorkerOptions workers)
    {
        const string at = "OSForAI:Models";
        if (Workers < 1) yield return $"{at}:Workers must be at least 1, not {Workers}";
        if (MemoryBudgetBytes <= 0) yield return $"{at}:MemoryBudgetBytes must be above 0, not {MemoryBudgetBytes}";
        if (MaxInFlightPerWorker < 1) yield return $"{at}:MaxInFlightPerWorker must be at least 1, not {MaxInFlightPerWorker}";
        if (IdleShutdown < TimeSpan.Zero) yield return $"{at}:IdleShutdown must be 0 (never) or positive, not {IdleShutdown}";
        if (workers.Host == WorkerHostKind.Kubernetes && workers.Kubernetes.Pools.TryGetValue("gpu", out var gpu) && gpu.WarmPods > Math.Max(1, Workers))
            yield return $"OSForAI:Workers:Kubernetes:Pools:gpu:WarmPods ({gpu.WarmPods}) are GPU model workers kept warm: at most {at}:Workers ({Workers})";
    }
}

/// <summary>Checks the settings this server depends on when it starts, so a bad value fails the start with its name.</summary>
public sealed class OsaiOptionsValidation : Microsoft.Extensions.Options.IValidateOptions<OsaiOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, OsaiOptions o)
    {
        var errors = Errors(o);
        return errors.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(errors);
    }

    public static List<string> Errors(OsaiOptions o)
    {
        var errors = new List<string>();
        if (o.MaxCodeExpandedBytes <= 0) errors.Add($"OSForAI:MaxCodeExpandedBytes must be above 0, not {o.MaxCodeExpandedBytes}");
        if (o.Metrics.ScrapeToken.Length is > 0 and < 16)
            errors.Add("OSForAI:Metrics:ScrapeToken must be at least 16 characters");
        if (o.Metrics.ScrapeToken.Length > 0 && o.Metrics.ScrapeTokenFile.Length > 0)
            errors.Add("set OSForAI:Metrics:ScrapeToken or OSForAI:Metrics:ScrapeTokenFile, not both");
        if (o.Metrics.ScrapeTokenFile.Length > 0 && !File.Exists(o.Metrics.ScrapeTokenFile))
            errors.Add($"OSForAI:Metrics:ScrapeTokenFile names a file that does not exist: {o.Metrics.ScrapeTokenFile}");
        if (o.DataQuotaBytes < 0) errors.Add($"OSForAI:DataQuotaBytes must be 0 (unlimited) or positive, not {o.DataQuotaBytes}");
        if (o.MaxConcurrentJobs <= 0) errors.Add($"OSForAI:MaxConcurrentJobs must be above 0, not {o.MaxConcurrentJobs}");
        if (o.JobLease < TimeSpan.FromSeconds(1)) errors.Add($"OSForAI:JobLease must be at least 1 second, not {o.JobLease}");
        errors.AddRange(StateErrors(o.State));
        if (o.AdminKey.Length > 0 && !System.Text.RegularExpressions.Regex.IsMatch(o.AdminKey, "^osai_[0-9a-f]{8,32}_[A-Za-z0-9_-]{32,160}$"))
            errors.Add("OSForAI:AdminKey must look like osai_<8 to 32 lowercase hex digits>_<32 or more letters, digits, '-' or '_'> (the value is not shown)");
        errors.AddRange(o.Cluster.Errors());
        if (o.MaxCodeEntries <= 0) errors.Add($"OSForAI:MaxCodeEntries must be above 0, not {o.MaxCodeEntries}");
        foreach (var (key, value) in new[] { ("CpuCores", o.Workers.Node.CpuCores), ("MemoryMb", o.Workers.Node.MemoryMb), ("GpuMemoryMb", o.Workers.Node.GpuMemoryMb) })
            if (!double.IsFinite(value) || value < 0) errors.Add($"OSForAI:Workers:Node:{key} must be 0 (automatic) or a positive number, not {value}");
        var w = o.Workers;
        if (w.SandboxFirstUid < 1000) errors.Add($"OSForAI:Workers:SandboxFirstUid must be at least 1000 (not a system account), not {w.SandboxFirstUid}");
        if (w.SandboxUidCount < 1 || (long)w.SandboxFirstUid + w.SandboxUidCount > int.MaxValue)
            errors.Add($"OSForAI:Workers:SandboxUidCount must be at least 1 and keep the range within 32-bit uids, not {w.SandboxUidCount}");
        if (w.MaxProcesses < 8) errors.Add($"OSForAI:Workers:MaxProcesses must be at least 8 (a runtime needs a few threads), not {w.MaxProcesses}");
        if (w.OutputBytesPerSecond < 0) errors.Add($"OSForAI:Workers:OutputBytesPerSecond must be 0 (nothing logged) or positive, not {w.OutputBytesPerSecond}");
        var a = w.Autoscaling;
        if (w.MaxInstancesPerVersion < 1) errors.Add($"OSForAI:Workers:MaxInstancesPerVersion must be at least 1, not {w.MaxInstancesPerVersion}");
        if (w.QueueLimit < 0) errors.Add($"OSForAI:Workers:QueueLimit must be 0 or more, not {w.QueueLimit}");
        if (w.MaxWorkers < 1) errors.Add($"OSForAI:Workers:MaxWorkers must be at least 1, not {w.MaxWorkers}");
        if (w.IdleKeepAlive < TimeSpan.Zero) errors.Add($"OSForAI:Workers:IdleKeepAlive must not be negative, not {w.IdleKeepAlive}");
        if (!(a.TargetUtilization is > 0 and <= 1)) errors.Add($"OSForAI:Workers:Autoscaling:TargetUtilization must be in (0, 1], not {a.TargetUtilization}");
        if (a.MetricInterval <= TimeSpan.Zero) errors.Add($"OSForAI:Workers:Autoscaling:MetricInterval must be positive, not {a.MetricInterval}");
        if (a.DecisionInterval < a.MetricInterval) errors.Add($"OSForAI:Workers:Autoscaling:DecisionInterval ({a.DecisionInterval}) must be at least the MetricInterval ({a.MetricInterval})");
        if (a.StableWindow < a.MetricInterval) errors.Add($"OSForAI:Workers:Autoscaling:StableWindow ({a.StableWindow}) must be at least the MetricInterval ({a.MetricInterval})");
        if (!(a.PanicWindowPercentage is > 0 and <= 100) || a.StableWindow * (a.PanicWindowPercentage / 100) < a.MetricInterval)
            errors.Add($"OSForAI:Workers:Autoscaling:PanicWindowPercentage must be in (0, 100] and make a panic window of at least one MetricInterval, not {a.PanicWindowPercentage}");
        if (a.MaxScaleUpRate <= 1 || a.MaxScaleDownRate <= 1)
            errors.Add($"OSForAI:Workers:Autoscaling:MaxScaleUpRate and MaxScaleDownRate must exceed 1, not {a.MaxScaleUpRate} and {a.MaxScaleDownRate}");
        if (a.AssumedStartTime < TimeSpan.Zero) errors.Add($"OSForAI:Workers:Autoscaling:AssumedStartTime must not be negative, not {a.AssumedStartTime}");
        if (w.Host == WorkerHostKind.Kubernetes) errors.AddRange(w.Kubernetes.Errors(["python3"]));
        errors.AddRange(o.Models.Errors(w));
        errors.AddRange(o.Build.Errors());
        foreach (var path in w.SandboxReadOnlyPaths)
            if (!Path.IsPathRooted(path)) errors.Add($"OSForAI:Workers:SandboxReadOnlyPaths must hold absolute paths, not '{path}'");
        return errors;
    }

    private static IEnumerable<string> StateErrors(string state)
    {
        if (state.Length == 0) yield break;
        if (!Storage.Database.IsPostgres(state))
        {
            yield return "OSForAI:State must be empty (SQLite in the home folder) or a postgres:// or postgresql:// URI";
            yield break;
        }
        string? error = null;
        try { OSForAI.Postgres.PostgresConnectionSettings.Parse(state); }
        catch (OSForAI.Postgres.PostgresConnectionStringException e) { error = e.Message; }
        if (error is not null) yield return $"OSForAI:State is not a usable PostgreSQL URI: {error}";
    }
}
